"""Readers of the real-hands development sets (``../shared/realdev``): photographs for measuring, never training.

Three sets, each read hand by hand as :class:`RealHand` (the frame, the reference 2D joints in the package's
canonical order, which is MediaPipe's, and which joints are labelled):

- ``asl_video``: ``asl_hand.25fps.mp4`` (decoded with PyAV, the ``video`` extra) and ``asl_hand.full.json``,
  MediaPipe Hands' own landmarks per frame (agreement with MediaPipe, not accuracy). MediaPipe's pixels are its
  normalized coordinates times the image size (pixel corners), so 0.5 is subtracted to reach the package's
  convention (pixel ``i``'s centre at ``i``). Side unknown.
- ``onehand10k``: ``test_onehand10k.json`` (COCO style, 21 × [u, v, vis]; an invisible joint is (0, 0, 0)) and its
  photos. Side unknown.
- ``coco_wholebody``: ``test_coco_wholebody.json``: every ``lefthand_kpts`` / ``righthand_kpts`` whose
  ``*_valid`` is true (joints labelled where the score is positive). Side stated.

COCO-style keypoints are taken as they are (pixel centres, as MMPose reads them). Unlabelled joints are NaN.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.data.io import DataError, load_json, read_image
from awhourglass.errors import AwhError
from awhourglass.skeleton import NUM_JOINTS

SET_NAMES = ("asl_video", "onehand10k", "coco_wholebody")
ASL_VIDEO, ASL_LABELS = "asl_hand.25fps.mp4", "asl_hand.full.json"
ONEHAND_JSON, COCO_JSON = "test_onehand10k.json", "test_coco_wholebody.json"
REALDEV_ENV = "AWH_REALDEV"
MEDIAPIPE_PIXEL_SHIFT = -0.5  # MediaPipe pixels (corner-based) → the package's pixel-centre coordinates


class RealDevError(AwhError):
    """A real-hands folder or file that is missing or cannot be read."""


@dataclass
class RealHand:
    """One hand of a real-hands set.

    Attributes:
        rgb: ``(H, W, 3)`` uint8 frame. uv_px: ``(21, 2)`` reference joints in frame pixels (NaN where unlabelled).
        labelled: ``(21,)`` bool. side: ``"left"``, ``"right"`` or ``"unknown"`` (the set does not state it).
        set_name: one of :data:`SET_NAMES`. source: file (and frame / annotation) for messages and reports.
    """

    rgb: np.ndarray
    uv_px: np.ndarray
    labelled: np.ndarray
    side: str
    set_name: str
    source: str


def default_realdev(repo_root: str | os.PathLike) -> Path:
    """The realdev folder: ``$AWH_REALDEV`` if set, else ``<repo_root>/../shared/realdev``."""
    env = os.environ.get(REALDEV_ENV)
    return Path(env) if env else Path(repo_root).resolve().parent / "shared" / "realdev"


def reference_box(uv_px: np.ndarray, labelled: np.ndarray) -> tuple[float, float, float, float]:
    """The tight box ``(x, y, w, h)`` [px] of the labelled joints ``uv_px (21, 2)``."""
    pts = np.asarray(uv_px, np.float64)[np.asarray(labelled, bool)]
    if len(pts) < 2:
        raise ValueError(f"a reference box needs 2 labelled joints, got {len(pts)}")
    lo, hi = pts.min(0), pts.max(0)
    return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


def _joints(values: Any, path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """21 × [u, v, score] (flat 63 or nested) → ``uv_px (21, 2)`` (NaN where unlabelled), ``labelled (21,)``."""
    try:
        a = np.asarray(values, np.float64).reshape(NUM_JOINTS, 3)
    except (TypeError, ValueError):
        raise RealDevError(f"{path}: {what}: expected 21 x [u, v, score]") from None
    labelled = (a[:, 2] > 0) & np.isfinite(a[:, :2]).all(1)
    uv = np.where(labelled[:, None], a[:, :2], np.nan)
    return uv, labelled


def _folder(root: Path, name: str) -> Path:
    folder = Path(root) / name
    if not folder.is_dir():
        raise RealDevError(f"{folder}: no such folder (expected the realdev set {name!r})")
    return folder


def _load(path: Path) -> Any:
    try:
        return load_json(path)
    except DataError as exc:
        raise RealDevError(str(exc)) from None


def _image(path: Path) -> np.ndarray:
    try:
        return read_image(path)
    except DataError as exc:
        raise RealDevError(str(exc)) from None


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise RealDevError("the ASL video needs PyAV: pip install 'awhourglass[video]'") from None
    return av


def asl_references(folder: str | os.PathLike) -> np.ndarray:
    """MediaPipe's landmarks of every frame of the ASL video ``(N, 21, 2)`` in package pixels."""
    path = Path(folder) / ASL_LABELS
    rows = _load(path)
    try:
        a = np.asarray(rows, np.float64)
    except (TypeError, ValueError):
        raise RealDevError(f"{path}: expected frames x 21 x [x, y, z]") from None
    if a.ndim != 3 or a.shape[1:] != (NUM_JOINTS, 3):
        raise RealDevError(f"{path}: expected frames x 21 x [x, y, z], got shape {a.shape}")
    return a[..., :2] + MEDIAPIPE_PIXEL_SHIFT


