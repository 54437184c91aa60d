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


def _crops_at_the_models_size(cfg):
    """Every dataset of a loaded config has the model's input size."""
    sets = [d for d in (cfg.data.source, cfg.data.target) if d is not None]
    return sets and all(d.input_size == cfg.model.input_size for d in sets)


def _states_a_dataset_size(path):
    data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
    return [name for name, ds in data.items() if isinstance(ds, dict) and "input_size" in ds]


@pytest.mark.parametrize("path", BASES, ids=lambda p: p.name)
def test_base_config_loads(path):
    cfg = load_train_config(path)
    assert _crops_at_the_models_size(cfg)
    assert _states_a_dataset_size(path) == []  # the one input size is the model's


@pytest.mark.parametrize("path", OVERRIDES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_override_loads_over_its_base(path):
    base = CONFIGS / f"{path.parent.name}.yaml"
    cfg = load_train_config(base, [path])
    assert cfg.method.name == yaml.safe_load(path.read_text()).get("method", {}).get("name", cfg.method.name)
    assert _crops_at_the_models_size(cfg)
    assert _states_a_dataset_size(path) == []


def test_a_config_without_dataset_sizes_crops_trains_and_resumes_at_the_models(tmp_path):
    """The datasets take ``model.input_size`` (32 here, not a reader's size of its own); a run of such a config
    records it, and a config that still states it (as older ones do) resumes that run: the records agree."""
    from train_standins import write_tiny_synth

    from awhourglass.train.parts import _datasets

    roots = write_tiny_synth(tmp_path / "synth")
    old = _tiny_dict(roots, pretrain=1, adapt=1)
    assert old["data"]["source"]["input_size"] == old["model"]["input_size"] == 32
    new = yaml.safe_load(yaml.safe_dump(old))
    for dom in ("source", "target"):
        del new["data"][dom]["input_size"]
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(new))
    cfg = load_train_config(path)
    assert cfg.data.source.input_size == cfg.data.target.input_size == 32
    source, target, _ = _datasets(cfg, None, None)
    assert source[0].image.shape == target[0].image.shape == (3, 32, 32)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    recorded = load_checkpoint(tmp_path / "run" / "model.pt")["config"]["data"]
    assert recorded["source"]["input_size"] == recorded["target"]["input_size"] == 32
    old_path = tmp_path / "old.yaml"
    old_path.write_text(yaml.safe_dump(old))
    assert main(["train", str(old_path), "--out", str(tmp_path / "run"), "--resume"]) == 0


def test_a_dataset_size_other_than_the_models_is_one_line_naming_it(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: {format: rhd, root: x, input_size: 128}}\nmodel: {input_size: 64}\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"awh train: error: {bad}: data.source.input_size is 128 but model.input_size is 64: they must "
                   "match (leave data.source.input_size out: it is the model's)"]


def test_a_training_config_with_the_crop_margin_s_old_name_loads(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("data: {source: {format: rhd, root: x, crop_scale: 1.7}}\n")
    assert load_train_config(path).data.source.crop_margin == 1.7


def test_the_demo_configs_built_in_code_take_the_models_size():
    from train_standins import TINY_MODEL

    from awhourglass.demo.pretrained import stream_train_config
    from awhourglass.methods.config import MethodConfig

    cfg = stream_train_config(TINY_MODEL, MethodConfig(name="awh"), 0)
    assert TINY_MODEL.input_size == 32 and _crops_at_the_models_size(cfg)


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


def _tiny_dict(roots, **kw):
    from train_standins import tiny_real_config

    from awhourglass.config import to_dict
    return to_dict(tiny_real_config(roots, "awh", **kw))


def _set(data, dotted, value):
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data[key]
    data[leaf] = value


@pytest.mark.parametrize("batch", [3, 5])
def test_an_odd_adaptation_batch_is_one_line_naming_the_key_before_any_work(tmp_path, capsys, batch):
    """Equal source and target halves need an even batch; found when the config loads, not as a traceback from the
    first step (the data here is real, so without the check the run would reach that step)."""
    from train_standins import write_tiny_synth

    roots = write_tiny_synth(tmp_path / "synth")
    cfg = _tiny_dict(roots, pretrain=0, adapt=1)
    _set(cfg, "phases.adapt.batch_size", batch)
    path = tmp_path / "odd.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0] == (f"awh train: error: {path}: method 'awh' pairs equal source and target halves: "
                      f"phases.adapt.batch_size must be even, got {batch}")
    assert not (tmp_path / "run").exists()
    _set(cfg, "phases.adapt.batch_size", batch + 1)  # the same config with an even batch trains
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0


