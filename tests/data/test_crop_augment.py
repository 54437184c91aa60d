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
        s = make_sample(_raw(dot_joint=j), input_size=72, crop_margin=1.3, aug=AUGS[name])
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
    s = make_sample(_raw(), input_size=72, crop_margin=2.0, aug=AUGS[name])
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


def test_warp_reads_where_the_inverse_map_points_whatever_the_previous_call():
    """Each output pixel holds the source sampled at ``A⁻¹ (u, v)`` (an independent bilinear lookup by hand), also
    when calls alternate maps and sizes (the last sampling grid is reused only for the same map and size)."""
    rng = np.random.default_rng(3)
    img = torch.from_numpy(rng.random((2, 31, 37)).astype(np.float32))
    maps = []
    for _ in range(3):
        a, t = rng.uniform(0.6, 1.6), rng.uniform(-0.5, 0.5)
        maps.append(np.array([[a * math.cos(t), a * math.sin(t), rng.uniform(-5, 5)],
                              [-a * math.sin(t), a * math.cos(t), rng.uniform(-5, 5)], [0.0, 0.0, 1.0]]))
    src = img.numpy().astype(np.float64)
    for A, size in [(maps[0], 24), (maps[1], 24), (maps[0], 24), (maps[0], 20), (maps[2], 24), (maps[2], 24)]:
        out = warp(img, A, size).numpy()
        inv = np.linalg.inv(A)
        for v, u in rng.integers(0, size, (40, 2)):
            x, y = inv[0, 0] * u + inv[0, 1] * v + inv[0, 2], inv[1, 0] * u + inv[1, 1] * v + inv[1, 2]
            x0, y0 = math.floor(x), math.floor(y)
            want = np.zeros(2)
            for dx, dy, w in ((0, 0, (1 - (x - x0)) * (1 - (y - y0))), (1, 0, (x - x0) * (1 - (y - y0))),
                              (0, 1, (1 - (x - x0)) * (y - y0)), (1, 1, (x - x0) * (y - y0))):
                if 0 <= x0 + dx < 37 and 0 <= y0 + dy < 31:  # zeros outside
                    want += w * src[:, y0 + dy, x0 + dx]
            np.testing.assert_allclose(out[:, v, u], want, atol=1e-4)


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


# --- every augmentation round-trips its labels -----------------------------------------------------------

PIXEL_ONLY = {
    "colour": AugmentParams(brightness=1.2, contrast=0.8, saturation=0.7),
    "white_balance": AugmentParams(gains_rgb=(1.1, 0.9, 1.05)),
    "blur": AugmentParams(blur_sigma_px=1.5),
    "noise": AugmentParams(noise_std=0.05, pixel_seed=11),
    "cutout_colour": AugmentParams(cutout_frac=(0.2, 0.3, 0.4, 0.3), cutout_rgb=(0.9, 0.1, 0.5)),
    "cutout_noise": AugmentParams(cutout_frac=(0.5, 0.1, 0.3, 0.5), cutout_rgb=None, pixel_seed=3),
}
EVERY_KIND = {
    **AUGS,
    **PIXEL_ONLY,
    "geometric_and_pixel": AugmentParams(scale=1.15, rotation_rad=math.radians(25), shift=(0.06, 0.04), flip=True,
                                         brightness=0.9, gains_rgb=(0.95, 1.08, 1.0), blur_sigma_px=0.8,
                                         noise_std=0.03, cutout_frac=(0.1, 0.6, 0.25, 0.2), pixel_seed=5),
}


def _inverse_maps(aug: AugmentParams, s):
    """The crop's pixel map and 3D map back to the recording, computed here from the sample's own K: the camera
    turned by ``R_z`` and, if mirrored, ``M = diag(−1, 1, 1)``; pixels ``A = K_crop M R_z K0⁻¹``, 3D
    ``X = (M R_z)⁻¹ X_crop``."""
    c, s_ = math.cos(aug.rotation_rad), math.sin(aug.rotation_rad)
    Rz = np.array([[c, s_, 0.0], [-s_, c, 0.0], [0.0, 0.0, 1.0]])
    M = np.diag([-1.0, 1.0, 1.0]) if s.mirrored else np.eye(3)
    return s.K.double().numpy() @ M @ Rz @ np.linalg.inv(K0), np.linalg.inv(M @ Rz)


