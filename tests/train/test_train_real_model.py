"""The loops with the real network, step functions and readers, on tiny generated RHD/STB-format data."""

import dataclasses
import math

import pytest
import torch
from train_standins import TINY_MODEL, tiny_real_config, write_tiny_synth

from awhourglass.checkpoint import CheckpointError, load_checkpoint
from awhourglass.train.parts import build_parts
from awhourglass.train.run import fit, state_mismatch, train


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return write_tiny_synth(tmp_path_factory.mktemp("synth"))


def _config(roots, method="awh", pretrain=2, adapt=3, **kw):
    return tiny_real_config(roots, method, pretrain, adapt, **kw)


def _losses(path):
    rows = path.read_text().splitlines()
    header = rows[0].split(",")
    return header, [dict(zip(header, map(float, r.split(",")), strict=True)) for r in rows[1:]]


@pytest.mark.parametrize("method", ["awh", "dann", "source_only", "oracle"])
def test_every_method_trains_end_to_end(tmp_path, roots, method):
    model_pt = train(_config(roots, method), tmp_path / "run")
    header, rows = _losses(tmp_path / "run" / "adapt.csv")
    assert len(rows) == 3 and all(math.isfinite(v) for r in rows for v in r.values())
    ckpt = load_checkpoint(model_pt)
    expected = {"awh": {"model", "critic"}, "dann": {"model", "domain_classifier"}}.get(method, {"model"})
    assert set(ckpt["modules"]) == expected
    if method == "awh":
        assert {"wd", "critic_wd", "critic_gp", "alpha_mean"} <= set(header)
    if method == "source_only":
        assert rows[0]["tgt_2d"] == 0.0  # no target rows at all


def _target_xyz(fill):
    """A parts factory whose target samples carry ``fill`` (a number or a (21, 3) hand) as present 3D labels."""

    def build(cfg, dist):
        parts = build_parts(cfg, dist)
        inner = parts.target

        class Relabelled:
            def __len__(self):
                return len(inner)

            def __getitem__(self, key):
                xyz = fill if isinstance(fill, torch.Tensor) else torch.full((21, 3), fill)
                return dataclasses.replace(inner[key], xyz_m=xyz)

        parts.target = Relabelled()
        return parts

    return build


def _weights(run):
    return load_checkpoint(run / "last.pt")["modules"]["model"]


def test_nan_target_xyz_keeps_every_weak_method_finite(tmp_path, roots):
    for method in ("awh", "wh", "joint", "dann"):
        out = tmp_path / method
        fit(_config(roots, method, pretrain=1, adapt=2), out, resume=False, build_parts=_target_xyz(float("nan")))
        _, rows = _losses(out / "adapt.csv")
        assert all(math.isfinite(v) for r in rows for v in r.values()), method
        assert all(torch.isfinite(v).all() for v in _weights(out).values() if v.is_floating_point())


@pytest.mark.parametrize(("method", "used"), [("awh", False), ("oracle", True)])
def test_target_xyz_values_do_not_matter_unless_oracle(tmp_path, roots, method, used):
    """NaN labels are masked as missing by the losses, so also try two different hands: weights must not move."""
    runs = []
    for seed in (0, 1):
        hand = torch.randn(21, 3, generator=torch.Generator().manual_seed(seed)) * 0.04 + torch.tensor([0, 0, 0.5])
        out = tmp_path / f"{method}-{seed}"
        fit(_config(roots, method, pretrain=0, adapt=2), out, resume=False, build_parts=_target_xyz(hand))
        runs.append(_weights(out))
    same = all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert same != used


def test_weak_target_is_loaded_without_3d(roots):
    from awhourglass.train.distributed import DistInfo

    parts = build_parts(_config(roots, "awh"), DistInfo())
    assert parts.target[0].xyz_m is None
    assert build_parts(_config(roots, "oracle"), DistInfo()).target[0].xyz_m is not None


