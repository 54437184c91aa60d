"""`awh data pack` and ``format: pack``: a pack gives training the batches of the original files (labels exact,
pixels within the stated resampling tolerance), at the real datasets' sizes; a touched source file invalidates it.

The data are generated in the published layouts at the real sizes (RHD 320×320, STB 640×480 with its depth in the
depth camera's grid), augmented as configs/rhd-stb.yaml trains (256² crops).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_rhd

from awhourglass.cli import main
from awhourglass.config import load_yaml
from awhourglass.data import DatasetConfig, build_dataset
from awhourglass.data import pack as pack_mod
from awhourglass.data.io import DataError
from awhourglass.data.pack import PackDataset, default_size, write_pack
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.config import TrainConfig
from awhourglass.train.distributed import DistInfo

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "rhd-stb.yaml"
# The stated tolerance (docs/datasets.md, "Packs"): the pack's crop is one extra resampling, so a training crop
# from it differs from the one from the original by at most this mean absolute pixel difference (0–255 scale)...
MEAN_ABS_PER_CROP = 4.0
MEAN_ABS_OVER_ALL = 1.5
# ... and its depth label (Eq. 9, nearest resampling twice) at the hand's edge pixels: the hand masks' IoU and the
# mean |Δ| of the normalized depth on the pixels both masks share, per crop and over all crops
MASK_IOU_MIN, MASK_IOU_MEAN = 0.8, 0.9
DEPTH_MEAN_ABS_MAX, DEPTH_MEAN_ABS_MEAN = 0.15, 0.025


@pytest.fixture(scope="module")
def real_size(tmp_path_factory) -> dict[str, DatasetConfig]:
    """RHD 320² and STB 640×480 files (generated), with configs/rhd-stb.yaml's reader options."""
    base = tmp_path_factory.mktemp("real")
    write_dataset(SynthConfig("source", 6, str(base / "rhd"), seed=1, size=320, split="training"), progress=False)
    write_dataset(SynthConfig("target", 3, str(base / "stb"), seed=1, size=640, split="training"), progress=False)
    data = load_yaml(TrainConfig, CONFIG).data
    return {"rhd": dataclasses.replace(data.source, root=str(base / "rhd"), labels="3d"),
            "stb": dataclasses.replace(data.target, root=str(base / "stb"), labels="3d")}


def _packed(cfg: DatasetConfig, folder: Path, **kw) -> DatasetConfig:
    if not (folder / pack_mod.MANIFEST).exists():
        write_pack(cfg, folder, progress=False, **kw)
    return dataclasses.replace(cfg, format="pack", root=str(folder))


def _batches(cfg: DatasetConfig, steps: int, batch: int = 4):
    """Training's own pretraining batches of ``cfg`` (seeded augmentation per step and slot)."""
    ds = build_dataset(cfg)
    return list(iterate_steps(StepBatches([ds], [batch], 0, "pretrain", DistInfo()), 0, steps, 0))


def _pixel_and_depth_differences(a, b) -> tuple[np.ndarray, list[float], list[float]]:
    """Per-crop mean |Δ| of the images (0–255), hand-mask IoU and mean |Δ| of normalized depth per crop."""
    per_crop = ((a.image - b.image).abs().mean((1, 2, 3)) * 255.0).numpy()
    ious, depth = [], []
    for i in range(len(a)):
        ma, mb = a.depth_mask[i], b.depth_mask[i]
        ious.append(float((ma & mb).sum() / (ma | mb).sum()))
        both = ma & mb
        depth.append(float((a.depth[i] - b.depth[i])[both].abs().mean()))
    return per_crop, ious, depth


@pytest.mark.parametrize("fmt", ["rhd", "stb"])
def test_training_on_a_pack_gives_the_original_batches_labels_exact_pixels_within_tolerance(real_size, fmt,
                                                                                            tmp_path_factory):
    cfg = real_size[fmt]
    packed = _packed(cfg, tmp_path_factory.mktemp("packs") / fmt)
    steps = 6  # 24 samples: every record several times, each time with another augmentation draw
    crops, ious, depths = [], [], []
    for a, b in zip(_batches(cfg, steps), _batches(packed, steps), strict=True):
        assert a.source == b.source and a.hand_side == b.hand_side and a.mirrored == b.mirrored
        assert torch.equal(a.vis, b.vis) and torch.equal(a.has_3d, b.has_3d) and torch.equal(a.domain, b.domain)
        # labels: exact up to float rounding (float64 composition of the pack's affine with the training crop)
        assert (a.uv_px - b.uv_px).abs().max() < 1e-5 * max(1.0, float(a.uv_px.abs().max()))
        assert (a.K - b.K).abs().max() < 1e-5 * float(a.K.abs().max())
        assert (a.xyz_m - b.xyz_m).abs().max() < 1e-6
        c, iou, d = _pixel_and_depth_differences(a, b)
        crops += list(c)
        ious += iou
        depths += d
    crops = np.array(crops)
    assert crops.max() <= MEAN_ABS_PER_CROP and crops.mean() <= MEAN_ABS_OVER_ALL, crops
    assert min(ious) >= MASK_IOU_MIN and np.mean(ious) >= MASK_IOU_MEAN, ious
    assert max(depths) <= DEPTH_MEAN_ABS_MAX and np.mean(depths) <= DEPTH_MEAN_ABS_MEAN, depths


