"""Critic, gradient penalty (Eq. 4), gradient reversal and the DANN schedule."""

from __future__ import annotations

import math

import pytest
import torch

from awhourglass.losses import critic_objective, gradient_penalty_eq4, wasserstein_eq6
from awhourglass.models.critic import FeatureCritic, dann_lambda, grad_reverse


class LinearCritic(torch.nn.Module):
    """f(x) = <w, x>: its input gradient is w everywhere, so ‖∇f‖ = ‖w‖."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, feats):
        return [(f * self.w).flatten(1).sum(1) for f in feats]


def test_gradient_penalty_of_linear_critic_by_hand():
    w = torch.zeros(2, 3, 3)
    w[0, 0, 0], w[1, 2, 2] = 2.0, 2.0 * math.sqrt(2.0)  # ‖w‖ = √(4 + 8) = √12
    critic = LinearCritic(w)
    src, tgt = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    gp = gradient_penalty_eq4(critic, [src], [tgt])
    norm = math.sqrt(12.0)
    assert torch.allclose(gp, torch.tensor((norm - 1.0) ** 2))
    # create_graph=True: the penalty trains the critic, d/dw (‖w‖−1)² = 2(‖w‖−1) w/‖w‖.
    gp.backward()
    assert torch.allclose(critic.w.grad, 2 * (norm - 1) * w / norm, atol=1e-5)


def test_gradient_penalty_is_zero_for_unit_gradient_and_uses_per_sample_norm():
    w = torch.zeros(1, 2, 2)
    w[0, 0, 0] = 1.0
    critic = LinearCritic(w)
    assert torch.allclose(gradient_penalty_eq4(critic, [torch.randn(3, 1, 2, 2)], [torch.randn(3, 1, 2, 2)]),
                          torch.tensor(0.0))

    class Quadratic(torch.nn.Module):  # f(x) = ½‖x‖², ∇f = x: per-sample norms differ
        def forward(self, feats):
            return [0.5 * (f**2).flatten(1).sum(1) for f in feats]

    src = torch.tensor([3.0, 0.0]).reshape(2, 1, 1, 1)
    tgt = torch.tensor([1.0, 2.0]).reshape(2, 1, 1, 1)
    t = [torch.tensor([0.5, 1.0]).reshape(2, 1, 1, 1)]
    # x_m = (2, 0): norms 2 and 0 → ((2−1)² + (0−1)²)/2 = 1
    assert torch.allclose(gradient_penalty_eq4(Quadratic(), [src], [tgt], t), torch.tensor(1.0))


def test_gradient_penalty_rejects_mismatched_halves():
    critic = LinearCritic(torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match=r"mismatched batch halves.*\(4, 1, 2, 2\)"):
        gradient_penalty_eq4(critic, [torch.ones(4, 1, 2, 2)], [torch.ones(3, 1, 2, 2)])


def test_wasserstein_sign_and_critic_objective():
    s, t = [torch.tensor([1.0, 3.0])], [torch.tensor([0.0, -2.0])]
    wd = wasserstein_eq6(s, t)
    assert torch.allclose(wd, torch.tensor(2.0 - (-1.0)))
    assert torch.allclose(critic_objective(wd, torch.tensor(0.5), 10.0), torch.tensor(-3.0 + 5.0))


def test_feature_critic_shapes_and_no_batchnorm():
    critic = FeatureCritic(8, num_points=2, width=16)
    out = critic([torch.randn(3, 8, 4, 4), torch.randn(3, 8, 8, 8)])
    assert [o.shape for o in out] == [(3,), (3,)]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    with pytest.raises(ValueError, match="expected 2 feature maps"):
        critic([torch.randn(3, 8, 4, 4)])


def test_gradient_reversal_and_dann_schedule():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = grad_reverse(x, 0.3)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([2.0, 5.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.6, -1.5]))
    assert dann_lambda(0.0) == 0.0
    assert math.isclose(dann_lambda(0.5), 2 / (1 + math.exp(-5)) - 1)
    assert math.isclose(dann_lambda(1.0), 0.9999092042625951, rel_tol=1e-12)
    with pytest.raises(ValueError, match="progress"):
        dann_lambda(1.5)
