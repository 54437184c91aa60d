"""WH: Wasserstein adaptation of the bottleneck features with a WGAN-GP critic (Shen et al. 2018), α ≡ 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from awhourglass.data.sample import Batch
from awhourglass.losses import check_halves, critic_objective, gradient_penalty_eq4, wasserstein_eq6
from awhourglass.methods.base import AdversarialTerm, Method, frozen
from awhourglass.models.critic import FeatureCritic
from awhourglass.models.hourglass import HourglassOutput

if TYPE_CHECKING:
    from awhourglass.methods.config import MethodConfig


class WH(Method):
    """The critic sees the features of ``critic_at``'s stacks; the network lowers its estimate (Eq. 6)."""

    name = "wh"
    label = "WH"
    adversary = "critic"

    def weigh(self, feats_src: list[torch.Tensor], feats_tgt: list[torch.Tensor], cfg: MethodConfig):
        """The features the critic sees and each point's channel weights α (here 1: the features themselves)."""
        alphas = [torch.ones(fs.shape[1], dtype=fs.dtype, device=fs.device) for fs in feats_src]
        return list(feats_src), list(feats_tgt), alphas

    def adversarial(self, out: HourglassOutput, batch: Batch, n_source: int, adversary: nn.Module | None,
                    cfg: MethodConfig, progress: float) -> AdversarialTerm:
        assert adversary is not None  # generator_losses refuses None for a method with an adversary
        feats = [out.stacks[k].features for k in cfg.critic_stacks(len(out.stacks))]
        fs, ft, alphas = self.weigh([f[:n_source] for f in feats], [f[n_source:] for f in feats], cfg)
        with frozen(adversary):
            scores = adversary([torch.cat([a, b]) for a, b in zip(fs, ft, strict=True)])
        l_wd = wasserstein_eq6([s[:n_source] for s in scores], [s[n_source:] for s in scores])
        return AdversarialTerm(l_wd, cfg.lambda_wd,
                               {"wd": l_wd, "alpha_mean": torch.stack([a.mean() for a in alphas]).mean().detach()})

    def critic_losses(self, features_src: list[torch.Tensor], features_tgt: list[torch.Tensor],
                      critic: FeatureCritic, cfg: MethodConfig) -> dict[str, torch.Tensor]:
        """One critic update: ``total = −L_wd + λ_gp·GP`` on the (weighted) detached features of ``critic_at``'s
        stacks (``features_*``: one entry per stack). Returns ``wd``, ``gp``, ``alpha_mean``, ``total``."""
        check_halves(features_src, features_tgt)
        points = cfg.critic_stacks(len(features_src))
        fs, ft, alphas = self.weigh([features_src[k].detach() for k in points],
                                    [features_tgt[k].detach() for k in points], cfg)
        scores = critic([torch.cat([a, b]) for a, b in zip(fs, ft, strict=True)])
        n = fs[0].shape[0]
        l_wd = wasserstein_eq6([s[:n] for s in scores], [s[n:] for s in scores])
        gp = gradient_penalty_eq4(critic, fs, ft)
        return {"wd": l_wd, "gp": gp, "alpha_mean": torch.stack([a.mean() for a in alphas]).mean(),
                "total": critic_objective(l_wd, gp, cfg.lambda_gp)}