@pytest.mark.parametrize("shift_px", [1.0, 2.0, 3.0])
def test_the_tolerances_see_a_misplaced_pack(real_size, tmp_path_factory, shift_px):
    """The tolerances are tight enough to fail a pack whose affine is off by one packed pixel (the images), two
    (one of the depth label's tolerances too) or three (both), while its labels stay those of the original."""
    cfg = real_size["rhd"]
    packed = _packed(cfg, tmp_path_factory.mktemp("packs") / "rhd")
    ds, pk = build_dataset(cfg), build_dataset(packed)
    pk.affine = pk.affine.copy()
    pk.affine[:, 0, 2] += shift_px  # where the reader believes the crop lies: off by shift_px
    crops, ious, depths = [], [], []
    for i in range(len(ds)):
        a, b = ds[(i, 7)], pk[(i, 7)]
        assert (a.uv_px - b.uv_px).abs().max() < 1e-4  # the labels follow the affine: still those of the original
        crops.append(float((a.image - b.image).abs().mean()) * 255.0)
        ma, mb = a.depth_mask, b.depth_mask
        ious.append(float((ma & mb).sum() / (ma | mb).sum()))
        depths.append(float((a.depth - b.depth)[ma & mb].abs().mean()))
    assert np.mean(crops) > MEAN_ABS_OVER_ALL
    iou_fails, depth_fails = np.mean(ious) < MASK_IOU_MEAN, np.mean(depths) > DEPTH_MEAN_ABS_MEAN
    if shift_px >= 2:  # a pack is refused when any tolerance fails
        assert iou_fails or depth_fails, (ious, depths)
    if shift_px >= 3:
        assert iou_fails and depth_fails, (ious, depths)


def test_a_scale_one_pack_is_a_copy_of_the_recording(tmp_path):
    """Where the packed square spans fewer recording pixels than its side, the pack holds the recording's pixels
    unresampled, at a whole-pixel shift (checked against the PNG itself)."""
    from PIL import Image

    root = tmp_path / "rhd"
    make_rhd(root)  # 64×64 frames: every packed square of side 160 fits at scale 1
    cfg = DatasetConfig(format="rhd", root=str(root), input_size=64)
    pk = PackDataset(_packed(cfg, tmp_path / "pack", size=160))
    for i in range(len(pk)):
        P = pk.affine[i]
        assert P[0, 0] == P[1, 1] == 1.0 and P[0, 2] == round(P[0, 2]) and P[1, 2] == round(P[1, 2])
        tx, ty = int(P[0, 2]), int(P[1, 2])
        png = np.array(Image.open(root / "training" / "color" / f"{i:05d}.png").convert("RGB"))
        packed = pk.read_raw(i).image
        h, w = png.shape[:2]
        assert np.array_equal(packed[ty:ty + h, tx:tx + w], png)  # the recording, pixel for pixel
        inside = np.zeros(packed.shape[:2], bool)
        inside[ty:ty + h, tx:tx + w] = True
        assert not packed[~inside].any()  # zeros beyond the recording, as every crop pads


def _one_line_error_naming(exc: BaseException, path: Path) -> str:
    msg = str(exc)
    assert "\n" not in msg and str(path) in msg and "awh data pack" in msg
    return msg