# Values that loaded before and then failed only at a run's first step (or as a traceback when it started).
STEP_ONE_FAILURES = [
    ("phases.adapt.batch_size", 7, "phases.adapt.batch_size"),
    ("phases.adapt.target_fraction", 0.25, "phases.adapt.target_fraction"),
    ("data.target", None, "data.target"),
    ("data.source.input_size", 48, "data.source.input_size"),
    ("data.target.input_size", 64, "data.target.input_size"),
    ("data.source.max_samples", 0, "TrainConfig.data.source.max_samples"),
    ("data.target.max_samples", -1, "TrainConfig.data.target.max_samples"),
    ("data.source.crop_margin", float("nan"), "TrainConfig.data.source.crop_margin"),
    ("data.source.min_crop_px", -5.0, "TrainConfig.data.source.min_crop_px"),
    ("data.target.depth_band_m", 0.0, "TrainConfig.data.target.depth_band_m"),
    ("data.source.freihand_versions", [7], "TrainConfig.data.source.freihand_versions"),
    ("data.source.freihand_versions", [], "TrainConfig.data.source.freihand_versions"),
    ("data.source.augment.scale", [1.2, 0.8], "TrainConfig.data.source.augment.scale"),
    ("data.target.augment.scale", [0.0, 1.0], "TrainConfig.data.target.augment.scale"),
    ("data.source.augment.translate", -1.0, "TrainConfig.data.source.augment.translate"),
    ("data.source.augment.rotation_deg", float("nan"), "TrainConfig.data.source.augment.rotation_deg"),
    ("data.source.augment.contrast", -1.0, "TrainConfig.data.source.augment.contrast"),
    ("method.critic_width", 0, "TrainConfig.method.critic_width"),
    ("method.critic_betas", [1.5, 0.9], "TrainConfig.method.critic_betas"),
    ("method.similarity.eps", 0.0, "TrainConfig.method.similarity.eps"),
    ("optimizer.betas", [0.9, 1.0], "TrainConfig.optimizer.betas"),
    ("optimizer.momentum", -1.0, "TrainConfig.optimizer.momentum"),
    ("model.scale_bone", [0, 30], "TrainConfig.model.scale_bone"),
    ("model.scale_bone", [3, 3], "TrainConfig.model.scale_bone"),
    ("device", "gpu", "device"),
    ("device", "cuda:x", "device"),
    ("seed", -1, "seed"),
    ("num_workers", -2, "num_workers"),
]


@pytest.mark.parametrize(("key", "value", "named"), STEP_ONE_FAILURES, ids=lambda v: str(v))
def test_a_value_that_would_fail_at_step_one_is_refused_at_load_naming_its_key(tmp_path, key, value, named):
    cfg = _tiny_dict(tmp_path, pretrain=1, adapt=1)
    _set(cfg, key, value)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and named in msg, msg


def test_values_at_the_edges_of_those_ranges_load(tmp_path):
    cfg = _tiny_dict(tmp_path, pretrain=1, adapt=1)
    for key, value in [("phases.adapt.batch_size", 2), ("data.source.max_samples", 1), ("data.source.min_crop_px", 0),
                       ("data.source.freihand_versions", [3]), ("data.source.augment.scale", [1.0, 1.0]),
                       ("data.source.augment.translate", 0.0), ("data.source.augment.rotation_deg", 180.0),
                       ("data.source.augment.brightness", 1.0), ("method.critic_betas", [0.0, 0.999]),
                       ("optimizer.momentum", 0.0), ("model.scale_bone", [0, 20]), ("device", "cuda:1"),
                       ("seed", 0), ("num_workers", 0)]:
        _set(cfg, key, value)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    loaded = load_train_config(path)
    assert loaded.phases.adapt.batch_size == 2 and loaded.model.scale_bone == (0, 20) and loaded.device == "cuda:1"
    # the adapt batch needs no halves when the method adapts to nothing
    _set(cfg, "phases.adapt.batch_size", 3)
    _set(cfg, "method.name", "source_only")
    path.write_text(yaml.safe_dump(cfg))
    assert load_train_config(path).phases.adapt.batch_size == 3
