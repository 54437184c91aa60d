"""Inference-only graph rewrites that keep outputs identical up to float rounding."""

from __future__ import annotations

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse


def fold_batchnorm(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Return an eval-mode copy of ``model`` with every BatchNorm folded into the conv before it.

    Folding removes one memory-bound pass per BatchNorm (y = x·s + t becomes part of the conv's
    weights and bias). The model must be traceable by ``torch.fx`` (no data-dependent Python
    control flow); its outputs (tensors, tuples, dataclasses) are preserved.

    Args:
        model: the network; it is not modified.
        channels_last: convert the folded copy's parameters to channels-last (NHWC), the faster
            layout for oneDNN convolutions on CPU.

    Returns:
        A ``torch.fx.GraphModule`` in eval mode.
    """
    was_training = model.training
    model.eval()
    try:
        folded = fuse(model, inplace=False)
    finally:
        model.train(was_training)
    folded.eval()
    if channels_last:
        folded = folded.to(memory_format=torch.channels_last)
    return folded