def test_a_touched_source_file_invalidates_the_pack(tmp_path, capsys):
    root = tmp_path / "rhd"
    make_rhd(root)
    cfg = DatasetConfig(format="rhd", root=str(root), input_size=64)
    packed = _packed(cfg, tmp_path / "pack")
    build_dataset(packed)  # fine while nothing changed
    image = root / "training" / "depth" / "00001.png"
    st = os.stat(image)
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: same bytes, newer mtime
    with pytest.raises(DataError) as err:
        build_dataset(packed)
    assert "changed" in _one_line_error_naming(err.value, image)
    # the CLI: one line, non-zero exit
    assert main(["data", "check", str(tmp_path / "pack"), "--format", "pack"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("awh data: error:") and str(image) in line and "awh data pack" in line
    assert "\n" not in line
    # re-packing makes it valid again; an annotation file and a removed file count as well
    write_pack(cfg, tmp_path / "pack", progress=False)
    build_dataset(packed)
    anno = root / "training" / "anno_training.pickle"
    anno.write_bytes(anno.read_bytes() + b"\0")
    with pytest.raises(DataError) as err:
        build_dataset(packed)
    _one_line_error_naming(err.value, anno)
    write_pack(cfg, tmp_path / "pack", progress=False)
    (root / "training" / "mask" / "00002.png").unlink()
    with pytest.raises(DataError) as err:
        build_dataset(packed)
    assert "missing" in _one_line_error_naming(err.value, root / "training" / "mask" / "00002.png")


def test_a_pack_is_json_and_npy_only_and_its_shards_are_memory_mapped(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root)
    cfg = DatasetConfig(format="rhd", root=str(root), input_size=64)
    pk = build_dataset(_packed(cfg, tmp_path / "pack"))
    files = sorted(p.name for p in (tmp_path / "pack").iterdir())
    assert all(f.endswith((".npy", ".json")) for f in files), files
    for f in files:
        if f.endswith(".npy"):  # no object arrays: every array loads without pickle
            np.load(tmp_path / "pack" / f, allow_pickle=False)
    manifest = json.loads((tmp_path / "pack" / "pack.json").read_text())
    assert manifest["size"] == default_size(64) == 80 and manifest["room"] == pack_mod.ROOM
    assert "training/color/00000.png" in manifest["sources"]
    pk[(0, 1)]
    assert all(isinstance(a, np.memmap) for a in pk._arrays.values()) and pk._arrays
    # a worker process gets the labels, never a copy of the mapped shards; it maps them itself
    clone = pickle.loads(pickle.dumps(pk))
    assert clone._arrays == {} and torch.equal(clone[(2, 5)].image, pk[(2, 5)].image)


def test_parallel_packing_writes_the_same_pack(tmp_path, monkeypatch):
    root = tmp_path / "rhd"
    make_rhd(root, sides=("right", "left", "right", "left", "right"))
    monkeypatch.setattr(pack_mod, "SHARD_SAMPLES", 2)  # 3 shards
    cfg = DatasetConfig(format="rhd", root=str(root), input_size=64)
    write_pack(cfg, tmp_path / "one", progress=False)
    write_pack(cfg, tmp_path / "three", workers=3, progress=False)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "three").iterdir()) and "image_0002.npy" in names
    for name in names:
        a, b = (tmp_path / d / name for d in ("one", "three"))
        if name.endswith(".npy"):
            assert np.array_equal(np.load(a), np.load(b), equal_nan=True), name
        else:
            assert json.loads(a.read_text()) == json.loads(b.read_text()), name


def test_a_bad_file_stops_packing_or_is_recorded_and_read_back_as_the_reader_reports_it(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root)
    broken = root / "training" / "color" / "00001.png"
    broken.write_bytes(b"not a png")
    cfg = DatasetConfig(format="rhd", root=str(root), input_size=64)
    with pytest.raises(DataError, match=r"00001\.png"):
        write_pack(cfg, tmp_path / "pack", progress=False)
    assert not (tmp_path / "pack").exists()  # nothing half-written left as a pack
    skipping = dataclasses.replace(cfg, skip_bad=True)
    packed = _packed(skipping, tmp_path / "pack")
    with pytest.raises(DataError) as original:
        build_dataset(cfg).load(1)
    with pytest.raises(DataError) as from_pack:
        build_dataset(dataclasses.replace(packed, skip_bad=False)).load(1)
    assert str(from_pack.value) == str(original.value)
    with pytest.warns(UserWarning, match="skipping bad sample"):  # under skip_bad the next good sample, as before
        assert build_dataset(packed)[1].source == build_dataset(skipping)[2].source


def test_a_pack_written_with_the_crop_margin_s_old_name_reads_the_same(tmp_path):
    """Packs written before the rename record ``crop_scale`` in their manifest: read as ``crop_margin``, they still
    answer the configs of their crop margin (and only those) with the same samples."""
    root = tmp_path / "rhd"
    make_rhd(root)
    cfg = DatasetConfig(format="rhd", root=str(root), input_size=64, crop_margin=1.8)
    packed = _packed(cfg, tmp_path / "pack")
    before = build_dataset(packed)[0]
    manifest_path = tmp_path / "pack" / pack_mod.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    assert manifest["packed"]["crop_margin"] == 1.8
    manifest["packed"]["crop_scale"] = manifest["packed"].pop("crop_margin")
    manifest_path.write_text(json.dumps(manifest))
    after = build_dataset(packed)[0]
    assert torch.equal(after.image, before.image) and torch.equal(after.uv_px, before.uv_px)
    with pytest.raises(DataError, match=r"packed with crop_margin 1\.8"):
        build_dataset(dataclasses.replace(packed, crop_margin=1.5))


