"""Checkpoints: atomic writes, weights_only reads, clear errors, fallback to the previous one."""

import random

import numpy as np
import pytest
import torch
from train_standins import make_parts_factory, tiny_config

import awhourglass.train.checkpoint as ck
from awhourglass.checkpoint import CheckpointError, CheckpointWriteError, checkpoint_dict, load_checkpoint
from awhourglass.train.checkpoint import CheckpointStore, rng_state, set_rng_state
from awhourglass.train.run import fit


def _ckpt(step):
    return checkpoint_dict({"seed": 0}, {"model": {"w": torch.full((3,), float(step))}}, "adapt", step)


def test_store_keeps_previous_and_falls_back_on_truncated_last(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_ckpt(1))
    store.save(_ckpt(2))
    assert load_checkpoint(store.last)["step"] == 2 and load_checkpoint(store.previous)["step"] == 1
    data = store.last.read_bytes()
    store.last.write_bytes(data[: len(data) // 2])  # a kill mid-copy, a full disk, ...
    with pytest.raises(CheckpointError, match=r"last\.pt is not a readable checkpoint"):
        load_checkpoint(store.last)
    with pytest.warns(UserWarning, match=r"not a readable checkpoint.*resuming from previous\.pt"):
        ckpt, path = store.load_latest()
    assert path == store.previous and ckpt["step"] == 1
    assert (tmp_path / "last.pt.corrupt").exists()
    # the next save must not rotate the damaged file over the good one
    store.save(_ckpt(3))
    assert load_checkpoint(store.last)["step"] == 3 and load_checkpoint(store.previous)["step"] == 1


def test_every_checkpoint_damaged_is_a_clear_error(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_ckpt(1))
    store.save(_ckpt(2))
    store.last.write_bytes(b"garbage")
    store.previous.write_bytes(b"")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        store.load_latest()


def test_a_last_checkpoint_with_nan_weights_is_set_aside_for_the_previous(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_ckpt(1))
    bad = _ckpt(2)
    bad["modules"]["model"]["w"][1] = float("nan")
    store.save(bad)  # the writer does not judge; training checks its weights before it saves
    with pytest.warns(UserWarning, match=r"weight modules\.model\.w is not finite.*resuming from previous\.pt"):
        ckpt, path = store.load_latest()
    assert path == store.previous and ckpt["step"] == 1 and (tmp_path / "last.pt.corrupt").exists()


def test_failed_write_leaves_checkpoints_untouched(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save(_ckpt(1))
    store.save(_ckpt(2))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_save(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.torch, "save", broken_save)
    with pytest.raises(CheckpointWriteError, match="no space left on device while writing") as err:
        store.save(_ckpt(3))
    assert err.value.path == store.last and err.value.disk_full
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp file, nothing changed


def test_loading_uses_the_restricted_unpickler(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.pt"
    torch.save({**_ckpt(1), "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match=r"objects other than tensors.*weights_only=True"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="not an awhourglass checkpoint"):
        load_checkpoint(tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(2))  # noqa: NPY002
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (random.random(), np.random.rand(), torch.rand(2))  # noqa: NPY002
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_run_checkpoint_is_self_describing(tmp_path):
    fit(tiny_config(), tmp_path, resume=False, build_parts=make_parts_factory())
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["phase"] == "adapt" and ckpt["step"] == 6 and ckpt["global_step"] == 10
    assert ckpt["config"]["phases"]["adapt"]["steps"] == 6 and len(ckpt["joint_names"]) == 21
    assert set(ckpt["modules"]) == {"model", "critic"} and set(ckpt["optimizers"]) == {"network", "critic"}
    assert ckpt["sampler"]["next_step"] == 6 and ckpt["sampler"]["sizes"] == [12, 8]
    # 6 steps x 2 target samples = 12 positions in an 8-sample domain: epoch 1, offset 4
    assert ckpt["sampler"]["epochs"] == [1, 1] and ckpt["sampler"]["offsets"] == [0, 4]
    assert len(ckpt["rng"]) == 1
    slim = load_checkpoint(tmp_path / "model.pt")
    assert slim["optimizers"] == {}
    assert torch.equal(slim["modules"]["model"]["head.bias"], ckpt["modules"]["model"]["head.bias"])
    pre = load_checkpoint(tmp_path / "pretrain.pt")
    assert pre["phase"] == "pretrain" and pre["step"] == 4
    assert (tmp_path / "config.yaml").exists()


def test_resume_from_truncated_last_falls_back(tmp_path):
    """End to end: damage last.pt after a run stopped; --resume continues from previous.pt."""
    fit(tiny_config(adapt_steps=4), tmp_path, resume=False, build_parts=make_parts_factory())
    reference = load_checkpoint(tmp_path / "last.pt")
    # pretend the run stopped during the last write: last.pt truncated, previous.pt = adapt step 2
    data = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "last.pt").write_bytes(data[:1000])
    with pytest.warns(UserWarning, match="resuming from previous.pt"):
        fit(tiny_config(adapt_steps=4), tmp_path, resume=True, build_parts=make_parts_factory())
    again = load_checkpoint(tmp_path / "last.pt")
    for k, v in reference["modules"]["model"].items():
        assert torch.equal(v, again["modules"]["model"][k])


TORCH_FULL = "[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"  # as torch's zip writer says
GIB = 1 << 30


class _FailingFile:
    """A file whose writes fail with ``error`` once ``budget`` bytes are written (a disk filling up)."""

    def __init__(self, f, error, budget=100):
        self.f, self.error, self.left = f, error, budget

    def write(self, data):
        if len(data) > self.left:
            raise self.error
        self.left -= len(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def _torch_write_failing(error):
    """The real ``torch.save`` on a file whose ``write`` raises ``error`` (torch turns it into a RuntimeError whose
    ``__context__`` it is)."""
    real_save = torch.save
    return lambda obj, f, *a, **kw: real_save(obj, _FailingFile(f, error), *a, **kw)


def _raising(error):
    def save(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 half")
        raise error

    return save


@pytest.mark.parametrize(
    ("failing_save", "free", "full", "reason"),
    [
        (_raising(OSError(28, "No space left on device")), 100 * GIB, True, None),
        (_raising(OSError(122, "Disk quota exceeded")), 100 * GIB, True, None),  # EDQUOT: space left, quota spent
        (_torch_write_failing(OSError(28, "No space left on device")), 100 * GIB, True, None),
        (_raising(RuntimeError(TORCH_FULL)), 0, True, None),  # no error number: the measured free space decides
        (_raising(RuntimeError(TORCH_FULL)), 100 * GIB, False, f"RuntimeError: {TORCH_FULL}"),
        (_torch_write_failing(OSError(5, "Input/output error")), 0, False, "[Errno 5] Input/output error"),
    ],
    ids=["ENOSPC", "EDQUOT", "ENOSPC-inside-torch", "torch-error-no-space", "torch-error-space-left", "EIO"],
)
def test_a_failed_checkpoint_write_is_one_line_that_says_what_is_safe(tmp_path, monkeypatch, failing_save, free,
                                                                      full, reason):
    """A full disk is told by the error number, or by the free space where the error has none; never by the
    wording of torch's message. Either way one line naming the file being written and the last good checkpoint."""
    import shutil

    import awhourglass.atomic
    from awhourglass.errors import AwhError

    real_save, calls = torch.save, []

    def save(obj, f, *a, **kw):
        calls.append(1)
        if len(calls) > 1:  # the first checkpoint fits, the next one does not
            return failing_save(obj, f, *a, **kw)
        return real_save(obj, f, *a, **kw)

    def disk_usage(folder):
        return shutil._ntuple_diskusage(200 * GIB, 200 * GIB - free, free)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(awhourglass.atomic.shutil, "disk_usage", disk_usage)
    with pytest.raises(AwhError) as err:
        fit(tiny_config(), tmp_path, resume=False, build_parts=make_parts_factory())
    msg = str(err.value)
    assert len(msg.splitlines()) == 1
    if full:
        assert msg.startswith(f"no space left on device while writing {tmp_path / 'last.pt'} (pretrain step 4)")
    else:
        assert msg.startswith(f"could not write {tmp_path / 'last.pt'} (pretrain step 4): {reason}; "), msg
        assert "space" not in msg
    assert f"last good checkpoint ({tmp_path / 'last.pt'} (pretrain step 2))" in msg
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2  # what it names is intact and loads
    assert [p.name for p in tmp_path.glob(".*.tmp")] == []  # the failed write's temporary file is gone
