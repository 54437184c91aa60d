"""The yardstick: this machine's fp32 compute peak, measured, not looked up, beside its theoretical peak.

Measured with two libraries, because one alone can be the wrong yardstick: on this task's AMD EPYC (Zen 5,
AVX-512) MKL's sgemm runs its AVX2 code (MKL picks its kernels by CPU vendor) at ≈ 95 GFLOP/s per core, while
oneDNN's JIT convolutions use AVX-512 and reach 210–250 GFLOP/s on one core (a direct 3×3 convolution, not
Winograd: ``ONEDNN_VERBOSE`` says ``alg:convolution_direct``). Against the sgemm alone the network's
convolutions showed utilizations of 146–212 %. The yardstick is the better of the two
(:func:`measure_compute_peak`), and :func:`theoretical_peak` gives cores × clock × FLOP per cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from awhourglass.speed.timing import Clock, time_fn


@dataclass(frozen=True)
class MatmulPeak:
    """Best fp32 matmul rate seen.

    Attributes:
        flops_per_s: 2·n³ / best seconds of one n×n @ n×n product.
        n: matrix side.
        best_s: best seconds per product.
        median_s: median seconds per product (noise indicator).
        threads: torch intra-op threads used.
        kernel: what was timed (``mkl sgemm`` or ``onednn conv3x3``).
    """

    flops_per_s: float
    n: int
    best_s: float
    median_s: float
    threads: int
    kernel: str = "mkl sgemm"

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
        clock: see :func:`~awhourglass.speed.timing.time_fn`.

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


def conv_peak_flops(channels: int, side: int, batch: int) -> int:
    """FLOPs of a 3×3, stride-1, same-padded convolution without bias: 2 · outputs · 9 · C_in (direct algorithm)."""
    return 2 * batch * side * side * channels * channels * 9


def measure_conv_peak(channels: int = 256, side: int = 8, batch: int = 64, repeats: int = 8, warmup: int = 2,
                      clock: Clock = "wall") -> MatmulPeak:
    """fp32 rate of one compute-bound 3×3 convolution through oneDNN (channels-last), FLOPs by formula.

    The default shape (256 channels, 8², batch 64: 2.4 GFLOP) was the fastest of those tried on this machine.
    ``n`` of the result holds ``channels``.
    """
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format
    x = torch.randn(batch, channels, side, side, generator=gen).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        timing = time_fn(lambda: conv(x), warmup=warmup, repeats=repeats, clock=clock)
    return MatmulPeak(conv_peak_flops(channels, side, batch) / timing.best_s, channels, timing.best_s,
                      timing.median_s, torch.get_num_threads(), kernel="onednn conv3x3")


def measure_compute_peak(n: int = 2048, repeats: int = 8, warmup: int = 2, clock: Clock = "wall") -> MatmulPeak:
    """The better of :func:`measure_matmul_peak` (MKL) and :func:`measure_conv_peak` (oneDNN)."""
    return max(measure_matmul_peak(n, repeats, warmup, clock),
               measure_conv_peak(repeats=repeats, warmup=warmup, clock=clock), key=lambda q: q.flops_per_s)


@dataclass(frozen=True)
class TheoreticalPeak:
    """cores × clock × fp32 FLOP per cycle per core, and what each factor rests on."""

    flops_per_s: float
    cores: int
    clock_hz: float
    flop_per_cycle: int
    basis: str


def flop_per_cycle(flags: set[str], vendor: str, family: int) -> tuple[int, str]:
    """fp32 FLOP per cycle per core of the vector units the CPU flags name (two FMA pipes, FMA = 2 FLOP).

    AMD Zen 4 (family 25) runs AVX-512 on 256-bit pipes (32); Zen 5 (family 26) and Intel server cores with
    AVX-512 have two 512-bit FMA pipes (64); AVX2 + FMA: 32; AVX: 16 (no FMA: one add + one multiply pipe);
    SSE: 8.
    """
    if "avx512f" in flags:
        if vendor == "AuthenticAMD" and family < 26:
            return 32, "AVX-512 on 256-bit pipes (AMD Zen 4), 2 FMA pipes"
        return 64, "AVX-512, 2 × 512-bit FMA pipes"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2, 2 × 256-bit FMA pipes"
    if "avx" in flags:
        return 16, "AVX, 256-bit add + multiply pipes"
    return 8, "SSE, 128-bit add + multiply pipes"


def theoretical_peak(threads: int, cpuinfo: str | None = None) -> TheoreticalPeak | None:
    """The CPU's fp32 peak for ``threads`` cores from ``/proc/cpuinfo``; ``None`` where it cannot be read.

    Its ``cpu MHz`` is the clock the kernel reports (in a VM the nominal one); a core that boosts above it can
    exceed this figure, so a measured rate above it says the clock is higher, not that the count is wrong.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    try:
        mhz = float(fields["cpu MHz"])
    except (KeyError, ValueError):
        return None
    family = int(fields["cpu family"]) if fields.get("cpu family", "").isdigit() else 0
    per_cycle, what = flop_per_cycle(set(fields.get("flags", "").split()), fields.get("vendor_id", ""), family)
    return TheoreticalPeak(threads * mhz * 1e6 * per_cycle, threads, mhz * 1e6, per_cycle,
                           f"{threads} core(s) × {mhz / 1000:.2f} GHz (cpu MHz, /proc/cpuinfo) × {per_cycle} "
                           f"FLOP/cycle ({what})")
