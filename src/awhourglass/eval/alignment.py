"""What the adaptation claims to do, measured on held-out features: how far apart the two domains are.

All functions take the critic's input features of held-out images of each domain, ``(N, C, H, W)`` arrays
(the tap of ``MethodConfig.critic_at``/``ModelConfig.feature_point``):

* :func:`domain_probe_accuracy`: cross-validated accuracy of a logistic regression telling the domains apart
  (0.5 = indistinguishable);
* :func:`linear_mmd`: squared distance of the domain means relative to the within-domain spread;
* :func:`heldout_critic`: a fresh WGAN-GP critic trained to convergence on one half of the features, its
  Wasserstein estimate on the other half (the training critic's own estimate can be far from it);
* :func:`channel_separability` and :func:`alpha_separability`: how each channel separates the domains, and
  how the Eq. 5 weights α relate to it (the paper's claim: α is low for domain-specific channels).
"""

from __future__ import annotations

import numpy as np
import torch

from awhourglass.losses import critic_objective, gradient_penalty_eq4, wasserstein_eq6
from awhourglass.models.config import SimilarityConfig
from awhourglass.models.critic import FeatureCritic
from awhourglass.models.similarity import channel_weights


def _check(fs: np.ndarray, ft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fs, ft = np.asarray(fs, np.float64), np.asarray(ft, np.float64)
    if fs.ndim != 4 or fs.shape[1:] != ft.shape[1:] or len(fs) < 4 or len(ft) < 4:
        raise ValueError(f"features: expected (N, C, H, W) arrays of both domains with N >= 4, got {fs.shape} "
                         f"and {ft.shape}")
    return fs, ft


def domain_probe_accuracy(fs: np.ndarray, ft: np.ndarray, folds: int = 4, seed: int = 0) -> float:
    """Mean held-out accuracy of a standardized logistic regression source-vs-target (stratified folds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fs, ft = _check(fs, ft)
    x = np.concatenate([fs.reshape(len(fs), -1), ft.reshape(len(ft), -1)])
    y = np.concatenate([np.zeros(len(fs), int), np.ones(len(ft), int)])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    cv = StratifiedKFold(n_splits=min(folds, len(fs), len(ft)), shuffle=True, random_state=seed)
    return float(cross_val_score(clf, x, y, cv=cv).mean())


def linear_mmd(fs: np.ndarray, ft: np.ndarray) -> float:
    """``|μ_s − μ_t|² / ((tr Σ_s + tr Σ_t) / 2)`` of the flattened features: 0 for equal means, scale-free."""
    fs, ft = _check(fs, ft)
    a, b = fs.reshape(len(fs), -1), ft.reshape(len(ft), -1)
    spread = 0.5 * (a.var(0).sum() + b.var(0).sum())
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() / max(spread, 1e-12))


def heldout_critic(fs: np.ndarray, ft: np.ndarray, steps: int = 500, lr: float = 1e-4, width: int = 64,
                   lambda_gp: float = 10.0, batch: int = 64, seed: int = 0) -> dict[str, float]:
    """Train a fresh critic (WGAN-GP, Adam betas (0, 0.9)) on the first half of each domain's features.

    Returns ``fit`` (its estimate on the training half) and ``heldout`` (on the other half): the held-out
    Wasserstein estimate of the two feature distributions.
    """
    fs, ft = _check(fs, ft)
    gen = torch.Generator().manual_seed(seed)
    s, t = torch.as_tensor(fs, dtype=torch.float32), torch.as_tensor(ft, dtype=torch.float32)
    hs, ht = len(s) // 2, len(t) // 2
    torch.manual_seed(seed)
    critic = FeatureCritic(s.shape[1], 1, width)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.0, 0.9))
    for _ in range(steps):
        i = torch.randint(0, hs, (min(batch, hs),), generator=gen)
        j = torch.randint(0, ht, (len(i),), generator=gen)
        a, b = s[i], t[j]
        sc = critic([torch.cat([a, b])])[0]
        loss = critic_objective(wasserstein_eq6([sc[: len(i)]], [sc[len(i):]]),
                                gradient_penalty_eq4(critic, [a], [b]), lambda_gp)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        def estimate(a: torch.Tensor, b: torch.Tensor) -> float:
            return float(critic([a])[0].mean() - critic([b])[0].mean())

        return {"fit": estimate(s[:hs], t[:ht]), "heldout": estimate(s[hs:], t[ht:])}


def channel_separability(fs: np.ndarray, ft: np.ndarray) -> np.ndarray:
    """Per channel ``(C,)``: Fisher ratio ``(μ_s − μ_t)² / (σ_s² + σ_t²)`` of its spatially averaged activation."""
    fs, ft = _check(fs, ft)
    a, b = fs.mean((2, 3)), ft.mean((2, 3))
    return (a.mean(0) - b.mean(0)) ** 2 / np.maximum(a.var(0) + b.var(0), 1e-12)


def alpha_of(fs: np.ndarray, ft: np.ndarray, cfg: SimilarityConfig | None = None) -> np.ndarray:
    """The Eq. 5 channel weights ``(C,)`` of these features (as the AWH critic would weight them)."""
    fs, ft = _check(fs, ft)
    return channel_weights(torch.as_tensor(fs), torch.as_tensor(ft), cfg).numpy()


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (ties broken by order); NaN when one is constant."""
    rx, ry = np.argsort(np.argsort(x)).astype(float), np.argsort(np.argsort(y)).astype(float)
    if rx.std() == 0 or ry.std() == 0 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def alpha_separability(fs: np.ndarray, ft: np.ndarray, cfg: SimilarityConfig | None = None) -> dict[str, object]:
    """α per channel, the channels' domain separability, and their rank correlation (the paper expects < 0)."""
    alpha, sep = alpha_of(fs, ft, cfg), channel_separability(fs, ft)
    return {"alpha": alpha.tolist(), "separability": sep.tolist(), "spearman": spearman(alpha, sep)}


__all__ = ["alpha_of", "alpha_separability", "channel_separability", "domain_probe_accuracy", "heldout_critic",
           "linear_mmd", "spearman"]