def _textured_raw():
    """:func:`_raw` with a random image, so that every pixel-only augmentation visibly changes the crop."""
    raw = _raw()
    raw.image = np.random.default_rng(4).integers(20, 236, raw.image.shape, dtype=np.uint8)
    return raw


@pytest.mark.parametrize("name", list(EVERY_KIND))
def test_every_augmentation_round_trips_its_labels(name):
    aug = EVERY_KIND[name]
    raw = _textured_raw()
    s = make_sample(raw, input_size=64, aug=aug)
    A, back3d = _inverse_maps(aug, s)
    uv_h = np.c_[s.uv_px.double().numpy(), np.ones(21)] @ np.linalg.inv(A).T
    uv_back = uv_h[:, :2] / uv_h[:, 2:]
    assert np.abs(uv_back - raw.uv_px).max() <= 0.01  # pixels of the recording
    xyz_back = s.xyz_m.double().numpy() @ back3d.T
    assert np.abs(xyz_back - raw.xyz_m).max() <= 1e-6  # metres
    # and the crop's labels agree with each other: the 3D joints project with the crop's K onto its 2D joints
    assert np.abs(project(s.xyz_m.double().numpy(), s.K.double().numpy()) - s.uv_px.double().numpy()).max() <= 0.01


def _geometric_only(aug: AugmentParams) -> AugmentParams:
    return AugmentParams(scale=aug.scale, rotation_rad=aug.rotation_rad, shift=aug.shift, flip=aug.flip)


@pytest.mark.parametrize("name", [*PIXEL_ONLY, "geometric_and_pixel"])
def test_pixel_only_augmentations_leave_every_label_identical(name):
    aug = EVERY_KIND[name]
    for mask in (True, False):  # given mask (RHD-like) and mask derived from depth (STB-like)
        raw = _textured_raw()
        if not mask:
            raw.mask = None
            raw.depth_m = np.where(raw.depth_m > 1.0, 0.0, raw.depth_m).astype(np.float32)
        a = make_sample(raw, input_size=64, aug=aug)
        b = make_sample(raw, input_size=64, aug=_geometric_only(aug))
        for field in ("uv_px", "xyz_m", "K", "vis", "depth", "depth_mask"):
            assert torch.equal(getattr(a, field), getattr(b, field)), (name, field)
        assert a.mirrored == b.mirrored
        assert not torch.equal(a.image, b.image)  # the augmentation did change pixels


def _old_draw(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """draw_augment as it was before the pixel-only augmentations (the reference for bit-identity)."""
    u = rng.uniform
    return AugmentParams(
        scale=float(u(cfg.scale[0], cfg.scale[1])),
        rotation_rad=math.radians(float(u(-cfg.rotation_deg, cfg.rotation_deg))),
        shift=(float(u(-cfg.translate, cfg.translate)), float(u(-cfg.translate, cfg.translate))),
        flip=bool(rng.random() < cfg.flip_prob),
        brightness=float(u(1 - cfg.brightness, 1 + cfg.brightness)),
        contrast=float(u(1 - cfg.contrast, 1 + cfg.contrast)),
        saturation=float(u(1 - cfg.saturation, 1 + cfg.saturation)),
    )


OLD_FIELDS = ("scale", "rotation_rad", "shift", "flip", "brightness", "contrast", "saturation")


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_new_options_off_give_bit_identical_samples_and_on_keep_the_old_draws(seed):
    old_cfg = AugmentConfig(enabled=True, flip_prob=0.3, rotation_deg=40.0)
    ref = _old_draw(np.random.default_rng([seed, 9]), old_cfg)
    new = draw_augment(np.random.default_rng([seed, 9]), old_cfg)
    assert new == ref  # new fields at their identity values, old ones drawn the same
    raw = _textured_raw()
    a = make_sample(raw, input_size=48, aug=new)
    b = make_sample(raw, input_size=48, aug=ref)
    for field in ("image", "uv_px", "xyz_m", "K", "depth", "depth_mask"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    # switching the pixel-only options on draws them after the old ones: the geometry is still the same
    on = draw_augment(np.random.default_rng([seed, 9]),
                      AugmentConfig(enabled=True, flip_prob=0.3, rotation_deg=40.0, hue=0.1, blur_prob=1.0,
                                    noise_prob=1.0, cutout_prob=1.0))
    assert all(getattr(on, f) == getattr(ref, f) for f in OLD_FIELDS)
