"""Videos and cameras: ``awh predict CKPT VIDEO.mp4`` / ``awh predict CKPT 0`` (docs/video.md).

Frames are read with PyAV (the optional ``video`` extra: ``pip install 'awhourglass[video]'``) and predicted one
by one with :meth:`awhourglass.api.HandPoseEstimator.predict`:

- **The box is carried.** The first frame is predicted with the user's box (or ``bbox=None``: the API searches
  the frame for the hand); every later frame with the box of the previous frame's raw 2D joints (min/max of
  ``uv_px``), which ``predict`` enlarges by the margin the network was trained with. When the hand is lost
  (``hand_detected`` false, or its box leaves the image) the next frame starts again from the first box.
- **Smoothing.** The raw joints of each frame go through a One-Euro filter (:mod:`awhourglass.smoothing`,
  per coordinate, timed by the video's own frame times); a frame without a hand restarts the filter. The
  carried box uses the raw joints, so the raw track does not depend on the smoothing (the comparison of the
  two is fair) and the filter's lag never drags the crop behind a moving hand.
- **Outputs** (in ``out_dir``, ``NAME`` = the video's stem or ``cameraN``): ``NAME.jsonl`` (one JSON object a
  frame: ``frame``, ``time_s``, ``uv_px_smoothed``, the box used, and everything of
  :meth:`Prediction.to_dict`, whose ``uv_px`` are the raw joints), ``NAME_overlay.mp4`` (the frames with the
  smoothed joints, the crop square and the confidence) and ``NAME_summary.json`` (counts, parameters and the
  jitter with and without smoothing, :data:`awhourglass.smoothing.JITTER_DEFINITION`). Each file is written
  atomically; Ctrl-C ends the video early and still writes all three for the frames done.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.api import HandPoseEstimator, round_rows
from awhourglass.atomic import atomic_open, atomic_path, atomic_write_text
from awhourglass.drawing import draw_skeleton_rgb
from awhourglass.errors import AwhError
from awhourglass.smoothing import JITTER_DEFINITION, OneEuroFilter, OneEuroParams, jitter_px

INSTALL_HINT = "pip install 'awhourglass[video]'"
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
SUMMARY_FORMAT = "awhourglass-video-summary/1"
FALLBACK_FPS = 30  # when a stream states no frame rate (some cameras and raw streams)
DEFAULT_SMOOTHING = OneEuroParams()  # the documented defaults of awhourglass.smoothing


class VideoError(AwhError):
    """A video or camera that cannot be read, or PyAV missing."""


def import_av() -> Any:
    """The ``av`` module (PyAV), or a one-line :class:`VideoError` saying how to install it."""
    try:
        import av
    except ImportError:
        raise VideoError(f"videos and cameras need PyAV: {INSTALL_HINT}") from None
    return av


def camera_index(source: str | os.PathLike | int) -> int | None:
    """The camera number of ``source`` (``3``, ``"3"`` when no file of that name exists, ``"/dev/video3"``)."""
    if isinstance(source, int):
        return source if source >= 0 else None
    text = str(source)
    if text.isdigit() and not Path(text).exists():
        return int(text)
    if text.startswith("/dev/video") and text[len("/dev/video"):].isdigit():
        return int(text[len("/dev/video"):])
    return None


def is_video_source(source: str | os.PathLike | int) -> bool:
    """Whether ``source`` is a camera (:func:`camera_index`) or a file with a video suffix (:data:`VIDEO_SUFFIXES`)."""
    return camera_index(source) is not None or Path(str(source)).suffix.lower() in VIDEO_SUFFIXES


def _open(av: Any, source: str | os.PathLike | int) -> tuple[Any, str]:
    """Open ``source`` for reading: ``(container, name)``; a one-line :class:`VideoError` when it cannot be."""
    cam = camera_index(source)
    if cam is not None:
        if sys.platform.startswith("linux"):
            dev, fmt = f"/dev/video{cam}", "v4l2"
            if not os.path.exists(dev):
                raise VideoError(f"camera {cam}: no such camera ({dev} does not exist)")
        elif sys.platform == "darwin":
            dev, fmt = str(cam), "avfoundation"
        else:
            raise VideoError(f"camera {cam}: camera indices are read on Linux (v4l2) and macOS (avfoundation) only")
        try:
            return av.open(dev, format=fmt), f"camera{cam}"
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(f"camera {cam}: cannot open {dev} ({exc})") from None
    if isinstance(source, int):  # a negative camera number (camera_index took the others)
        raise VideoError(f"camera {source}: camera numbers are 0 or more")
    path = Path(source)
    if not path.is_file():
        raise VideoError(f"{path}: {'is a folder, not a video' if path.is_dir() else 'no such file'}")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{path}: not a video PyAV can read ({exc})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    return container, path.stem or "video"


@dataclass
class VideoRun:
    """What :func:`predict_video` did: the output files, the frame count and the jitter (pixels)."""

    jsonl: Path
    overlay: Path
    summary_path: Path
    summary: dict[str, Any]

    @property
    def frames(self) -> int:
        return int(self.summary["frames"])

    @property
    def jitter_raw_px(self) -> float | None:
        return self.summary["jitter_raw_px"]

    @property
    def jitter_smoothed_px(self) -> float | None:
        return self.summary["jitter_smoothed_px"]


def box_from_joints(uv_px: np.ndarray, width: int, height: int) -> tuple[float, float, float, float] | None:
    """The hand's box ``(x, y, w, h)`` of joints ``uv_px (21, 2)`` (min/max, pixels; sides at least 1 px, the crop's
    own minimum side takes over below that); ``None`` when the joints are not finite or the box misses the image."""
    uv = np.asarray(uv_px, dtype=np.float64)
    if not np.isfinite(uv).all():
        return None
    (x, y), (x1, y1) = uv.min(0), uv.max(0)
    w, h = max(float(x1 - x), 1.0), max(float(y1 - y), 1.0)
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return None
    return float(x), float(y), w, h


def _frames(container: Any, max_frames: int | None) -> Iterator[tuple[np.ndarray, float | None]]:
    """``(rgb (H, W, 3) uint8, time in seconds or None)`` of the first video stream, in order."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame-parallel decoding: decoding must not be the bottleneck of a small network
    for k, frame in enumerate(container.decode(stream)):
        if max_frames is not None and k >= max_frames:
            return
        yield frame.to_ndarray(format="rgb24"), frame.time


