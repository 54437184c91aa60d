"""The ready configs in configs/: each loads strictly (alone or over its base), and the demo one runs."""

from pathlib import Path

import pytest
import yaml

from awhourglass.checkpoint import load_checkpoint
from awhourglass.cli import main
from awhourglass.config import ConfigError
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
