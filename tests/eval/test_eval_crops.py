"""One crop record per training domain in the checkpoint, read back by prediction (the real domain's) and by
evaluation (the evaluated dataset's domain)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import awhourglass
from awhourglass.checkpoint import atomic_save, crop_entry, load_checkpoint
from awhourglass.data import DatasetConfig
from awhourglass.eval import run as eval_run
from awhourglass.methods import MethodConfig
from awhourglass.models import ModelConfig
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.config import (
    AdaptPhaseConfig,
    PhaseConfig,
    PhasesConfig,
    TrainConfig,
    TrainDataConfig,
    with_defaults,
)
from awhourglass.train.run import train

SOURCE_CROP, TARGET_CROP = (1.3, 12.0), (1.8, 20.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("crops")
    write_dataset(SynthConfig(domain="source", n=6, out=str(base / "rhd"), size=64, split="both"), progress=False)
    write_dataset(SynthConfig(domain="target", n=6, out=str(base / "stb"), size=64, split="both"), progress=False)
    cfg = TrainConfig(
        data=TrainDataConfig(
            source=DatasetConfig(format="rhd", root=str(base / "rhd"), input_size=32, crop_margin=SOURCE_CROP[0],
                                 min_crop_px=SOURCE_CROP[1]),
            target=DatasetConfig(format="stb", root=str(base / "stb"), input_size=32, labels="2d",
                                 crop_margin=TARGET_CROP[0], min_crop_px=TARGET_CROP[1])),
        model=ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=1, depth=2, depth_out_size=16,
                          depth_width=8),
        method=MethodConfig(name="joint"),
        phases=PhasesConfig(pretrain=PhaseConfig(steps=1, batch_size=2), adapt=AdaptPhaseConfig(steps=1, batch_size=2)),
        device="cpu", num_workers=0, progress=False)
    train(cfg, base / "run")
    return base, base / "run" / "model.pt"


def test_the_checkpoint_records_each_domain_s_crop(run):
    _, path = run
    ckpt = load_checkpoint(path)
    assert crop_entry(ckpt, path, "source") == SOURCE_CROP
    assert crop_entry(ckpt, path, "target") == TARGET_CROP
    assert crop_entry(ckpt, path) == SOURCE_CROP  # the one `crop` older readers know: the source's
    # a checkpoint written before the per-domain record: its one crop for either domain
    old = {k: v for k, v in ckpt.items() if k != "crops"}
    assert crop_entry(old, path, "target") == SOURCE_CROP
    with pytest.raises(ValueError, match="domain"):
        crop_entry(ckpt, path, "real")


def test_prediction_crops_a_photograph_as_the_real_domain_was_cropped(run):
    _, path = run
    est = awhourglass.load(path)
    assert (est.crop_margin, est.min_crop_px) == TARGET_CROP


@pytest.mark.parametrize(("fmt", "folder", "crop"), [("stb", "stb", TARGET_CROP), ("rhd", "rhd", SOURCE_CROP)])
def test_evaluation_crops_a_dataset_as_its_domain_was_cropped(run, monkeypatch, tmp_path, fmt, folder, crop):
    base, path = run
    seen: list[DatasetConfig] = []
    build = eval_run.build_dataset

    def recording(cfg, domain=None):
        seen.append(cfg)
        return build(cfg, domain)

    monkeypatch.setattr(eval_run, "build_dataset", recording)
    result, _ = eval_run.evaluate_checkpoint(eval_run.EvalConfig(
        checkpoint=str(path), data=str(base / folder), format=fmt, split="test", out=str(tmp_path), qualitative=0,
        progress=False))
    assert [(c.crop_margin, c.min_crop_px) for c in seen] == [crop]
    assert result.count > 0
    # and the crop changes what the network sees: the readers' default crop gives other predictions
    with_crop = eval_run.load_dataset(str(base / folder), fmt, "test", 32, crop=crop)[0].image
    default = eval_run.load_dataset(str(base / folder), fmt, "test", 32)[0].image
    assert not torch.equal(with_crop, default)


def _old_spelling(ckpt: dict) -> dict:
    """``ckpt`` as checkpoints were written before the crop's names were unified: its crop records keyed
    ``margin`` / ``min_side_px``, its datasets' margin under ``crop_scale`` (as the shipped demo weights are)."""
    old = copy.deepcopy(ckpt)
    for rec in [old["crop"], *old["crops"].values()]:
        rec["margin"], rec["min_side_px"] = rec.pop("crop_margin"), rec.pop("min_crop_px")
    for dom in ("source", "target"):
        data = old["config"]["data"][dom]
        data["crop_scale"] = data.pop("crop_margin")
    return old


def test_a_checkpoint_with_the_old_crop_names_gives_the_same_crops(run, tmp_path):
    _, path = run
    ckpt = load_checkpoint(path)
    assert set(ckpt["crop"]) == {"crop_margin", "min_crop_px"} and "crop_scale" not in ckpt["config"]["data"]["source"]
    old_path = tmp_path / "old.pt"
    atomic_save(_old_spelling(ckpt), old_path)
    old = load_checkpoint(old_path)
    assert "margin" in old["crops"]["target"] and "crop_scale" in old["config"]["data"]["target"]
    for domain in ("source", "target", None):
        assert crop_entry(old, old_path, domain) == crop_entry(ckpt, path, domain)
    assert with_defaults(old["config"]) == with_defaults(ckpt["config"])  # the config reads as the run's (resume)
    # prediction: the same square around the same box, so the same answer
    image = np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    a, b = awhourglass.load(path).predict(image, bbox=(30, 20, 24, 30)), awhourglass.load(old_path).predict(
        image, bbox=(30, 20, 24, 30))
    assert a.bbox == b.bbox and a.bbox[2] == pytest.approx(TARGET_CROP[0] * 30)
    np.testing.assert_array_equal(a.uv_px, b.uv_px)
