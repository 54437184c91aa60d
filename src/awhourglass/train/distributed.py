"""Data-parallel training across processes (torchrun, one or many nodes), written out by hand.

Every rank holds an identical replica of every module; each step, every rank computes its losses on
its shard of the global batch, gradients are averaged with one flattened all-reduce per optimizer
(mean over ranks), and every rank applies the same optimizer step. That is what PyTorch's
``DistributedDataParallel`` does, but its reducer assumes one forward per backward through the
wrapper: the step functions here call submodules directly and run several forwards per step (source
and target halves, critic steps with frozen features), which the wrapper only tolerates with
``static_graph`` and ``find_unused_parameters`` tricks. The explicit all-reduce is simple and exact.

Process group: initialised from torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) when ``WORLD_SIZE > 1``; NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from awhourglass.errors import AwhError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank among ``world_size`` processes, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """True when a process group of more than one rank is active."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs and checkpoints."""
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` → ``cuda:LOCAL_RANK`` when CUDA is available, else CPU; other names are taken as given."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AwhError(f"device {name!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(device: str = "auto", backend: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment, or run single-process.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. Under torchrun ``cuda`` means ``cuda:LOCAL_RANK``.
        backend: ``"auto"`` (NCCL for CUDA, gloo for CPU), ``"gloo"`` or ``"nccl"``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistInfo(0, 1, 0, dev)
    for key in ("MASTER_ADDR", "MASTER_PORT"):
        if key not in os.environ:
            raise AwhError(f"WORLD_SIZE={world_size} but {key} is not set: launch with torchrun")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if backend == "auto":
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", world_size=world_size, rank=rank)
    return DistInfo(rank, world_size, local_rank, dev)


def shutdown(info: DistInfo) -> None:
    """Leave the process group (no-op single-process)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op single-process)."""
    if info.enabled:
        dist.barrier()


def broadcast_parameters(modules: dict[str, nn.Module], info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank, so replicas start identical."""
    if not info.enabled:
        return
    for name in sorted(modules):
        for tensor in list(modules[name].parameters()) + list(modules[name].buffers()):
            dist.broadcast(tensor.data, src=0)


def average_buffers(modules: dict[str, nn.Module], info: DistInfo) -> None:
    """Mean of floating-point buffers (BatchNorm running statistics) over ranks, in place.

    Each rank updates running statistics from its own shard; averaging them before a checkpoint keeps
    the replicas identical (what is saved is what every rank holds) and uses every rank's data.
    """
    if not info.enabled:
        return
    bufs = [b for name in sorted(modules) for b in modules[name].buffers() if b.is_floating_point()]
    if not bufs:
        return
    flat = torch.cat([b.reshape(-1) for b in bufs])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for b in bufs:
        b.copy_(flat[offset : offset + b.numel()].view_as(b))
        offset += b.numel()


def average_update(params: list[nn.Parameter], values: torch.Tensor,
                   info: DistInfo) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean over ranks of an update's gradients and of its logged ``values``, in one all-reduce, without a host sync.

    A parameter with no gradient on this rank counts zeros (its gradient is set to zeros first). The second
    result holds, per parameter, on how many ranks it got a gradient: the caller reads it with the update's one
    host read and sets ``grad=None`` where it is 0 (as single-process, so the optimizer skips those).

    Args:
        params: the update's parameters (the same order on every rank).
        values: ``(N,)`` scalars to average (the losses), on the training device (reduced in the gradients'
            precision).

    Returns:
        ``values`` averaged, and the per-parameter counts (``None`` single-process: nothing is reduced).
    """
    if not info.enabled:
        return values, None
    dtype = params[0].dtype if params else values.dtype  # the gradients' own precision: no wider traffic
    has = torch.tensor([p.grad is not None for p in params], dtype=dtype, device=info.device)
    grads: list[torch.Tensor] = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)  # zeros_like keeps the parameter's memory format
        grads.append(p.grad)
    flat = torch.cat([has, values.to(dtype)] + [g.reshape(-1).to(dtype) for g in grads])
    dist.all_reduce(flat)
    n_has, n_values = len(params), values.numel()
    offset = n_has + n_values
    for p, g in zip(params, grads, strict=True):
        n = p.numel()
        # copy_ into the gradient itself: it keeps its layout (channels-last convs stay channels-last, so Adam
        # keeps its fast multi-tensor path), where a view of the flat buffer would be NCHW-contiguous
        g.copy_(flat[offset : offset + n].view_as(p) / info.world_size)
        offset += n
    return flat[n_has:n_has + n_values].to(values.dtype) / info.world_size, flat[:n_has]


def all_ranks_ok(ok: bool, info: DistInfo) -> bool:
    """True only if ``ok`` on every rank; also acts as a barrier."""
    if not info.enabled:
        return ok
    flag = torch.tensor([0.0 if ok else 1.0], device=info.device)
    dist.all_reduce(flag)
    return bool(flag.item() == 0.0)


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (picklable) as a list indexed by rank, returned on every rank."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def shard_range(count: int, info: DistInfo, what: str = "batch") -> tuple[int, int]:
    """This rank's contiguous share ``[start, stop)`` of ``count`` items split evenly over ranks."""
    if count % info.world_size:
        raise AwhError(f"{what} of {count} cannot be split evenly over {info.world_size} processes")
    share = count // info.world_size
    return info.rank * share, (info.rank + 1) * share


def convert_sync_batchnorm(module: nn.Module, info: DistInfo) -> nn.Module:
    """BatchNorm → SyncBatchNorm under multi-GPU training, so statistics cover the global batch.

    SyncBatchNorm has no CPU kernel: on gloo/CPU the BatchNorm statistics stay per rank (each rank
    normalises its shard), which is what makes multi-process CPU runs differ from one process with
    the full batch when a model uses BatchNorm in training mode.
    """
    if info.enabled and info.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module


__all__ = [
    "DistInfo",
    "all_ranks_ok",
    "average_buffers",
    "average_update",
    "barrier",
    "broadcast_parameters",
    "convert_sync_batchnorm",
    "gather_objects",
    "init_distributed",
    "resolve_device",
    "shard_range",
    "shutdown",
]
