"""DANN: adversarial adaptation by gradient reversal (Ganin et al. 2016), with its schedules: the reversal weight
``λ_p = 2 / (1 + exp(−10 p)) − 1`` and the learning rate ``μ_0 / (1 + 10 p)^0.75`` over phase 2's progress ``p``
(``method.lr_schedule: step`` keeps the phase's step decay instead)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from awhourglass.data.sample import TARGET, Batch
from awhourglass.methods.base import AdversarialTerm, Method
from awhourglass.models.critic import dann_lambda, grad_reverse
from awhourglass.models.hourglass import HourglassOutput

if TYPE_CHECKING:
    from awhourglass.methods.config import MethodConfig


class DANN(Method):
    """A domain classifier on ``critic_at``'s features, trained in the network update behind gradient reversal."""

    name = "dann"
    label = "DANN"
    adversary = "domain_classifier"
    lr_schedule = "ganin"

    def adversarial(self, out: HourglassOutput, batch: Batch, n_source: int, adversary: nn.Module | None,
                    cfg: MethodConfig, progress: float) -> AdversarialTerm:
        assert adversary is not None  # generator_losses refuses None for a method with an adversary
        lam = dann_lambda(progress)
        feats = [out.stacks[k].features for k in cfg.critic_stacks(len(out.stacks))]
        logits = adversary([grad_reverse(f, lam) for f in feats])
        labels = (batch.domain == TARGET).to(logits[0].dtype)
        l_dom = torch.stack([nn.functional.binary_cross_entropy_with_logits(lg, labels) for lg in logits]).sum()
        return AdversarialTerm(l_dom, cfg.lambda_dann,
                               {"domain": l_dom, "dann_lambda": torch.tensor(lam, device=l_dom.device)})
