"""MMPose's COCO-style annotation files (``--format mmpose-rhd`` / ``mmpose-freihand``), as many users hold
RHD and FreiHAND on disk.

**mmpose-freihand** (``freihand_{train,val,test}.json``, MMPose's own 8:1:1 split of FreiHAND's training set):
``file_name`` ``training/rgb/%08d.jpg`` (224²), flat ``keypoints`` (63 numbers, FreiHAND's order: wrist, then
each finger base → tip), ``bbox``; **2D only**: no K, no 3D. It serves as a 2D-labelled target domain
(``labels: 2d`` is required); the crop needs a K, so a nominal one is used (focal = the image width, principal
point at the centre) from which nothing 3D is derived.

**mmpose-rhd**:

``root`` is the JSON file (``rhd_train.json`` / ``rhd_test.json``): ``images[]`` with ``file_name`` and
``cam_param {focal: [fx, fy], princpt: [cx, cy]}``, ``annotations[]`` with ``image_id``, ``keypoints`` (21 ×
[u, v, flag], nested or flat), ``joint_cam`` (21 × [x, y, z] **mm**, camera frame) and ``hand_type``
(``left``/``right``); one annotation per hand (shared/docs/datasets.md). The joint order is RHD's own (wrist,
then each finger tip → MCP), converted here to the canonical order; metres. Images are ``file_name`` under
``DatasetConfig.images``, by default the JSON's folder, then its parent (MMPose's ``data/rhd/annotations/``
beside ``data/rhd/training/``). Depth and the hand mask are read from RHD's ``depth/`` and ``mask/`` folders
beside the colour image's folder when ``with_depth`` and both files exist; without them the sample has no
depth (the weakly supervised target does not need it; the depth regularizer skips it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.data.base import HandDataset, check_joints_finite
from awhourglass.data.config import DatasetConfig
from awhourglass.data.crop import RawSample
from awhourglass.data.io import DataError, as_float_array, check_K, load_json, read_image
from awhourglass.data.rhd import LEFT_IDS, RIGHT_IDS
from awhourglass.data.sample import SOURCE, TARGET
from awhourglass.formats.rhd import decode_rhd_depth
from awhourglass.skeleton import freihand_to_canonical, rhd_hand_to_canonical


def _joints21(value: Any, path: Path, what: str, cols: int) -> np.ndarray:
    """A nested (21, cols) or flat (21·cols,) list as a float array."""
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 1 and arr.size == 21 * cols:
        value = np.asarray(value, dtype=np.float64).reshape(21, cols).tolist()
    return as_float_array(value, (21, cols), path, what)


class MMPoseRHDDataset(HandDataset):
    """One sample per annotated hand of an MMPose RHD JSON (canonical order, metres, left hands mirrored by the
    base class as RHD's)."""

    def __init__(self, cfg: DatasetConfig, domain: int = SOURCE) -> None:
        super().__init__(cfg, domain)
        self.path = Path(cfg.root)
        if not self.path.is_file():
            raise DataError(self.path, "missing file (mmpose-rhd: the root is the annotation JSON, e.g. "
                                       "annotations/rhd_train.json)")
        doc = load_json(self.path)
        if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) \
                or not isinstance(doc.get("annotations"), list):
            raise DataError(self.path, "expected a COCO-style object with 'images' and 'annotations' lists")
        self.image_dir = self._image_dir(cfg)
        images: dict[Any, dict] = {}
        for im in doc["images"]:
            if isinstance(im, dict) and "id" in im:
                images[im["id"]] = im
        self.items: list[tuple[Path, np.ndarray, np.ndarray, np.ndarray, str]] = []  # file, K, uv_vis, xyz, hand
        for k, ann in enumerate(doc["annotations"]):
            try:
                self.items.append(self._annotation(ann, images, k))
            except DataError as err:
                self._bad(err)
        self.items = self.items[: self._limit(len(self.items))]

    def _image_dir(self, cfg: DatasetConfig) -> Path:
        if cfg.images:
            return Path(cfg.images)
        return self.path.parent

    def _resolve(self, file_name: str) -> Path:
        first = self.image_dir / file_name
        if self.cfg.images or first.exists():
            return first
        up = self.path.parent.parent / file_name  # MMPose: data/rhd/annotations/*.json beside data/rhd/training/
        return up if up.exists() else first

    def _annotation(self, ann: Any, images: dict[Any, dict], k: int):
        where = f"annotation {k}"
        if not isinstance(ann, dict):
            raise DataError(self.path, f"{where}: expected an object")
        missing = [key for key in ("image_id", "keypoints", "joint_cam", "hand_type") if key not in ann]
        if missing:
            raise DataError(self.path, f"{where}: missing {', '.join(missing)}")
        im = images.get(ann["image_id"])
        if im is None:
            raise DataError(self.path, f"{where}: image_id {ann['image_id']!r} is not in 'images'")
        cam = im.get("cam_param")
        if not isinstance(cam, dict) or "focal" not in cam or "princpt" not in cam:
            raise DataError(self.path, f"{where}: its image has no cam_param {{focal, princpt}}")
        f = as_float_array(cam["focal"], (2,), self.path, f"{where} cam_param.focal")
        c = as_float_array(cam["princpt"], (2,), self.path, f"{where} cam_param.princpt")
        K = check_K(np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]]), self.path,
                    f"{where} cam_param")
        uv_vis = _joints21(ann["keypoints"], self.path, f"{where} keypoints", 3)
        xyz = _joints21(ann["joint_cam"], self.path, f"{where} joint_cam", 3) / 1000.0  # mm → m
        problem = check_joints_finite(xyz, where) or check_joints_finite(uv_vis, where)
        if problem:
            raise DataError(self.path, problem)
        if (xyz[:, 2] <= 0).any():
            raise DataError(self.path, f"{where}: joints behind the camera (z <= 0)")
        hand = ann["hand_type"]
        if hand not in ("left", "right"):
            raise DataError(self.path, f"{where}: hand_type must be 'left' or 'right', got {hand!r}")
        if not isinstance(im.get("file_name"), str):
            raise DataError(self.path, f"{where}: its image has no file_name")
        return (self._resolve(im["file_name"]), K, rhd_hand_to_canonical(uv_vis), rhd_hand_to_canonical(xyz), hand)

    def __len__(self) -> int:
        return len(self.items)

    def paths(self, index: int) -> dict[str, Path]:
        """The colour image and RHD's depth and mask PNGs beside its folder (which may not exist)."""
        color = self.items[index][0]
        return {"color": color, "depth": color.parent.parent / "depth" / color.name,
                "mask": color.parent.parent / "mask" / color.name}

    def read_raw(self, index: int) -> RawSample:
        file, K, uv_vis, xyz, hand = self.items[index]
        p = self.paths(index)
        image = read_image(file, "RGB")
        depth = mask = None
        if self.cfg.with_depth and p["depth"].is_file() and p["mask"].is_file():
            depth = decode_rhd_depth(read_image(p["depth"], "depth"))
            ids = read_image(p["mask"], "ids")
            lo, hi = LEFT_IDS if hand == "left" else RIGHT_IDS
            mask = (ids >= lo) & (ids <= hi)
            for name, arr in (("mask", mask), ("depth", depth)):
                if arr.shape[:2] != image.shape[:2]:
                    raise DataError(p[name], f"size {arr.shape[1]}x{arr.shape[0]} differs from the colour image's")
        return RawSample(image=image, K=K, uv_px=uv_vis[:, :2].copy(), vis=uv_vis[:, 2] > 0, xyz_m=xyz,
                         depth_m=depth, mask=mask, hand_side=hand, source=str(file))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["annotation_file"] = str(self.path)
        out["images"] = str(self.image_dir)
        return out


