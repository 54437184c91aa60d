"""A dataset decoded and cropped once, stored memory-mappable (``awh data pack``), read back as the same samples.

Reading RHD / STB decodes two or three PNGs per sample (and registers STB's depth), every epoch. A pack stores
each record once, already decoded and cut to a square around the hand, as ``.npy`` arrays opened with
``mmap_mode="r"``; its reader (``format: pack``) returns the :class:`~awhourglass.data.crop.RawSample` of the
original reader re-expressed in the packed crop's pixels, and the usual :func:`~awhourglass.data.crop.make_sample`
crops and augments it. Layout of a pack folder::

    pack.json             manifest (written last): what was packed and how, the shards, and every source file
                          with its size and modification time (ns), checked when the pack is opened
    index.json            per sample: hand side, source, group; the bad samples' problems
    K.npy uv_px.npy       (N, 3, 3) / (N, 21, 2) float64: the recording's intrinsics and joint pixels
    vis.npy xyz_m.npy     (N, 21) bool / (N, 21, 3) float64 metres (NaN where the record has none)
    affine.npy            (N, 3, 3) float64: the pixel map from the recording to the packed crop
    has_xyz.npy has_depth.npy has_mask.npy bad.npy     (N,) bool
    image_0000.npy        (n, S, S, 3) uint8 RGB crops, SHARD_SAMPLES per shard
    depth_0000.npy        (n, S, S) uint16 depth in 0.1 mm (0 = no reading), where the records have depth
    mask_0000.npy         (n, S, S) bool hand masks, where the records have one (RHD)

The packed crop of a record is the training crop square without augmentation (``crop_margin`` × the visible
joints' box, at least ``min_crop_px``) times ``room`` (:data:`ROOM`: rotation, scale and shift augmentation read
pixels outside that square), stored at ``S × S`` pixels (:func:`default_size`: 1.25 × the network input). Where
that square spans fewer than ``S`` recording pixels the crop is an exact copy (scale 1, whole-pixel shift: no
resampling); larger squares are shrunk to ``S`` (one bilinear resampling, antialiased like every crop). Labels stay
exact: the reader carries K and the joints through the same affine in float64, so a training crop from the pack
has the labels of the training crop from the original; its pixels differ by the extra resampling and where a crop
reaches beyond the packed square (docs/datasets.md states the measured differences).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from awhourglass.atomic import atomic_write_text
from awhourglass.config import from_dict, to_dict
from awhourglass.data.base import HandDataset
from awhourglass.data.config import READERS, AugmentConfig, DatasetConfig
from awhourglass.data.crop import RawSample, crop_rgb, hand_square, warp
from awhourglass.data.io import DataError
from awhourglass.errors import AwhError
from awhourglass.geometry import apply_affine

if TYPE_CHECKING:
    from awhourglass.data.rhd import RHDDataset
    from awhourglass.data.stb import STBDataset

FORMAT = "awh-pack"
VERSION = 1
MANIFEST = "pack.json"
PACKABLE = ("rhd", "stb")  # readers whose source files the pack can list (their ``paths``)
SIZE_FACTOR = 1.25  # default packed side = 1.25 × the network input
ROOM = 2.0  # packed square = ROOM × the unaugmented crop square: ±30° rotation, 1.1× scale and 5 % shift fit
SHARD_SAMPLES = 512
DEPTH_UNIT_M = 1e-4  # uint16 depth in 0.1 mm: ≤ 0.05 mm rounding, up to 6.5535 m (RHD's depth ends at 5 m)
LABELS = ("K", "uv_px", "vis", "xyz_m", "affine", "has_xyz", "has_depth", "has_mask", "bad")
# DatasetConfig options that the packed records depend on: a pack answers only configs that agree on them
FIXED = ("split", "crop_margin", "min_crop_px")


def default_size(input_size: int) -> int:
    """The packed side for a network input of ``input_size`` pixels: :data:`SIZE_FACTOR` × it, rounded."""
    return round(SIZE_FACTOR * input_size)


def pack_affine(uv_px: np.ndarray, vis: np.ndarray, crop_margin: float, min_crop_px: float, size: int,
                room: float) -> np.ndarray:
    """The 3×3 pixel map from a recording to its packed ``size × size`` crop: scale ``a ≤ 1`` and a shift.

    The packed square is centred on the unaugmented crop square and ``room`` times its side; ``a = 1`` (with a
    whole-pixel shift, so the crop is a copy of the recording's pixels) unless that square spans more than
    ``size`` recording pixels.

    Raises:
        ValueError: fewer than 2 joints have finite pixels (:func:`~awhourglass.data.crop.hand_square`).
    """
    centre, side = hand_square(uv_px, vis, crop_margin, min_crop_px)
    a = min(1.0, size / (room * side))
    shift = (size - 1) / 2.0 - a * centre
    if a == 1.0:
        shift = np.round(shift)
    return np.array([[a, 0.0, shift[0]], [0.0, a, shift[1]], [0.0, 0.0, 1.0]])


# --- sources ---------------------------------------------------------------------------------------------------


def label_files(ds: RHDDataset | STBDataset) -> list[Path]:
    """The annotation files ``ds`` read when it was built (RHD's pickles; STB's label .mat files and its
    ``intrinsics.json``)."""
    from awhourglass.data.rhd import RHDDataset, find_anno

    if isinstance(ds, RHDDataset):
        return sorted({find_anno(ds.root, sub) for sub in {f[0] for f in ds.frames}})
    files = [ds.root / "labels" / f"{seq}_SK.mat" for seq in ds.sequences]
    return files + [p for p in (ds.root / "intrinsics.json",) if p.exists()]


def stamp(path: Path) -> list[int] | None:
    """``[size, mtime_ns]`` of ``path``, or None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _stamp_into(stamps: dict[str, list[int]], root: Path, paths: Iterable[Path]) -> None:
    for p in paths:
        s = stamp(p)
        if s is not None:
            stamps[Path(p).relative_to(root).as_posix()] = s


def check_sources(pack: Path, root: Path, sources: dict[str, list[int]]) -> None:
    """Raise a one-line :class:`DataError` naming the first source file whose size or modification time is not
    what the pack recorded (or that is gone)."""
    for rel, recorded in sources.items():
        now = stamp(root / rel)
        if now != recorded:
            what = "is missing" if now is None else "changed (size or modification time)"
            raise DataError(root / rel, f"{what} since it was packed into {pack}; re-run `awh data pack`")


# --- writing ---------------------------------------------------------------------------------------------------

_WORKER_DS: RHDDataset | STBDataset | None = None  # the source reader of a packing worker process


def _open_source(cfg: DatasetConfig) -> RHDDataset | STBDataset:
    from awhourglass.data.loader import build_dataset
    from awhourglass.data.rhd import RHDDataset
    from awhourglass.data.stb import STBDataset

    ds = build_dataset(cfg)
    assert isinstance(ds, (RHDDataset, STBDataset))  # cfg.format is one of PACKABLE
    return ds


def _init_worker(cfg: DatasetConfig) -> None:
    global _WORKER_DS
    torch.set_num_threads(1)
    _WORKER_DS = _open_source(cfg)


def _encode_depth(depth_m: torch.Tensor) -> np.ndarray:
    d = np.nan_to_num(depth_m.numpy(), nan=0.0, posinf=0.0, neginf=0.0)
    return np.round(np.clip(d, 0.0, 65535 * DEPTH_UNIT_M) / DEPTH_UNIT_M).astype(np.uint16)


def _write_shard(ds: RHDDataset | STBDataset, folder: Path, k: int, lo: int, hi: int, size: int, room: float) -> dict:
    """Pack records ``lo .. hi-1`` of ``ds`` into shard ``k``; return their labels, strings and source stamps."""
    cfg, n = ds.cfg, hi - lo
    images = np.lib.format.open_memmap(folder / f"image_{k:04d}.npy", "w+", np.uint8, (n, size, size, 3))
    extra: dict[str, np.memmap] = {}  # depth / mask shards, opened at their first record
    lab = {"K": np.zeros((n, 3, 3)), "uv_px": np.full((n, 21, 2), np.nan), "vis": np.zeros((n, 21), bool),
           "xyz_m": np.full((n, 21, 3), np.nan), "affine": np.tile(np.eye(3), (n, 1, 1))}
    lab.update({name: np.zeros(n, bool) for name in ("has_xyz", "has_depth", "has_mask", "bad")})
    strings: dict[str, list[str]] = {"hand_side": [], "source": [], "group": []}
    bad: dict[str, list[str]] = {}
    stamps: dict[str, list[int]] = {}
    for j, i in enumerate(range(lo, hi)):
        _stamp_into(stamps, ds.root, ds.paths(i).values())  # before reading: a later change shows
        try:
            raw = ds.read_checked(i)
            try:
                P = pack_affine(raw.uv_px, raw.vis, cfg.crop_margin, cfg.min_crop_px, size, room)
            except ValueError as exc:  # the message make_sample would give
                raise DataError(raw.source, f"cannot crop ({exc})") from None
        except DataError as err:
            if not cfg.skip_bad:
                raise
            lab["bad"][j] = True
            bad[str(i)] = [err.path, err.problem]
            strings["hand_side"].append("right")
            strings["source"].append(err.path)
            strings["group"].append("")
            continue
        images[j] = (crop_rgb(raw.image, P, size) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
        for name, arr, code in (("depth", raw.depth_m, _encode_depth), ("mask", raw.mask, lambda m: m.numpy() > 0.5)):
            if arr is None:
                continue
            if name not in extra:
                dtype = np.uint16 if name == "depth" else np.bool_
                extra[name] = np.lib.format.open_memmap(folder / f"{name}_{k:04d}.npy", "w+", dtype, (n, size, size))
            extra[name][j] = code(warp(torch.from_numpy(np.asarray(arr, np.float32))[None], P, size, "nearest")[0])
            lab[f"has_{name}"][j] = True
        lab["K"][j], lab["uv_px"][j], lab["vis"][j], lab["affine"][j] = raw.K, raw.uv_px, raw.vis, P
        if raw.xyz_m is not None:
            lab["xyz_m"][j], lab["has_xyz"][j] = raw.xyz_m, True
        strings["hand_side"].append(raw.hand_side)
        strings["source"].append(raw.source)
        strings["group"].append(raw.group)
    for arr in (images, *extra.values()):
        arr.flush()
    files = {"image": f"image_{k:04d}.npy", **{name: f"{name}_{k:04d}.npy" for name in extra}}
    return {"labels": lab, "strings": strings, "bad": bad, "stamps": stamps, "files": files, "count": n}


def _shard_task(args: tuple) -> dict:
    assert _WORKER_DS is not None  # set by _init_worker
    return _write_shard(_WORKER_DS, *args)


def write_pack(cfg: DatasetConfig, out: str | Path, size: int | None = None, room: float = ROOM, workers: int = 1,
               progress: bool = True) -> tuple[int, Path]:
    """Read every record of the dataset ``cfg`` describes and store it as a pack in ``out``.

    Args:
        cfg: the dataset (``rhd`` or ``stb``) with the reader options to pack with; its ``crop_margin`` and
            ``min_crop_px`` place the packed squares (a pack answers configs with the same ones), ``input_size``
            the default ``size``. ``skip_bad``: record unreadable samples as bad (the pack's reader then treats
            them as the original reader would) instead of stopping at the first.
        out: the pack folder; an existing pack there is replaced only once the new one is complete.
        size: packed side in pixels (default :func:`default_size`). room: see :data:`ROOM`.
        workers: processes reading the records (shards are written in parallel).

    Returns:
        The number of samples packed and the folder.

    Raises:
        AwhError: a format that cannot be packed, a bad size/room, or ``out`` is a folder that is not a pack;
        DataError: an unreadable file (without ``skip_bad``).
    """
    from tqdm import tqdm

    if cfg.format not in PACKABLE:
        raise AwhError(f"awh data pack: --format {cfg.format} cannot be packed (supported: {', '.join(PACKABLE)})")
    size = default_size(cfg.require_input_size()) if size is None else int(size)
    if not 16 <= size <= 4096:
        raise AwhError(f"awh data pack: --size must be 16 to 4096 pixels, got {size}")
    if not (isinstance(room, (int, float)) and 1.0 <= room <= 4.0):
        raise AwhError(f"awh data pack: --room must lie in [1, 4], got {room!r}")
    out = Path(out)
    if out.exists() and not (out / MANIFEST).exists() and any(out.iterdir()):
        raise AwhError(f"awh data pack: {out} is a folder that holds no pack; choose another --out")
    src_cfg = replace(cfg, labels="3d", augment=AugmentConfig())  # every label; augmentation is the reader's
    ds = _open_source(src_cfg)
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tasks = [(partial, k, lo, min(lo + SHARD_SAMPLES, len(ds)), size, float(room))
             for k, lo in enumerate(range(0, len(ds), SHARD_SAMPLES))]
    bar = tqdm(total=len(ds), desc=f"awh data pack {cfg.format}", unit="sample", disable=not progress)
    try:
        if workers > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(min(workers, len(tasks)), initializer=_init_worker, initargs=(src_cfg,)) as ex:
                shards = []
                for s in ex.map(_shard_task, tasks):
                    shards.append(s)
                    bar.update(s["count"])
        else:
            shards = []
            for t in tasks:
                shards.append(_write_shard(ds, *t))
                bar.update(shards[-1]["count"])
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        bar.close()
    _finish(partial, out, ds, src_cfg, shards, size, float(room))
    return len(ds), out


def _finish(partial: Path, out: Path, ds: RHDDataset | STBDataset, cfg: DatasetConfig, shards: list[dict], size: int,
            room: float) -> None:
    """Write the labels, index and manifest (last) of a pack, then put it in place of ``out``."""
    for name in LABELS:
        parts = [s["labels"][name] for s in shards]
        np.save(partial / f"{name}.npy", np.concatenate(parts) if parts else np.zeros((0,)), allow_pickle=False)
    index: dict[str, Any] = {
        key: [v for s in shards for v in s["strings"][key]] for key in ("hand_side", "source", "group")
    }
    index["bad"] = {i: p for s in shards for i, p in s["bad"].items()}
    atomic_write_text(partial / "index.json", json.dumps(index) + "\n")
    sources: dict[str, list[int]] = {}
    _stamp_into(sources, ds.root, label_files(ds))
    for s in shards:
        sources.update(s["stamps"])
    manifest = {
        "format": FORMAT, "version": VERSION, "packed": to_dict(cfg), "root": str(ds.root.resolve()),
        "size": size, "room": room, "depth_unit_m": DEPTH_UNIT_M, "count": len(ds), "shard_samples": SHARD_SAMPLES,
        "shards": [s["files"] for s in shards], "sources": sources,
    }
    atomic_write_text(partial / MANIFEST, json.dumps(manifest) + "\n")
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    partial.rename(out)
    shutil.rmtree(old, ignore_errors=True)


# --- reading ---------------------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the pack in ``folder``; a one-line :class:`DataError` when there is none or it is not one."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "missing: not a pack (make one with `awh data pack`)") from None
    except (OSError, ValueError) as exc:
        raise DataError(path, f"unreadable pack manifest ({exc}); re-run `awh data pack`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise DataError(path, f"not a version-{VERSION} pack of this package; re-run `awh data pack`")
    return data


class PackDataset(HandDataset):
    """The samples of a pack: the packed reader's records in the packed crops' pixels (``format: pack``)."""

    stores_crops = True
    # the label arrays of LABELS, set by name in __init__
    K: np.ndarray
    uv_px: np.ndarray
    vis: np.ndarray
    xyz_m: np.ndarray
    affine: np.ndarray
    has_xyz: np.ndarray
    has_depth: np.ndarray
    has_mask: np.ndarray
    bad: np.ndarray

    def __init__(self, cfg: DatasetConfig, domain: int | None = None) -> None:
        folder = Path(cfg.root)
        manifest = read_manifest(folder)
        packed = from_dict(DatasetConfig, manifest["packed"])
        for name in FIXED:
            if getattr(cfg, name) != getattr(packed, name):
                raise DataError(folder, f"packed with {name} {getattr(packed, name)!r}, read with "
                                        f"{getattr(cfg, name)!r}; re-run `awh data pack` with the reader's options")
        if cfg.with_depth and not packed.with_depth:
            raise DataError(folder, "packed without depth, read with with_depth: true; re-run `awh data pack` "
                                    "with with_depth: true (or read it with with_depth: false)")
        if domain is None:
            domain = READERS[packed.format][2]
            assert domain is not None  # packs hold RHD or STB, whose readers have a domain
        super().__init__(cfg, domain)
        check_sources(folder, Path(manifest["root"]), manifest["sources"])
        self.folder, self.packed, self.manifest = folder, packed, manifest
        try:
            labels = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in LABELS}
            self.index = json.loads((folder / "index.json").read_text())
        except (OSError, ValueError) as exc:
            raise DataError(folder, f"unreadable pack ({exc}); re-run `awh data pack`") from None
        n = self._limit(int(manifest["count"]))
        for name, arr in labels.items():
            setattr(self, name, arr[:n])
        self.count = n
        self._arrays: dict[tuple[str, int], np.ndarray] = {}  # shards, memory-mapped at first use per process

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = {}  # a worker maps the shards itself (never a pickled copy of them)
        return state

    def __len__(self) -> int:
        return self.count

    def _array(self, kind: str, shard: int) -> np.ndarray:
        key = (kind, shard)
        if key not in self._arrays:
            path = self.folder / self.manifest["shards"][shard][kind]
            try:
                self._arrays[key] = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DataError(path, f"unreadable pack shard ({exc}); re-run `awh data pack`") from None
        return self._arrays[key]

    def read_raw(self, index: int) -> RawSample:
        if self.bad[index]:
            path, problem = self.index["bad"][str(index)]
            raise DataError(path, problem)
        k, j = divmod(index, int(self.manifest["shard_samples"]))
        P = self.affine[index]
        depth = mask = None
        if self.cfg.with_depth and self.has_depth[index]:
            depth = self._array("depth", k)[j].astype(np.float32) * np.float32(self.manifest["depth_unit_m"])
        if self.cfg.with_depth and self.has_mask[index]:
            mask = np.array(self._array("mask", k)[j])
        return RawSample(
            image=np.array(self._array("image", k)[j]),  # a copy: torch refuses read-only (mapped) memory
            K=P @ self.K[index],
            uv_px=apply_affine(P, self.uv_px[index]),
            vis=self.vis[index].copy(),
            xyz_m=self.xyz_m[index].copy() if self.has_xyz[index] else None,
            depth_m=depth,
            mask=mask,
            hand_side=self.index["hand_side"][index],
            source=self.index["source"][index],
            group=self.index["group"][index],
            scale_px=float(P[0, 0]),
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(packed_format=self.packed.format, packed_root=self.packed.root, size=self.manifest["size"],
                   room=self.manifest["room"])
        return out


__all__ = ["PackDataset", "check_sources", "default_size", "pack_affine", "read_manifest", "write_pack"]
