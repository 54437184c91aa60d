"""InterHand2.6M reader (``--format interhand``): one sample per labelled hand, canonical order, metres.

Layout (``root`` = the dataset folder; shared/docs/datasets.md):

- Annotations: ``annotations/{split}/InterHand2.6M_{split}_{data,camera,joint_3d}.json`` (the 5 fps release).
  When that folder does not hold the split's files, ``annotations/all/``, ``annotations/human_annot/`` and
  ``annotations/machine_annot/`` are tried in that order (the 30 fps release) and the first holding all three
  files is read: ``all`` (the union of both kinds of annotation) wins when present. Nothing else is searched.
- Images: ``images/{split}/`` + the image's ``file_name`` (``DatasetConfig.images`` replaces ``images/{split}``).
- Splits: ``train`` → train, ``test`` → test, ``eval`` → InterHand's ``val``; ``all`` reads each of the
  three that is present.

``data``: ``images[]`` ``{id, file_name, capture, camera, frame_idx, ...}`` and ``annotations[]`` ``{id, image_id,
joint_valid 42×[0|1], hand_type right|left|interacting, ...}``; ``camera``: ``{capture: {campos|camrot|focal|princpt:
{cam: ...}}}``; ``joint_3d``: ``{capture: {frame_idx: {world_coord 42×3 mm, ...}}}``. World → camera:
``X_cam = camrot · (X_world − campos)`` (mm → m), then the pinhole ``K`` of ``focal``/``princpt``. The 42 rows are
converted with :func:`awhourglass.skeleton.interhand_to_canonical`.

Samples: a ``right``/``left`` annotation gives one hand, group ``"single"``; an ``interacting`` one gives two (right
and left), group ``"interacting"`` (:attr:`~awhourglass.data.sample.Sample.group`, what ``--protocol interhand``
splits by). Left hands are mirrored by the base class under ``mirror_left``. A hand with fewer than 2 valid joints
gives no sample (counted in ``describe()``). Invalid joints (``joint_valid`` 0; their coordinates are ``[1, 1, 1]``)
are masked: ``vis`` False, NaN pixels and NaN 3D, so no loss or score reads them. A hand whose wrist or middle MCP
(the palm-centre root and the scale bone :data:`~awhourglass.skeleton.DEFAULT_SCALE_BONE`) is invalid has 2D labels
only (``xyz_m`` None). ``hand_type_valid`` is not used. No depth images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from awhourglass.data.base import HandDataset
from awhourglass.data.config import DatasetConfig
from awhourglass.data.crop import RawSample
from awhourglass.data.io import DataError, as_float_array, load_json, read_image
from awhourglass.data.sample import TARGET
from awhourglass.geometry import project
from awhourglass.skeleton import DEFAULT_SCALE_BONE, MIDDLE_MCP, WRIST, interhand_to_canonical

SPLITS: dict[str, tuple[str, ...]] = {"train": ("train",), "test": ("test",), "eval": ("val",),
                                      "all": ("train", "val", "test")}
ANNOTATION_SUBSETS: tuple[str, ...] = ("all", "human_annot", "machine_annot")  # the 30 fps release's folders
KINDS: tuple[str, ...] = ("data", "camera", "joint_3d")
GROUP_SINGLE, GROUP_INTERACTING = "single", "interacting"
_ROOT_JOINTS = sorted({WRIST, MIDDLE_MCP, *DEFAULT_SCALE_BONE})  # needed for 3D (Eq. 7 root and scale)


class _Hand(NamedTuple):
    file: Path
    K: np.ndarray  # (3, 3), shared by the hands of one camera
    xyz_m: np.ndarray  # (21, 3) float32 camera metres, NaN at invalid joints (held compactly: millions of hands)
    valid: np.ndarray  # (21,) bool
    side: str
    group: str


def annotation_files(root: Path, split: str) -> dict[str, Path] | None:
    """The split's ``{data, camera, joint_3d}`` JSON paths (the first folder holding all three), or None."""
    for folder in (split, *ANNOTATION_SUBSETS):
        paths = {k: root / "annotations" / folder / f"InterHand2.6M_{split}_{k}.json" for k in KINDS}
        if all(p.is_file() for p in paths.values()):
            return paths
    return None


