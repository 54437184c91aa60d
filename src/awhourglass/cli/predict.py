"""`awh predict`: 2D joints and root-relative 3D on your own images (JSON + overlay PNG per image)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from awhourglass.errors import AwhError


def _numbers(text: str, count: int, flag: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise AwhError(f"{flag}: expected {count} comma-separated numbers, got {text!r}") from None
    if len(vals) != count:
        raise AwhError(f"{flag}: expected {count} comma-separated numbers, got {len(vals)} in {text!r}")
    return vals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh predict`."""
    parser.add_argument("checkpoint", help="model checkpoint (model.pt of awh train / awh demo)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format PIL reads)")
    parser.add_argument("--bbox", help="the hand's box x,y,w,h in pixels (default: search the image for the hand)")
    parser.add_argument("--whole-image", action="store_true",
                        help="without --bbox: crop the whole image (padded square) instead of searching it")
    parser.add_argument("--K", dest="K", help="camera intrinsics fx,fy,cx,cy in pixels (default: assumed, focal "
                                              "max(W,H), principal point at the centre)")
    parser.add_argument("--bone", type=float, help="wrist-to-middle-MCP length in mm (default: the population mean, "
                                                    "assumed)")
    parser.add_argument("--left", action="store_true", help="the hand is a left hand (mirrored in and out)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="confidence threshold for hand_detected (default: calibrated in the checkpoint)")
    parser.add_argument("--out", default="awh_predict", help="output folder (default ./awh_predict)")
    from awhourglass.cli import predict_video  # a video file or a camera index instead of images

    predict_video.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run `awh predict`: one ``<stem>.json`` and ``<stem>_overlay.png`` per image; errors per image."""
    from awhourglass.cli import predict_video

    if predict_video.is_video_run(args.images):
        return predict_video.run(args)
    from awhourglass.api import box_numbers, load, parse_bone_mm, parse_intrinsics
    from awhourglass.atomic import atomic_write_text
    from awhourglass.drawing import draw_overlay
    from awhourglass.errors import PredictError

    bbox = _numbers(args.bbox, 4, "--bbox") if args.bbox else None
    K = _numbers(args.K, 4, "--K") if args.K else None
    # flags that hold for every image are checked once, by the API's own parsers, before any image (a bad one is
    # exit 2, not an error per image)
    for flag, value, check in (("--bbox", bbox, box_numbers), ("--K", K, parse_intrinsics),
                               ("--bone", args.bone, parse_bone_mm)):
        if value is not None:
            try:
                check(value)
            except PredictError as exc:
                msg = str(exc).removeprefix(f"{flag[2:]}: ")  # "bbox: ..." → "--bbox: ...", not "--bbox: bbox: ..."
                raise AwhError(f"{flag}: {msg}") from None
    if args.whole_image and bbox is not None:
        raise AwhError("--whole-image and --bbox exclude each other")
    est = load(args.checkpoint, threshold=args.threshold)
    out = Path(args.out)
    failed = 0
    used: set[str] = set()
    for image in args.images:
        stem = Path(image).stem or "image"
        name, k = stem, 1
        while name in used:  # two inputs with one stem (a/x.png, b/x.jpg) must not overwrite each other
            k += 1
            name = f"{stem}_{k}"
        used.add(name)
        try:
            pred = est.predict(image, bbox=bbox, K=K, bone_mm=args.bone, left_hand=args.left,
                               refine=not args.whole_image)
        except PredictError as exc:
            print(f"awh predict: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        doc = {"image": str(image), **pred.to_dict()}
        json_path = atomic_write_text(out / f"{name}.json", json.dumps(doc, indent=2) + "\n")
        png = draw_overlay(pred.rgb, pred.uv_px, pred.bbox, pred.label, out / f"{name}_overlay.png")
        verdict = "hand" if pred.hand_detected else "NO HAND detected"
        assumed = [k for k, how in pred.assumptions().items() if how != "given"]
        print(f"{image}: {verdict} (confidence {pred.confidence:.3f}, threshold {est.threshold:g} "
              f"{est.threshold_source}); 3D mm{' with assumed ' + ' and '.join(assumed) if assumed else ''}; "
              f"wrote {json_path} and {png}")
        for note in pred.notes:
            print(f"  note: {note}")
    if failed:
        print(f"awh predict: {failed} of {len(args.images)} image(s) failed", file=sys.stderr)
        return 1
    return 0
