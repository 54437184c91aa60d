"""RHD (Rendered Hand Pose Dataset) reader, from its published layout, untouched.

``{root}/{training,evaluation}/{color,mask,depth}/%05d.png`` and ``{root}/{training,evaluation}/anno_*.pickle``
(the pickle is also accepted directly in ``root``). Each pickle entry: ``xyz`` (42, 3) m, ``uv_vis`` (42, 3),
``K`` (3, 3); joints 0–20 left hand, 21–41 right hand. Mask ids 2–17 left hand, 18–33 right hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.data.base import HandDataset, check_joints_finite
from awhourglass.data.config import DatasetConfig
from awhourglass.data.crop import RawSample
from awhourglass.data.io import DataError, as_float_array, check_K, load_pickle_restricted, read_image
from awhourglass.data.sample import SOURCE
from awhourglass.formats.rhd import decode_rhd_depth
from awhourglass.skeleton import rhd_to_canonical

LEFT_IDS, RIGHT_IDS = (2, 17), (18, 33)  # inclusive mask id ranges per hand


def rhd_split_dir(split: str) -> str:
    """``train`` → ``training``; ``test``/``eval`` → ``evaluation``."""
    if split == "train":
        return "training"
    if split in ("test", "eval"):
        return "evaluation"
    raise ValueError(f"RHD split must be train or test/eval, got {split!r}")


def find_anno(root: Path, sub: str) -> Path:
    """The annotation pickle: ``{root}/{sub}/anno_{sub}.pickle`` (published layout) or ``{root}/anno_{sub}.pickle``."""
    for p in (root / sub / f"anno_{sub}.pickle", root / f"anno_{sub}.pickle"):
        if p.exists():
            return p
    return root / sub / f"anno_{sub}.pickle"


class RHDDataset(HandDataset):
    """RHD hands, one per frame (the hand with the larger mask area), canonical order, metres."""

    def __init__(self, cfg: DatasetConfig, domain: int = SOURCE) -> None:
        super().__init__(cfg, domain)
        root = Path(cfg.root)
        splits = ["training", "evaluation"] if cfg.split == "all" else [rhd_split_dir(cfg.split)]
        self.frames: list[tuple[str, int]] = []  # (split dir, frame id)
        xyz, uv_vis, K = [], [], []
        for sub in splits:
            anno_path = find_anno(root, sub)
            anno = load_pickle_restricted(anno_path)
            if not isinstance(anno, dict):
                raise DataError(anno_path, f"expected a dict of frames, got {type(anno).__name__}")
            if not anno:
                raise DataError(anno_path, "no frames (an empty dict)")
            bad_keys = [k for k in anno if not isinstance(k, int) or isinstance(k, bool)]
            if bad_keys:  # the frame id names the image file (%05d.png): it must be an integer
                raise DataError(anno_path, f"frame keys must be integer frame ids, got {bad_keys[0]!r}"
                                           f"{f' and {len(bad_keys) - 1} more' if len(bad_keys) > 1 else ''}")
            for fid in sorted(anno):
                entry = anno[fid]
                where = f"{anno_path} frame {fid}"
                try:
                    a_xyz, a_uv, a_K = self._entry(entry, anno_path, fid)
                except DataError as err:
                    self._bad(err)
                    continue
                problem = check_joints_finite(a_xyz, where) or check_joints_finite(a_uv, where)
                if problem:
                    self._bad(DataError(anno_path, f"frame {fid}: non-finite joint coordinates (NaN or inf)"))
                    continue
                if (np.asarray(a_xyz)[:, 2] <= 0).any():  # as the other readers: no joint behind the camera
                    self._bad(DataError(anno_path, f"frame {fid}: joints behind the camera (z <= 0)"))
                    continue
                self.frames.append((sub, int(fid)))
                xyz.append(a_xyz)
                uv_vis.append(a_uv)
                K.append(a_K)
        n = self._limit(len(self.frames))
        self.frames = self.frames[:n]
        self.xyz = np.asarray(xyz[:n], np.float32).reshape(-1, 42, 3)
        self.uv_vis = np.asarray(uv_vis[:n], np.float32).reshape(-1, 42, 3)
        self.K = np.asarray(K[:n], np.float64).reshape(-1, 3, 3)
        self.root = root

    @staticmethod
    def _entry(entry: Any, path: Path, fid: Any):
        if not isinstance(entry, dict) or not {"xyz", "uv_vis", "K"} <= set(entry):
            raise DataError(path, f"frame {fid}: expected keys 'xyz', 'uv_vis', 'K'")
        return (
            as_float_array(entry["xyz"], (42, 3), path, f"frame {fid} xyz"),
            as_float_array(entry["uv_vis"], (42, 3), path, f"frame {fid} uv_vis"),
            check_K(as_float_array(entry["K"], (3, 3), path, f"frame {fid} K"), path, f"frame {fid} K"),
        )

    def __len__(self) -> int:
        return len(self.frames)

    def paths(self, index: int) -> dict[str, Path]:
        """The colour, mask and depth PNGs of sample ``index``."""
        sub, fid = self.frames[index]
        return {k: self.root / sub / k / f"{fid:05d}.png" for k in ("color", "mask", "depth")}

    def choose_hand(self, index: int, mask: np.ndarray | None) -> str:
        """``rhd_hand`` or, for ``auto``, the hand with the larger mask area (ties: more visible joints)."""
        if self.cfg.rhd_hand != "auto":
            return self.cfg.rhd_hand
        if mask is not None:
            left = int(((mask >= LEFT_IDS[0]) & (mask <= LEFT_IDS[1])).sum())
            right = int(((mask >= RIGHT_IDS[0]) & (mask <= RIGHT_IDS[1])).sum())
            if left != right:
                return "left" if left > right else "right"
        vis = self.uv_vis[index, :, 2]
        return "left" if vis[:21].sum() > vis[21:].sum() else "right"

    def read_raw(self, index: int) -> RawSample:
        p = self.paths(index)
        image = read_image(p["color"], "RGB")
        mask_ids = None  # without depth the mask only chooses the hand: a copy of RHD without mask/ works
        if self.cfg.with_depth or p["mask"].exists():
            mask_ids = read_image(p["mask"], "ids")  # part ids as stored (a palette PNG keeps its indices)
        hand = self.choose_hand(index, mask_ids)
        lo, hi = LEFT_IDS if hand == "left" else RIGHT_IDS
        depth = mask = None
        if self.cfg.with_depth:
            depth = decode_rhd_depth(read_image(p["depth"], "depth"))
            assert mask_ids is not None  # read above whenever with_depth
            mask = (mask_ids >= lo) & (mask_ids <= hi)
        for name, arr in (("mask", mask_ids), ("depth", depth)):
            if arr is not None and arr.shape[:2] != image.shape[:2]:
                raise DataError(p[name], f"size {arr.shape[1]}x{arr.shape[0]} differs from the colour image's")
        uv_vis = rhd_to_canonical(self.uv_vis[index].astype(np.float64), hand)
        return RawSample(
            image=image,
            K=self.K[index],
            uv_px=uv_vis[:, :2],
            vis=uv_vis[:, 2] > 0.5,
            xyz_m=rhd_to_canonical(self.xyz[index].astype(np.float64), hand),
            depth_m=depth,
            mask=mask,
            hand_side=hand,
            source=f"{p['color']}",
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["frames_by_split"] = {s: sum(1 for f in self.frames if f[0] == s) for s in {f[0] for f in self.frames}}
        return out