def test_a_pack_answers_only_the_options_it_was_packed_with(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root)
    cfg = DatasetConfig(format="rhd", root=str(root), input_size=64)
    packed = _packed(cfg, tmp_path / "pack")
    for change in ({"crop_margin": 2.0}, {"min_crop_px": 40.0}, {"split": "test"}):
        with pytest.raises(DataError, match=f"packed with {next(iter(change))}"):
            build_dataset(dataclasses.replace(packed, **change))
    no_depth = _packed(dataclasses.replace(cfg, with_depth=False), tmp_path / "no_depth")
    with pytest.raises(DataError, match="packed without depth"):
        build_dataset(dataclasses.replace(no_depth, with_depth=True))
    assert build_dataset(no_depth)[0].depth is None
    with pytest.raises(DataError, match="not a pack"):
        build_dataset(dataclasses.replace(packed, root=str(root)))
    # the pack keeps the domain of what it packed, and the other reader options apply as to the original
    assert build_dataset(packed).domain == build_dataset(cfg).domain
    flat = build_dataset(dataclasses.replace(packed, with_depth=False, labels="2d"))[0]
    assert flat.depth is None and flat.xyz_m is None


def test_cli_pack_then_check_the_pack(tmp_path, capsys):
    root = tmp_path / "rhd"
    make_rhd(root)
    assert main(["data", "pack", str(root), "--format", "rhd", "--input-size", "64", "--no-progress"]) == 0
    out = capsys.readouterr().out
    folder = root / "awh_pack_train"
    assert "packed 3 samples" in out and str(folder) in out and (folder / "pack.json").exists()
    assert main(["data", "check", str(folder), "--format", "pack", "--input-size", "64"]) == 0
    assert "samples: 3" in capsys.readouterr().out
    assert main(["data", "pack", str(root), "--format", "freihand"]) == 2
    assert "cannot be packed" in capsys.readouterr().err
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    assert main(["data", "pack", str(root), "--format", "rhd", "--out", str(tmp_path / "keep")]) == 2
    assert "holds no pack" in capsys.readouterr().err and (tmp_path / "keep" / "notes.txt").exists()


def test_one_table_of_formats():
    """The CLI's --format choices and DatasetConfig.format's type are the readers' table (spelled out there so that
    `awh --help` imports no torch, and for the type checker), and every entry of the table names a reader class."""
    import importlib
    from typing import get_args, get_type_hints

    from awhourglass.cli.data import FORMATS as CLI_FORMATS
    from awhourglass.data.base import HandDataset
    from awhourglass.data.config import FORMATS, READERS, DatasetConfig, DatasetFormat

    assert CLI_FORMATS == FORMATS
    assert get_args(DatasetFormat) == FORMATS
    assert get_args(get_type_hints(DatasetConfig)["format"]) == FORMATS
    for module, name, _ in READERS.values():
        assert issubclass(getattr(importlib.import_module(module), name), HandDataset)


def test_awh_train_reads_packs_through_loader_workers(tmp_path, capsys):
    """Training code is unchanged: `awh train` on two packs (source and target), with a loader worker process."""
    import yaml

    from awhourglass.config import to_dict
    from awhourglass.models import ModelConfig
    from awhourglass.train.config import AdaptPhaseConfig, MethodConfig, PhaseConfig, PhasesConfig, TrainDataConfig

    roots = {}
    for domain, fmt in (("source", "rhd"), ("target", "stb")):
        write_dataset(SynthConfig(domain, 6, str(tmp_path / fmt), size=64, split="training"), progress=False)
        cfg = DatasetConfig(format=fmt, root=str(tmp_path / fmt), input_size=32)
        roots[fmt] = _packed(cfg, tmp_path / f"{fmt}.pack")
    tiny = ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=8)
    cfg = TrainConfig(
        data=TrainDataConfig(source=roots["rhd"], target=dataclasses.replace(roots["stb"], labels="2d")),
        model=tiny, method=MethodConfig(name="awh", critic_steps=1, critic_width=8),
        phases=PhasesConfig(pretrain=PhaseConfig(steps=2, batch_size=4), adapt=AdaptPhaseConfig(steps=2, batch_size=4)),
        device="cpu", num_workers=1, progress=False)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert main(["train", str(tmp_path / "train.yaml"), "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "model.pt").exists()
