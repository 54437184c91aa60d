import math

import numpy as np
import pytest
import torch
from conftest import right_hand_xyz

from awhourglass.data.config import AugmentConfig, DatasetConfig
from awhourglass.data.crop import AugmentParams, RawSample, colour_jitter, draw_augment, make_sample, warp
from awhourglass.geometry import project

# fx != fy and an off-centre principal point: rotation must still keep K a pinhole
K0 = np.array([[140.0, 0.0, 52.0], [0.0, 120.0, 37.0], [0.0, 0.0, 1.0]])
W, H = 110, 90
MARKED = (0, 4, 8, 20)  # wrist, thumb tip, index tip, little tip: well apart


def _raw(dot_joint: int | None = None):
    xyz = right_hand_xyz(centre=(0.01, 0.0, 0.5))
    uv = project(xyz, K0)
    img = np.zeros((H, W, 3), np.uint8)
    depth = np.full((H, W), 2.0, np.float32)
    mask = np.zeros((H, W), bool)
    vv, uu = np.mgrid[0:H, 0:W]
    for j in MARKED:
        disk = (uu - uv[j, 0]) ** 2 + (vv - uv[j, 1]) ** 2 <= 2.0**2
        depth[disk] = 0.4 + 0.05 * MARKED.index(j)  # distinct, known depths
        mask |= disk
    if dot_joint is not None:
        u, v = np.round(uv[dot_joint]).astype(int)
        img[v - 1 : v + 2, u - 1 : u + 2] = 255
        uv[dot_joint] = (u, v)  # the dot's centre is the joint (2D only; 3D tests use dot_joint=None)
    return RawSample(img, K0, uv, np.ones(21, bool), xyz, depth, mask, "right", "test")


AUGS = {
    "none": AugmentParams(),
    "scale": AugmentParams(scale=1.3),
    "rotation": AugmentParams(rotation_rad=math.radians(35)),
    "shift": AugmentParams(shift=(0.1, -0.08)),
    "flip": AugmentParams(flip=True),
    "all": AugmentParams(scale=0.85, rotation_rad=math.radians(-50), shift=(-0.05, 0.07), flip=True),
}


@pytest.mark.parametrize("name", list(AUGS))
def test_bright_dot_follows_its_joint(name):
    for j in (4, 10):  # inside the crop under every augmentation (a dot cut by the border biases the centroid)
        s = make_sample(_raw(dot_joint=j), input_size=72, crop_scale=1.3, aug=AUGS[name])
        bright = s.image.sum(0).numpy()
        w = np.where(bright > 0.5 * bright.max(), bright, 0.0)
        vv, uu = np.mgrid[0 : w.shape[0], 0 : w.shape[1]]
        u, v = (w * uu).sum() / w.sum(), (w * vv).sum() / w.sum()  # centroid of the warped dot
        assert abs(u - float(s.uv_px[j, 0])) <= 1.0 and abs(v - float(s.uv_px[j, 1])) <= 1.0, (name, j)


@pytest.mark.parametrize("name", list(AUGS))
def test_3d_projects_with_new_K_onto_new_pixels(name):
    s = make_sample(_raw(), input_size=64, aug=AUGS[name])
    K = s.K.double().numpy()
    assert K[0, 1] == 0 and K[1, 0] == 0 and K[2].tolist() == [0, 0, 1] and K[0, 0] > 0 and K[1, 1] > 0
    assert K[0, 0] / K[1, 1] == pytest.approx(K0[0, 0] / K0[1, 1])  # pure scale + translate of the original
    err = np.abs(project(s.xyz_m.double().numpy(), K) - s.uv_px.double().numpy()).max()
    assert err < 1e-3
    # rotation about the optical axis and mirroring keep depths; bone lengths are unchanged
    raw = _raw()
    np.testing.assert_allclose(np.sort(s.xyz_m[:, 2].numpy()), np.sort(raw.xyz_m[:, 2]), atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.norm(s.xyz_m.numpy()[1:] - s.xyz_m.numpy()[:1], axis=1),
        np.linalg.norm(raw.xyz_m[1:] - raw.xyz_m[:1], axis=1),
        atol=1e-6,
    )


