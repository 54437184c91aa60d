"""`awh predict CKPT VIDEO.mp4` and `awh predict CKPT 0` (a camera): the video half of `awh predict` (docs/video.md).

`cli/predict.py` hands a run over here when its one input is a video file or a camera index
(:func:`awhourglass.video.is_video_source`); the work is :func:`awhourglass.video.predict_video`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from awhourglass.errors import AwhError
from awhourglass.smoothing import DEFAULT_BETA_PER_PX, DEFAULT_D_CUTOFF_HZ, DEFAULT_MIN_CUTOFF_HZ


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The video options of `awh predict` (ignored for images)."""
    g = parser.add_argument_group(
        "videos and cameras", "IMAGE may instead be one video file (.mp4, .mov, .avi, .mkv, ...) or a camera index "
        "(0 = /dev/video0); needs PyAV: pip install 'awhourglass[video]'. Writes NAME.jsonl, NAME_overlay.mp4 and "
        "NAME_summary.json; --bbox is the hand's box in the first frame")
    g.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    g.add_argument("--no-smooth", action="store_true", help="no temporal smoothing (uv_px_smoothed is null)")
    g.add_argument("--min-cutoff", type=float, default=DEFAULT_MIN_CUTOFF_HZ, metavar="HZ",
                   help=f"One-Euro cutoff at rest, Hz (default {DEFAULT_MIN_CUTOFF_HZ:g}; lower = smoother)")
    g.add_argument("--beta", type=float, default=DEFAULT_BETA_PER_PX,
                   help=f"One-Euro speed coefficient, 1/px (default {DEFAULT_BETA_PER_PX:g}; higher = less lag)")
    g.add_argument("--d-cutoff", type=float, default=DEFAULT_D_CUTOFF_HZ, metavar="HZ",
                   help=f"One-Euro cutoff of the speed estimate, Hz (default {DEFAULT_D_CUTOFF_HZ:g})")


def is_video_run(inputs: Sequence[str]) -> bool:
    """Whether the inputs of `awh predict` name a video or a camera (then it must be the only input)."""
    from awhourglass.video import is_video_source

    videos = [s for s in inputs if is_video_source(s)]
    if videos and len(inputs) > 1:
        raise AwhError(f"a video or camera is predicted on its own: got {len(inputs)} inputs with {videos[0]!r}")
    return bool(videos)


def run(args: argparse.Namespace) -> int:
    """Predict the video or camera ``args.images[0]``; print the outputs and the jitter with and without smoothing."""
    from awhourglass.api import box_numbers, load, parse_bone_mm, parse_intrinsics
    from awhourglass.cli.predict import _numbers
    from awhourglass.smoothing import OneEuroParams
    from awhourglass.video import import_av, predict_video

    import_av()  # before the checkpoint is loaded: a missing extra is the first thing to say
    bbox = box_numbers(_numbers(args.bbox, 4, "--bbox")) if args.bbox else None
    K = parse_intrinsics(_numbers(args.K, 4, "--K")) if args.K else None
    if args.bone is not None:
        parse_bone_mm(args.bone)
    if args.max_frames is not None and args.max_frames < 1:
        raise AwhError(f"--max-frames: expected a positive number of frames, got {args.max_frames}")
    params = None if args.no_smooth else OneEuroParams(args.min_cutoff, args.beta, args.d_cutoff)
    est = load(args.checkpoint, threshold=args.threshold)  # None: the checkpoint's calibrated threshold
    source = args.images[0]
    res = predict_video(est, source, args.out, smoothing=params, max_frames=args.max_frames, bbox=bbox, K=K,
                        bone_mm=args.bone, left_hand=args.left)
    s = res.summary
    print(f"{source}: {s['frames']} frames ({s['frames_hand_detected']} with a hand, {s['box_restarts']} box "
          f"restarts; {s['stopped']}); wrote {res.jsonl}, {res.overlay} and {res.summary_path}")

    def px(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f} px"

    smoothed = (f"smoothed {px(s['jitter_smoothed_px'])} (One-Euro min_cutoff {params.min_cutoff_hz:g} Hz, "
                f"beta {params.beta:g}/px, d_cutoff {params.d_cutoff_hz:g} Hz)" if params else "smoothing off")
    print(f"jitter (mean frame-to-frame 2D joint displacement): raw {px(s['jitter_raw_px'])}, {smoothed}")
    return 0