class _OverlayWriter:
    """An mp4 (H.264, else MPEG-4 part 2) of RGB frames at a constant rate, opened at the first frame."""

    def __init__(self, av: Any, path: Path, rate: Fraction) -> None:
        self.av, self.path, self.rate = av, path, rate
        self.container: Any = None
        self.stream: Any = None
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        # yuv420p needs even sides: odd ones are padded by one edge row/column
        H, W = rgb.shape[:2]
        if H % 2 or W % 2:
            rgb = np.pad(rgb, ((0, H % 2), (0, W % 2), (0, 0)), mode="edge")
        if self.container is None:
            self.container = self.av.open(str(self.path), "w", format="mp4")
            codec = "libx264" if "libx264" in self.av.codecs_available else "mpeg4"
            self.stream = self.container.add_stream(codec, rate=self.rate)
            self.stream.width, self.stream.height = rgb.shape[1], rgb.shape[0]
            self.stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                self.stream.options = {"crf": "20", "preset": "veryfast"}
            self.stream.codec_context.time_base = 1 / self.rate
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.count
        frame.time_base = 1 / self.rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self.container.close()


class _Clock:
    """The video's own clock from its first frame: a missing or non-increasing stamp (some cameras) is replaced by
    one frame period after the previous one, so the filter's time steps stay positive."""

    def __init__(self, rate: Fraction) -> None:
        self.period_s = 1.0 / float(rate)
        self.t0: float | None = None
        self.last_s = 0.0

    def __call__(self, k: int, t: float | None) -> float:
        """Seconds since the first frame of frame ``k`` stamped ``t`` (None: no stamp)."""
        if t is not None and self.t0 is None:
            self.t0 = t
        t_rel = None if t is None or self.t0 is None else t - self.t0
        if t_rel is None or (k > 0 and t_rel <= self.last_s):
            t_rel = self.last_s + self.period_s if k > 0 else 0.0
        self.last_s = t_rel
        return t_rel


