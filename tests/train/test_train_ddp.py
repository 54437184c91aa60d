"""Two gloo processes (torchrun's environment variables) reach the weights of one process with the same global batch.

The step functions here draw nothing at random (no dropout, GP interpolation at t = 0.5) and the
network has no BatchNorm: per-rank random streams and per-rank BatchNorm statistics (SyncBatchNorm
has no CPU kernel) are the two things that legitimately differ between 1 and N processes. Gradients
are averaged in a different order than one process sums them, so the comparison allows float
round-off (atol 1e-5 after 10 Adam steps) rather than bit equality.
"""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from train_standins import make_parts_factory, tiny_config

from awhourglass.train.checkpoint import load_checkpoint
from awhourglass.train.config import OptimizerConfig
from awhourglass.train.run import fit


def _config():
    # global batch 4: per rank 1 source + 1 target in the adapt phase, 2 source in pretraining.
    # SGD for the network: unlike Adam it is sensitive to the scale of the averaged gradient.
    return tiny_config(deterministic=False, optimizer=OptimizerConfig(name="sgd"))


def _factory():
    return make_parts_factory(dropout=0.0, gp_random=False)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(worker, *args):
    """``mp.spawn`` on 2 ranks with a fresh port; retried if another process took the port meanwhile."""
    for attempt in range(3):
        try:
            mp.spawn(worker, args=(2, _free_port(), *args), nprocs=2, join=True)
            return
        except mp.ProcessRaisedException as exc:
            if "address already in use" not in str(exc).lower() or attempt == 2:
                raise


def _worker(rank, world, port, out):
    torch.set_num_threads(1)
    os.environ.update(
        {"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
         "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    fit(_config(), out, resume=False, build_parts=_factory())


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    fit(_config(), single, resume=False, build_parts=_factory())
    _spawn(_worker, str(multi))
    a, b = load_checkpoint(single / "last.pt"), load_checkpoint(multi / "last.pt")
    assert b["world_size"] == 2 and len(b["rng"]) == 2
    moved = 0.0
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


def _real_worker(rank, world, port, out, roots):
    from train_standins import tiny_real_config

    from awhourglass.train.parts import build_parts

    torch.set_num_threads(1)
    os.environ.update(
        {"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
         "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    built = {}

    def factory(cfg, dist):
        built["parts"] = build_parts(cfg, dist)
        return built["parts"]

    fit(tiny_real_config(Path(roots), "awh", pretrain=1, adapt=2, deterministic=False), out, False, factory)
    states = {k: m.state_dict() for k, m in built["parts"].modules().items()}
    torch.save(states, Path(out) / f"rank{rank}.pt")


@pytest.mark.slow
def test_real_model_replicas_stay_identical(tmp_path):
    """The AWH network (BatchNorm in training mode, per-rank statistics on CPU) on 2 gloo ranks: every rank
    ends with the same weights and buffers as rank 0's checkpoint, and the losses stay finite."""
    from train_standins import write_tiny_synth

    roots = write_tiny_synth(tmp_path / "synth")
    out = tmp_path / "run"
    _spawn(_real_worker, str(out), str(roots))
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = load_checkpoint(out / "last.pt")["modules"]
    for name in r0:
        for k, v in r0[name].items():
            assert torch.equal(v, r1[name][k]), f"{name}.{k} differs between ranks"
            assert torch.equal(v, saved[name][k]), f"{name}.{k} differs from the checkpoint"
    rows = (out / "adapt.csv").read_text().splitlines()
    assert len(rows) == 3 and "nan" not in "".join(rows[1:]).lower()
