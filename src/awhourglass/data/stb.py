"""STB (Stereo Hand Pose Tracking Benchmark) reader: the SK (RealSense) colour images, depth and labels.

Layout: ``{root}/labels/{seq}_SK.mat`` (``handPara`` (3, 21, N), mm, depth-camera frame) and
``{root}/{seq}/SK_color_{i}.png``, ``SK_depth_{i}.png`` (i from 0). Joints: palm, little, ring, middle,
index, thumb (base → tip); all left hands. Colour-frame 3D: ``X_colour = Rᵀ (X_depth − t)`` with the
readme's Rodrigues vector and translation. An ``intrinsics.json`` in ``root`` (written by the procedural
generator for smaller images) overrides the published calibration; see :func:`load_calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.config import ConfigError
from awhourglass.data.base import HandDataset
from awhourglass.data.config import DatasetConfig
from awhourglass.data.crop import RawSample
from awhourglass.data.depth import register_depth
from awhourglass.data.io import DataError, as_float_array, check_K, load_json, load_mat, read_image
from awhourglass.data.sample import TARGET
from awhourglass.data.stb_cache import RegisteredDepthCache
from awhourglass.formats.stb import (
    SK_COLOR_FXFYCXCY,
    SK_DEPTH_FXFYCXCY,
    SK_RVEC,
    SK_T_MM,
    decode_stb_depth,
    intrinsics,
)
from awhourglass.geometry import project, rodrigues
from awhourglass.skeleton import stb_to_canonical

SK_COLOR_K, SK_DEPTH_K = intrinsics(SK_COLOR_FXFYCXCY), intrinsics(SK_DEPTH_FXFYCXCY)
TRAIN_PREFIXES, TEST_PREFIXES = ("B2", "B3", "B4", "B5", "B6"), ("B1",)


@dataclass
class STBCalibration:
    """SK camera pair: ``X_depth = R X_colour + t``; intrinsics of both cameras.

    ``size`` is the ``(width, height)`` an ``intrinsics.json`` promises (None: not checked);
    ``depth_registered`` whether SK depth PNGs are already in the colour camera's pixel grid (None: unknown).
    """

    K_color: np.ndarray
    K_depth: np.ndarray
    R: np.ndarray
    t_m: np.ndarray
    size: tuple[int, int] | None = None
    depth_registered: bool | None = None

    def depth_to_color(self, xyz_depth_m: np.ndarray) -> np.ndarray:
        """Depth-camera points ``(..., 3)`` → colour-camera points: ``Rᵀ (X − t)`` (row vectors)."""
        return (np.asarray(xyz_depth_m, np.float64) - self.t_m) @ self.R


INTRINSICS_KEYS = {
    "width", "height", "color_K", "depth_K", "rvec_depth_from_color", "t_depth_from_color_mm",
    "depth_png_registered_to_color", "note",
}


def load_calibration(root: Path) -> STBCalibration:
    """The published SK calibration, or ``{root}/intrinsics.json`` when present (the generator's schema).

    ``intrinsics.json`` keys (all optional; missing ones keep the published values): ``color_K``, ``depth_K``
    (3×3), ``rvec_depth_from_color`` (Rodrigues, ``X_depth = R X_colour + t``), ``t_depth_from_color_mm``,
    ``width``/``height`` (checked against the colour images), ``depth_png_registered_to_color`` (bool),
    ``note``. Unknown keys are an error (a typo must not silently fall back to the published values).
    """
    K_c, K_d = SK_COLOR_K.copy(), SK_DEPTH_K.copy()
    rvec, t_mm = np.array(SK_RVEC), np.array(SK_T_MM)
    size = registered = None
    path = root / "intrinsics.json"
    if path.exists():
        data = load_json(path)
        if not isinstance(data, dict):
            raise DataError(path, "expected a JSON object")
        unknown = set(data) - INTRINSICS_KEYS
        if unknown:
            raise DataError(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(INTRINSICS_KEYS)}")
        K_c = check_K(as_float_array(data.get("color_K", K_c), (3, 3), path, "color_K"), path, "color_K")
        K_d = check_K(as_float_array(data.get("depth_K", K_d), (3, 3), path, "depth_K"), path, "depth_K")
        rvec = as_float_array(data.get("rvec_depth_from_color", rvec), (3,), path, "rvec_depth_from_color")
        t_mm = as_float_array(data.get("t_depth_from_color_mm", t_mm), (3,), path, "t_depth_from_color_mm")
        for key, value in (("rvec_depth_from_color", rvec), ("t_depth_from_color_mm", t_mm)):
            if not np.isfinite(value).all():
                raise DataError(path, f"{key}: non-finite values (NaN or inf)")
        if "width" in data or "height" in data:
            size = (_positive_int(data, "width", path), _positive_int(data, "height", path))
        if "depth_png_registered_to_color" in data:
            registered = data["depth_png_registered_to_color"]
            if not isinstance(registered, bool):
                raise DataError(path, f"depth_png_registered_to_color: expected true or false, got {registered!r}")
    return STBCalibration(K_c, K_d, rodrigues(rvec), t_mm / 1000.0, size, registered)


def _positive_int(data: dict, key: str, path: Path) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(path, f"{key}: expected a positive whole number of pixels, got {value!r}")
    return value


def select_sequences(names: list[str], split: str, explicit: tuple[str, ...]) -> list[str]:
    """Sequences of a split: the paper's B2–B6 train / B1 test, ``all``, or the ``explicit`` list."""
    if explicit:
        missing = sorted(set(explicit) - set(names))
        if missing:
            raise ConfigError(f"DatasetConfig.sequences: STB sequences {missing} not found (have {names})")
        return list(explicit)
    if split == "all":
        return names
    prefixes = TRAIN_PREFIXES if split == "train" else TEST_PREFIXES
    return [n for n in names if n.startswith(prefixes)]


class STBDataset(HandDataset):
    """STB SK colour frames with 2D/3D labels in the colour camera and depth registered to it."""

    def __init__(self, cfg: DatasetConfig, domain: int = TARGET) -> None:
        super().__init__(cfg, domain)
        self.root = Path(cfg.root)
        label_dir = self.root / "labels"
        if not label_dir.is_dir():
            raise DataError(label_dir, "missing folder (expected labels/{seq}_SK.mat)")
        self.calib = load_calibration(self.root)
        self.depth_frame = cfg.stb_depth_frame
        if self.depth_frame == "auto":  # the generator says what it wrote; the published STB: depth camera
            self.depth_frame = "color" if self.calib.depth_registered else "depth"
        names = sorted(p.name[: -len("_SK.mat")] for p in label_dir.glob("*_SK.mat"))
        if not names:
            raise DataError(label_dir, "no *_SK.mat label files")
        self.sequences = select_sequences(names, cfg.split, cfg.sequences)
        # depth registered once by `awh data prepare` (used per frame while its source PNG is unchanged)
        self.depth_cache = RegisteredDepthCache.open(self.root, self.calib) if self.depth_frame == "depth" else None
        self.frames: list[tuple[str, int]] = []
        xyz = []
        for seq in self.sequences:
            path = label_dir / f"{seq}_SK.mat"
            try:
                joints = self._read_labels(path)
            except DataError as err:
                self._bad(err)
                continue
            for i in range(joints.shape[0]):
                if not np.isfinite(joints[i]).all():
                    self._bad(DataError(path, f"frame {i}: non-finite joint coordinates (NaN or inf)"))
                    continue
                self.frames.append((seq, i))
                xyz.append(joints[i])
        n = self._limit(len(self.frames))
        self.frames = self.frames[:n]
        self.xyz_color = np.asarray(xyz[:n], np.float64).reshape(-1, 21, 3)

    def _read_labels(self, path: Path) -> np.ndarray:
        """``handPara`` (3, 21, N) mm, depth frame → canonical colour-frame metres ``(N, 21, 3)``."""
        mat = load_mat(path)
        if "handPara" not in mat:
            raise DataError(path, f"no 'handPara' variable (has {sorted(k for k in mat if not k.startswith('__'))})")
        para = mat["handPara"]
        if np.shape(para) == (3, 21):  # one frame: MATLAB drops a trailing singleton dimension
            para = np.asarray(para)[..., None]
        para = as_float_array(para, (3, 21, -1), path, "handPara")
        xyz_depth_m = para.transpose(2, 1, 0) / 1000.0
        with np.errstate(invalid="ignore"):
            return stb_to_canonical(self.calib.depth_to_color(xyz_depth_m))

    def __len__(self) -> int:
        return len(self.frames)

    def paths(self, index: int) -> dict[str, Path]:
        seq, i = self.frames[index]
        return {
            "color": self.root / seq / f"SK_color_{i}.png",
            "depth": self.root / seq / f"SK_depth_{i}.png",
        }

    def read_raw(self, index: int) -> RawSample:
        p = self.paths(index)
        image = read_image(p["color"], "RGB")
        size = self.calib.size
        if size is not None and (image.shape[1], image.shape[0]) != size:
            got = f"{image.shape[1]}x{image.shape[0]}"
            raise DataError(p["color"], f"size {got} but intrinsics.json says {size[0]}x{size[1]}")
        xyz = self.xyz_color[index]
        if (xyz[:, 2] <= 0).any():
            raise DataError(p["color"], "joints behind the camera (z <= 0)")
        uv = project(xyz, self.calib.K_color)
        depth = None
        if self.cfg.with_depth:
            seq, i = self.frames[index]
            depth = self.depth_cache.read(seq, i, p["depth"]) if self.depth_cache is not None else None
            if depth is not None:
                if depth.shape != image.shape[:2]:
                    assert self.depth_cache is not None  # the depth came from it
                    raise DataError(self.depth_cache.folder / f"{seq}/SK_depth_{i}.png",
                                    "cached registered depth must have the colour image's size")
            else:
                d = decode_stb_depth(read_image(p["depth"], "depth"))
                if self.depth_frame == "depth":
                    c = self.calib
                    depth = register_depth(d, c.K_depth, c.R, c.t_m, c.K_color, image.shape[:2])
                elif d.shape != image.shape[:2]:
                    raise DataError(p["depth"], "registered depth must have the colour image's size")
                else:
                    depth = d
        return RawSample(
            image=image,
            K=self.calib.K_color,
            uv_px=uv,
            vis=np.ones(21, bool),
            xyz_m=xyz,
            depth_m=depth,
            mask=None,  # derived from depth + 2D joints in the crop
            hand_side="left",
            source=f"{p['color']}",
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["sequences"] = {s: sum(1 for f in self.frames if f[0] == s) for s in self.sequences}
        return out

