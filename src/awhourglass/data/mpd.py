"""MPD reader (multiview hand data annotated with a Leap Motion; the least certain format, see docs/datasets.md).

Layout read::

    {root}/annotated_frames/data_{s}/{f}_webcam_{c}.jpg     colour frames, webcams c = 1..4
    {root}/annotated_frames/data_{s}/{f}_joints.txt         22 rows: palm, wrist, fingers base → tip;
                                                            3 numbers per row (a leading name is allowed), mm
    {root}/calibrations/data_{s}/webcam_{c}/rvec.pkl, tvec.pkl   per-webcam extrinsics (pickled arrays)
    {root}/intrinsics.json                                   {"K": 3×3} or {"webcam_{c}": 3×3, ...}

Camera model, explicit: ``X_cam = R(rvec) · X_leap + tvec`` (OpenCV ``solvePnP`` convention, mm, Rodrigues
rvec), then a pinhole ``K`` with no lens distortion. The pickles are read with the restricted unpickler.
Split: ``sequences`` when given, else the highest-numbered ``data_*`` folder is the test split.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.config import ConfigError
from awhourglass.data.base import HandDataset
from awhourglass.data.config import DatasetConfig
from awhourglass.data.crop import RawSample
from awhourglass.data.io import DataError, as_float_array, check_K, load_json, load_pickle_restricted, read_image
from awhourglass.data.sample import TARGET
from awhourglass.geometry import project, rodrigues
from awhourglass.skeleton import mpd_to_canonical

_FRAME = re.compile(r"^(\d+)_webcam_(\d+)\.jpg$")


def read_leap_joints(path: Path) -> np.ndarray:
    """``{f}_joints.txt`` → ``(22, 3)`` mm (the last three numbers of each non-empty line)."""
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        raise DataError(path, "missing file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc})") from None
    try:
        rows = [[float(x) for x in ln[-3:]] for ln in lines]
    except ValueError:
        raise DataError(path, "expected 3 numbers per row (x y z in mm)") from None
    arr = as_float_array(rows, (22, 3), path, "joints")
    if not np.isfinite(arr).all():
        raise DataError(path, "non-finite joint coordinates (NaN or inf)")
    return arr


class MPDDataset(HandDataset):
    """One sample per (sequence, frame, webcam); right hands; no depth."""

    def __init__(self, cfg: DatasetConfig, domain: int = TARGET) -> None:
        super().__init__(cfg, domain)
        self.root = Path(cfg.root)
        frames_dir = self.root / "annotated_frames"
        if not frames_dir.is_dir():
            raise DataError(frames_dir, "missing folder")
        seqs = sorted((p.name for p in frames_dir.iterdir() if p.is_dir()), key=_seq_number)
        if not seqs:
            raise DataError(frames_dir, "no data_* sequence folders")
        if cfg.sequences:
            missing = sorted(set(cfg.sequences) - set(seqs))
            if missing:
                raise ConfigError(f"DatasetConfig.sequences: MPD sequences {missing} not found (have {seqs})")
            self.sequences = list(cfg.sequences)
        elif cfg.split == "all":
            self.sequences = seqs
        else:
            self.sequences = seqs[-1:] if cfg.split != "train" else (seqs[:-1] or seqs)
        self._intrinsics = self._load_intrinsics()
        self._extrinsics: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self.items: list[tuple[str, int, int]] = []
        for seq in self.sequences:
            for p in sorted((frames_dir / seq).iterdir()):
                m = _FRAME.match(p.name)
                if m:
                    self.items.append((seq, int(m.group(1)), int(m.group(2))))
        self.items.sort()
        self.items = self.items[: self._limit(len(self.items))]

    def _load_intrinsics(self) -> dict[str, np.ndarray]:
        path = self.root / "intrinsics.json"
        if not path.exists():
            raise DataError(path, "missing file: MPD intrinsics must be given as {\"K\": 3x3} (see docs/datasets.md)")
        data = load_json(path)
        if not isinstance(data, dict):
            raise DataError(path, "expected a JSON object")
        out = {k: check_K(as_float_array(v, (3, 3), path, k), path, k)
               for k, v in data.items() if k == "K" or k.startswith("webcam_")}
        if not out:
            raise DataError(path, "no 'K' or 'webcam_{c}' intrinsics")
        return out

    def camera(self, seq: str, cam: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(K, R, t_m)`` of one webcam: ``X_cam = R X_leap + t``."""
        if (seq, cam) not in self._extrinsics:
            d = self.root / "calibrations" / seq / f"webcam_{cam}"
            rvec = as_float_array(np.ravel(load_pickle_restricted(d / "rvec.pkl")), (3,), d / "rvec.pkl", "rvec")
            tvec = as_float_array(np.ravel(load_pickle_restricted(d / "tvec.pkl")), (3,), d / "tvec.pkl", "tvec")
            for name, value in (("rvec", rvec), ("tvec", tvec)):
                if not np.isfinite(value).all():
                    raise DataError(d / f"{name}.pkl", f"{name}: non-finite values (NaN or inf)")
            self._extrinsics[(seq, cam)] = (rodrigues(rvec), tvec / 1000.0)
        K = self._intrinsics.get(f"webcam_{cam}", self._intrinsics.get("K"))
        if K is None:
            raise DataError(self.root / "intrinsics.json", f"no intrinsics for webcam_{cam} and no shared 'K'")
        R, t = self._extrinsics[(seq, cam)]
        return K, R, t

    def __len__(self) -> int:
        return len(self.items)

    def read_raw(self, index: int) -> RawSample:
        seq, f, cam = self.items[index]
        folder = self.root / "annotated_frames" / seq
        img_path = folder / f"{f}_webcam_{cam}.jpg"
        leap_m = mpd_to_canonical(read_leap_joints(folder / f"{f}_joints.txt")) / 1000.0
        K, R, t = self.camera(seq, cam)
        xyz = leap_m @ R.T + t
        if (xyz[:, 2] <= 0).any():
            raise DataError(img_path, "joints behind the camera (z <= 0): check the calibration")
        return RawSample(
            image=read_image(img_path, "RGB"),
            K=K,
            uv_px=project(xyz, K),
            vis=np.ones(21, bool),
            xyz_m=xyz,
            depth_m=None,
            mask=None,
            hand_side="right",
            source=str(img_path),
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["sequences"] = {s: sum(1 for it in self.items if it[0] == s) for s in self.sequences}
        return out


def _seq_number(name: str) -> tuple[int, str]:
    m = re.search(r"(\d+)$", name)
    return (int(m.group(1)) if m else -1, name)
