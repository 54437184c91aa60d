"""The hand_detected threshold: chosen on held-out crops at the end of training, stored in model.pt, used by predict."""

import numpy as np
import pytest
import torch
from train_standins import tiny_real_config

import awhourglass
from awhourglass.checkpoint import CheckpointError, hand_threshold_entry, load_checkpoint
from awhourglass.data.config import DatasetConfig
from awhourglass.data.loader import build_dataset
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.calibrate import (
    HOLDOUT_STREAM,
    IndexView,
    best_threshold,
    hand_free_images,
    split_holdout,
)
from awhourglass.train.parts import build_parts
from awhourglass.train.run import train


def test_best_threshold_by_hand():
    # t = 0.45 (between 0.3 and 0.6) finds every hand and lets 1 of 4 hand-free crops through: (1 + 3/4) / 2;
    # t = 0.675 finds 3 of 4 hands and rejects every hand-free crop: the same 7/8, exactly (binary fractions);
    # the lower one wins the tie
    out = best_threshold(np.array([0.6, 0.7, 0.8, 0.9]), np.array([0.1, 0.2, 0.3, 0.65]))
    assert out["threshold"] == pytest.approx(0.45)
    assert out["hand_rate"] == 1.0 and out["free_rate"] == 0.25
    assert out["balanced_accuracy"] == 0.875 and (out["n_hand"], out["n_free"]) == (4, 4)
    # separable scores: the midpoint of the gap, both rates perfect
    sep = best_threshold(np.array([0.5, 0.9]), np.array([0.1, 0.3]))
    assert sep["threshold"] == pytest.approx(0.4) and sep["hand_rate"] == 1.0 and sep["free_rate"] == 0.0
    with pytest.raises(ValueError):
        best_threshold(np.array([]), np.array([0.1]))


class _Seeded(list):
    takes_seed = True

    def __getitem__(self, key):
        return ("seeded", *key) if isinstance(key, tuple) else super().__getitem__(key)


def test_split_holdout_views():
    data = list(range(100))
    train_part, held = split_holdout(data)
    assert len(train_part) == 95 and list(held) == [95, 96, 97, 98, 99]  # the last 5 %, never trained on
    assert list(train_part)[-1] == 94
    assert split_holdout(list(range(39)))[1] is None  # too small: everything trains
    with pytest.raises(IndexError):
        held[5]
    # a reader's (index, seed) keys pass through with the view's offset
    view = IndexView(_Seeded(range(10)), 4, 8)
    assert view.takes_seed and view[(1, 7)] == ("seeded", 5, 7) and view[1] == 5

    class Stream(list):
        fresh = True

    stream = Stream(range(1000))
    same, tail = split_holdout(stream)
    assert same is stream and len(tail) == HOLDOUT_STREAM and tail[0] == 1000 - HOLDOUT_STREAM


def test_hand_free_images_are_hand_free_kinds():
    imgs = hand_free_images(8, 32, seed=0)
    assert imgs.shape == (8, 3, 32, 32) and imgs.dtype == torch.float32
    assert float(imgs.min()) >= 0.0 and float(imgs.max()) <= 1.0
    assert float(imgs[1].std(dim=(1, 2)).max()) < 1e-6 and float(imgs[0].std()) > 0.2  # flat colour, noise


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("calib")
    write_dataset(SynthConfig(domain="source", n=48, out=str(base / "rhd"), size=64, split="training"), progress=False)
    write_dataset(SynthConfig(domain="target", n=6, out=str(base / "stb"), size=64, split="training"), progress=False)
    return base


def test_training_calibrates_the_threshold_on_held_out_crops(tmp_path, roots):
    cfg = tiny_real_config(roots, "source_only", pretrain=2, adapt=0)
    parts = build_parts(cfg, dist=None)
    whole = build_dataset(DatasetConfig(format="rhd", root=str(roots / "rhd"), input_size=32))
    assert len(parts.source) == 46 and len(parts.calibration) == 2  # 5 % of 48 held out
    np.testing.assert_array_equal(parts.calibration[1].image.numpy(), whole[47].image.numpy())

    model_pt = train(cfg, tmp_path / "run")
    ckpt = load_checkpoint(model_pt)
    entry = hand_threshold_entry(ckpt, model_pt)
    assert entry is not None and entry["n_hand"] == 2 and entry["n_free"] == 128
    assert 0.0 <= entry["threshold"] <= 1.0 and "balanced accuracy" in entry["method"]
    assert "hand threshold calibrated" in (tmp_path / "run" / "train.log").read_text()
    # recomputed independently: the saved network's confidences on the two held-out crops and 128 hand-free ones
    est = awhourglass.load(model_pt)
    assert est.threshold == entry["threshold"] and est.threshold_source.startswith("calibrated")
    from awhourglass.train.calibrate import FREE_SEED_OFFSET, confidences

    hands = torch.stack([parts.calibration[i].image for i in range(2)])
    again = best_threshold(confidences(est.model, hands),
                           confidences(est.model, hand_free_images(128, 32, cfg.seed + FREE_SEED_OFFSET)))
    assert again["threshold"] == pytest.approx(entry["threshold"], abs=1e-6)
    assert awhourglass.load(model_pt, threshold=0.5).threshold_source == "given"


def test_a_bad_recorded_threshold_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not a confidence"):
        hand_threshold_entry({"hand_threshold": {"threshold": float("nan")}}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="must hold a threshold"):
        hand_threshold_entry({"hand_threshold": {"t": 1}}, tmp_path / "m.pt")
    assert hand_threshold_entry({}, tmp_path / "m.pt") is None
