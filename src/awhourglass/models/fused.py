"""Inference-only forward of a trained :class:`AWHourglassNet`, with batch norm folded into the convolutions.

Why: at batch 1 on a CPU the eager network spends about a quarter of its time outside the convolutions
(≈ 200 small ops: BN, ReLU, adds, module calls). In eval mode every ``conv → BN`` pair is one affine convolution
(``w' = w·s``, ``b' = b·s + t`` with ``s = γ/√(σ²+ε)``, ``t = β − μ·s``), ReLUs and residual adds can run in
place, and the first stack's 2.5D decoding is not needed. Pre-activation BNs (those right after a residual
add) cannot be folded into a convolution, because a ReLU sits between them and the next one; they become a
single ``addcmul``. docs/performance.md has the measurements.

The result is a *snapshot*: it copies (folded) weights at construction, so build it again after the network
changes. It computes exactly what ``net.eval()(image)`` computes for the last stack (up to float rounding),
with each BN's running statistics (for ``domain_bn`` networks, those of the default domain, as the eager
forward without ``domain``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from awhourglass.models.head import latent_25d
from awhourglass.models.hourglass import (
    AWHourglassNet,
    DomainArg,
    DomainBatchNorm2d,
    Hourglass,
    Residual,
    run_stacks,
)
from awhourglass.skeleton import NUM_JOINTS

_M = TypeVar("_M", bound=nn.Module)


def _child(module: nn.Module, kind: type[_M]) -> _M:
    """``module`` as the layer type the network built it as (containers hand their children out as Modules)."""
    if not isinstance(module, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(module).__name__}")
    return module


@dataclass
class InferenceOutput:
    """Last-stack output: ``heatmap (B, 21, h, w)`` spatial softmax, ``uv_px (B, 21, 2)`` input-crop pixels,
    ``z_norm (B, 21)`` normalized root-relative depth (as :class:`~awhourglass.models.hourglass.StackOutput`)."""

    heatmap: torch.Tensor
    uv_px: torch.Tensor
    z_norm: torch.Tensor


def bn_scale_shift(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode batch norm as ``y = x·s + t``: per-channel ``(s, t)``, each ``(C,)``.

    ``bn`` is a ``BatchNorm2d`` with running statistics, or a :class:`DomainBatchNorm2d` (its default domain).
    """
    if isinstance(bn, DomainBatchNorm2d):
        bn = bn.bns[bn.default_domain]
    if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None or bn.running_var is None:
        raise TypeError(f"expected BatchNorm2d with running statistics, got {type(bn).__name__}")
    s = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight
    t = -bn.running_mean * s
    if bn.bias is not None:
        t = t + bn.bias
    return s.detach().clone(), t.detach().clone()


