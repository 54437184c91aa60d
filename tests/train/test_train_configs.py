"""The ready configs in configs/: each loads strictly (alone or over its base), and the demo one runs."""

from pathlib import Path

import pytest
import yaml

from awhourglass.checkpoint import load_checkpoint
from awhourglass.cli import main
from awhourglass.config import ConfigError
from awhourglass.errors import AwhError
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.config import deep_merge, load_train_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASES = sorted(p for p in CONFIGS.glob("*.yaml"))
OVERRIDES = sorted(p for p in CONFIGS.glob("*/*.yaml"))


def test_there_are_configs():
    names = {p.stem for p in BASES}
    assert {"demo", "rhd-stb", "mpd", "mpd-rhd", "rhd-mpd-awh"} <= names
    assert len([p for p in OVERRIDES if p.parent.name == "rhd-stb" and p.stem.startswith("table1-")]) == 8


@pytest.mark.parametrize("path", BASES, ids=lambda p: p.name)
def test_base_config_loads(path):
    cfg = load_train_config(path)
    assert cfg.model.input_size == cfg.data.source.input_size


@pytest.mark.parametrize("path", OVERRIDES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_override_loads_over_its_base(path):
    base = CONFIGS / f"{path.parent.name}.yaml"
    cfg = load_train_config(base, [path])
    assert cfg.method.name == yaml.safe_load(path.read_text()).get("method", {}).get("name", cfg.method.name)


def test_unknown_keys_are_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("phases: {adapt: {stepz: 3}}\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_train_config(CONFIGS / "demo.yaml", [bad])


def test_deep_merge_replaces_leaves_and_merges_mappings():
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 2}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}, "d": 2}


def test_demo_config_runs_through_the_cli(tmp_path, capsys):
    """configs/demo.yaml + demo/awh.yaml's settings, shrunk to 1+1 steps of batch 2 on 8 generated images each."""
    write_dataset(SynthConfig(domain="source", n=4, out=str(tmp_path / "rhd"), size=64, split="training"),
                  progress=False)
    write_dataset(SynthConfig(domain="target", n=4, out=str(tmp_path / "stb"), size=64, split="training"),
                  progress=False)
    demo = yaml.safe_load((CONFIGS / "demo.yaml").read_text())
    shrink = {
        "data": {"source": {"root": str(tmp_path / "rhd")}, "target": {"root": str(tmp_path / "stb")}},
        "phases": {"pretrain": {"steps": 1, "batch_size": 2}, "adapt": {"steps": 1, "batch_size": 2}},
        "method": {"critic_steps": 1},
        "num_workers": 0,
        "progress": False,
    }
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(deep_merge(demo, shrink)))
    out = tmp_path / "run"
    assert main(["train", str(small), "--out", str(out)]) == 0
    assert "trained weights" in capsys.readouterr().out
    ckpt = load_checkpoint(out / "model.pt")
    assert ckpt["config"]["method"]["name"] == "awh" and ckpt["config"]["model"]["width"] == 64
    # a second run into the same directory needs --resume; with it, a finished run is a no-op
    assert main(["train", str(small), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(small), "--out", str(out), "--resume"]) == 0


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: {format: rhd, root: x}}\nphases: {pretrain: {steps: -1}}\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("awh train: error:") and "phases.pretrain.steps" in err[0]


BASE = "data: {source: {format: rhd, root: x}}\n"


