"""Robust wall-clock timing on a shared, noisy CPU.

Other processes can only make a run slower, never faster, so the *best* of several repeats
is the estimate of what the machine can do; the median is kept to show how noisy it was.

Two clocks: ``"wall"`` (``time.perf_counter``, what a user waits) and ``"cpu"`` (``time.process_time``,
the CPU seconds this process consumed). On a machine shared with other work, wall-clock timing of a
multi-threaded op is dominated by time slicing (an OpenMP barrier waits for the slowest thread); CPU
time with one thread is not, so ``"cpu"`` with 1 thread gives a utilization that is robust to load.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Clock = Literal["wall", "cpu"]
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed function.

    Attributes:
        best_s: fastest repeat (the figure reported as the machine's speed).
        median_s: median repeat (how much noise the run saw).
        repeats: number of timed calls.
    """

    best_s: float
    median_s: float
    repeats: int


def time_fn(
    fn: Callable[[], object],
    *,
    warmup: int = 2,
    repeats: int = 5,
    min_time_s: float = 0.0,
    max_repeats: int = 1000,
    clock: Clock = "wall",
) -> Timing:
    """Time ``fn()`` after ``warmup`` untimed calls.

    Args:
        fn: the work to time; it must finish its computation before returning (CPU torch does).
        warmup: untimed calls first (allocator, oneDNN primitive caches, lazy init).
        repeats: at least this many timed calls.
        min_time_s: keep repeating until the timed calls add up to this many seconds (for very
            short calls such as batch-1 latency), up to ``max_repeats``.
        max_repeats: upper bound on timed calls.
        clock: ``"wall"`` (elapsed seconds) or ``"cpu"`` (CPU seconds of this process, all its threads).

    Returns:
        The best and median seconds per call.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    now = CLOCKS[clock]
    for _ in range(warmup):
        fn()
    times: list[float] = []
    total = 0.0
    while len(times) < repeats or (total < min_time_s and len(times) < max_repeats):
        t0 = now()
        fn()
        dt = max(now() - t0, 1e-9)  # process_time has a coarse tick on some systems
        times.append(dt)
        total += dt
    return Timing(best_s=min(times), median_s=statistics.median(times), repeats=len(times))
