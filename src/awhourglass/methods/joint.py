"""Joint training without adaptation (the paper's "wo/AWH"): half/half batches, the target's 2D labels, no critic."""

from __future__ import annotations

from awhourglass.methods.base import Method


class Joint(Method):
    """Source 2.5D + target 2D + depth regularizer on both domains; no adversary."""

    name = "joint"
    label = "joint (wo/AWH)"
