"""Two gloo processes (torchrun's environment variables) against one process with the same global batch.

One spawn serves two checks (process start-up dominates their cost):

1. Stand-in network: the step functions draw nothing at random (no dropout, GP interpolation at
   t = 0.5) and there is no BatchNorm: per-rank random streams and per-rank BatchNorm statistics
   (SyncBatchNorm has no CPU kernel) are the two things that legitimately differ between 1 and N
   processes. Gradients are averaged in another order than one process sums them, so the comparison
   allows float round-off (atol 1e-5) rather than bit equality. SGD for the network: unlike Adam it is
   sensitive to the scale of the averaged gradient.
2. The real AWH network (BatchNorm in training mode, so per-rank statistics on CPU): every rank ends with
   the same weights and buffers as rank 0's checkpoint, and the losses stay finite.
"""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from train_standins import make_parts_factory, tiny_config, tiny_real_config, write_tiny_synth

from awhourglass.checkpoint import load_checkpoint
from awhourglass.train.config import OptimizerConfig
from awhourglass.train.distributed import init_distributed, shutdown
from awhourglass.train.parts import build_parts
from awhourglass.train.run import fit


def _standin_config():
    # global batch 4: per rank 1 source + 1 target in the adapt phase, 2 source in pretraining
    return tiny_config(deterministic=False, optimizer=OptimizerConfig(name="sgd"))


def _standin_factory():
    return make_parts_factory(dropout=0.0, gp_random=False)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, base):
    torch.set_num_threads(1)
    os.environ.update(
        {"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
         "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    base = Path(base)
    info = init_distributed("cpu")  # one process group for both runs (fit leaves a group it did not create)
    try:
        fit(_standin_config(), base / "multi", resume=False, build_parts=_standin_factory())
        built = {}

        def factory(cfg, dist):
            built["parts"] = build_parts(cfg, dist)
            return built["parts"]

        cfg = tiny_real_config(base / "synth", "awh", pretrain=1, adapt=2, deterministic=False)
        fit(cfg, base / "real", resume=False, build_parts=factory)
        states = {k: m.state_dict() for k, m in built["parts"].modules().items()}
        torch.save(states, base / "real" / f"rank{rank}.pt")
        # the averaged gradients of the last update: does each keep its parameter's memory layout?
        model = built["parts"].modules()["model"]
        layout = {n: [p.is_contiguous(memory_format=torch.channels_last),
                      p.grad.is_contiguous(memory_format=torch.channels_last)]
                  for n, p in model.named_parameters() if p.dim() == 4 and p.grad is not None}
        torch.save(layout, base / "real" / f"layout{rank}.pt")
        _partial_gradients(info, base, rank)
    finally:
        shutdown(info)


def _partial_gradients(info, base, rank):
    """One update of three parameters: ``a`` gets a gradient on rank 0 only, ``b`` on no rank, ``c`` on both."""
    from awhourglass.train.loop import optimize

    a, b, c = (torch.nn.Parameter(torch.full((2,), 1.0)) for _ in range(3))
    opt = torch.optim.SGD([a, b, c], lr=1.0)
    loss = (rank + 1.0) * c.sum() + (a.sum() * 3.0 if rank == 0 else 0.0)
    values = optimize({"total": loss, "extra": torch.tensor(float(rank))}, opt, [a, b, c], None, "adapt", 0, info)
    torch.save({"a": a.detach(), "b": b.detach(), "b_grad_none": b.grad is None, "c": c.detach(), "values": values},
               base / f"partial{rank}.pt")


def _spawn(base):
    """``mp.spawn`` on 2 ranks with a fresh port; retried if another process took the port meanwhile."""
    for attempt in range(3):
        try:
            mp.spawn(_worker, args=(2, _free_port(), str(base)), nprocs=2, join=True)
            return
        except mp.ProcessRaisedException as exc:
            if "address already in use" not in str(exc).lower() or attempt == 2:
                raise


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    write_tiny_synth(base / "synth")
    _spawn(base)
    return base


@pytest.mark.slow
def test_two_processes_match_one(two_ranks, tmp_path):
    single, multi = tmp_path / "single", two_ranks / "multi"
    fit(_standin_config(), single, resume=False, build_parts=_standin_factory())
    a, b = load_checkpoint(single / "last.pt"), load_checkpoint(multi / "last.pt")
    assert b["world_size"] == 2 and len(b["rng"]) == 2
    for name in ("model", "critic"):
        for k, v in a["modules"][name].items():
            torch.testing.assert_close(b["modules"][name][k], v, atol=1e-5, rtol=1e-4, msg=f"{name}.{k}")
    # the comparison is not vacuous: training moved the weights far more than the tolerance
    init = load_checkpoint(single / "pretrain.pt")["modules"]["model"]
    moved = max(float((a["modules"]["model"][k] - init[k]).abs().max()) for k in init)
    assert moved > 1e-3
    # both runs logged the same (global-batch) losses
    rows_a = (single / "adapt.csv").read_text().splitlines()
    rows_b = (multi / "adapt.csv").read_text().splitlines()
    assert rows_a[0] == rows_b[0] and len(rows_a) == len(rows_b)
    for ra, rb in zip(rows_a[1:], rows_b[1:], strict=True):
        la, lb = ra.split(",")[3:], rb.split(",")[3:]  # after step, time_s, lr
        assert all(abs(float(x) - float(y)) <= 1e-4 * (1 + abs(float(x))) for x, y in zip(la, lb, strict=True))


@pytest.mark.slow
def test_real_model_replicas_stay_identical(two_ranks):
    out = two_ranks / "real"
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = load_checkpoint(out / "last.pt")["modules"]
    for name in r0:
        for k, v in r0[name].items():
            assert torch.equal(v, r1[name][k]), f"{name}.{k} differs between ranks"
            assert torch.equal(v, saved[name][k]), f"{name}.{k} differs from the checkpoint"
    rows = (out / "adapt.csv").read_text().splitlines()
    assert len(rows) == 3 and "nan" not in "".join(rows[1:]).lower()


@pytest.mark.slow
def test_averaged_gradients_keep_the_parameters_layout(two_ranks):
    """Hand-averaged gradients keep channels-last where the convolution weights are (Adam's fast path)."""
    for r in (0, 1):
        layout = torch.load(two_ranks / "real" / f"layout{r}.pt", weights_only=True)
        convs = [n for n, (param_cl, _) in layout.items() if param_cl]
        assert len(convs) > 20  # the network's 3x3 and 1x1 convolutions
        assert all(layout[n][1] for n in convs), [n for n in convs if not layout[n][1]]


@pytest.mark.slow
def test_gradients_and_losses_are_averaged_in_one_update_and_unused_parameters_keep_none(two_ranks):
    for r in (0, 1):
        got = torch.load(two_ranks / f"partial{r}.pt", weights_only=True)
        # by hand: d/da = 3 on rank 0, 0 on rank 1 (counts as zeros) → mean 1.5; d/dc = 1 and 2 → 1.5; SGD lr 1
        assert torch.allclose(got["a"], torch.full((2,), 1.0 - 1.5))
        assert torch.allclose(got["c"], torch.full((2,), 1.0 - 1.5))
        assert got["b_grad_none"] and torch.equal(got["b"], torch.ones(2))  # no rank computed one: not stepped
        # the logged losses are the ranks' means: total (sum(c) + 3·sum(a) = 2 + 6 on rank 0, 2·sum(c) = 4 on
        # rank 1), extra (0, 1)
        assert got["values"] == pytest.approx({"total": 6.0, "extra": 0.5})