class _BoxCarrier:
    """The box each frame is predicted with: the user's (or a search) first, then the previous frame's joints;
    back to the first box when the hand is lost. Counts the restarts."""

    def __init__(self, bbox: Any) -> None:
        self.first = bbox
        self.box, self.source = self._restart()
        self.restarts = 0

    def _restart(self) -> tuple[Any, str]:
        return self.first, "user_bbox" if self.first is not None else "search"

    def count(self, k: int) -> None:
        """Frame ``k`` is predicted now: a later frame that did not carry the previous joints restarted."""
        self.restarts += k > 0 and self.source != "previous_frame_joints"

    def advance(self, uv: np.ndarray, detected: bool, image_size: tuple[int, int]) -> None:
        """The next frame's box from this frame's raw joints (when the hand was found and its box meets the image)."""
        nxt = box_from_joints(uv, *image_size) if detected else None
        self.box, self.source = self._restart() if nxt is None else (nxt, "previous_frame_joints")


class _Track:
    """The raw and smoothed joints of every frame; a frame without a hand restarts the filter."""

    def __init__(self, smoothing: OneEuroParams | None) -> None:
        self.filter = OneEuroFilter(smoothing) if smoothing is not None else None
        self.raw: list[np.ndarray] = []
        self.smooth: list[np.ndarray] = []
        self.frames_hand = 0

    def add(self, t_s: float, uv: np.ndarray, detected: bool) -> np.ndarray:
        """Record a frame; returns the joints to draw (smoothed where smoothing is on)."""
        self.frames_hand += detected
        self.raw.append(uv)
        if self.filter is None:
            return uv
        self.smooth.append(self.filter(t_s, uv))
        if not detected:  # a frame without a hand: its joints start no track
            self.filter.reset()
        return self.smooth[-1]

    def jitter(self) -> tuple[float | None, float | None]:
        """Jitter of the raw and of the smoothed track (:data:`~awhourglass.smoothing.JITTER_DEFINITION`)."""
        return jitter_px(np.stack(self.raw)), jitter_px(np.stack(self.smooth)) if self.filter is not None else None


def _frame_line(k: int, t_s: float, track: _Track, boxes: _BoxCarrier, pred: Any) -> str:
    """The JSON line of frame ``k`` (module doc: the box it was predicted with and the prediction)."""
    line = {"frame": k, "time_s": round(t_s, 6),
            "uv_px_smoothed": None if track.filter is None else round_rows(track.smooth[-1], 2),
            "hand_box": None if boxes.box is None else [round(float(v), 2) for v in boxes.box],
            "hand_box_from": boxes.source, **pred.to_dict()}
    return json.dumps(line) + "\n"


def _stream_rate(container: Any) -> tuple[Fraction, int | None]:
    """The first video stream's frame rate (a fallback when it states none) and its frame count, if known."""
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or Fraction(FALLBACK_FPS)
    return Fraction(rate).limit_denominator(1001 * 1000), stream.frames or None


