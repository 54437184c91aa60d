"""Adversaries on the hourglass features: the Wasserstein critic (paper Eq. 3-4, 6) and the DANN domain
classifier with gradient reversal (Ganin et al. 2016)."""

from __future__ import annotations

import math

import torch
from torch import nn


def _feature_net(channels: int, width: int, final_bias: bool) -> nn.Sequential:
    # No BatchNorm: the gradient penalty is per sample and BN would couple samples (WGAN-GP).
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 3, 2, 1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(width, width), nn.LeakyReLU(0.2),
        nn.Linear(width, 1, bias=final_bias),
    )


class FeatureCritic(nn.Module):
    """One scalar per sample for each feature point: ``forward(list of (B, C, H, W)) → list of (B,)``.

    Used as the Wasserstein critic f_d (``wh``/``awh``) and, behind gradient reversal, as the DANN domain
    classifier (a logit, target = 1). One sub-network per attached stack (``MethodConfig.critic_at``).
    ``final_bias``: a Wasserstein critic has none (L_wd and the penalty are blind to a constant offset, so it
    would never get a gradient); the classifier needs one.
    """

    def __init__(self, channels: int, num_points: int = 1, width: int = 64, final_bias: bool = False) -> None:
        super().__init__()
        self.nets = nn.ModuleList(_feature_net(channels, width, final_bias) for _ in range(num_points))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != len(self.nets):
            raise ValueError(f"FeatureCritic: expected {len(self.nets)} feature maps, got {len(feats)}")
        return [net(f)[:, 0] for net, f in zip(self.nets, feats, strict=True)]


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Gradient reversal: identity forward, ``−lam · grad`` backward."""
    return _GradReverse.apply(x, lam)


def dann_lambda(progress: float) -> float:
    """DANN schedule ``λ_p = 2 / (1 + exp(−10 p)) − 1`` for training progress p in [0, 1]."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"dann_lambda: progress must be in [0, 1], got {progress}")
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0
