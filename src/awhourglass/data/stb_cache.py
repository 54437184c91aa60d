"""STB depth registered to the colour camera once, on disk (``awh data prepare PATH --format stb``).

Registering an SK depth image to the colour camera (:func:`~awhourglass.data.depth.register_depth`) costs
20–35 ms per 640×480 frame on one core, most of the STB reader's time. ``prepare`` does it once per frame and
writes the result next to the dataset::

    {root}/awh_registered_depth/manifest.json
    {root}/awh_registered_depth/{seq}/SK_depth_{i}.png     uint16, 0.1 mm (formats.stb.encode_registered_depth)

The manifest records the calibration the images were registered with and, per frame, the size and
modification time (ns) of the depth PNG it came from. The reader uses a cached frame only when the manifest's
calibration is the reader's and that frame's source PNG still has the recorded size and mtime; any other frame
is registered on the fly as before. The cached depth equals on-the-fly registration to within half the unit
(0.05 mm; a test compares them).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.atomic import atomic_write_bytes, atomic_write_text
from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError, read_image
from awhourglass.errors import AwhError
from awhourglass.formats.stb import REGISTERED_UNIT_M, decode_registered_depth, encode_registered_depth

CACHE_DIR = "awh_registered_depth"
FORMAT = "awh-stb-registered-depth"
VERSION = 1


def calibration_key(calib: Any) -> dict[str, list]:
    """What a registration depends on: both intrinsics and the extrinsics (exact floats)."""
    return {"K_depth": np.asarray(calib.K_depth, np.float64).tolist(),
            "K_color": np.asarray(calib.K_color, np.float64).tolist(),
            "R": np.asarray(calib.R, np.float64).tolist(), "t_m": np.asarray(calib.t_m, np.float64).tolist()}


def _stamp(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


@dataclass
class RegisteredDepthCache:
    """The frames a valid manifest lists: ``{"{seq}/SK_depth_{i}.png": [size, mtime_ns]}`` of their sources."""

    folder: Path
    frames: dict[str, list[int]]

    @staticmethod
    def open(root: Path, calib: Any) -> RegisteredDepthCache | None:
        """The cache of ``root`` if it exists and was made with ``calib``; otherwise ``None`` (register on the fly)."""
        manifest = root / CACHE_DIR / "manifest.json"
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return None
        if (not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION
                or data.get("calibration") != calibration_key(calib) or not isinstance(data.get("frames"), dict)):
            return None
        return RegisteredDepthCache(root / CACHE_DIR, data["frames"])

    def read(self, seq: str, index: int, source: Path) -> np.ndarray | None:
        """The cached registered depth (metres) of frame ``index`` of ``seq``, or ``None`` when it is not cached
        or its source PNG changed since (size or mtime)."""
        key = f"{seq}/SK_depth_{index}.png"
        stamp = self.frames.get(key)
        try:
            if stamp is None or _stamp(source) != stamp:
                return None
        except OSError:
            return None
        return decode_registered_depth(read_image(self.folder / key, "uint16"))


def prepare(cfg: DatasetConfig, progress: bool = True) -> tuple[int, Path]:
    """Register every frame's depth of the STB dataset ``cfg`` describes (all splits) and write the cache.

    Raises:
        AwhError: the dataset's depth is already registered (nothing to do); DataError: an unreadable file.

    Returns:
        The number of frames written and the cache folder. The manifest is written last (atomically), so an
        interrupted run leaves the previous cache (or none) in force.
    """
    from PIL import Image
    from tqdm import tqdm

    from awhourglass.data.depth import register_depth
    from awhourglass.data.stb import STBDataset
    from awhourglass.formats.stb import decode_stb_depth

    ds = STBDataset(replace(cfg, split="all", sequences=(), with_depth=True, max_samples=None))
    if ds.depth_frame != "depth":
        raise AwhError(f"{cfg.root}: its depth PNGs are already in the colour camera's grid (stb_depth_frame "
                       f"{cfg.stb_depth_frame!r}, intrinsics.json): there is nothing to register")
    folder = Path(cfg.root) / CACHE_DIR
    frames: dict[str, list[int]] = {}
    c = ds.calib
    for k in tqdm(range(len(ds)), desc="registering STB depth", disable=not progress, dynamic_ncols=True):
        seq, i = ds.frames[k]
        src = ds.paths(k)["depth"]
        stamp = _stamp(src)
        color = ds.paths(k)["color"]
        try:
            with Image.open(color) as im:  # the header's size: no need to decode the colour image
                color_shape = (im.height, im.width)
        except FileNotFoundError:
            raise DataError(color, "missing file") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise DataError(color, f"not a readable image ({exc})") from None
        depth = register_depth(decode_stb_depth(read_image(src, "depth")), c.K_depth, c.R, c.t_m, c.K_color,
                               color_shape)
        key = f"{seq}/SK_depth_{i}.png"
        out = folder / key
        out.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        Image.fromarray(encode_registered_depth(depth)).save(buf, format="PNG")
        atomic_write_bytes(out, buf.getvalue(), fsync=False)
        frames[key] = stamp
    manifest = {"format": FORMAT, "version": VERSION, "unit_m": REGISTERED_UNIT_M, "calibration": calibration_key(c),
                "frames": frames}
    atomic_write_text(folder / "manifest.json", json.dumps(manifest) + "\n")
    return len(frames), folder


__all__ = ["CACHE_DIR", "RegisteredDepthCache", "calibration_key", "prepare"]