class MMPoseFreiHANDDataset(MMPoseRHDDataset):
    """One sample per annotation of an MMPose FreiHAND JSON: 2D joints only (canonical order), right hands."""

    def __init__(self, cfg: DatasetConfig, domain: int = TARGET) -> None:
        if cfg.labels != "2d":
            raise DataError(cfg.root, "mmpose-freihand has 2D keypoints only: use it with labels: 2d (a 2D-labelled "
                                      "target domain)")
        super().__init__(cfg, domain)

    def _annotation(self, ann: Any, images: dict[Any, dict], k: int):
        where = f"annotation {k}"
        if not isinstance(ann, dict) or "image_id" not in ann or "keypoints" not in ann:
            raise DataError(self.path, f"{where}: expected an object with image_id and keypoints")
        im = images.get(ann["image_id"])
        if im is None or not isinstance(im.get("file_name"), str):
            raise DataError(self.path, f"{where}: image_id {ann['image_id']!r} is not in 'images' (with a file_name)")
        w, h = (float(as_float_array(im.get(key, 224), (), self.path, f"{where} image {key}"))
                for key in ("width", "height"))
        if not (w >= 1 and h >= 1):  # NaN fails too
            raise DataError(self.path, f"{where}: image width and height must be positive, got {w:g}x{h:g}")
        K = np.array([[w, 0.0, (w - 1) / 2], [0.0, w, (h - 1) / 2], [0.0, 0.0, 1.0]])  # nominal: crops only
        uv_vis = _joints21(ann["keypoints"], self.path, f"{where} keypoints", 3)
        problem = check_joints_finite(uv_vis, where)
        if problem:
            raise DataError(self.path, problem)
        return self._resolve(im["file_name"]), K, freihand_to_canonical(uv_vis), None, "right"

    def read_raw(self, index: int) -> RawSample:
        file, K, uv_vis, _, hand = self.items[index]
        return RawSample(image=read_image(file, "RGB"), K=K, uv_px=uv_vis[:, :2].copy(), vis=uv_vis[:, 2] > 0,
                         xyz_m=None, depth_m=None, mask=None, hand_side=hand, source=str(file))


__all__ = ["MMPoseFreiHANDDataset", "MMPoseRHDDataset"]
