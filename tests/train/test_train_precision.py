"""fp16's loss scale by hand, its skip-on-overflow in the real update, its resume, and the compiled forward."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from train_standins import Kill, kill_at, tiny_real_config, write_tiny_synth

from awhourglass.checkpoint import load_checkpoint
from awhourglass.train.distributed import DistInfo
from awhourglass.train.loop import NonFiniteLossError, optimize
from awhourglass.train.parts import build_parts
from awhourglass.train.precision import LossScale, autocast_dtype
from awhourglass.train.run import fit

DIST = DistInfo()


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return write_tiny_synth(tmp_path_factory.mktemp("synth"))


def test_loss_scale_by_hand():
    s = LossScale(init=8.0, growth_interval=2, min_scale=1.0)
    assert s.update(True) and s.scale == 8.0  # 1 clean update
    assert s.update(True) and s.scale == 16.0  # 2 clean: doubled, count restarts
    assert not s.update(False) and s.scale == 8.0 and s.skipped == 1  # overflow: skip, halve
    assert s.update(True) and s.scale == 8.0  # growth counts from the overflow
    for _ in range(3):
        s.update(False)
    assert s.scale == 1.0 and not s.exhausted
    s.update(False)
    assert s.exhausted
    t = LossScale()
    t.load_state_dict(s.state_dict())
    assert t.state_dict() == s.state_dict()
    assert autocast_dtype("fp16") == torch.float16 and autocast_dtype("fp32") is None
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("fp8")


def _problem(scale_loss: float = 1.0):
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    return w, opt, {"total": scale_loss * (w**2).sum()}


def test_a_scaled_update_equals_the_unscaled_one_and_an_overflow_skips_it():
    # d/dw sum(w²) = 2w = (2, -4); SGD lr 0.1 → w − 0.1·2w = 0.8w, whatever power-of-two scale the backward used
    w, opt, losses = _problem()
    scale = LossScale(init=2.0**10)
    values = optimize(losses, opt, [w], None, "adapt", 0, DIST, loss_scale=scale)
    assert torch.allclose(w.detach(), torch.tensor([0.8, -1.6])) and values["total"] == pytest.approx(5.0)
    assert scale.scale == 2.0**10 and scale.clean == 1
    # a scale that overflows fp32 gradients (5·2¹²⁰ · 2w is finite, ·2 more per op is not): skipped, halved
    w, opt, losses = _problem(2.0**100)
    scale = LossScale(init=2.0**100)
    values = optimize(losses, opt, [w], None, "adapt", 0, DIST, loss_scale=scale)
    assert torch.equal(w.detach(), torch.tensor([1.0, -2.0]))  # the weights did not move
    assert scale.scale == 2.0**99 and scale.skipped == 1 and math.isfinite(values["total"])
    # without a loss scale, a finite loss with a non-finite gradient (√|w| at w = 0) stops training
    w = torch.nn.Parameter(torch.tensor([0.0, 1.0]))
    with pytest.raises(NonFiniteLossError, match="gradient norm"):
        optimize({"total": w.abs().sqrt().sum()}, torch.optim.SGD([w], lr=0.1), [w], None, "adapt", 0, DIST)


def test_an_exhausted_loss_scale_stops_training():
    w = torch.nn.Parameter(torch.tensor([0.0, 1.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    scale = LossScale(init=2.0, min_scale=0.6)
    for expected in (1.0,):  # the first overflow halves the scale to 1 (still usable) and skips
        optimize({"total": w.abs().sqrt().sum()}, opt, [w], None, "adapt", 0, DIST, loss_scale=scale)
        assert scale.scale == expected
    with pytest.raises(NonFiniteLossError, match="every fp16 loss scale"):  # the next takes it to 0.5 < 0.6
        optimize({"total": w.abs().sqrt().sum()}, opt, [w], None, "adapt", 1, DIST, loss_scale=scale)
    assert torch.equal(w.detach(), torch.tensor([0.0, 1.0]))


def test_fp16_run_checkpoints_its_loss_scale_and_resumes_it_exactly(tmp_path, roots, monkeypatch):
    import awhourglass.train.loop as loop

    class FastGrowth(LossScale):  # the scale changes within a few steps, so resuming it is visible
        def __init__(self):
            super().__init__(init=4.0, growth_interval=2)

    monkeypatch.setattr(loop, "LossScale", FastGrowth)
    cfg = tiny_real_config(roots, "awh", pretrain=2, adapt=3, precision="fp16")
    fit(cfg, tmp_path / "ref", False, build_parts)
    ref = load_checkpoint(tmp_path / "ref" / "last.pt")
    # the adapt phase ran 3 updates from a fresh scale: grown once (after 2), one clean update since
    assert ref["optimizers"]["network_loss_scale"] == {**FastGrowth().state_dict(), "scale": 8.0, "clean": 1}
    with pytest.raises(Kill):
        fit(cfg, tmp_path / "k", False, kill_at(build_parts, "adapt", 2))
    fit(cfg, tmp_path / "k", True, build_parts)
    got = load_checkpoint(tmp_path / "k" / "last.pt")
    assert got["optimizers"]["network_loss_scale"] == ref["optimizers"]["network_loss_scale"]
    for k, v in ref["modules"]["model"].items():
        assert torch.equal(v, got["modules"]["model"][k]), k
    rows = (tmp_path / "ref" / "adapt.csv").read_text().splitlines()
    assert len(rows) == 4 and "nan" not in "".join(rows[1:]).lower()


def test_compiled_forward_trains_as_the_eager_one(tmp_path, roots, monkeypatch):
    """``compile: true`` (aot_eager here: the same graph capture as inductor without its C++ build): the same
    losses as eager to float round-off, the critic (double backward in its penalty) left eager."""
    import awhourglass.train.parts as parts

    monkeypatch.setattr(parts, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    base = tiny_real_config(roots, "awh", pretrain=2, adapt=2, deterministic=False)
    fit(base, tmp_path / "eager", False, build_parts)
    built = {}

    def factory(cfg, dist):
        built["parts"] = build_parts(cfg, dist)
        return built["parts"]

    from torch._dynamo.utils import counters

    counters.clear()
    fit(dataclasses.replace(base, compile=True), tmp_path / "compiled", False, factory)
    assert counters["stats"]["unique_graphs"] >= 1  # the forward really went through dynamo
    assert not isinstance(built["parts"].critic, torch._dynamo.eval_frame.OptimizedModule)
    for phase in ("pretrain", "adapt"):
        a = (tmp_path / "eager" / f"{phase}.csv").read_text().splitlines()
        b = (tmp_path / "compiled" / f"{phase}.csv").read_text().splitlines()
        assert a[0] == b[0] and len(a) == len(b) == 3
        for ra, rb in zip(a[1:], b[1:], strict=True):
            for x, y in zip(ra.split(",")[3:], rb.split(",")[3:], strict=True):  # after step, time_s, lr
                assert abs(float(x) - float(y)) <= 1e-4 * (1 + abs(float(x))), (phase, x, y)
    torch._dynamo.reset()
