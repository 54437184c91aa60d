"""The other hand and the occluders (synth.clutter): where they are put, and that they change nothing but what they
cover: the same seed renders the same labelled hands with and without them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from awhourglass.skeleton import MIDDLE_MCP, WRIST
from awhourglass.synth import clutter
from awhourglass.synth import kinematics as kin
from awhourglass.synth.domains import domain_spec
from awhourglass.synth.generate import MASK_LEFT0, MASK_PERSON, generate_batch

SIZE = 64


@pytest.fixture(scope="module")
def pair():
    kw = {"n": 16, "domain": "source", "seed": 3, "size": SIZE}
    return (generate_batch(**kw, other_hand_share=0.0, occluder_share=0.0),
            generate_batch(**kw, other_hand_share=0.8, occluder_share=0.8))


def test_extras_leave_the_labels_and_the_rest_of_the_image_alone(pair):
    bare, busy = pair
    for key in ("xyz_m", "uv_px", "K", "side", "bone_length_m", "angles_rad", "background_photo"):
        assert np.array_equal(bare[key], busy[key]), key
    hand0, hand1 = bare["mask"] >= MASK_LEFT0, busy["mask"] >= MASK_LEFT0
    changed = bare["depth_m"] != busy["depth_m"]
    assert changed.any(axis=(1, 2)).sum() >= 8  # most images have an extra in view
    # extras only cover: hand pixels are lost, never gained, and only where something new lies in front
    assert not (hand1 & ~hand0).any()
    lost = hand0 & ~hand1
    assert lost.any() and (busy["depth_m"][lost] < bare["depth_m"][lost]).all()
    assert set(np.unique(busy["mask"][changed])) <= {0, MASK_PERSON} | set(np.unique(busy["mask"][hand1]))
    # away from the extras' pixels (shading and anti-aliasing look 2 px around) the image is the same, but for the
    # body's own silhouette, whose occlusion shading sees the scene's farthest surface behind it
    def grow(m: np.ndarray, px: int) -> np.ndarray:
        return F.max_pool2d(torch.as_tensor(m, dtype=torch.float32)[:, None], 2 * px + 1, 1, px)[:, 0].numpy() > 0

    body = bare["mask"] > 0
    edge = grow(body, 1) & grow(~body, 1)
    same = ~grow(changed, 4) & ~grow(edge, 2)
    assert same.mean() > 0.5
    assert np.array_equal(bare["rgb"][same], busy["rgb"][same])
    assert (bare["rgb"][changed] != busy["rgb"][changed]).any(-1).mean() > 0.5


def test_a_joint_hidden_by_an_extra_has_it_in_front(pair):
    bare, busy = pair
    assert not (busy["vis"] & ~bare["vis"]).any()
    hidden = bare["vis"] & ~busy["vis"]
    assert hidden.sum() >= 5
    n, j = np.nonzero(hidden)
    u, v = np.round(bare["uv_px"][n, j]).astype(int).T
    nearer = busy["depth_m"][n, v, u] < bare["xyz_m"][n, j, 2]
    assert nearer.mean() >= 0.9  # the pixel's centre is up to half a pixel off the joint's ray


def test_occluders_sit_on_a_joint_ray_in_front_of_it():
    rng = np.random.default_rng(0)
    b = generate_batch(32, "source", 1, SIZE, other_hand_share=0.0, occluder_share=0.0)
    p0, p1, r, chosen = clutter.occluders(rng, b["xyz_m"].astype(np.float64), 0.5)
    assert 8 <= chosen.sum() <= 24
    mid = 0.5 * (p0 + p1)[chosen]
    joints = b["xyz_m"][chosen].astype(np.float64)
    ray_gap = np.linalg.norm(mid[:, None, :2] / mid[:, None, 2:] - joints[..., :2] / joints[..., 2:], axis=-1)
    k = ray_gap.argmin(1)
    assert ray_gap.min(1).max() < 1e-9
    ahead = joints[np.arange(len(k)), k, 2] - mid[:, 2]
    assert ((ahead >= 0.04 - 1e-9) & (ahead <= 0.12 + 1e-9)).all()
    length = np.linalg.norm((p1 - p0)[chosen], axis=1)
    ball = length == 0
    assert ((r[chosen][ball] >= 0.015) & (r[chosen][ball] <= 0.035)).all()
    assert ((length[~ball] >= 0.06) & (length[~ball] <= 0.2) & (r[chosen][~ball] <= 0.02)).all()
    assert (p0[~chosen] == clutter.PARKED_M).all()


def test_the_other_hand_is_another_hand_of_the_batch_moved_beside_this_one():
    spec = domain_spec("source", SIZE)
    rng = np.random.default_rng(1)
    n = 40
    pts = rng.normal(0, 0.05, (n, kin.NUM_BODY_POINTS, 3)) + np.array([0.0, 0.0, 0.35])
    radius = rng.uniform(0.005, 0.02, (n, len(kin.CAPSULE_ENDS)))
    p0, p1, r, chosen = clutter.other_hands(rng, pts, radius, spec.K, SIZE, 0.5)
    assert 10 <= chosen.sum() <= 30
    f = np.diag(spec.K)[:2]
    for i in np.nonzero(chosen)[0]:
        axes = p1[i] - p0[i]
        twins = [j for j in range(n) if np.allclose(pts[j][kin.CAPSULE_ENDS[:, 1]] - pts[j][kin.CAPSULE_ENDS[:, 0]],
                                                      axes) and np.array_equal(radius[j], r[i])]
        assert twins and i not in twins  # a rigid copy of another image's hand, its own radii
        palm_o = 0.5 * (p0[i][kin.CAPSULE_ENDS[:, 0] == WRIST][0] + p1[i][kin.CAPSULE_ENDS[:, 1] == MIDDLE_MCP][0])
        palm = 0.5 * (pts[i, WRIST] + pts[i, MIDDLE_MCP])
        ratio = palm_o[2] / palm[2]
        px = np.linalg.norm((palm_o[:2] / palm_o[2] - palm[:2] / palm[2]) * f) / SIZE
        assert 0.8 - 1e-9 <= ratio <= 1.6 + 1e-9 and 0.3 - 1e-9 <= px <= 0.6 + 1e-9


def test_only_the_source_has_extras_and_the_shares_are_checked():
    assert domain_spec("target", SIZE).other_hand_share == 0 and domain_spec("target", SIZE).occluder_share == 0
    src = domain_spec("source", SIZE)
    assert 0 < src.other_hand_share < 1 and 0 < src.occluder_share < 1
    with pytest.raises(ValueError, match="share"):
        generate_batch(2, "source", 0, SIZE, occluder_share=1.5)
