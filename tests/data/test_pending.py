"""``augment.on_batch``: a loader worker leaves the pixel work to the batch, and the batch finished on the training
device is the batch the worker would have made (bit-identical on a CPU), for packs, files and the two mixed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from awhourglass.data import DatasetConfig, build_dataset
from awhourglass.data.config import AugmentConfig
from awhourglass.data.crop import AugmentParams, RawSample, make_sample
from awhourglass.data.pack import write_pack
from awhourglass.data.pending import finish_batch, settle_crops
from awhourglass.data.sample import SOURCE, TARGET, collate
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.distributed import DistInfo

# every pixel augmentation drawn often (configs/rhd-stb.yaml's ranges, higher probabilities)
AUG = AugmentConfig(enabled=True, hue=0.1, blur_prob=0.5, blur_sigma_px=2.0, noise_prob=0.5, noise_std=0.03,
                    cutout_prob=0.5, cutout_frac=0.3)
FIELDS = ("uv_px", "K", "vis", "xyz_m", "has_3d", "depth", "depth_mask", "has_depth", "domain")


def on_batch(cfg: DatasetConfig) -> DatasetConfig:
    return dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, on_batch=True))


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, DatasetConfig]:
    """RHD files at 320², STB at 640×480, and their packs, read at 128² with :data:`AUG`."""
    base = tmp_path_factory.mktemp("pending")
    write_dataset(SynthConfig("source", 4, str(base / "rhd"), seed=3, size=320, split="training"), progress=False)
    write_dataset(SynthConfig("target", 2, str(base / "stb"), seed=3, size=640, split="training"), progress=False)
    out = {}
    for fmt, labels in (("rhd", "3d"), ("stb", "2d")):
        cfg = DatasetConfig(format=fmt, root=str(base / fmt), input_size=128, labels=labels, augment=AUG)
        write_pack(cfg, base / f"{fmt}.pack", progress=False)
        out[fmt] = cfg
        out[fmt + ".pack"] = dataclasses.replace(cfg, format="pack", root=str(base / f"{fmt}.pack"))
    return out


def _batches(cfgs: list[DatasetConfig], steps: int = 4, per_domain: int = 2):
    datasets = [build_dataset(c, domain=d) for d, c in zip((SOURCE, TARGET), cfgs, strict=False)]
    return list(iterate_steps(StepBatches(datasets, [per_domain] * len(datasets), 5, "adapt", DistInfo()), 0, steps, 0))


def _assert_same(a, b) -> None:
    assert torch.equal(a.image, b.image)
    for name in FIELDS:
        assert torch.equal(getattr(a, name).nan_to_num(-7.0), getattr(b, name).nan_to_num(-7.0)), name
    assert a.source == b.source and a.mirrored == b.mirrored and not b.pending


@pytest.mark.parametrize("name", ["rhd.pack", "stb.pack", "rhd", "stb"])
def test_the_batch_finished_on_the_device_is_the_workers_batch(sets, name):
    plain, deferred = _batches([sets[name]]), _batches([on_batch(sets[name])])
    for a, b in zip(plain, deferred, strict=True):
        assert not a.pending and len(b.pending) == len(b)
        if name.endswith(".pack"):  # the worker handed over the stored pictures, not the crops ...
            assert b.image.dtype == torch.uint8 and b.image.shape[-1] > 128
            # ... and RHD's stored depth and hand masks (STB's mask comes from the cropped depth: made in the worker)
            assert b.depth.shape[-1] == (b.image.shape[-1] if name == "rhd.pack" else 128)
            assert a.has_depth.any()
        else:
            assert b.image.dtype == torch.float32 and b.image.shape[-1] == 128
        _assert_same(a, finish_batch(b))
    # the draws changed pixels: a finished batch differs from the same batch without its pixel augmentation
    raw = finish_batch(dataclasses.replace(deferred[0], pending=[dataclasses.replace(
        p, aug=dataclasses.replace(AugmentParams(), rotation_rad=p.aug.rotation_rad)) for p in deferred[0].pending]))
    assert not torch.equal(raw.image, plain[0].image)


def test_a_pack_beside_files_in_one_batch(sets):
    """Source from a pack (stored pictures pending), target from files (finished crops): the pictures are resampled
    in the worker so the rows stack; the pixel augmentation still happens on the batch."""
    plain = _batches([sets["rhd.pack"], sets["stb"]])
    mixed = _batches([on_batch(sets["rhd.pack"]), on_batch(sets["stb"])])
    for a, b in zip(plain, mixed, strict=True):
        assert b.image.dtype == torch.float32 and all(p.inv_px is None for p in b.pending)
        _assert_same(a, finish_batch(b))


def test_readers_outside_training_always_give_finished_samples(sets):
    ds = build_dataset(on_batch(sets["rhd.pack"]))
    for key in (0, (1, 9)):
        s = ds[key]
        assert s.pending is None and s.image.dtype == torch.float32 and s.image.shape == (3, 128, 128)


@pytest.mark.parametrize("shrink", [1.0, 2.5, 3.4])
def test_a_stored_picture_shrunk_by_k_is_block_averaged_first_as_crop_rgb_does(shrink):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)
    uv = np.stack([rng.uniform(40, 110, 21), rng.uniform(40, 110, 21)], -1)
    raw = RawSample(image=image, K=np.array([[200.0, 0, 85], [0, 200.0, 75], [0, 0, 1]]), uv_px=uv,
                    vis=np.ones(21, bool), xyz_m=None, depth_m=None, mask=None, hand_side="right", source="x")
    size = 32
    # crop side = 1.5 (crop_margin) × the joints' longer extent × scale = shrink source pixels per output pixel
    aug = AugmentParams(scale=shrink * size / (1.5 * np.ptp(uv, 0).max()), brightness=1.1, noise_std=0.02,
                        pixel_seed=4)
    plain = make_sample(raw, input_size=size, aug=aug)
    deferred = make_sample(raw, input_size=size, aug=aug, on_batch=True, defer_crop=True)
    assert deferred.pending.pool == max(1, int(shrink))
    got = finish_batch(collate([deferred, deferred]))
    assert torch.equal(got.image[0], plain.image) and torch.equal(got.image[1], plain.image)
    settled = settle_crops([deferred, make_sample(raw, input_size=size, aug=aug, on_batch=True)])
    assert torch.equal(finish_batch(collate(settled)).image[0], plain.image)


def test_stored_depth_is_warped_and_normalized_on_the_batch_as_per_sample_rows_missing_stay_missing():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.3, 0.5, (150, 170)).astype(np.float32)
    depth[rng.random((150, 170)) < 0.1] = 0.0  # holes: no reading
    mask = np.zeros((150, 170), bool)
    mask[50:100, 60:120] = True
    uv = np.stack([rng.uniform(60, 120, 21), rng.uniform(50, 100, 21)], -1)
    K = np.array([[200.0, 0, 85], [0, 200.0, 75], [0, 0, 1]])
    image = rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)
    raws = [RawSample(image=image, K=K, uv_px=uv, vis=np.ones(21, bool), xyz_m=None, depth_m=depth, mask=m,
                      hand_side="right", source=str(i)) for i, m in enumerate([mask, np.zeros_like(mask), mask])]
    augs = [AugmentParams(rotation_rad=0.2 * i, scale=1.0 + 0.5 * i) for i in range(3)]
    plain = collate([make_sample(r, input_size=48, aug=a) for r, a in zip(raws, augs, strict=True)])
    deferred = [make_sample(r, input_size=48, aug=a, on_batch=True, defer_crop=True)
                for r, a in zip(raws, augs, strict=True)]
    assert all(d.depth.shape == (1, 150, 170) for d in deferred)
    assert plain.has_depth.tolist() == [True, False, True]  # the second hand has no masked pixel
    _assert_same(plain, finish_batch(collate(deferred)))


def test_training_on_batch_gives_the_same_weights(tmp_path: Path, sets):
    """Two pretraining steps from a pack with a loader worker: ``on_batch`` true and false end with equal
    weights (the batches are the same)."""
    from awhourglass.checkpoint import load_checkpoint
    from awhourglass.models import ModelConfig
    from awhourglass.train.config import MethodConfig, PhaseConfig, PhasesConfig, TrainConfig, TrainDataConfig
    from awhourglass.train.run import train

    tiny = ModelConfig(input_size=128, stem_stride=4, width=8, num_stacks=1, depth=2, depth_out_size=16,
                       depth_width=8)
    states = []
    for flag in (False, True):
        src = dataclasses.replace(sets["rhd.pack"], augment=dataclasses.replace(AUG, on_batch=flag))
        cfg = TrainConfig(data=TrainDataConfig(source=src, target=sets["stb"]), model=tiny,
                          method=MethodConfig(name="source_only"),
                          phases=PhasesConfig(pretrain=PhaseConfig(steps=2, batch_size=2)),
                          device="cpu", num_workers=1, progress=False)
        out = tmp_path / f"run{int(flag)}"
        train(cfg, out)
        states.append(load_checkpoint(out / "model.pt")["modules"]["model"])
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
