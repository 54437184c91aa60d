"""The oracle: the target's 3D labels supervised too (the upper bound the weakly supervised methods chase)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from awhourglass.data.sample import Batch
from awhourglass.methods.base import Method

if TYPE_CHECKING:
    from awhourglass.methods.config import MethodConfig


class Oracle(Method):
    """Joint training with the target's 3D labels; ``oracle_with_source: false`` trains on the target alone."""

    name = "oracle"
    label = "oracle (target 3D)"
    reads_target_3d = True

    def rows(self, batch: Batch, cfg: MethodConfig) -> tuple[torch.Tensor, torch.Tensor]:
        src, tgt = super().rows(batch, cfg)
        return (src if cfg.oracle_with_source else torch.zeros_like(src)), tgt
