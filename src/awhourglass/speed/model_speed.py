"""Throughput, latency and utilization of a network on this CPU."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from awhourglass.speed.flops import count_flops
from awhourglass.speed.timing import Clock, Timing, time_fn


@dataclass(frozen=True)
class SpeedResult:
    """One measured workload.

    Attributes:
        name: what was measured (e.g. ``"train step"``).
        images_per_step: images processed by one timed call.
        best_s / median_s / repeats: seconds per call (see :class:`~awhourglass.speed.timing.Timing`).
        images_per_s: images_per_step / best_s.
        flops_per_image: counted FLOPs of one call / images_per_step (0 when not counted).
        achieved_flops_per_s: counted FLOPs of one call / best_s.
        utilization: achieved_flops_per_s / the matmul peak of the same run (0 when not counted).
    """

    name: str
    images_per_step: int
    best_s: float
    median_s: float
    repeats: int
    images_per_s: float
    flops_per_image: float
    achieved_flops_per_s: float
    utilization: float

    @classmethod
    def from_timing(
        cls, name: str, images_per_step: int, timing: Timing, flops_per_step: int, peak_flops_per_s: float
    ) -> SpeedResult:
        """Build the derived figures from one timing and one FLOP count."""
        if images_per_step < 1:
            raise ValueError(f"images_per_step must be >= 1, got {images_per_step}")
        if peak_flops_per_s <= 0:
            raise ValueError(f"peak_flops_per_s must be > 0, got {peak_flops_per_s}")
        achieved = flops_per_step / timing.best_s
        return cls(
            name=name,
            images_per_step=images_per_step,
            best_s=timing.best_s,
            median_s=timing.median_s,
            repeats=timing.repeats,
            images_per_s=images_per_step / timing.best_s,
            flops_per_image=flops_per_step / images_per_step,
            achieved_flops_per_s=achieved,
            utilization=achieved / peak_flops_per_s,
        )


def output_tensors(out: Any) -> list[torch.Tensor]:
    """Flatten a model output (tensor, tuple/list, dict or dataclass of them) into its float tensors."""
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() else []
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [t for f in dataclasses.fields(out) for t in output_tensors(getattr(out, f.name))]
    if isinstance(out, dict):
        return [t for v in out.values() for t in output_tensors(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in output_tensors(v)]
    return []


def image_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """An image batch (B, C, H, W) in channels-last (NHWC strides) or contiguous (NCHW) memory format."""
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def to_cpu_layout(model: nn.Module, x: torch.Tensor, channels_last: bool) -> tuple[nn.Module, torch.Tensor]:
    """Put a 4-D image model and its input in the memory format used for timing."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format
    return model, image_layout(x, channels_last)


def inference_call(model: nn.Module, x: torch.Tensor, dtype: torch.dtype | None = None) -> Callable[[], None]:
    """``model(x)`` in eval mode under ``torch.inference_mode`` (the model's mode is restored after each call),
    under autocast to ``dtype`` when one is given (as training's forward runs, ``train.steps.forward_batch``)."""

    def call() -> None:
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode(), torch.autocast(x.device.type, dtype=dtype or torch.float32,
                                                        enabled=dtype is not None):
                model(x)
        finally:
            model.train(was_training)

    return call


def measure_inference(
    model: nn.Module,
    x: torch.Tensor,
    peak_flops_per_s: float,
    *,
    name: str = "inference",
    warmup: int = 2,
    repeats: int = 5,
    min_time_s: float = 0.0,
    clock: Clock = "wall",
) -> SpeedResult:
    """Images/s and utilization of ``model(x)`` in eval mode under ``torch.inference_mode``.

    Args:
        model: the network (switched to eval mode; the caller's mode is restored).
        x: input batch (B, 3, H, W), already in the desired memory format.
        peak_flops_per_s: matmul peak of the same run.
        name: label of the result.
        warmup / repeats / min_time_s / clock: see :func:`~awhourglass.speed.timing.time_fn`.
    """
    was_training = model.training
    model.eval()
    try:

        def step() -> None:
            with torch.inference_mode():
                model(x)

        flops = count_flops(step)
        timing = time_fn(step, warmup=warmup, repeats=repeats, min_time_s=min_time_s, clock=clock)
    finally:
        model.train(was_training)
    return SpeedResult.from_timing(name, x.shape[0], timing, flops, peak_flops_per_s)


def measure_step(
    step: Callable[[], object],
    images_per_step: int,
    peak_flops_per_s: float,
    *,
    name: str,
    warmup: int = 2,
    repeats: int = 5,
    clock: Clock = "wall",
) -> SpeedResult:
    """Images/s and utilization of a whole training step (forward, backward, optimizer).

    The step is run once under the FLOP counter (which also serves as the first warm-up call), so
    the counted FLOPs are those of the real backward kernels, not 3× the forward.
    """
    flops = count_flops(step)
    timing = time_fn(step, warmup=max(0, warmup - 1), repeats=repeats, clock=clock)
    return SpeedResult.from_timing(name, images_per_step, timing, flops, peak_flops_per_s)


def mse_train_step(model: nn.Module, x: torch.Tensor, lr: float = 1e-4) -> Callable[[], None]:
    """A plain supervised step (sum of mean squares of every output, Adam) for models without their own.

    The loss is a stand-in whose cost is negligible next to the network: it makes the backward pass
    reach every output head, as a real supervised loss does.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()

    def step() -> None:
        outs = output_tensors(model(x))
        loss = cast(torch.Tensor, sum((o.float() ** 2).mean() for o in outs))  # typeshed: sum() may return 0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step
