"""`awh benchmark --stage compare`: selection on validation only, intervals by hand, paired differences."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from awhourglass.benchmark.compare import paired_differences, run_compare, select_step, t_interval
from awhourglass.benchmark.config import BenchmarkConfig, run_pretrain_stage
from awhourglass.demo.pretrained import PretrainSchedule
from awhourglass.models.config import ModelConfig
from awhourglass.synth.dataset import SynthConfig, write_dataset


def test_select_step_reads_the_validation_2d_error_only():
    curve = [{"step": 50, "val_2d_px": 3.0, "val_epe_mm": 10.0}, {"step": 100, "val_2d_px": 2.5, "val_epe_mm": 90.0},
             {"step": 150, "val_2d_px": 2.5, "val_epe_mm": 1.0}]
    assert select_step(curve) == 100  # lowest 2D error, earliest on ties; the 3D column is ignored
    with pytest.raises(ValueError):
        select_step([])


def test_t_interval_and_paired_differences_by_hand():
    r = t_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, n 3: t_{0.975, 2} = 4.302653 → half-width 4.302653 / sqrt(3)
    assert r["mean"] == pytest.approx(2.0) and r["ci95"] == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    d = paired_differences({"joint": [10.0, 12.0, 11.0], "awh": [9.0, 11.5, 10.0]})
    assert list(d) == ["awh"]
    assert d["awh"]["mean"] == pytest.approx(-2.5 / 3)  # differences -1, -0.5, -1
    assert d["awh"]["ci95"] == pytest.approx(4.302653 * np.std([-1, -0.5, -1], ddof=1) / np.sqrt(3), rel=1e-6)


def _cfg(out) -> BenchmarkConfig:
    m = ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=8)
    return BenchmarkConfig(out=str(out), pretrain=PretrainSchedule(steps=3, batch_size=8, milestones=()),
                           batch_size=8, progress=False,
                           model=m, seeds=2, methods=("joint", "awh"), adapt_steps=6, adapt_milestones=(),
                           eval_every=2, n_target_val=8, n_target_test=8, n_source_test=8, n_constant=16,
                           probe_steps=3, image_size=64, num_workers=0, threads=1, tune=False, tune_steps=None)


def test_an_odd_adaptation_batch_is_refused_when_the_config_is_made(tmp_path):
    from awhourglass.config import ConfigError

    with pytest.raises(ConfigError, match=r"batch_size must be even and >= 2 \(half source, half target\), got 7"):
        BenchmarkConfig(**{**_cfg(tmp_path).__dict__, "batch_size": 7})


def test_model_selection_never_reads_the_test_split(tmp_path):
    a, b = _cfg(tmp_path / "a"), _cfg(tmp_path / "b")
    pre = run_pretrain_stage(a)
    # run b gets a different test split (another seed), written before the run; everything else is the same
    write_dataset(SynthConfig(domain="target", n=8, out=str(tmp_path / "b" / "data" / "stb"), seed=99, size=64,
                              split="evaluation"), progress=False)
    da = run_compare(a, str(pre), echo=lambda s: None)
    db = run_compare(b, str(pre), echo=lambda s: None)
    for method in ("joint (wo/AWH)", "AWH (wo/IL)"):
        ra, rb = da["benchmark"]["runs"][method], db["benchmark"]["runs"][method]
        for seed in ("0", "1"):
            assert ra[seed]["curve"] == rb[seed]["curve"]  # the validation scores do not depend on the test split
            assert ra[seed]["step"] == rb[seed]["step"]
            assert len(ra[seed]["curve"]) == 3
        # ... while the test scores do: the two runs really had different test splits
        assert ra["0"]["test"]["epe_mean_mm"] != rb["0"]["test"]["epe_mean_mm"]
    assert da["baselines"] and "paired_vs_joint_epe_mm" in da["benchmark"]
    assert (tmp_path / "a" / "learning_curves.png").stat().st_size > 0
    shutil.rmtree(tmp_path / "b" / "runs")


def test_tuning_picks_the_lowest_validation_error_one_setting_at_a_time_and_never_reads_the_test_split(tmp_path):
    from dataclasses import replace

    from awhourglass.benchmark.compare import method_config, tune_grid_rows

    assert tune_grid_rows([{"choice": {"a": 1}, "val_2d_px": 3.0}, {"choice": {"a": 2}, "val_2d_px": 2.0},
                           {"choice": {"a": 3}, "val_2d_px": 2.0}]) == {"a": 2}  # lowest, earliest on ties
    assert method_config("dann", {"lambda": 0.5}).lambda_dann == 0.5
    fss = method_config("fss", {"lambda": 0.01, "critic_steps": 1})
    assert (fss.name, fss.lambda_wd, fss.critic_steps, fss.intermediate) == ("awh", 0.01, 1,
                                                                             ("src_2d", "src_3d", "tgt_2d"))
    grids = {"tune": True, "tune_seed": 50, "lr_grid": (1e-3, 3e-3), "lambda_grid": (0.1, 1.0),
             "critic_steps_grid": (1, 2), "seeds": 1, "methods": ("joint", "wh")}
    a, b = replace(_cfg(tmp_path / "a"), **grids), replace(_cfg(tmp_path / "b"), **grids)
    pre = run_pretrain_stage(a)
    write_dataset(SynthConfig(domain="target", n=8, out=str(tmp_path / "b" / "data" / "stb"), seed=99, size=64,
                              split="evaluation"), progress=False)
    da = run_compare(a, str(pre), echo=lambda s: None)
    db = run_compare(b, str(pre), echo=lambda s: None)
    ta, tb = da["benchmark"]["tuning"], db["benchmark"]["tuning"]
    assert ta == tb  # the choices do not depend on the test split
    joint, wh = ta["joint (wo/AWH)"], ta["WH"]
    assert [r["choice"] for r in joint["runs"]] == [{"adapt_lr": 1e-3}, {"adapt_lr": 3e-3}]
    # WH: 2 rates (at the default weight 0.1 and 5 critic steps), then the weight 1.0 at the better rate (0.1 is
    # that run already), then 1 and 2 critic steps at the better weight
    choices = [r["choice"] for r in wh["runs"]]
    assert choices[:2] == [{"adapt_lr": 1e-3, "lambda": 0.1, "critic_steps": 5},
                           {"adapt_lr": 3e-3, "lambda": 0.1, "critic_steps": 5}]
    assert len(choices) == 5 and len({tuple(sorted(c.items())) for c in choices}) == 5
    best = lambda rows: min(rows, key=lambda r: r["val_2d_px"])["choice"]  # noqa: E731
    lr = best(wh["runs"][:2])["adapt_lr"]
    lam_rows = [r for r in wh["runs"] if r["choice"]["adapt_lr"] == lr and r["choice"]["critic_steps"] == 5]
    assert sorted(r["choice"]["lambda"] for r in lam_rows) == [0.1, 1.0]
    lam = best(lam_rows)["lambda"]
    steps_rows = [r for r in wh["runs"] if r["choice"]["critic_steps"] in (1, 2)]
    assert all(r["choice"]["adapt_lr"] == lr and r["choice"]["lambda"] == lam for r in steps_rows)
    assert wh["choice"] == best(steps_rows)  # recomputed here from the recorded validation errors
    assert joint["choice"] == best(joint["runs"])
    # the compared run used the choice: its config records the chosen critic steps and rate
    import yaml
    run_cfg = yaml.safe_load((tmp_path / "a" / "runs" / "seed0" / "wh" / "config.yaml").read_text())
    assert run_cfg["method"]["critic_steps"] == wh["choice"]["critic_steps"]
    assert run_cfg["method"]["lambda_wd"] == wh["choice"]["lambda"]
    assert run_cfg["phases"]["adapt"]["lr"] == wh["choice"]["adapt_lr"]
    with pytest.raises(Exception, match="tune_seed"):
        replace(_cfg(tmp_path / "c"), tune_seed=1)


def test_fssc_starts_from_the_pretrained_network_grafted_onto_its_extra_convolutions(tmp_path):
    import yaml

    from awhourglass.benchmark.compare import LABELS
    from awhourglass.checkpoint import load_checkpoint
    from awhourglass.models.load import network_from_checkpoint

    cfg = _cfg(tmp_path / "a")
    cfg = BenchmarkConfig(**{**cfg.__dict__, "seeds": 1, "methods": ("joint", "fssc")})
    pre = run_pretrain_stage(cfg)
    doc = run_compare(cfg, str(pre), echo=lambda s: None)
    run_cfg = yaml.safe_load((tmp_path / "a" / "runs" / "seed0" / "fssc" / "config.yaml").read_text())
    assert run_cfg["model"]["first_stack_design"] == "fssc"
    assert run_cfg["method"]["intermediate"] == ["src_2d", "src_3d", "tgt_2d"]
    init = tmp_path / "a" / "fssc_init.pt"
    assert run_cfg["init_from"] == str(init)
    grafted, source = network_from_checkpoint(init), network_from_checkpoint(pre)
    fresh = load_checkpoint(init)["config"]["fresh_tensors"]
    assert "remap_heads.0.weight" in fresh and any(k.startswith("extra.0.") for k in fresh)
    theirs = source.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in grafted.state_dict().items() if k not in fresh)
    kept = network_from_checkpoint(doc["benchmark"]["runs"][LABELS["fssc"]]["0"]["kept"])
    assert kept.cfg.first_stack_design == "fssc" and doc["benchmark"]["paired_vs_joint_epe_mm"][LABELS["fssc"]]
