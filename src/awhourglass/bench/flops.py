"""FLOPs counted from the running model with ``torch.utils.flop_counter.FlopCounterMode``.

The counter sees every matmul/convolution (forward and, when ``fn`` calls ``backward``, the real
backward kernels with their input/weight-gradient masks). Elementwise ops (BatchNorm, ReLU, adds)
count 0 FLOPs: they are memory-bound and show up as lost utilization, which is the point.
"""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], object]) -> int:
    """Run ``fn()`` once under the FLOP counter and return the FLOPs it executed (multiply-add = 2)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def flops_by_op(fn: Callable[[], object]) -> dict[str, int]:
    """FLOPs of ``fn()`` per aten op name (e.g. ``convolution``, ``convolution_backward``)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    totals = counter.get_flop_counts().get("Global", {})
    return {str(op).split(".")[-1]: int(v) for op, v in totals.items()}
