"""Pixel-only augmentations (data/photometric.py) and their draws and config keys, against values computed here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from awhourglass.config import ConfigError, from_dict, to_dict
from awhourglass.data.config import AugmentConfig, DatasetConfig
from awhourglass.data.crop import AugmentParams, draw_augment, pixel_augment
from awhourglass.data.photometric import add_noise, channel_gains, cut_out, gaussian_blur


def test_blur_of_an_impulse_is_the_normalized_gaussian():
    sigma = 1.5
    img = torch.zeros(3, 21, 21)
    img[:, 10, 10] = 1.0
    out = gaussian_blur(img, sigma)
    assert out.shape == img.shape
    r = math.ceil(3 * sigma)
    x = np.arange(-r, r + 1)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    expected = np.zeros((21, 21))
    expected[10 - r : 11 + r, 10 - r : 11 + r] = np.outer(g, g)
    np.testing.assert_allclose(out[1].numpy(), expected, atol=1e-6)
    # its spread is sigma (the 3-sigma truncation removes well under 3 % of the variance)
    uu = np.mgrid[0:21, 0:21][1]
    var_u = float((out[0].numpy() * (uu - 10) ** 2).sum())
    assert var_u == pytest.approx(sigma**2, rel=0.03)


def test_blur_keeps_a_flat_image_and_zero_sigma_is_the_identity():
    flat = torch.full((3, 9, 9), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)  # edges replicated: no dark border
    assert gaussian_blur(flat, 0.0) is flat


def test_noise_has_the_asked_std_is_seeded_and_leaves_the_global_rng_alone():
    img = torch.full((3, 96, 96), 0.5)
    state = torch.get_rng_state()
    a = add_noise(img, 0.05, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    d = (a - img).numpy()
    assert d.std() == pytest.approx(0.05, rel=0.05) and abs(d.mean()) < 0.003
    assert torch.equal(a, add_noise(img, 0.05, seed=3)) and not torch.equal(a, add_noise(img, 0.05, seed=4))
    assert add_noise(img, 0.0, seed=3) is img
    assert float(add_noise(torch.ones(3, 8, 8), 0.5, 1).max()) <= 1.0  # clamped


def test_cut_out_fills_exactly_its_rectangle():
    img = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))
    out = cut_out(img, (0.25, 0.5, 0.5, 0.25), (1.0, 0.0, 0.5), seed=0)
    inside = torch.zeros(40, 40, dtype=torch.bool)
    inside[20:30, 10:30] = True  # rows v0·S .. (v0+h)·S, columns u0·S .. (u0+w)·S
    for c, value in enumerate((1.0, 0.0, 0.5)):
        assert (out[c][inside] == value).all()
    assert torch.equal(out[:, ~inside], img[:, ~inside])
    noisy = cut_out(img, (0.25, 0.5, 0.5, 0.25), None, seed=2)
    patch = noisy[:, inside]
    assert torch.equal(noisy[:, ~inside], img[:, ~inside]) and patch.std() > 0.2  # uniform noise: std 0.29
    assert cut_out(img, (0.3, 0.3, 0.0, 0.5), (0.0, 0.0, 0.0), 0) is img


def test_channel_gains_scale_each_channel():
    img = torch.full((3, 4, 4), 0.5)
    out = channel_gains(img, (1.2, 0.8, 1.0))
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.6, 0.4, 0.5]))
    assert channel_gains(img, (1.0, 1.0, 1.0)) is img


def test_pixel_augment_identity_returns_the_crop_itself():
    img = torch.rand(3, 8, 8)
    assert pixel_augment(img, AugmentParams()) is img


FULL_ON = dict(enabled=True, hue=0.1, blur_prob=1.0, blur_sigma_px=1.2, noise_prob=1.0, noise_std=0.04,
               cutout_prob=1.0, cutout_frac=0.3)


def test_draws_lie_in_their_ranges():
    cfg = AugmentConfig(**FULL_ON)
    for seed in range(200):
        p = draw_augment(np.random.default_rng(seed), cfg)
        assert all(0.9 <= g <= 1.1 for g in p.gains_rgb)
        assert 0.0 <= p.blur_sigma_px <= 1.2 and 0.0 <= p.noise_std <= 0.04
        u0, v0, w, h = p.cutout_frac
        assert 0.0 <= w <= 0.3 and 0.0 <= h <= 0.3 and u0 >= 0 and v0 >= 0 and u0 + w <= 1 and v0 + h <= 1
        assert p.cutout_rgb is None or all(0.0 <= c <= 1.0 for c in p.cutout_rgb)


def test_probabilities_are_followed_and_off_means_the_identity_fields():
    n = 2000
    cfg = AugmentConfig(enabled=True, blur_prob=0.3, noise_prob=0.6, cutout_prob=0.2)
    draws = [draw_augment(np.random.default_rng([1, i]), cfg) for i in range(n)]
    for rate, hits in ((0.3, sum(p.blur_sigma_px > 0 for p in draws)), (0.6, sum(p.noise_std > 0 for p in draws)),
                       (0.2, sum(p.cutout_frac[2] > 0 for p in draws))):
        assert abs(hits / n - rate) < 4 * math.sqrt(rate * (1 - rate) / n)  # 4 binomial standard deviations
    off = draw_augment(np.random.default_rng(5), AugmentConfig(enabled=True))
    new_fields = ("gains_rgb", "blur_sigma_px", "noise_std", "cutout_frac", "cutout_rgb", "pixel_seed")
    assert all(getattr(off, f) == getattr(AugmentParams(), f) for f in new_fields)


@pytest.mark.parametrize("key, value", [("blur_prob", 1.5), ("noise_prob", -0.1), ("cutout_prob", 2.0),
                                        ("blur_sigma_px", -1.0), ("noise_std", 0.9), ("cutout_frac", 1.2),
                                        ("hue", 0.7), ("flip_prob", 1.1), ("noise_std", float("nan")),
                                        ("rotation_deg", -5.0), ("rotation_deg", float("nan")), ("translate", -0.1),
                                        ("brightness", 1.5), ("contrast", -0.2), ("saturation", 2.0)])
def test_out_of_range_keys_are_one_line_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"^DatasetConfig\.augment\.{key} must lie in") as info:
        from_dict(DatasetConfig, {"format": "rhd", "root": ".", "augment": {key: value}})
    assert "\n" not in str(info.value)


def test_a_config_without_the_new_keys_loads_with_them_off_and_writes_them_back():
    old = {"format": "stb", "root": "x", "augment": {"enabled": True, "scale": [0.9, 1.1], "rotation_deg": 30.0,
                                                      "translate": 0.05, "brightness": 0.2, "contrast": 0.2,
                                                      "saturation": 0.2, "flip_prob": 0.0}}
    cfg = from_dict(DatasetConfig, old)
    assert cfg.augment.blur_prob == cfg.augment.noise_prob == cfg.augment.cutout_prob == cfg.augment.hue == 0.0
    written = to_dict(cfg)["augment"]  # what a checkpoint records
    new_keys = {"hue", "blur_prob", "blur_sigma_px", "noise_prob", "noise_std", "cutout_prob", "cutout_frac"}
    assert new_keys <= set(written)
    assert from_dict(DatasetConfig, to_dict(cfg)) == cfg
