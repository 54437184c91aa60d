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


__all__ = ["LossScale", "Precision", "autocast_dtype"]
