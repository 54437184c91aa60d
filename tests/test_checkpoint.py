"""One reader for every command: each bad checkpoint is refused by train, eval, predict, export and the API
alike, in one line that names the file and the problem."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import awhourglass
from awhourglass.checkpoint import FORMAT_VERSION, CheckpointError, checkpoint_dict, load_checkpoint
from awhourglass.cli import main
from awhourglass.config import to_dict
from awhourglass.data.config import DatasetConfig
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.models.load import network_checkpoint, network_from_checkpoint
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.config import AdaptPhaseConfig, PhaseConfig, PhasesConfig, TrainConfig, TrainDataConfig
from sigint_handler import python_sigint

TINY = ModelConfig(input_size=32, width=8, depth=2, num_stacks=1, depth_out_size=16, depth_width=8)


class Opaque:  # a class: the restricted unpickler must refuse it
    pass


def _good() -> dict:
    torch.manual_seed(0)
    return network_checkpoint(AWHourglassNet(TINY))


def _with_nonfinite(ckpt: dict) -> tuple[dict, str]:
    """``ckpt`` with a NaN in one weight and an inf in a later one; returns it and the first one's name."""
    state = {k: v.clone() for k, v in ckpt["modules"]["model"].items()}
    floats = [k for k, v in state.items() if v.is_floating_point()]
    first, later = floats[len(floats) // 2], floats[-1]
    state[first].view(-1)[-1] = float("nan")
    state[later].view(-1)[0] = float("inf")
    return {**ckpt, "modules": {**ckpt["modules"], "model": state}}, first


def _bad_cases() -> dict[str, tuple[object, str]]:
    """name → (what to write: bytes, or a dict/object for torch.save, or None for no file; expected phrase)."""
    good = _good()
    other = to_dict(TINY)
    other["width"] = 16
    nonfinite, first_bad = _with_nonfinite(good)
    return {
        "missing": (None, "does not exist"),
        "garbage": (b"not a checkpoint at all", "is not a readable checkpoint"),
        "object": ({"format": "awhourglass-checkpoint", "x": Opaque()}, "Opaque); refusing to unpickle it"),
        "foreign": ({"state_dict": {}}, "is not an awhourglass checkpoint"),
        "no_phase": ({k: v for k, v in good.items() if k != "phase"}, "lacks ['phase']"),
        "version2": ({**good, "format_version": FORMAT_VERSION + 1}, f"format version {FORMAT_VERSION + 1}"),
        "joints": ({**good, "joint_names": list(reversed(good["joint_names"]))}, "another joint order"),
        "no_model": ({**good, "modules": {}}, "holds no pose network"),
        "mismatch": ({**good, "config": {"model": other}}, "weights do not match its model config"),
        "nan_weights": (nonfinite, f"weight modules.model.{first_bad} is not finite (NaN or inf)"),
    }


def _write(path, what) -> None:
    if what is None:
        return
    if isinstance(what, bytes):
        path.write_bytes(what)
    else:
        torch.save(what, path)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    base = tmp_path_factory.mktemp("ckpt")
    write_dataset(SynthConfig(domain="source", n=4, out=str(base / "rhd"), size=64, split="training"), progress=False)
    write_dataset(SynthConfig(domain="target", n=4, out=str(base / "stb"), size=64, split="training"), progress=False)
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(base / "photo.png")
    cases = {}
    for name, (what, phrase) in _bad_cases().items():
        path = base / f"{name}.pt"
        _write(path, what)
        cases[name] = (path, phrase)
    return base, cases


def _train_yaml(base, init_from) -> str:
    cfg = TrainConfig(
        data=TrainDataConfig(source=DatasetConfig(format="rhd", root=str(base / "rhd"), input_size=32),
                             target=DatasetConfig(format="stb", root=str(base / "stb"), input_size=32)),
        model=TINY, phases=PhasesConfig(pretrain=PhaseConfig(steps=0, batch_size=2),
                                        adapt=AdaptPhaseConfig(steps=1, batch_size=2)),
        device="cpu", progress=False, init_from=str(init_from))
    path = base / f"train_{init_from.stem}.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return str(path)


def _commands(base, ckpt, tmp):
    return {
        "eval": ["eval", str(ckpt), "--data", str(base / "stb"), "--format", "stb", "--split", "train",
                 "--out", str(tmp / "e"), "--no-progress"],
        "predict": ["predict", str(ckpt), str(base / "photo.png"), "--out", str(tmp / "p")],
        "export": ["export", str(ckpt), "--onnx", str(tmp / "m.onnx")],
        "train": ["train", _train_yaml(base, ckpt), "--out", str(tmp / f"t_{ckpt.stem}")],
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_every_command_refuses_a_bad_checkpoint_in_one_line(setting, case, tmp_path, capsys):
    base, cases = setting
    path, phrase = cases[case]
    with pytest.raises(CheckpointError) as direct:
        network_from_checkpoint(path)
    assert phrase in str(direct.value) and str(path) in str(direct.value)
    with pytest.raises(CheckpointError) as via_api:
        awhourglass.load(path)
    assert str(via_api.value) == str(direct.value)
    for command, argv in _commands(base, path, tmp_path).items():
        assert main(argv) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"awh {command}: error: {direct.value}"], (command, err)


def test_train_resume_refuses_a_run_whose_checkpoint_has_nan_weights(setting, tmp_path, capsys):
    """``awh train --resume`` reads the run's checkpoints with the same reader: one line naming the file and the
    tensor, no traceback, and nothing trained."""
    base, _ = setting
    good = base / "good_for_resume.pt"
    torch.save(_good(), good)
    argv = ["train", _train_yaml(base, good), "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    last = tmp_path / "run" / "last.pt"
    assert not (tmp_path / "run" / "previous.pt").exists()  # one checkpoint: nothing to fall back to
    damaged, name = _with_nonfinite(torch.load(last, weights_only=True))
    torch.save(damaged, last)
    before = last.read_bytes()
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"awh train: error: no usable checkpoint in {tmp_path / 'run'}: checkpoint {last}: weight modules.model.{name} "
        "is not finite (NaN or inf); the checkpoint is damaged or was saved from a diverged run"]
    assert last.read_bytes() == before


def test_a_good_checkpoint_is_read_by_every_command(setting, tmp_path, capsys):
    base, _ = setting
    path = base / "good.pt"
    torch.save(_good(), path)
    for command, argv in _commands(base, path, tmp_path).items():
        assert main(argv) == 0, (command, capsys.readouterr().err)
    capsys.readouterr()
    ckpt = load_checkpoint(path)
    assert ckpt["format_version"] == FORMAT_VERSION and ckpt["phase"] == "done"
    net = network_from_checkpoint(path)
    ref = AWHourglassNet(TINY)
    ref.load_state_dict(ckpt["modules"]["model"])
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(net(x).uv_px, ref.eval()(x).uv_px)


def test_checkpoint_dict_round_trips_and_moves_tensors_to_the_cpu(tmp_path):
    from awhourglass.checkpoint import atomic_save, slim

    state = {"w": torch.arange(3.0, requires_grad=True) * 2}
    ck = checkpoint_dict({"seed": 3}, {"model": state}, "adapt", 7, global_step=12,
                         optimizers={"model": {"lr": 0.1}}, rng=[{"torch": torch.get_rng_state()}])
    assert not ck["modules"]["model"]["w"].requires_grad
    atomic_save(ck, tmp_path / "c.pt")
    back = load_checkpoint(tmp_path / "c.pt")
    assert (back["phase"], back["step"], back["global_step"], back["config"]) == ("adapt", 7, 12, {"seed": 3})
    assert torch.equal(back["modules"]["model"]["w"], torch.tensor([0.0, 2.0, 4.0]))
    s = slim(back)
    assert s["optimizers"] == {} and s["rng"] == [] and s["modules"] == back["modules"]


def test_plain_pickle_payload_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "awhourglass-checkpoint", "x": Payload()}))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