class InterHandDataset(HandDataset):
    """One sample per labelled hand of InterHand2.6M (see the module doc for the layout and rules)."""

    def __init__(self, cfg: DatasetConfig, domain: int = TARGET) -> None:
        super().__init__(cfg, domain)
        self.root = Path(cfg.root)
        if not self.root.is_dir():
            raise DataError(self.root, "missing folder (interhand: the root is the dataset folder holding "
                                       "annotations/ and images/)")
        self.items: list[_Hand] = []
        self.files: dict[str, dict[str, Path]] = {}
        self.image_dirs: dict[str, Path] = {}
        self.dropped_hands = 0  # hands with fewer than 2 valid joints: no sample
        for split in SPLITS[cfg.split]:
            paths = annotation_files(self.root, split)
            if paths is None:
                if cfg.split == "all":
                    continue
                raise DataError(self.root / "annotations" / split,
                                f"missing InterHand2.6M_{split}_{{data,camera,joint_3d}}.json (looked in "
                                f"annotations/{split}/ and annotations/{{{','.join(ANNOTATION_SUBSETS)}}}/)")
            self.files[split] = paths
            self.image_dirs[split] = Path(cfg.images) if cfg.images else self.root / "images" / split
            self._read_split(split, paths)
        if not self.files:
            raise DataError(self.root / "annotations", "no InterHand2.6M_{train,val,test}_*.json annotation files")
        self.items = self.items[: self._limit(len(self.items))]

    # --- indexing ----------------------------------------------------------------------------------------------
    def _read_split(self, split: str, paths: dict[str, Path]) -> None:
        doc, cams, joints = (load_json(paths[k]) for k in KINDS)
        if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) \
                or not isinstance(doc.get("annotations"), list):
            raise DataError(paths["data"], "expected an object with 'images' and 'annotations' lists")
        for kind, obj in (("camera", cams), ("joint_3d", joints)):
            if not isinstance(obj, dict):
                raise DataError(paths[kind], "expected an object keyed by capture id")
        images = {im["id"]: im for im in doc["images"] if isinstance(im, dict) and "id" in im}
        cameras: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for k, ann in enumerate(doc["annotations"]):
            try:
                self.items.extend(self._annotation(ann, k, split, paths, images, cams, joints, cameras))
            except DataError as err:
                self._bad(err)

    def _camera(self, cams: dict, path: Path, capture: str, cam: str, where: str,
                cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(camrot (3, 3), campos (3,) mm, K (3, 3))`` of one camera of one capture (cached)."""
        key = (capture, cam)
        if key not in cache:
            entry = cams.get(capture)
            values = {}
            for name in ("campos", "camrot", "focal", "princpt"):
                table = entry.get(name) if isinstance(entry, dict) else None
                if not isinstance(table, dict) or cam not in table:
                    raise DataError(path, f"{where}: no {name} for capture {capture} camera {cam}")
                shape = {"campos": (3,), "camrot": (3, 3), "focal": (2,), "princpt": (2,)}[name]
                values[name] = as_float_array(table[cam], shape, path, f"capture {capture} camera {cam} {name}")
                if not np.isfinite(values[name]).all():
                    raise DataError(path, f"{where}: capture {capture} camera {cam} {name} is not finite")
            f, c = values["focal"], values["princpt"]
            if (f <= 0).any():
                raise DataError(path, f"{where}: capture {capture} camera {cam} focal must be positive, got {f}")
            K = np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]])
            cache[key] = (values["camrot"], values["campos"], K)
        return cache[key]

    def _annotation(self, ann: Any, k: int, split: str, paths: dict[str, Path], images: dict, cams: dict,
                    joints: dict, cameras: dict) -> list[_Hand]:
        data_path = paths["data"]
        where = f"annotation {k}" + (f" (id {ann['id']})" if isinstance(ann, dict) and "id" in ann else "")
        if not isinstance(ann, dict):
            raise DataError(data_path, f"{where}: expected an object")
        missing = [key for key in ("image_id", "joint_valid", "hand_type") if key not in ann]
        if missing:
            raise DataError(data_path, f"{where}: missing {', '.join(missing)}")
        im = images.get(ann["image_id"])
        if im is None:
            raise DataError(data_path, f"{where}: image_id {ann['image_id']!r} is not in 'images'")
        lacks = [key for key in ("file_name", "capture", "camera", "frame_idx") if key not in im]
        if lacks or not isinstance(im["file_name"], str):
            raise DataError(data_path, f"{where}: its image lacks {', '.join(lacks) or 'a file_name string'}")
        hand_type = ann["hand_type"]
        if hand_type not in ("right", "left", GROUP_INTERACTING):
            raise DataError(data_path, f"{where}: hand_type must be right, left or interacting, got {hand_type!r}")
        valid = as_float_array(ann["joint_valid"], (-1,) if np.ndim(ann["joint_valid"]) == 1 else (-1, 1),
                               data_path, f"{where} joint_valid").reshape(-1)
        if valid.shape != (42,) or not np.isin(valid, (0.0, 1.0)).all():
            raise DataError(data_path, f"{where}: joint_valid must be 42 values 0/1")
        ok = valid > 0
        capture, cam, frame_idx = str(im["capture"]), str(im["camera"]), str(im["frame_idx"])
        camrot, campos, K = self._camera(cams, paths["camera"], capture, cam, where, cameras)
        frames = joints.get(capture)
        frame = frames.get(frame_idx) if isinstance(frames, dict) else None
        if not isinstance(frame, dict) or "world_coord" not in frame:
            raise DataError(paths["joint_3d"], f"{where}: no world_coord for capture {capture} frame {frame_idx}")
        world = as_float_array(frame["world_coord"], (42, 3), paths["joint_3d"],
                               f"{where} (capture {capture} frame {frame_idx}) world_coord")
        if not np.isfinite(world[ok]).all():
            raise DataError(paths["joint_3d"], f"{where}: non-finite world_coord at valid joints")
        xyz = (world - campos) @ camrot.T / 1000.0  # X_cam = camrot · (X_world − campos), mm → m
        xyz[~ok] = np.nan
        if (xyz[ok, 2] <= 0).any():
            raise DataError(paths["joint_3d"], f"{where}: valid joints behind camera {cam} (z <= 0)")
        file = self.image_dirs[split] / im["file_name"]
        group = GROUP_INTERACTING if hand_type == GROUP_INTERACTING else GROUP_SINGLE
        hands = []
        for side in ("right", "left") if group == GROUP_INTERACTING else (hand_type,):
            hand_ok = interhand_to_canonical(ok[:, None], side)[:, 0]
            if hand_ok.sum() < 2:  # nothing to crop around or learn from
                self.dropped_hands += 1
                continue
            hand_xyz = interhand_to_canonical(xyz, side).astype(np.float32)
            hands.append(_Hand(file, K, hand_xyz, hand_ok, side, group))
        return hands

    # --- samples -----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def read_raw(self, index: int) -> RawSample:
        h = self.items[index]
        xyz = h.xyz_m.astype(np.float64)
        uv = np.full((21, 2), np.nan)
        uv[h.valid] = project(xyz[h.valid], h.K, validate=False)
        has_3d = bool(h.valid[_ROOT_JOINTS].all())
        return RawSample(image=read_image(h.file, "RGB"), K=h.K.copy(), uv_px=uv, vis=h.valid.copy(),
                         xyz_m=xyz if has_3d else None, depth_m=None, mask=None, hand_side=h.side,
                         source=f"{h.file}#{h.side}", group=h.group)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["annotations"] = ", ".join(str(p["data"].parent) for p in self.files.values())
        out["images"] = ", ".join(str(p) for p in self.image_dirs.values())
        groups = [h.group for h in self.items]
        out["single_hands"] = groups.count(GROUP_SINGLE)
        out["interacting_hands"] = groups.count(GROUP_INTERACTING)
        out["hands_2d_only"] = sum(not h.valid[_ROOT_JOINTS].all() for h in self.items)
        out["hands_without_valid_joints"] = self.dropped_hands
        return out


__all__ = ["InterHandDataset", "annotation_files"]