def _summary(source: Any, track: _Track, boxes: _BoxCarrier, stop_reason: str, max_frames: int | None,
             rate: Fraction, clock: _Clock, size: tuple[int, int] | None, smoothing: OneEuroParams | None,
             jsonl: Path, overlay: Path) -> dict[str, Any]:
    j_raw, j_s = track.jitter()

    def rounded(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else round(v, 4)

    return {
        "format": SUMMARY_FORMAT,
        "source": str(source),
        "frames": len(track.raw),
        "frames_hand_detected": track.frames_hand,
        "box_restarts": boxes.restarts,
        "stopped": stop_reason,
        "max_frames": max_frames,
        "frame_rate_fps": round(float(rate), 4),
        "duration_s": round(clock.last_s, 6),
        "frame_size": list(size) if size else None,
        "smoothing": None if smoothing is None else {
            "filter": "one-euro (Casiez et al. 2012)", "min_cutoff_hz": smoothing.min_cutoff_hz,
            "beta_per_px": smoothing.beta, "d_cutoff_hz": smoothing.d_cutoff_hz},
        "jitter_definition": JITTER_DEFINITION,
        "jitter_raw_px": rounded(j_raw),
        "jitter_smoothed_px": rounded(j_s),
        "outputs": {"jsonl": str(jsonl), "overlay": str(overlay)},
    }


def predict_video(
    estimator: HandPoseEstimator,
    source: str | os.PathLike | int,
    out_dir: str | os.PathLike,
    *,
    smoothing: OneEuroParams | None = DEFAULT_SMOOTHING,
    max_frames: int | None = None,
    bbox: Any = None,
    K: Any = None,
    bone_mm: float | None = None,
    left_hand: bool = False,
    progress: bool = True,
) -> VideoRun:
    """Predict every frame of a video file or camera, carry the box, smooth, and write the outputs (module doc).

    Args:
        estimator: from :func:`awhourglass.api.load`.
        source: a video file, or a camera index (``0``, ``"0"``, ``"/dev/video0"``).
        out_dir: folder of ``NAME.jsonl``, ``NAME_overlay.mp4``, ``NAME_summary.json``.
        smoothing: the One-Euro parameters, or ``None`` for no smoothing (``uv_px_smoothed`` is null).
        max_frames: stop after this many frames (``None``: the whole video; a camera until Ctrl-C).
        bbox: ``(x, y, w, h)`` of the hand in the first frame (pixels); ``None``: the API searches the frame.
            Also the box a lost hand restarts from.
        K, bone_mm, left_hand: as :meth:`HandPoseEstimator.predict`, for every frame.
        progress: show a progress bar on stderr.
    """
    from tqdm import tqdm

    av = import_av()
    if max_frames is not None and max_frames < 1:
        raise VideoError(f"max_frames: expected a positive number of frames, got {max_frames}")
    container, name = _open(av, source)
    out = Path(out_dir)
    jsonl, overlay, summary_path = out / f"{name}.jsonl", out / f"{name}_overlay.mp4", out / f"{name}_summary.json"
    rate, total = _stream_rate(container)
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    clock, boxes, track = _Clock(rate), _BoxCarrier(bbox), _Track(smoothing)
    stop_reason, size, k = "end of video", None, 0
    try:
        with ExitStack() as stack:
            fh = stack.enter_context(atomic_open(jsonl, "w"))
            tmp_mp4 = stack.enter_context(atomic_path(overlay))
            writer = _OverlayWriter(av, tmp_mp4, rate)
            stack.callback(writer.close)  # runs before the rename of atomic_path (LIFO)
            bar = stack.enter_context(tqdm(total=total, unit="frame", desc=name, file=sys.stderr,
                                           disable=not progress, dynamic_ncols=True))
            frames = _frames(container, max_frames)
            while True:
                try:
                    item = next(frames, None)
                    if item is None:
                        break
                    rgb, t = item
                    pred = estimator.predict(rgb, bbox=boxes.box, K=K, bone_mm=bone_mm, left_hand=left_hand)
                except av.FFmpegError as exc:  # a damaged stream: keep the frames decoded so far
                    stop_reason = f"decoding stopped at frame {k}: {exc}"
                    break
                except KeyboardInterrupt:
                    stop_reason = f"interrupted (Ctrl-C) after {k} frames"
                    break
                size = size or pred.image_size
                t_s = clock(k, t)
                boxes.count(k)
                uv = np.asarray(pred.uv_px, dtype=np.float64)
                drawn = track.add(t_s, uv, bool(pred.hand_detected))
                fh.write(_frame_line(k, t_s, track, boxes, pred))
                writer.write(draw_skeleton_rgb(rgb, drawn, pred.bbox, pred.label))
                boxes.advance(uv, bool(pred.hand_detected), pred.image_size)
                k += 1
                bar.update(1)
            if stop_reason == "end of video" and max_frames is not None and k >= max_frames:
                stop_reason = f"max_frames ({max_frames}) reached"
            if k == 0:
                raise VideoError(f"{source}: no frame could be decoded ({stop_reason})")
    finally:
        container.close()
    summary = _summary(source, track, boxes, stop_reason, max_frames, rate, clock, size, smoothing, jsonl, overlay)
    atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
    return VideoRun(jsonl=jsonl, overlay=overlay, summary_path=summary_path, summary=summary)