class _File:
    """A file wrapper whose first write calls ``on_first`` (a Ctrl-C inside torch.save's write callback)."""

    def __init__(self, f, on_first):
        self.f, self.on_first = f, on_first

    def write(self, data):
        if self.on_first is not None:
            first, self.on_first = self.on_first, None
            first()
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def _save_calling(monkeypatch, on_first):
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **kw: real_save(obj, _File(f, on_first), *a, **kw))


def test_a_ctrl_c_during_a_checkpoint_write_is_raised_once_the_file_is_whole(tmp_path, monkeypatch):
    import signal

    from awhourglass.checkpoint import atomic_save

    path = tmp_path / "c.pt"
    _save_calling(monkeypatch, lambda: signal.raise_signal(signal.SIGINT))
    with python_sigint(), pytest.raises(KeyboardInterrupt):
        atomic_save(_good(), path)
    monkeypatch.undo()
    back = load_checkpoint(path)
    for k, v in _good()["modules"]["model"].items():
        assert torch.equal(back["modules"]["model"][k], v), k


def test_an_interrupt_torch_wrapped_is_still_an_interrupt_and_the_old_file_stays(tmp_path, monkeypatch):
    """A ``KeyboardInterrupt`` no signal handler held (raised in the write itself) comes out of torch's zip writer
    as a RuntimeError; the writer reports it as the interrupt it is, not as a failed write."""
    from awhourglass.checkpoint import atomic_save

    path = tmp_path / "c.pt"
    path.write_bytes(b"old")

    def interrupt():
        raise KeyboardInterrupt

    _save_calling(monkeypatch, interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_save(_good(), path)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]