def test_resume_with_the_real_model(tmp_path, roots):
    ref = tmp_path / "ref"
    train(_config(roots), ref)

    calls = {"n": 0}

    def killed(cfg, dist):
        parts = build_parts(cfg, dist)
        inner = parts.adapt_loss

        def wrapped(batch, info):
            if info.step == 2:
                raise KeyboardInterrupt
            return inner(batch, info)

        parts.adapt_loss = wrapped
        calls["n"] += 1
        return parts

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(_config(roots), run, resume=False, build_parts=killed)
    train(_config(roots), run, resume=True)
    a, b = load_checkpoint(ref / "last.pt"), load_checkpoint(run / "last.pt")
    for name in a["modules"]:
        for k, v in a["modules"][name].items():
            assert torch.equal(v, b["modules"][name][k]), f"{name}.{k}"


def test_init_from_a_pretraining(tmp_path, roots):
    pre = tmp_path / "pre"
    train(_config(roots, pretrain=2, adapt=0), pre)
    assert (pre / "pretrain.pt").exists()
    run = tmp_path / "adapt"
    cfg = _config(roots, pretrain=0, adapt=1, init_from=str(pre / "pretrain.pt"))
    train(cfg, run)
    log = (run / "train.log").read_text()
    assert "initialised ['model']" in log
    # no training at all: the run's weights are exactly the pretrained ones
    copy = tmp_path / "copy"
    train(_config(roots, pretrain=0, adapt=0, init_from=str(pre / "pretrain.pt")), copy)
    w_pre = load_checkpoint(pre / "pretrain.pt")["modules"]["model"]
    w_copy = load_checkpoint(copy / "model.pt")["modules"]["model"]
    assert all(torch.equal(w_pre[k], w_copy[k]) for k in w_pre)
    w_fresh = load_checkpoint(run / "model.pt")["modules"]["model"]
    assert not all(torch.equal(w_pre[k], w_fresh[k]) for k in w_pre)


def test_mismatched_sizes_are_reported(roots, tmp_path):
    cfg = _config(roots)
    cfg.model = dataclasses.replace(TINY_MODEL, input_size=64, depth_out_size=16)
    with pytest.raises(Exception, match=r"input_size is 32 but model\.input_size is 64"):
        train(cfg, tmp_path)


def test_in_memory_datasets_can_replace_the_readers(tmp_path, roots):
    """functools.partial(build_parts, source=..., target=...): the real network on given sample lists."""
    import functools

    from awhourglass.data.config import DatasetConfig
    from awhourglass.data.loader import build_dataset
    from awhourglass.data.sample import SOURCE, TARGET

    src_ds = build_dataset(DatasetConfig(format="rhd", root=str(roots / "rhd"), input_size=32), SOURCE)
    src = [src_ds[i] for i in range(4)]
    tgt_ds = build_dataset(DatasetConfig(format="stb", root=str(roots / "stb"), input_size=32, labels="2d"), TARGET)
    tgt = [tgt_ds[i] for i in range(3)]
    cfg = _config(roots, "awh", pretrain=1, adapt=2)
    cfg.data = dataclasses.replace(cfg.data, source=dataclasses.replace(cfg.data.source, root="/nonexistent"))
    fit(cfg, tmp_path, resume=False, build_parts=functools.partial(build_parts, source=src, target=tgt))
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["sampler"]["sizes"] == [4, 3]


def test_init_from_another_architecture_is_one_line_naming_the_fields(tmp_path, roots):
    pre = tmp_path / "pre"
    train(_config(roots, pretrain=1, adapt=0), pre)
    cfg = _config(roots, pretrain=0, adapt=1, init_from=str(pre / "pretrain.pt"))
    cfg.model = dataclasses.replace(TINY_MODEL, width=TINY_MODEL.width * 2)
    with pytest.raises(CheckpointError) as info:
        train(cfg, tmp_path / "adapt")
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400
    assert f"model.width ({TINY_MODEL.width * 2} here, {TINY_MODEL.width} there)" in msg
    assert not (tmp_path / "adapt" / "last.pt").exists()
    # a field that shapes no weight (where the critic taps) does not stop a start from the same weights
    ok = _config(roots, pretrain=0, adapt=0, init_from=str(pre / "pretrain.pt"))
    ok.model = dataclasses.replace(TINY_MODEL, feature_point="output")
    train(ok, tmp_path / "tap")


