"""The yardstick: this machine's fp32 matmul peak, measured, not looked up."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from awhourglass.bench.timing import Clock, time_fn


@dataclass(frozen=True)
class MatmulPeak:
    """Best fp32 matmul rate seen.

    Attributes:
        flops_per_s: 2·n³ / best seconds of one n×n @ n×n product.
        n: matrix side.
        best_s: best seconds per product.
        median_s: median seconds per product (noise indicator).
        threads: torch intra-op threads used.
    """

    flops_per_s: float
    n: int
    best_s: float
    median_s: float
    threads: int

    def merged(self, other: MatmulPeak) -> MatmulPeak:
        """The better of two measurements (the machine's limit is the best one seen)."""
        return self if self.flops_per_s >= other.flops_per_s else other


def matmul_flops(n: int) -> int:
    """FLOPs of one n×n @ n×n product: n² outputs × n multiply-adds × 2."""
    return 2 * n**3


def measure_matmul_peak(n: int = 2048, repeats: int = 8, warmup: int = 2, clock: Clock = "wall") -> MatmulPeak:
    """Measure the fp32 matmul peak with ``torch.mm`` into a preallocated output.

    Args:
        n: matrix side; 2048 is large enough to be compute-bound on a 2-core CPU (32 MiB of operands)
            and takes ~0.1 s per product there.
        repeats: timed products; the best is kept.
        warmup: untimed products first.
        clock: see :func:`~awhourglass.bench.timing.time_fn`.

    Returns:
        The measured peak.
    """
    if n < 64:
        raise ValueError(f"matrix side n={n} is too small to measure a compute peak (use >= 64)")
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)
    timing = time_fn(lambda: torch.mm(a, b, out=out), warmup=warmup, repeats=repeats, clock=clock)
    return MatmulPeak(
        flops_per_s=matmul_flops(n) / timing.best_s,
        n=n,
        best_s=timing.best_s,
        median_s=timing.median_s,
        threads=torch.get_num_threads(),
    )
