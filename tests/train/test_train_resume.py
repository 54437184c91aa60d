"""A run killed at any point and resumed with ``resume=True`` ends with exactly the weights of an uninterrupted run."""

import pytest
import torch
from train_standins import Kill, kill_at, make_parts_factory, tiny_config

from awhourglass.checkpoint import load_checkpoint
from awhourglass.train.run import fit


def _final_state(run_dir):
    ckpt = load_checkpoint(run_dir / "last.pt")
    return ckpt


def _assert_same(a, b):
    assert a["phase"] == b["phase"] and a["step"] == b["step"]
    for name in a["modules"]:
        sa, sb = a["modules"][name], b["modules"][name]
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k} differs"
    for name in a["optimizers"]:
        for pid, st in a["optimizers"][name]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b["optimizers"][name]["state"][pid][k]), f"optimizer {name} {pid}.{k} differs"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    fit(tiny_config(), out, resume=False, build_parts=make_parts_factory(batchnorm=True))
    return _final_state(out)


@pytest.mark.parametrize(("phase", "step"), [("adapt", 3), ("adapt", 4), ("pretrain", 1), ("adapt", 0)])
def test_kill_then_resume_matches_uninterrupted(tmp_path, reference, phase, step):
    factory = make_parts_factory(batchnorm=True)
    with pytest.raises(Kill):
        fit(tiny_config(), tmp_path, resume=False, build_parts=kill_at(factory, phase, step))
    fit(tiny_config(), tmp_path, resume=True, build_parts=factory)
    _assert_same(_final_state(tmp_path), reference)
    # the metrics of redone steps are not duplicated
    rows = (tmp_path / "adapt.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(s) for s in range(1, 7)]


def test_differences_are_detected(tmp_path, reference):
    """The comparison above can fail: another seed gives other weights."""
    fit(tiny_config(seed=4), tmp_path, resume=False, build_parts=make_parts_factory(batchnorm=True))
    other = _final_state(tmp_path)
    assert any(not torch.equal(v, reference["modules"]["model"][k]) for k, v in other["modules"]["model"].items())


def test_kill_while_writing_a_checkpoint(tmp_path, reference, monkeypatch):
    """A kill inside the checkpoint write (after the temp file, before the rename) loses nothing."""
    import awhourglass.train.checkpoint as ck

    calls = {"n": 0}
    real_replace = ck.os.replace

    def flaky_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 6:  # in the middle of the third save's rotation
            raise Kill("killed during os.replace")
        return real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", flaky_replace)
    with pytest.raises(Kill):
        fit(tiny_config(), tmp_path, resume=False, build_parts=make_parts_factory(batchnorm=True))
    monkeypatch.setattr(ck.os, "replace", real_replace)
    assert not list(tmp_path.glob(".*.tmp")), "temp file left behind"
    fit(tiny_config(), tmp_path, resume=True, build_parts=make_parts_factory(batchnorm=True))
    _assert_same(_final_state(tmp_path), reference)


def test_existing_run_needs_resume_flag(tmp_path):
    fit(tiny_config(adapt_steps=0), tmp_path, resume=False, build_parts=make_parts_factory())
    with pytest.raises(Exception, match="--resume"):
        fit(tiny_config(adapt_steps=0), tmp_path, resume=False, build_parts=make_parts_factory())


def test_resume_with_another_config_is_refused(tmp_path):
    fit(tiny_config(adapt_steps=0), tmp_path, resume=False, build_parts=make_parts_factory())
    with pytest.raises(Exception, match=r"phases\.pretrain\.steps"):
        fit(tiny_config(pretrain_steps=5, adapt_steps=0), tmp_path, resume=True, build_parts=make_parts_factory())


def test_resume_on_a_changed_dataset_is_refused(tmp_path):
    with pytest.raises(Kill):
        fit(tiny_config(), tmp_path, resume=False, build_parts=kill_at(make_parts_factory(), "adapt", 3))
    with pytest.raises(Exception, match=r"datasets had \[12, 8\] samples .* now \[12, 9\]"):
        fit(tiny_config(), tmp_path, resume=True, build_parts=make_parts_factory(n_target=9))


def test_resume_reads_the_checkpoint_onto_the_cpu_whatever_the_device(tmp_path):
    """A GPU run resumes by reading its checkpoint onto the CPU: RNG states must be CPU tensors (``.numpy()`` of a
    CUDA tensor fails), weights and optimizer state are then copied where the parameters live. The ``meta``
    device stands in for CUDA (no GPU here): a resume that read onto the run's device would fail on it."""
    import dataclasses

    from awhourglass.config import to_dict
    from awhourglass.train.checkpoint import CheckpointStore
    from awhourglass.train.distributed import DistInfo
    from awhourglass.train.logging import MetricLogger
    from awhourglass.train.loop import Trainer
    from awhourglass.train.run import _resume

    factory = make_parts_factory(batchnorm=True)
    with pytest.raises(Kill):
        fit(tiny_config(), tmp_path, resume=False, build_parts=kill_at(factory, "adapt", 3))
    cfg = tiny_config()
    dist = dataclasses.replace(DistInfo(), device=torch.device("meta"))
    parts = factory(cfg, DistInfo())  # the modules stay on the CPU; only the device the run names is "meta"
    trainer = Trainer(cfg, to_dict(cfg), parts, dist, tmp_path, MetricLogger(tmp_path, enabled=False),
                      CheckpointStore(tmp_path))
    ckpt = _resume(trainer)
    assert ckpt is not None and ckpt["phase"] == "adapt"
    saved = ckpt["modules"]["model"]
    assert all(v.device.type == "cpu" for v in saved.values())
    for k, v in parts.modules()["model"].state_dict().items():
        assert torch.equal(v, saved[k]), k
