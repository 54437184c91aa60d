"""FLOPs counted from the running model with ``torch.utils.flop_counter.FlopCounterMode``.

The counter sees every matmul/convolution (forward and, when ``fn`` calls ``backward``, the real
backward kernels with their input/weight-gradient masks). Elementwise ops (BatchNorm, ReLU, adds)
count 0 FLOPs: they are memory-bound and show up as lost utilization, which is the point.

Only the global total is kept: the per-module breakdown of ``FlopCounterMode`` installs module
backward hooks that ``torch.autograd.grad`` on a leaf (the gradient penalty's interpolated features)
does not support, so the module tracker is replaced by a no-op.
"""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


class _GlobalOnly:
    """Stand-in for FlopCounterMode's module tracker: every op is attributed to "Global" only."""

    parents = ("Global",)

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _counter() -> FlopCounterMode:
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()  # type: ignore[assignment]  # a duck-typed stand-in (module docstring)
    return counter


def count_flops(fn: Callable[[], object]) -> int:
    """Run ``fn()`` once under the FLOP counter and return the FLOPs it executed (multiply-add = 2)."""
    with _counter() as counter:
        fn()
    return int(counter.get_total_flops())


def flops_by_op(fn: Callable[[], object]) -> dict[str, int]:
    """FLOPs of ``fn()`` per aten op name (e.g. ``convolution``, ``convolution_backward``)."""
    with _counter() as counter:
        fn()
    totals = counter.get_flop_counts().get("Global", {})
    return {str(op).split(".")[-1]: int(v) for op, v in totals.items()}
