"""How light models the skin (synth.style.Shading): it changes the hand's pixels and nothing else, and harder light
(less ambient, no wrap, strong occlusion) spreads the hand's luminance more than flat light does."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from awhourglass.synth import style
from awhourglass.synth.generate import generate_batch

# No second hand or occluder: the same light shades them, outside the labelled hand's mask.
KW = {"n": 10, "domain": "source", "seed": 3, "size": 96, "other_hand_share": 0.0,
      "occluder_share": 0.0}
FLAT = style.Shading(ambient=(0.95, 0.95), wrap=1.0, occ_ambient=0.0, occ_direct=0.0, crease=0.0)
HARD = style.Shading(ambient=(0.1, 0.1), wrap=0.0, occ_ambient=1.0, occ_direct=1.0, crease=0.3)


def _render(monkeypatch, shading):
    monkeypatch.setattr(style, "SHADING", shading)
    return generate_batch(**KW)


@pytest.fixture(scope="module")
def renders():
    with pytest.MonkeyPatch.context() as mp:
        return {name: _render(mp, s) for name, s in (("default", style.Shading()), ("flat", FLAT), ("hard", HARD))}


def _inner(mask: np.ndarray, px: int) -> np.ndarray:
    """Body pixels at least ``px`` inside the silhouette (anti-aliasing blends one pixel each side of it)."""
    body = torch.as_tensor(mask > 0, dtype=torch.float32)[:, None]
    return (-F.max_pool2d(-body, 2 * px + 1, 1, px))[:, 0].numpy() > 0


def test_default_shading_is_the_generator_default(renders):
    plain = generate_batch(**KW)
    assert np.array_equal(plain["rgb"], renders["default"]["rgb"])
    assert not np.array_equal(plain["rgb"], renders["hard"]["rgb"])


def test_shading_changes_the_hand_pixels_and_nothing_else(renders):
    base, hard = renders["default"], renders["hard"]
    for key in ("xyz_m", "uv_px", "vis", "mask", "depth_m", "K", "side", "background_photo"):
        assert np.array_equal(base[key], hard[key]), key
    body = torch.as_tensor(base["mask"] > 0, dtype=torch.float32)[:, None]
    near_body = F.max_pool2d(body, 3, 1, 1)[:, 0].numpy() > 0  # the silhouette's anti-aliased ring
    assert np.array_equal(base["rgb"][~near_body], hard["rgb"][~near_body])
    assert np.abs(base["rgb"][near_body].astype(int) - hard["rgb"][near_body]).mean() > 5


def test_hard_light_spreads_the_hand_luminance_more_than_flat_light(renders):
    inner = _inner(renders["default"]["mask"], 1)
    w = np.array([0.299, 0.587, 0.114])

    def spread(batch):  # luminance std over each hand's inner pixels, relative to its mean
        lum = batch["rgb"].astype(float) @ w
        return np.array([lum[i][inner[i]].std() / lum[i][inner[i]].mean() for i in range(len(lum))])

    flat, default, hard = spread(renders["flat"]), spread(renders["default"]), spread(renders["hard"])
    assert np.all(hard > flat)
    assert flat.mean() < default.mean() < hard.mean()
