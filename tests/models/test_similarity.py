"""Feature similarity weighting (Eq. 5): α by hand on tiny maps, pairings, weight maps, detaching."""

from __future__ import annotations

import math

import pytest
import torch

from awhourglass.models.config import SimilarityConfig
from awhourglass.models.similarity import channel_similarity, channel_weights, normalize_channels, weight_features


def maps(*rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(1, len(rows), 2, 2)


def test_alpha_by_hand_l2_relu_and_affine():
    zs = maps([1, 0, 0, 0], [1, 0, 0, 0], [3, 4, 0, 0])
    zt = maps([1, 1, 0, 0], [-2, 0, 0, 0], [6, 8, 0, 0])
    # cosines: 1/√2, −1, 1
    u = channel_similarity(zs, zt, SimilarityConfig())
    assert torch.allclose(u, torch.tensor([1 / math.sqrt(2), -1.0, 1.0]))
    assert torch.allclose(channel_weights(zs, zt, SimilarityConfig(weight="relu")),
                          torch.tensor([1 / math.sqrt(2), 0.0, 1.0]))
    assert torch.allclose(channel_weights(zs, zt, SimilarityConfig(weight="affine")),
                          torch.tensor([(1 + 1 / math.sqrt(2)) / 2, 0.0, 1.0]))


def test_zscore_is_pearson_correlation():
    zs = maps([1, 2, 3, 4])
    zt = maps([10, 20, 30, 40])
    zr = maps([4, 3, 2, 1])
    cfg = SimilarityConfig(normalization="zscore", weight="identity")
    assert torch.allclose(channel_weights(zs, zt, cfg), torch.tensor([1.0]))
    assert torch.allclose(channel_weights(zs, zr, cfg), torch.tensor([-1.0]))


def test_pairings_by_hand():
    a, b = [1.0, 0, 0, 0], [0, 1.0, 0, 0]
    zs = torch.cat([maps(a), maps(b)])  # two source samples
    zt = torch.cat([maps(a), maps(a)])  # two target samples
    ident = {"weight": "identity"}
    # paired: (a·a + b·a)/2 = 1/2; all pairs: 4 pairs, two of them 1 → 1/2;
    # batch mean: mean_s = (.5, .5, 0, 0) → cos with a = 1/√2.
    assert torch.allclose(channel_similarity(zs, zt, SimilarityConfig(pairing="paired", **ident)), torch.tensor([0.5]))
    assert torch.allclose(channel_similarity(zs, zt, SimilarityConfig(pairing="all_pairs", **ident)),
                          torch.tensor([0.5]))
    assert torch.allclose(channel_similarity(zs, zt, SimilarityConfig(pairing="batch_mean", **ident)),
                          torch.tensor([1 / math.sqrt(2)]))
    zt2 = torch.cat([maps(b), maps(a)])  # order matters only for "paired"
    assert torch.allclose(channel_similarity(zs, zt2, SimilarityConfig(pairing="paired")), torch.tensor([0.0]))
    assert torch.allclose(channel_similarity(zs, zt2, SimilarityConfig(pairing="all_pairs")), torch.tensor([0.5]))


def test_all_pairs_equals_explicit_mean_over_pairs():
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(3, 5, 4, 4, generator=g), torch.randn(2, 5, 4, 4, generator=g)
    ns, nt = normalize_channels(zs), normalize_channels(zt)
    explicit = torch.stack([(ns[i] * nt[j]).sum((1, 2)) for i in range(3) for j in range(2)]).mean(0)
    assert torch.allclose(channel_similarity(zs, zt, SimilarityConfig(pairing="all_pairs")), explicit, atol=1e-6)


def test_alpha_detached_by_default_and_weighting_scales_channels():
    zs = torch.randn(2, 3, 2, 2, requires_grad=True)
    zt = torch.randn(2, 3, 2, 2)
    assert not channel_weights(zs, zt).requires_grad
    assert channel_weights(zs, zt, SimilarityConfig(detach=False)).requires_grad
    alpha = torch.tensor([0.0, 0.5, 1.0])
    w = weight_features(zs, alpha)
    assert torch.equal(w[:, 0], torch.zeros(2, 2, 2)) and torch.equal(w[:, 2], zs[:, 2])
    assert torch.equal(weight_features(zs, torch.ones(3)), zs)  # α ≡ 1 is plain WH
    with pytest.raises(ValueError, match=r"\(3,\)"):
        weight_features(zs, torch.ones(4))


def test_paired_needs_equal_halves():
    with pytest.raises(ValueError, match="equal batch halves"):
        channel_similarity(torch.ones(2, 1, 2, 2), torch.ones(3, 1, 2, 2), SimilarityConfig(pairing="paired"))
