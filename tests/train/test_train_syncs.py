"""The sync budget: at most one host-device sync per optimizer update, counted through the real loop.

On CPU nothing really waits, so the test counts what would wait on a GPU: every read of a tensor's values
by the host (``item``, ``tolist``, ``bool``/``float``/``int``, ``numpy``, ``cpu``) and every op whose output
size depends on the values (``nonzero``, ``unique``, boolean-mask indexing), seen through a
``TorchFunctionMode`` while the step functions and the updates run. Reads inside ``torch.optim`` are left
out: they are of Adam's step counters, which PyTorch keeps on the host (the resume test checks they stay there).
"""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode
from train_standins import TINY_MODEL, tiny_real_config, write_tiny_synth

import awhourglass.train.loop as loop
from awhourglass.train.config import MethodConfig
from awhourglass.train.parts import build_parts
from awhourglass.train.run import fit

HOST_READS = {"__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy", "cpu", "nonzero",
              "argwhere", "unique", "unique_consecutive", "masked_select", "__repr__", "__format__"}


def _is_sync(name: str, args: tuple) -> bool:
    if name in HOST_READS:
        return True
    if name == "__getitem__" and len(args) > 1:  # x[mask]: the result's size depends on the mask's values
        keys = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(isinstance(k, torch.Tensor) and k.dtype == torch.bool for k in keys)
    return False


class SyncCounter(TorchFunctionMode):
    """Records each host read made while :attr:`active`, with the first caller outside torch."""

    def __init__(self) -> None:
        super().__init__()
        self.active = False
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if self.active and _is_sync(name, args):
            frame, in_optim = sys._getframe(1), False
            while frame is not None and frame.f_globals.get("__name__", "").startswith("torch"):
                in_optim = in_optim or frame.f_globals["__name__"].startswith("torch.optim")
                frame = frame.f_back
            if not in_optim:
                where = f"{frame.f_globals.get('__name__')}:{frame.f_lineno}" if frame else "?"
                self.calls.append(f"{name} at {where}")
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return write_tiny_synth(tmp_path_factory.mktemp("synth"))


def _count(monkeypatch, cfg, run_dir):
    """Train ``cfg`` with the counter on during every step function and update; returns (per update, calls)."""
    counter = SyncCounter()
    updates: list[list[str]] = []
    original = loop.optimize

    def counted(fn):
        def wrapped(*a, **k):
            counter.active = True
            try:
                return fn(*a, **k)
            finally:
                counter.active = False
        return wrapped

    def optimize(*a, **k):
        before = len(counter.calls)
        out = counted(original)(*a, **k)
        updates.append(counter.calls[before:])
        return out

    def factory(train_cfg, dist):
        parts = build_parts(train_cfg, dist)
        parts.pretrain_loss = counted(parts.pretrain_loss)
        parts.adapt_loss = counted(parts.adapt_loss)
        if parts.critic_loss is not None:
            parts.critic_loss = counted(parts.critic_loss)
        return parts

    monkeypatch.setattr(loop, "optimize", optimize)
    with counter:
        fit(cfg, run_dir, False, factory)
    return updates, counter.calls


@pytest.mark.parametrize(("method", "model_kw", "critic_steps"), [
    ("joint", {}, 0), ("awh", {}, 2), ("wh", {"domain_bn": True}, 1), ("dann", {"domain_bn": True}, 0),
    ("awh", {"first_stack_design": "fssc"}, 1),
])
def test_one_host_sync_per_update_in_both_phases(monkeypatch, tmp_path, roots, method, model_kw, critic_steps):
    intermediate = ("src_2d", "src_3d", "tgt_2d") if model_kw.get("first_stack_design") else ()
    cfg = tiny_real_config(roots, method, pretrain=3, adapt=3, ckpt_every=100, log_every=100)
    cfg.model = dataclasses.replace(TINY_MODEL, **model_kw)
    cfg.method = MethodConfig(name=method, critic_steps=max(critic_steps, 1), critic_width=8,
                              intermediate=intermediate)
    updates, calls = _count(monkeypatch, cfg, tmp_path / "run")
    per_step = 1 + (critic_steps if method in ("wh", "awh") else 0)
    assert len(updates) == 3 + 3 * per_step  # the wrapper saw every update of both phases
    assert all(len(u) == 1 and u[0].startswith("tolist at awhourglass.train.loop") for u in updates), updates
    assert len(calls) == len(updates), calls  # and the step functions add none


def test_the_counter_sees_the_syncs_the_old_code_made(monkeypatch, tmp_path, roots):
    """The counter is not blind: a step function that checks its batch on the device is caught."""
    cfg = tiny_real_config(roots, "joint", pretrain=2, adapt=0, ckpt_every=100, log_every=100)
    real = build_parts

    def noisy(train_cfg, dist):
        parts = real(train_cfg, dist)
        inner = parts.pretrain_loss

        def loss(batch, info):
            if bool((batch.domain != 0).any()):  # one sync (bool), as the domain checks were written before
                raise AssertionError
            _ = batch.xyz_m[batch.has_3d]  # and a boolean-mask index
            return inner(batch, info)
        parts.pretrain_loss = loss
        return parts

    monkeypatch.setattr(sys.modules[__name__], "build_parts", noisy)
    updates, calls = _count(monkeypatch, cfg, tmp_path / "run")
    assert len(updates) == 2 and len(calls) == 2 * 3, calls
    assert sum(c.startswith("__bool__") for c in calls) == 2 and sum(c.startswith("__getitem__") for c in calls) == 2
