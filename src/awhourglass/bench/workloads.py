"""The package's networks and training steps, as zero-argument callables that bench can time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from awhourglass.errors import AwhError


@dataclass
class Workloads:
    """What `awh bench` times.

    Attributes:
        name: the network's description.
        model: the network (already in the memory format used for timing).
        train_step: one supervised (stage-1) training step on ``train_images`` images.
        train_images: images per ``train_step`` call.
        adapt_step: one whole adaptation step (critic steps, gradient penalty, depth regularizer,
            optimizer steps) on ``adapt_images`` images (both domains), or None if unavailable.
        adapt_images: images per ``adapt_step`` call.
    """

    name: str
    model: nn.Module
    train_step: Callable[[], object]
    train_images: int
    adapt_step: Callable[[], object] | None = None
    adapt_images: int = 0


def build_workloads(size: int, batch: int, channels_last: bool) -> Workloads:
    """Build the default network with its real training and adaptation steps."""
    raise AwhError("awh bench needs awhourglass.models, which is not built yet")
