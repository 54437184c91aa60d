"""Source only: the pretrained network's recipe, source 2.5D pose and depth regularizer (phase 1 of every method)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from awhourglass.data.sample import Batch
from awhourglass.methods.base import Method

if TYPE_CHECKING:
    from awhourglass.methods.config import MethodConfig


class SourceOnly(Method):
    """Trains on the source only; its phase 2 (if any) reads no target."""

    name = "source_only"
    label = "source-only"
    uses_target = False

    def rows(self, batch: Batch, cfg: MethodConfig) -> tuple[torch.Tensor, torch.Tensor]:
        src, tgt = super().rows(batch, cfg)
        return src, torch.zeros_like(tgt)
