"""The method table: one object per method, the labels every consumer shows, a new method added in one place, and
DANN's schedules against hand computations."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from awhourglass.checkpoint import load_checkpoint
from awhourglass.cli import main
from awhourglass.config import ConfigError
from awhourglass.data import DatasetConfig
from awhourglass.methods import METHODS, AdversarialTerm, Method, MethodConfig
from awhourglass.methods.base import ganin_lr
from awhourglass.models import ModelConfig
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.config import AdaptPhaseConfig, PhaseConfig, PhasesConfig, TrainConfig, TrainDataConfig
from awhourglass.train.parts import build_parts
from awhourglass.train.run import fit, train

SRC = Path(__file__).resolve().parents[2] / "src" / "awhourglass"


def test_each_method_is_defined_once_and_the_table_lists_every_method_file():
    names = {}
    for path in sorted((SRC / "methods").glob("*.py")):
        for m in re.finditer(r'^    name = "(\w+)"', path.read_text(), re.M):
            names.setdefault(m.group(1), []).append(path.name)
    assert names == {name: [f"{name}.py"] for name in METHODS}
    # ... and no other module names a method in a literal list of them (the lists that drifted)
    for path in SRC.rglob("*.py"):
        if "methods" not in path.parts:
            assert not re.search(r'"source_only", "oracle", "joint"|"wh", "awh"\)', path.read_text()), path


def test_the_demo_the_benchmark_and_train_help_show_the_same_labels(capsys):
    from awhourglass.benchmark.compare import LABELS
    from awhourglass.demo.config import METHOD_LABELS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    for name in METHODS:
        label = MethodConfig(name=name).label
        assert re.search(rf"^  {name}\s+{re.escape(label)}$", help_text, re.M), name
        assert LABELS[name] == label
        if name in METHOD_LABELS:
            assert METHOD_LABELS[name] == label
    assert MethodConfig(name="awh").label == "AWH (wo/IL)"
    assert MethodConfig(name="awh", intermediate=("src_2d", "tgt_2d")).label == "AWH w/IL (R2D+S2D)"


def test_an_unknown_method_is_refused_naming_the_table():
    with pytest.raises(ConfigError, match="must be one of source_only, oracle, joint, wh, dann, awh, got 'adda'"):
        MethodConfig(name="adda")


def test_ganin_learning_rate_and_dann_defaults_by_hand():
    # μ_p = μ0 / (1 + 10 p)^0.75: p = 0 → μ0; p = 0.5 → μ0 / 6^0.75; p = 1 → μ0 / 11^0.75
    assert ganin_lr(0.01, 0.0) == 0.01
    assert ganin_lr(0.01, 0.5) == pytest.approx(0.01 / 6**0.75, rel=1e-12)
    assert ganin_lr(0.01, 1.0) == pytest.approx(0.01 / 11**0.75, rel=1e-12)
    assert ganin_lr(2e-4, 0.25) == pytest.approx(2e-4 / 3.5**0.75, rel=1e-12)
    dann, awh = MethodConfig(name="dann"), MethodConfig(name="awh")
    # 0-based step s of S steps has progress s / S; the others keep the phase's step decay
    assert dann.method.lr_at(1e-3, 30, 100, (50,), 0.1, dann) == pytest.approx(1e-3 / 4**0.75, rel=1e-12)
    assert dann.method.lr_at(1e-3, 60, 100, (50,), 0.1, dann) == pytest.approx(1e-3 / 7**0.75, rel=1e-12)
    assert awh.method.lr_at(1e-3, 30, 100, (50,), 0.1, awh) == 1e-3
    assert awh.method.lr_at(1e-3, 60, 100, (50,), 0.1, awh) == pytest.approx(1e-4, rel=1e-12)
    # the option: the step decay for DANN, Ganin's for another method
    step = MethodConfig(name="dann", lr_schedule="step")
    assert step.method.lr_at(1e-3, 60, 100, (50,), 0.1, step) == pytest.approx(1e-4, rel=1e-12)
    ganin = MethodConfig(name="joint", lr_schedule="ganin")
    assert ganin.method.lr_at(1e-3, 60, 100, (50,), 0.1, ganin) == pytest.approx(1e-3 / 7**0.75, rel=1e-12)
    with pytest.raises(ValueError, match="progress"):
        ganin_lr(1.0, 1.5)


def test_dann_training_runs_ganin_s_schedule(tmp_path, data):
    """The adapt log's learning rates are Ganin's annealing, computed by hand, step by step."""
    cfg = _config(data, "dann", adapt=4)
    train(cfg, tmp_path / "run")
    rows = (tmp_path / "run" / "adapt.csv").read_text().splitlines()
    header = rows[0].split(",")
    lrs = [float(r.split(",")[header.index("lr")]) for r in rows[1:]]
    assert lrs == pytest.approx([1e-3 / (1 + 10 * s / 4) ** 0.75 for s in range(4)], rel=1e-6)


class Toy(Method):
    """A method written for this test: joint training plus a made-up domain term (the mean squared bottleneck
    feature of the target rows, weight 0.01)."""

    name = "toy"
    label = "toy (test)"

    def adversarial(self, out, batch, n_source, adversary, cfg, progress):
        term = out.stacks[-1].features[n_source:].pow(2).mean()
        return AdversarialTerm(term, 0.01, {"toy": term})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy-data")
    write_dataset(SynthConfig(domain="source", n=8, out=str(base / "rhd"), size=64, split="training"), progress=False)
    write_dataset(SynthConfig(domain="target", n=6, out=str(base / "stb"), size=64, split="training"), progress=False)
    write_dataset(SynthConfig(domain="target", n=4, out=str(base / "stb"), size=64, split="evaluation"), progress=False)
    return base


def _config(base: Path, method: str, adapt: int = 4) -> TrainConfig:
    return TrainConfig(
        data=TrainDataConfig(source=DatasetConfig(format="rhd", root=str(base / "rhd"), input_size=32),
                             target=DatasetConfig(format="stb", root=str(base / "stb"), input_size=32, labels="2d")),
        model=ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=2, depth=2, depth_out_size=16,
                          depth_width=8),
        method=MethodConfig(name=method, critic_steps=1, critic_width=8),
        phases=PhasesConfig(pretrain=PhaseConfig(steps=2, batch_size=4, lr=1e-3),
                            adapt=AdaptPhaseConfig(steps=adapt, batch_size=4, lr=1e-3)),
        device="cpu", num_workers=0, log_every=1, ckpt_every=2, progress=False)


def test_a_toy_method_trains_checkpoints_resumes_and_is_evaluated_with_one_line_of_registration(
        tmp_path, data, monkeypatch, capsys):
    monkeypatch.setitem(METHODS, "toy", Toy())  # the one line a new method adds to methods/table.py
    cfg = _config(data, "toy")
    whole = tmp_path / "whole"
    train(cfg, whole)
    log = (whole / "adapt.csv").read_text().splitlines()
    assert "toy" in log[0].split(",") and len(log) == 1 + 4
    assert all(float(r.split(",")[log[0].split(",").index("toy")]) > 0 for r in log[1:])

    # killed after adapt step 2 (its checkpoint written), then resumed: the weights of the uninterrupted run
    killed = tmp_path / "killed"

    def kill(cfg_, dist):
        parts = build_parts(cfg_, dist)
        inner = parts.adapt_loss

        def wrapped(batch, info):
            if info.step == 3:
                raise KeyboardInterrupt
            return inner(batch, info)

        parts.adapt_loss = wrapped
        return parts

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, killed, False, kill)
    assert load_checkpoint(killed / "last.pt")["step"] < 4
    train(cfg, killed, resume=True)
    a, b = load_checkpoint(whole / "model.pt"), load_checkpoint(killed / "model.pt")
    assert a["config"]["method"]["name"] == "toy"
    assert all(torch.equal(v, b["modules"]["model"][k]) for k, v in a["modules"]["model"].items())

    # evaluated like any checkpoint
    out = tmp_path / "eval"
    assert main(["eval", str(whole / "model.pt"), "--data", str(data / "stb"), "--format", "stb", "--split", "test",
                 "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["count"] == 4 and math.isfinite(result["epe_mean_mm"]) and result["epe_mean_mm"] > 0
