"""Mixed precision: the autocast type of each ``precision`` setting, and fp16's dynamic loss scale.

``bf16`` has fp32's exponent range, so its gradients need no scaling. ``fp16`` does: small gradients underflow
to zero. :class:`LossScale` is the dynamic scheme of ``torch.amp.GradScaler`` (multiply the loss by ``scale``
before the backward, divide the gradients by it after; on an overflow skip the update and halve the scale;
double it after ``growth_interval`` clean updates), kept as a host float instead of a device tensor: the
overflow test reads the gradient norm that the update's one host read already brings back
(``train.loop.optimize``), so fp16 adds no host-device sync, and every rank takes the same decision because
the norm is of the averaged gradients.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

Precision = Literal["fp32", "bf16", "fp16"]

_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# CPU flags that name native bf16 arithmetic: x86's AVX-512 BF16 and AMX tiles, Arm's BF16 extension
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The first processor's feature flags from ``/proc/cpuinfo`` (``flags`` on x86, ``Features`` on Arm); empty
    where it cannot be read."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes in bf16 natively (its flags name one of :data:`NATIVE_BF16_FLAGS`).

    Without it oneDNN emulates bf16 through fp32 conversions, which is slower than fp32 itself.
    """
    return any(flag in cpu_flags(cpuinfo) for flag in NATIVE_BF16_FLAGS)


def cpu_precision(cpuinfo: str | None = None) -> Precision:
    """The precision CPU training runs in by default: bf16 where the CPU has it natively (measured faster at the
    same accuracy on such a CPU, docs/performance.md), fp32 elsewhere."""
    return "bf16" if native_bf16(cpuinfo) else "fp32"


def autocast_dtype(precision: Precision) -> torch.dtype | None:
    """The autocast type of ``precision`` (``None``: fp32, no autocast)."""
    if precision not in _DTYPES:
        raise ValueError(f"precision must be one of {', '.join(_DTYPES)}, got {precision!r}")
    return _DTYPES[precision]


class LossScale:
    """fp16's dynamic loss scale (see the module docstring).

    Args:
        init: the first scale (2¹⁶, as GradScaler's).
        growth_interval: clean updates before the scale doubles.
        min_scale: an overflow that would take the scale below this stops training: the gradients are not finite
            at any usable scale, which is divergence, not fp16 range.
    """

    def __init__(self, init: float = 2.0**16, growth_interval: int = 2000, min_scale: float = 2.0**-14) -> None:
        self.scale, self.growth_interval, self.min_scale = float(init), int(growth_interval), float(min_scale)
        self.clean = 0  # updates since the last overflow or growth
        self.skipped = 0  # updates skipped on overflow, over the run

    def update(self, finite: bool) -> bool:
        """Record one update's outcome; returns whether its step may be taken (its gradients were finite)."""
        if finite:
            self.clean += 1
            if self.clean >= self.growth_interval:
                self.scale *= 2.0
                self.clean = 0
            return True
        self.scale /= 2.0
        self.clean = 0
        self.skipped += 1
        return False

    @property
    def exhausted(self) -> bool:
        """The scale fell below ``min_scale``."""
        return self.scale < self.min_scale

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "clean": self.clean, "skipped": self.skipped,
                "growth_interval": self.growth_interval, "min_scale": self.min_scale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.clean, self.skipped = float(state["scale"]), int(state["clean"]), int(state["skipped"])
        self.growth_interval, self.min_scale = int(state["growth_interval"]), float(state["min_scale"])


__all__ = ["NATIVE_BF16_FLAGS", "LossScale", "Precision", "autocast_dtype", "cpu_flags", "cpu_precision", "native_bf16"]