class FusedConv:
    """A ``Conv2d`` with the following BN (if any) folded in, an optional in-place ReLU, and an optional
    in-place residual add (``conv(x) + add``, added after the ReLU; the network never uses both)."""

    def __init__(self, conv: nn.Conv2d, bn: nn.Module | None = None, relu: bool = False) -> None:
        if conv.groups != 1 or conv.padding_mode != "zeros":
            raise ValueError("FusedConv: only groups=1 and zero padding are supported")
        w = conv.weight.detach().clone()
        b = conv.bias.detach().clone() if conv.bias is not None else w.new_zeros(w.shape[0])
        if bn is not None:
            s, t = bn_scale_shift(bn)
            w, b = w * s.reshape(-1, 1, 1, 1), b * s + t
        # channels-last weights run oneDNN's NHWC kernels (docs/performance.md)
        self.weight = w.contiguous(memory_format=torch.channels_last)
        self.bias = b.contiguous()
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.relu = relu

    def __call__(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        if self.relu:
            y = y.relu_()
        return y if add is None else y.add_(add)


def _conv_bn_relu(block: nn.Module) -> FusedConv:
    conv, bn, _relu = _child(block, nn.Sequential)
    return FusedConv(_child(conv, nn.Conv2d), bn, relu=True)


class _Chain:
    """Call each part on the previous one's output (an empty chain is the identity)."""

    def __init__(self, *parts: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.parts = parts

    def __call__(self, x: torch.Tensor, _domain: DomainArg = None) -> torch.Tensor:
        for part in self.parts:
            x = part(x)
        return x


class FusedResidual:
    """``x + conv2(relu(bn2(conv1(relu(bn1(x))))))`` as ``addcmul``+ReLU, one fused conv, one conv with add."""

    def __init__(self, block: Residual) -> None:
        bn1, _, conv1, bn2, _, conv2 = block.body
        s, t = bn_scale_shift(bn1)
        self.scale, self.shift = s.reshape(1, -1, 1, 1), t.reshape(1, -1, 1, 1)
        self.conv1 = FusedConv(_child(conv1, nn.Conv2d), bn2, relu=True)
        self.conv2 = FusedConv(_child(conv2, nn.Conv2d))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(torch.addcmul(self.shift, x, self.scale).relu_()), add=x)


class FusedHourglassModule:
    """One hourglass, called as :class:`~awhourglass.models.hourglass.Hourglass`: ``(output, bottleneck)``."""

    def __init__(self, hg: Hourglass) -> None:
        self.skip, self.down, self.up = FusedResidual(hg.skip), FusedResidual(hg.down), FusedResidual(hg.up)
        self.inner = FusedHourglassModule(hg.inner) if isinstance(hg.inner, Hourglass) else FusedResidual(hg.inner)

    def __call__(self, x: torch.Tensor, _domain: DomainArg = None) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.down(F.max_pool2d(x, 2))
        if isinstance(self.inner, FusedHourglassModule):
            low, bottleneck = self.inner(low)
        else:
            low = bottleneck = self.inner(low)
        low = self.up(low)
        return self.skip(x).add_(F.interpolate(low, scale_factor=2.0, mode="nearest")), bottleneck


class FusedHourglass:
    """Fast inference of a trained network: ``fused(image) → InferenceOutput`` (see module docstring).

    Its parts mirror the network's (:class:`~awhourglass.models.hourglass.StackedParts`) and are wired by the
    network's own :func:`~awhourglass.models.hourglass.run_stacks`, so the two forwards cannot drift apart.

    Example::

        fast = FusedHourglass(net)          # net: a trained AWHourglassNet (its mode does not matter)
        out = fast(images)                  # (B, 3, S, S) RGB in [0, 1]; out.uv_px, out.z_norm, out.heatmap
    """

    def __init__(self, net: AWHourglassNet) -> None:
        self.cfg = net.cfg
        self._check = net.check_image
        self.scale = (1.0 / net.std).detach().clone()
        self.shift = (-net.mean / net.std).detach().clone()
        *stem, stem_residual = net.stem
        self.stem = _Chain(*[_conv_bn_relu(b) for b in stem], FusedResidual(_child(stem_residual, Residual)))
        self.hourglasses = [FusedHourglassModule(_child(h, Hourglass)) for h in net.hourglasses]
        self.post = [_Chain(FusedResidual(_child(residual, Residual)), _conv_bn_relu(conv))
                     for residual, conv in (_child(p, nn.Sequential) for p in net.post)]
        self.extra = [_Chain(*[_conv_bn_relu(b) for b in _child(e, nn.Sequential)]) for e in net.extra]
        self.heads = [FusedConv(_child(h, nn.Conv2d)) for h in net.heads]
        self.remap_features = [FusedConv(_child(c, nn.Conv2d)) for c in net.remap_features]
        self.remap_heads = [FusedConv(_child(c, nn.Conv2d)) for c in net.remap_heads]
        self._fssc = net._fssc

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> InferenceOutput:
        """Run on ``image (B, 3, S, S)`` RGB in [0, 1]; raises ``ValueError`` on a wrong shape."""
        self._check(image)
        x = torch.addcmul(self.shift, image, self.scale).contiguous(memory_format=torch.channels_last)
        *_, (_f, _bottleneck, heads) = run_stacks(self, x)  # only the last stack is decoded
        heatmap, uv_px, z_norm = latent_25d(heads[:, :NUM_JOINTS], heads[:, NUM_JOINTS:], self.cfg.stem_stride)
        return InferenceOutput(heatmap, uv_px, z_norm)
