"""Alignment measures against hand computations and known cases."""

from __future__ import annotations

import numpy as np
import pytest

from awhourglass.eval import alignment


def _feats(rng, n, shift=0.0):
    f = rng.normal(size=(n, 4, 2, 2))
    f[:, 0] += shift  # channel 0 carries the domain
    return f


def test_linear_mmd_and_separability_by_hand():
    fs = np.zeros((4, 2, 1, 1))
    ft = np.zeros((4, 2, 1, 1))
    fs[:, 0, 0, 0] = [0, 2, 0, 2]  # mean 1, var 1
    ft[:, 0, 0, 0] = [2, 4, 2, 4]  # mean 3, var 1
    # |μs − μt|² = 4 over the flattened 2-dim features; spread (1 + 1) / 2 = 1
    assert alignment.linear_mmd(fs, ft) == pytest.approx(4.0)
    sep = alignment.channel_separability(fs, ft)
    assert sep[0] == pytest.approx(4.0 / 2.0) and sep[1] == pytest.approx(0.0)


def test_probe_and_critic_see_a_shift_and_not_its_absence():
    rng = np.random.default_rng(0)
    same_s, same_t = _feats(rng, 80), _feats(rng, 80)
    far_s, far_t = _feats(rng, 80), _feats(rng, 80, shift=3.0)
    assert alignment.domain_probe_accuracy(far_s, far_t) > 0.95
    assert alignment.domain_probe_accuracy(same_s, same_t) < 0.7
    near = alignment.heldout_critic(same_s, same_t, steps=150)["heldout"]
    far = alignment.heldout_critic(far_s, far_t, steps=150)["heldout"]
    assert far > 1.0 and abs(near) < 0.5 * far


def test_spearman_and_alpha_shapes():
    assert alignment.spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == pytest.approx(1.0)
    assert alignment.spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)
    rng = np.random.default_rng(1)
    r = alignment.alpha_separability(_feats(rng, 8), _feats(rng, 8, shift=2.0))
    assert len(r["alpha"]) == 4 and len(r["separability"]) == 4 and all(0 <= a <= 1 for a in r["alpha"])