def test_state_mismatch_counts_shapes_missing_and_unexpected():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["0.weight"] = torch.zeros(4, 2)
    del state["1.bias"]
    state["2.weight"] = torch.zeros(1)
    line = state_mismatch(net, state)
    assert line == ("1 tensor(s) of another shape (checkpoint vs this config: 0.weight (4, 2) vs (3, 2)), "
                    "1 missing (e.g. 1.bias), 1 unexpected (e.g. 2.weight)")


@pytest.mark.parametrize("workers", [0, 1])
def test_skipped_samples_are_counted_and_listed_with_or_without_workers(tmp_path, workers, capsys):
    import shutil

    from train_standins import write_tiny_synth

    data = write_tiny_synth(tmp_path / "data")
    pngs = sorted((data / "rhd" / "training" / "color").glob("*.png"))
    for png in pngs[2:4]:
        png.write_bytes(b"")
    cfg = tiny_real_config(data, "source_only", pretrain=4, adapt=0, num_workers=workers)
    cfg.data.source = dataclasses.replace(cfg.data.source, skip_bad=True)
    train(cfg, tmp_path / "run")
    log = (tmp_path / "run" / "train.log").read_text()
    listed = [line for line in log.splitlines() if "not a readable image" in line]
    # 4 steps x 4 samples = 16 reads, two epochs of 8. A bad sample's place goes to the next index: drawing
    # index 2 meets 2 then 3 (two problems), drawing index 3 meets 3: per epoch 3, in all 6 (2 of #2, 4 of #3)
    assert len(listed) == 6
    assert sum(pngs[2].name in line for line in listed) == 2 and sum(pngs[3].name in line for line in listed) == 4
    assert "pretrain: 6 data problem(s)" in log
    assert "pretrain: 6 data problem(s)" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "data")


def test_non_finite_labels_are_counted_not_silently_dropped():
    from awhourglass.data.sample import Sample, collate
    from awhourglass.train.batches import label_problems

    def sample(name, xyz=None, uv_nan=False, vis=True):
        uv = torch.rand(21, 2)
        if uv_nan:
            uv[3] = float("nan")
        v = torch.ones(21, dtype=torch.bool) if vis else torch.zeros(21, dtype=torch.bool)
        return Sample(image=torch.zeros(3, 8, 8), K=torch.eye(3), uv_px=uv, vis=v, xyz_m=xyz, source=name)

    bad = torch.rand(21, 3) + 1
    bad[5, 2] = float("nan")
    no_root = torch.rand(21, 3) + 1
    no_root[9, 0] = float("inf")
    masked = sample("f", bad.clone())
    masked.vis[5] = False  # a masked (invalid) joint is NaN by design: not a problem
    batch = collate([sample("a", torch.rand(21, 3) + 1), sample("b", bad), sample("c"),  # c: no 3D label at all
                     sample("d", uv_nan=True), sample("e", uv_nan=True, vis=False), sample("g", no_root), masked])
    assert label_problems(batch) == [
        "g: non-finite 3D root or scale bone (NaN or inf), left out of the 3D loss",
        "b: non-finite 3D label at 1 visible joint(s), left out of the 3D loss",
        "d: non-finite 2D label of a visible joint, left out of the 2D loss",
    ]


def test_a_bf16_run_trains_end_to_end(tmp_path, roots):
    model_pt = train(_config(roots, "awh", precision="bf16"), tmp_path / "run")
    _, rows = _losses(tmp_path / "run" / "adapt.csv")
    assert len(rows) == 3 and all(math.isfinite(v) for r in rows for v in r.values())
    assert all(v.dtype == torch.float32 for v in load_checkpoint(model_pt)["modules"]["model"].values()
               if v.is_floating_point())  # the weights stay fp32 (autocast only casts inside the forward)
