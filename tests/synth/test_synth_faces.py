"""Faces behind the hand (synth.faces): drawn from their own stream on the share of images it picks, skin-coloured,
and behind the hand: the same seed renders the same labels, masks and depth, and the same hand pixels, with and
without them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from awhourglass.synth import faces
from awhourglass.synth.generate import generate_batch

SIZE = 64
N = 12


@pytest.fixture(scope="module")
def pair():
    kw = {"n": N, "domain": "source", "seed": 5, "size": SIZE}
    return generate_batch(**kw, face_share=0.0), generate_batch(**kw, face_share=0.5)


def test_faces_are_on_the_images_their_stream_picks_and_change_no_label(pair):
    bare, busy = pair
    for key in ("xyz_m", "uv_px", "vis", "mask", "depth_m", "K", "side", "background_photo"):
        assert np.array_equal(bare[key], busy[key]), key
    picked = faces.faces_rng(5).uniform(size=N) < 0.5  # the first draw of the faces' stream, by hand
    assert 0 < picked.sum() < N
    changed = (bare["rgb"] != busy["rgb"]).any(axis=(1, 2, 3))
    assert np.array_equal(changed, picked)


def test_faces_lie_behind_the_hand(pair):
    bare, busy = pair
    # inside the hand, 2 px from its silhouette (anti-aliasing looks 1 px out), the pixels are the hand's alone
    body = torch.as_tensor(bare["mask"] > 0, dtype=torch.float32)[:, None]
    inner = (-F.max_pool2d(-body, 5, 1, 2))[:, 0].numpy() > 0
    assert inner.sum() > 500
    assert np.array_equal(bare["rgb"][inner], busy["rgb"][inner])
    # and a face covers a good part of the background it is painted on
    picked = (bare["rgb"] != busy["rgb"]).any(axis=(1, 2, 3))
    moved = (bare["rgb"] != busy["rgb"]).any(-1)[picked]
    assert moved[~(bare["mask"][picked] > 0)].mean() > 0.1


def test_faces_are_skin_coloured_and_the_share_picks_them():
    skin = np.array([0.8, 0.55, 0.45])
    img = torch.zeros(8, 48, 48, 3)
    out, chosen = faces.paint_faces(np.random.default_rng(0), img, 1.0, lambda tone: np.tile(skin, (len(tone), 1)))
    assert chosen.all() and (out != 0).any(-1).any(dim=(1, 2)).all()
    # the face's skin is the albedo under a grey light: its pixels keep skin's channel ratios
    r, g, b = out[..., 0], out[..., 1], out[..., 2]
    skin_px = (r > 0) & torch.isclose(g / r.clamp_min(1e-6), torch.tensor(float(skin[1] / skin[0])), atol=1e-4)
    skin_px &= torch.isclose(b / r.clamp_min(1e-6), torch.tensor(float(skin[2] / skin[0])), atol=1e-4)
    assert skin_px.sum(dim=(1, 2)).min() > 30
    same, none = faces.paint_faces(np.random.default_rng(0), img, 0.0, lambda tone: np.tile(skin, (len(tone), 1)))
    assert not none.any() and torch.equal(same, img)


def test_the_faces_stream_is_its_own():
    a = faces.faces_rng(7).uniform(size=4)
    assert not np.allclose(a, np.random.default_rng(7).uniform(size=4))
    assert np.allclose(a, faces.faces_rng(np.random.SeedSequence(7)).uniform(size=4))
    with pytest.raises(ValueError, match="face_share"):
        generate_batch(2, "source", 0, size=32, face_share=1.5)
