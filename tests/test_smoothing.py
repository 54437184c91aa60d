"""The One-Euro filter against the paper's equations worked by hand, and the jitter measure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from awhourglass.smoothing import (
    OneEuroFilter,
    OneEuroParams,
    SmoothingError,
    jitter_px,
    smoothing_factor,
)


def test_smoothing_factor_is_the_papers_alpha():
    # alpha = 1 / (1 + tau / dt), tau = 1 / (2π fc): at fc = 1 Hz, dt = 0.1 s, tau = 0.159155 s → alpha = 0.385870
    assert smoothing_factor(1.0, 0.1) == pytest.approx(1.0 / (1.0 + 1.0 / (2 * math.pi) / 0.1))
    assert smoothing_factor(1.0, 0.1) == pytest.approx(0.385870, abs=1e-6)
    np.testing.assert_allclose(smoothing_factor(np.array([1.0, 2.0]), 0.1), [0.385870, 0.556863], atol=1e-6)


def test_first_steps_match_a_hand_computation():
    # min_cutoff 1 Hz, beta 0.5, d_cutoff 2 Hz, samples 0, 1, 3 at t = 0, 0.1, 0.25 s, worked step by step:
    f = OneEuroFilter(OneEuroParams(min_cutoff_hz=1.0, beta=0.5, d_cutoff_hz=2.0))
    assert f(0.0, 0.0) == pytest.approx(0.0)  # the first sample passes; its speed estimate is 0
    # step 1, dt 0.1: a_d = alpha(2 Hz, 0.1) = 1/(1 + 0.0795775/0.1) = 0.556863; raw speed (1 − 0)/0.1 = 10
    # → dx̂ = 5.56863; cutoff = 1 + 0.5·5.56863 = 3.78431 Hz; alpha = 1/(1 + 0.0420564/0.1) = 0.703945
    # → x̂ = 0.703945·1 + 0.296055·0 = 0.703945
    x1 = f(0.1, 1.0)
    assert x1 == pytest.approx(0.703945, abs=1e-6)
    # step 2, dt 0.15: a_d = 1/(1 + 0.0795775/0.15) = 0.653374; raw speed (3 − 0.703945)/0.15 = 15.30703
    # → dx̂ = 0.653374·15.30703 + 0.346626·5.56863 = 11.93145; cutoff = 1 + 5.96572 = 6.96572 Hz;
    # tau = 0.0228483 → alpha = 1/(1 + 0.152322) = 0.867813 → x̂ = 0.867813·3 + 0.132187·0.703945 = 2.696491
    x2 = f(0.25, 3.0)
    assert x2 == pytest.approx(2.696491, abs=1e-6)


def test_each_coordinate_is_filtered_on_its_own():
    p = OneEuroParams(1.0, 0.5, 2.0)
    both, a, b = OneEuroFilter(p), OneEuroFilter(p), OneEuroFilter(p)
    for t, (u, v) in zip((0.0, 0.1, 0.25), ((0.0, 5.0), (1.0, 4.0), (3.0, 9.0)), strict=True):
        out = both(t, np.array([[u, v]]))
        assert out.shape == (1, 2)
        np.testing.assert_allclose(out[0], [a(t, u), b(t, v)])


def test_a_constant_signal_passes_unchanged():
    f = OneEuroFilter()
    x = np.random.default_rng(0).normal(50.0, 10.0, (21, 2))
    for k in range(30):
        np.testing.assert_allclose(f(k / 30.0, x), x, rtol=0, atol=1e-12)


def test_it_lowers_the_variance_of_a_noisy_constant():
    rng = np.random.default_rng(1)
    noisy = 100.0 + rng.normal(0.0, 2.0, (300, 21, 2))  # 2 px noise at 30 fps
    f = OneEuroFilter()
    out = np.stack([f(k / 30.0, x) for k, x in enumerate(noisy)])
    settled = out[30:]  # after the first second
    assert settled.var() < 0.25 * noisy[30:].var()
    assert abs(settled.mean() - 100.0) < 0.2  # no bias
    assert jitter_px(out) < 0.5 * jitter_px(noisy)


def test_reset_starts_a_new_track_and_bad_calls_are_refused():
    f = OneEuroFilter()
    f(0.0, np.zeros(2))
    f(0.1, np.ones(2))
    f.reset()
    np.testing.assert_array_equal(f(0.05, np.full(2, 7.0)), [7.0, 7.0])  # passes unchanged, any time
    with pytest.raises(ValueError, match="times must increase"):
        f(0.05, np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        f(0.2, np.zeros(3))


@pytest.mark.parametrize("kwargs", [{"min_cutoff_hz": 0.0}, {"d_cutoff_hz": -1.0}, {"beta": -0.1},
                                    {"min_cutoff_hz": float("nan")}])
def test_bad_parameters_are_a_user_error(kwargs):
    with pytest.raises(SmoothingError):
        OneEuroParams(**kwargs)


def test_jitter_is_the_mean_frame_to_frame_displacement():
    uv = np.zeros((3, 2, 2))
    uv[1, 0] = (3.0, 4.0)  # joint 0 moves 5 px and back; joint 1 stays
    assert jitter_px(uv) == pytest.approx((5.0 + 0.0 + 5.0 + 0.0) / 4)
    assert math.isnan(jitter_px(uv[:1]))