# The ASL video shows one right hand throughout: its palm faces the camera with the thumb on the image's right
# (seen in frames 0, 60, …, 300). A hand's side is a fact about the recording, like COCO-WholeBody's left/right
# fields, so the video's hands carry it instead of a per-frame guess (the issue's own protocol gives the side).
ASL_SIDE = "right"


def iter_asl_video(root: str | os.PathLike, every: int = 1) -> Iterator[RealHand]:
    """Every ``every``-th frame of the ASL video with MediaPipe's landmarks (decoded in order, one at a time); the
    hand is :data:`ASL_SIDE`."""
    folder = _folder(Path(root), "asl_video")
    refs = asl_references(folder)
    av = _import_av()
    video = folder / ASL_VIDEO
    if not video.is_file():
        raise RealDevError(f"{video}: missing file")
    try:
        container = av.open(str(video))
    except (av.FFmpegError, OSError) as exc:
        raise RealDevError(f"{video}: not a video PyAV can read ({exc})") from None
    with container:
        k = -1
        for k, frame in enumerate(container.decode(video=0)):
            if k >= len(refs):
                raise RealDevError(f"{video}: more frames than the {len(refs)} label rows of {ASL_LABELS}")
            if k % every == 0:
                yield RealHand(frame.to_ndarray(format="rgb24"), refs[k], np.ones(NUM_JOINTS, bool), ASL_SIDE,
                               "asl_video", f"{ASL_VIDEO}#frame{k}")
        if k + 1 != len(refs):
            raise RealDevError(f"{video}: {k + 1} frames decoded, {ASL_LABELS} has {len(refs)} rows")


def _images_by_id(doc: Any, path: Path) -> dict[Any, str]:
    try:
        return {im["id"]: im["file_name"] for im in doc["images"]}
    except (KeyError, TypeError):
        raise RealDevError(f"{path}: expected COCO 'images' with id and file_name") from None


def iter_onehand10k(root: str | os.PathLike) -> Iterator[RealHand]:
    """The OneHand10K photos with their human 2D keypoints (side unknown)."""
    folder = _folder(Path(root), "onehand10k")
    path = folder / ONEHAND_JSON
    doc = _load(path)
    files = _images_by_id(doc, path)
    for ann in doc.get("annotations", []):
        name = files.get(ann.get("image_id"))
        if name is None:
            raise RealDevError(f"{path}: annotation {ann.get('id')} names an unknown image")
        uv, labelled = _joints(ann.get("keypoints"), path, f"annotation {ann.get('id')}")
        yield RealHand(_image(folder / name), uv, labelled, "unknown", "onehand10k", f"{name}#ann{ann.get('id')}")


def iter_coco_wholebody(root: str | os.PathLike) -> Iterator[RealHand]:
    """The valid hands of the COCO-WholeBody photos (left / right as annotated; small hands)."""
    folder = _folder(Path(root), "coco_wholebody")
    path = folder / COCO_JSON
    doc = _load(path)
    files = _images_by_id(doc, path)
    cache: dict[str, np.ndarray] = {}
    for ann in doc.get("annotations", []):
        for side in ("left", "right"):
            if not ann.get(f"{side}hand_valid", False):
                continue
            name = files.get(ann.get("image_id"))
            if name is None:
                raise RealDevError(f"{path}: annotation {ann.get('id')} names an unknown image")
            uv, labelled = _joints(ann.get(f"{side}hand_kpts"), path, f"annotation {ann.get('id')} {side} hand")
            if labelled.sum() < 2:
                continue
            if name not in cache:
                cache = {name: _image(folder / name)}  # annotations come grouped by image: keep one
            yield RealHand(cache[name], uv, labelled, side, "coco_wholebody", f"{name}#ann{ann.get('id')}-{side}")


def iter_set(root: str | os.PathLike, name: str, every: int = 1) -> Iterator[RealHand]:
    """The hands of the set ``name`` (:data:`SET_NAMES`) under the realdev folder ``root``."""
    if not Path(root).is_dir():
        raise RealDevError(f"{root}: no such folder (the realdev sets: {', '.join(SET_NAMES)})")
    if every < 1:
        raise RealDevError(f"every must be >= 1, got {every}")
    if name == "asl_video":
        return iter_asl_video(root, every)
    if name == "onehand10k":
        return iter_onehand10k(root)
    if name == "coco_wholebody":
        return iter_coco_wholebody(root)
    raise RealDevError(f"unknown realdev set {name!r} (known: {', '.join(SET_NAMES)})")