def test_rotation_turns_the_image_by_the_angle():
    base = make_sample(_raw(), input_size=64, aug=AugmentParams())
    rot = make_sample(_raw(), input_size=64, aug=AugmentParams(rotation_rad=math.radians(90)))
    a = base.uv_px[8] - base.uv_px[0]
    b = rot.uv_px[8] - rot.uv_px[0]
    # anisotropic K (fx != fy) makes the pixel angle differ a little from 90 deg; the normalized one is exact
    an = np.array([a[0] / base.K[0, 0], a[1] / base.K[1, 1]])
    bn = np.array([b[0] / rot.K[0, 0], b[1] / rot.K[1, 1]])
    # counter-clockwise as displayed (y down): right (1, 0) turns to up (0, -1), i.e. (x, y) -> (y, -x)
    expected = np.array([an[1], -an[0]])
    cos = float(expected @ bn) / (np.linalg.norm(expected) * np.linalg.norm(bn))
    assert cos == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", list(AUGS))
def test_depth_and_mask_follow_the_joints(name):
    s = make_sample(_raw(), input_size=72, crop_scale=2.0, aug=AUGS[name])
    assert ((s.uv_px[list(MARKED)] >= 6) & (s.uv_px[list(MARKED)] <= 65)).all()  # every marked disk in the crop
    z = {j: 0.4 + 0.05 * MARKED.index(j) for j in MARKED}
    d_max, d_min = max(z.values()), min(z.values())
    for j in MARKED:
        u, v = np.round(s.uv_px[j].numpy()).astype(int)
        assert bool(s.depth_mask[0, v, u]), (name, j)
        assert float(s.depth[0, v, u]) == pytest.approx((d_max - z[j]) / (d_max - d_min), abs=1e-5)
    assert (s.depth[~s.depth_mask] == 0).all()


def test_depth_mask_derived_from_depth_when_missing():
    raw = _raw()
    raw.mask = None  # STB-like: the mask comes from depth near the joints' median depth
    raw.depth_m = np.where(raw.depth_m > 1.0, 0.0, raw.depth_m).astype(np.float32)
    s = make_sample(raw, input_size=64, aug=AugmentParams(rotation_rad=0.3), depth_band_m=0.2)
    for j in MARKED:
        u, v = np.round(s.uv_px[j].numpy()).astype(int)
        assert bool(s.depth_mask[0, v, u])
    raw.depth_m[:] = 0.0
    s = make_sample(raw, input_size=64)
    assert s.depth is None and s.depth_mask is None  # no reading: missing label, not zeros


def test_warp_identity_and_nearest_keeps_values():
    img = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(2, 5, 5)
    np.testing.assert_allclose(warp(img, np.eye(3), 5).numpy(), img.numpy(), atol=1e-4)
    A = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 1]])  # 2x upscale: out (2i, 2j) = in (i, j)
    out = warp(img, A, 9, "nearest")
    assert torch.equal(out[:, ::2, ::2], img)


def test_colour_jitter_factors():
    img = torch.full((3, 4, 4), 0.5)
    assert torch.allclose(colour_jitter(img, AugmentParams(brightness=1.2)), torch.full((3, 4, 4), 0.6))
    rgb = torch.stack([torch.full((4, 4), 0.2), torch.full((4, 4), 0.4), torch.full((4, 4), 0.6)])
    grey = colour_jitter(rgb, AugmentParams(saturation=0.0))
    assert torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])
    assert colour_jitter(rgb, AugmentParams()) is rgb


def test_draw_augment_is_seeded_and_off_by_default():
    cfg = AugmentConfig(enabled=True, flip_prob=0.5)
    a = draw_augment(np.random.default_rng([3, 7]), cfg)
    b = draw_augment(np.random.default_rng([3, 7]), cfg)
    assert a == b and a != AugmentParams()
    assert abs(a.rotation_rad) <= math.radians(cfg.rotation_deg) and cfg.scale[0] <= a.scale <= cfg.scale[1]
    assert draw_augment(np.random.default_rng(0), AugmentConfig()) == AugmentParams()


def test_flip_needs_a_two_handed_setting():
    with pytest.raises(ValueError, match="flip_prob > 0 needs mirror_left: false"):
        DatasetConfig(format="rhd", root=".", augment=AugmentConfig(enabled=True, flip_prob=0.5))
    DatasetConfig(format="rhd", root=".", mirror_left=False, augment=AugmentConfig(enabled=True, flip_prob=0.5))


def test_flip_toggles_mirrored_and_hand_side_kept():
    s = make_sample(_raw(), input_size=32, aug=AugmentParams(flip=True))
    assert s.mirrored and s.hand_side == "right"
    s2 = make_sample(_raw(), input_size=32, mirror=True, aug=AugmentParams(flip=True))
    assert not s2.mirrored  # mirror then flip back: the recording's own handedness
