"""fp32 against bf16 on this CPU: the network's inference, training and adaptation steps at several input sizes,
timed in interleaved rounds so that both precisions see the same machine state.

bf16 here is training's own mixed precision (``precision: bf16``: the network's forward under CPU autocast,
weights, optimizer state and the critic in fp32; :mod:`awhourglass.train.precision`). Where the CPU lacks native
bf16 (:func:`~awhourglass.train.precision.native_bf16`) oneDNN emulates it, so the figures say so.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from awhourglass.speed.model_speed import image_layout, inference_call
from awhourglass.speed.timing import Clock, time_fn
from awhourglass.speed.workloads import build_workloads
from awhourglass.train.precision import autocast_dtype, native_bf16

WORKLOADS = ("inference", "train step", "adaptation step")


@dataclass(frozen=True)
class PrecisionRow:
    """One workload at one size in both precisions.

    Attributes:
        size: input side in pixels.
        workload: one of :data:`WORKLOADS`.
        images: images per timed call.
        fp32_s / bf16_s: best seconds per call.
        fp32_median_s / bf16_median_s: median seconds per call (noise indicator).
    """

    size: int
    workload: str
    images: int
    fp32_s: float
    bf16_s: float
    fp32_median_s: float
    bf16_median_s: float

    @property
    def speedup(self) -> float:
        """fp32 seconds / bf16 seconds (> 1: bf16 is faster)."""
        return self.fp32_s / self.bf16_s


@dataclass
class PrecisionSpeed:
    """fp32 and bf16 side by side, and whether the CPU has native bf16."""

    native_bf16: bool
    rows: list[PrecisionRow] = field(default_factory=list)


def size_batch(size: int, batch: int) -> int:
    """The batch timed at ``size``²: ``batch`` up to 64², scaled down by the side above it (at least 2, even, so the
    adaptation step has two halves) so that one call stays a few seconds on a laptop (32 at 64² → 8 at 256²)."""
    scaled = max(2, batch * 64 // size if size > 64 else batch)
    return scaled + scaled % 2


def measure_precisions(sizes: tuple[int, ...], batch: int, channels_last: bool = True, repeats: int = 3,
                       warmup: int = 1, clock: Clock = "wall",
                       log: Callable[[str], None] = lambda _msg: None) -> PrecisionSpeed:
    """Time :data:`WORKLOADS` in fp32 and bf16 at each size (same weights and batches for both precisions).

    Args:
        sizes: input sides (64, 128 or 256).
        batch: batch at 64² (:func:`size_batch` scales it for larger inputs).
        channels_last: NHWC inputs, as the rest of `awh bench`.
        repeats: interleaved rounds; the best of each is reported.
        warmup: untimed calls of each workload first.
        clock: see :func:`~awhourglass.speed.timing.time_fn`.
        log: progress callback.
    """
    report = PrecisionSpeed(native_bf16=native_bf16())
    for size in sizes:
        b = size_batch(size, batch)
        jobs: dict[tuple[str, str], tuple[Callable[[], object], int]] = {}
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)  # the same network and batches in both precisions
            w = build_workloads(size, b, channels_last, precision=precision)
            x = image_layout(torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(1)), channels_last)
            jobs[("inference", precision)] = (inference_call(w.model, x, autocast_dtype(precision)), b)
            jobs[("train step", precision)] = (w.train_step, w.train_images)
            if w.adapt_step is not None:
                jobs[("adaptation step", precision)] = (w.adapt_step, w.adapt_images)
        log(f"fp32 vs bf16 at {size}², batch {b}: warm-up")
        for fn, _ in jobs.values():
            for _ in range(warmup):
                fn()
        times: dict[tuple[str, str], list[float]] = {k: [] for k in jobs}
        for r in range(repeats):
            log(f"fp32 vs bf16 at {size}²: round {r + 1}/{repeats}")
            for key, (fn, _) in jobs.items():
                times[key].append(time_fn(fn, warmup=0, repeats=1, clock=clock).best_s)
        for workload in WORKLOADS:
            if (workload, "fp32") not in times:
                continue
            f32, b16 = times[(workload, "fp32")], times[(workload, "bf16")]
            report.rows.append(PrecisionRow(size, workload, jobs[(workload, "fp32")][1], min(f32), min(b16),
                                            statistics.median(f32), statistics.median(b16)))
    return report


def format_precisions(p: PrecisionSpeed) -> list[str]:
    """Table lines: images/s in each precision and the speed-up."""
    cpu = "native bf16 (CPU flags name it)" if p.native_bf16 else "no native bf16: oneDNN emulates it"
    lines = [f"fp32 vs bf16 (training's autocast; {cpu}), images/s, best (median):"]
    for r in p.rows:
        lines.append(
            f"  {r.size:3d}² {r.workload:16s} batch {r.images:3d}  fp32 {r.images / r.fp32_s:8.1f} "
            f"({r.images / r.fp32_median_s:7.1f})  bf16 {r.images / r.bf16_s:8.1f} ({r.images / r.bf16_median_s:7.1f})"
            f"  bf16/fp32 {r.speedup:5.2f}x"
        )
    return lines


__all__ = ["WORKLOADS", "PrecisionRow", "PrecisionSpeed", "format_precisions", "measure_precisions", "size_batch"]