@pytest.mark.parametrize(("extra", "field"), [
    ("optimizer: {lr: -1.0e-3}\n", "optimizer.lr"),
    ("optimizer: {lr: .nan}\n", "optimizer.lr"),
    ("optimizer: {lr: 0}\n", "optimizer.lr"),
    ("optimizer: {weight_decay: -1}\n", "optimizer.weight_decay"),
    ("optimizer: {grad_clip_norm: .inf}\n", "optimizer.grad_clip_norm"),
    ("phases: {adapt: {lr: -2.0e-4}}\n", "phases.adapt.lr"),
    ("phases: {pretrain: {lr_gamma: .nan}}\n", "phases.pretrain.lr_gamma"),
    ("method: {critic_lr: -1.0e-4}\n", "method.critic_lr"),
    ("method: {lambda_wd: -0.1}\n", "method.lambda_wd"),
    ("method: {lambda_gp: .nan}\n", "method.lambda_gp"),
])
def test_bad_numbers_are_one_line_naming_the_field_before_any_work(tmp_path, capsys, extra, field):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + extra)  # the data root does not exist: the config is refused before it is read
    assert main(["train", str(bad), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("awh train: error:") and field in err[0] and "finite" in err[0]
    assert not (tmp_path / "run").exists()


def test_good_numbers_pass_the_same_checks(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(BASE + "optimizer: {lr: 1.0e-3, weight_decay: 0, grad_clip_norm: 5}\n"
                    "phases: {adapt: {lr: 2.0e-4, lr_gamma: 0.5}}\nmethod: {lambda_wd: 0, critic_lr: 1.0e-4}\n")
    cfg = load_train_config(good)
    assert cfg.optimizer.lr == 1e-3 and cfg.method.lambda_wd == 0 and cfg.phases.adapt.lr_gamma == 0.5


def test_a_binary_config_is_one_line_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "weights.yaml"
    bad.write_bytes(b"\x00\x01\x02\xff\xfe\x80")
    with pytest.raises(ConfigError, match=r"weights\.yaml: not a YAML text file \(byte 3 is not UTF-8\)"):
        load_train_config(bad)
    assert main(["train", str(bad), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weights.yaml" in err[0]


def test_a_batch_that_cannot_be_split_over_the_ranks_fails_before_pretraining():
    from awhourglass.train.adapt import check_batch_split
    from awhourglass.train.config import AdaptPhaseConfig, PhaseConfig, PhasesConfig, TrainConfig, TrainDataConfig
    from awhourglass.train.distributed import DistInfo

    def cfg(adapt_batch, method="awh"):
        from awhourglass.data.config import DatasetConfig
        from awhourglass.train.config import MethodConfig
        return TrainConfig(data=TrainDataConfig(source=DatasetConfig(format="rhd", root="x")),
                           method=MethodConfig(name=method),
                           phases=PhasesConfig(pretrain=PhaseConfig(steps=10, batch_size=32),
                                               adapt=AdaptPhaseConfig(steps=10, batch_size=adapt_batch)))

    two = DistInfo(rank=0, world_size=2)
    check_batch_split(cfg(32), two)  # 16 + 16: 8 each per rank
    check_batch_split(cfg(34, "source_only"), two)  # source only: 17 each
    with pytest.raises(AwhError, match=r"phases\.adapt\.batch_size 34: its source share of 17 cannot be split "
                                       r"evenly over 2 processes"):
        check_batch_split(cfg(34), two)
    check_batch_split(cfg(34), DistInfo())  # one process takes any batch


def test_num_workers_auto_is_the_cores_per_local_rank_less_the_training_process(monkeypatch):
    from awhourglass.config import ConfigError, from_dict
    from awhourglass.train.config import TrainConfig, auto_workers

    assert auto_workers(1, cores=2) == 1 and auto_workers(1, cores=1) == 0 and auto_workers(2, cores=16) == 7
    assert auto_workers(4, cores=2) == 0  # more ranks than cores: none
    data = {"source": {"format": "rhd", "root": "x"}}
    cfg = from_dict(TrainConfig, {"data": data})
    assert cfg.num_workers == "auto"
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert cfg.loader_workers() == 3
    assert from_dict(TrainConfig, {"data": data, "num_workers": 2}).loader_workers() == 2
    with pytest.raises(ConfigError, match="num_workers"):
        from_dict(TrainConfig, {"data": data, "num_workers": "many"})
