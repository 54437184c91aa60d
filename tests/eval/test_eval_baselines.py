"""The constant mean hand, checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from awhourglass.eval.baselines import (
    fit_constant,
    mean_crop_uv,
    mean_relative_pose,
    procrustes_mean_shape,
    score_constant,
)


def _rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _hand(rng):
    return rng.normal(scale=0.03, size=(21, 3)) + np.array([0.0, 0.0, 0.5])


def test_mean_relative_pose_by_hand():
    a = np.zeros((21, 3))
    a[9] = [0.0, 0.1, 0.0]  # wrist at 0, middle MCP at 0.1: palm (0, 0.05, 0), bone 0.1
    a[4] = [0.2, 0.0, 0.0]
    b = 2.0 * a + np.array([1.0, 1.0, 1.0])  # same shape, twice the size, elsewhere
    m = mean_relative_pose(np.stack([a, b]))
    # (joint - palm) / bone, identical for both hands
    assert m[4] == pytest.approx([2.0, -0.5, 0.0])
    assert m[9] == pytest.approx([0.0, 0.5, 0.0])
    assert m[0] == pytest.approx([0.0, -0.5, 0.0])
    uv = np.stack([np.full((21, 2), 10.0), np.full((21, 2), 20.0)])
    assert mean_crop_uv(uv) == pytest.approx(np.full((21, 2), 15.0))


def test_procrustes_mean_of_similar_copies_is_the_shape():
    rng = np.random.default_rng(0)
    hand = _hand(rng)
    copies = np.stack([s * hand @ _rotation(rng).T + rng.normal(size=3) for s in (0.5, 1.0, 2.0, 3.0)])
    mean = procrustes_mean_shape(copies)
    c = hand - hand.mean(0)
    unit = c / np.linalg.norm(c)
    # up to a rotation (the mean's own pose is free): align it to the hand's unit shape, then compare
    u, _, vt = np.linalg.svd(unit.T @ mean)
    rot = u @ vt
    assert np.abs(mean @ rot.T - unit).max() < 1e-9
    assert np.linalg.norm(mean) == pytest.approx(1.0) and np.abs(mean.mean(0)).max() < 1e-12


def test_procrustes_mean_is_better_than_plain_mean_after_alignment():
    rng = np.random.default_rng(1)
    base = _hand(rng)
    hands = np.stack([(base + rng.normal(scale=0.004, size=base.shape)) @ _rotation(rng).T for _ in range(30)])
    uv = rng.uniform(0, 64, size=(30, 21, 2))
    const = fit_constant(hands, uv)
    res = score_constant(const, hands, uv)
    plain = {**const, "shape": mean_relative_pose(hands)}
    # randomly rotated copies: the plain average is smeared, the Procrustes mean keeps the shape
    assert res.pa_epe_mean_mm < 0.5 * score_constant(plain, hands, uv).pa_epe_mean_mm


def test_score_constant_on_its_own_training_hand_is_exact():
    rng = np.random.default_rng(2)
    hand = _hand(rng)
    uv = rng.uniform(0, 64, size=(21, 2))
    const = fit_constant(hand[None], uv[None])
    test = np.stack([hand, hand * 1.5])  # the same hand, scaled: the protocol knows the scale
    r = score_constant(const, test, np.stack([uv, uv]))
    assert r.epe_mean_mm == pytest.approx(0.0, abs=1e-9)
    assert r.pa_epe_mean_mm == pytest.approx(0.0, abs=1e-6)
    assert r.epe2d_mean_px == pytest.approx(0.0, abs=1e-9)
    # a 2D offset of 3 px on every joint is a 3 px error, and 3 / box side in percent
    r2 = score_constant({**const, "uv_px": uv + [3.0, 0.0]}, hand[None], uv[None])
    assert r2.epe2d_mean_px == pytest.approx(3.0)
    box = (uv.max(0) - uv.min(0)).max()
    assert r2.epe2d_mean_pct == pytest.approx(300.0 / box)
