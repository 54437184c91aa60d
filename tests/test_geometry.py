import math

import numpy as np
import pytest
import torch

from awhourglass import geometry as g
from awhourglass import skeleton as sk


def random_hands(n, seed=0):
    """Plausible right hands: a fingered skeleton with random bone lengths, rotation and placement."""
    rng = np.random.default_rng(seed)
    hands = np.zeros((n, 21, 3))
    for i in range(n):
        pts = np.zeros((21, 3))
        base_angles = np.deg2rad([-50, -20, 0, 20, 40])
        for f, ang in enumerate(base_angles):
            meta = rng.uniform(0.06, 0.095)
            d = np.array([math.sin(ang), -math.cos(ang), 0.0])
            joints = sk.finger_joints(sk.FINGERS[f])
            pts[joints[0]] = (0.4 if f == 0 else 1.0) * meta * d
            cur = pts[joints[0]]
            for j in joints[1:]:
                d = d + rng.normal(scale=0.3, size=3)
                d /= np.linalg.norm(d)
                cur = cur + rng.uniform(0.018, 0.045) * d
                pts[j] = cur
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.linalg.det(q))
        pts = pts @ q.T
        pts += np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.3, 1.0)])
        hands[i] = pts
    return hands


def random_K(n, seed=0):
    rng = np.random.default_rng(seed + 100)
    K = np.tile(np.eye(3), (n, 1, 1))
    K[:, 0, 0] = rng.uniform(200, 1200, n)
    K[:, 1, 1] = K[:, 0, 0] * rng.uniform(0.95, 1.05, n)
    K[:, 0, 2] = rng.uniform(100, 400, n)
    K[:, 1, 2] = rng.uniform(100, 300, n)
    return K


def test_project_by_hand():
    K = np.array([[100.0, 0, 50], [0, 200.0, 20], [0, 0, 1]])
    uv = g.project(np.array([[[0.1, -0.2, 2.0]]]), K)
    np.testing.assert_allclose(uv, [[[100 * 0.05 + 50, 200 * -0.1 + 20]]])


def test_backproject_inverts_project():
    xyz = random_hands(5)
    K = random_K(5)
    uv = g.project(xyz, K)
    np.testing.assert_allclose(g.backproject(uv, xyz[..., 2], K), xyz, atol=1e-12)


def _bone_ray_angle_deg(xyz):
    """Angle between the scale bone (wrist -> middle MCP) and the viewing ray through the palm."""
    bone = xyz[:, 9] - xyz[:, 0]
    ray = 0.5 * (xyz[:, 0] + xyz[:, 9])
    cos = np.abs((bone * ray).sum(-1)) / (np.linalg.norm(bone, axis=-1) * np.linalg.norm(ray, axis=-1))
    return np.degrees(np.arccos(cos))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_25d_round_trip_with_closed_form_root(backend):
    xyz = random_hands(400, seed=1)
    K = random_K(400, seed=1)
    uv, z_norm = g.encode_25d(xyz, K)
    _, bone = g.root_and_scale(xyz)
    if backend == "torch":
        uv, z_norm, K_, bone = (torch.as_tensor(a) for a in (uv, z_norm, K, bone))
    else:
        K_ = K
    out = np.asarray(g.decode_25d(uv, z_norm, K_, bone))
    # Every decoded hand reprojects onto the same pixels and has the true scale-bone length ...
    np.testing.assert_allclose(g.project(out, K), np.asarray(uv), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out[:, 0] - out[:, 9], axis=-1), np.asarray(bone), atol=1e-9)
    # ... and is the true hand unless the bone points almost along the viewing ray, where the quadratic's
    # two roots are both valid and the larger one is taken (method-notes item 3).
    clear = _bone_ray_angle_deg(xyz) > 20.0
    assert clear.mean() > 0.9
    assert np.abs(out[clear] - xyz[clear]).max() < 1e-4


def test_closed_form_root_matches_hand_computation():
    # Bone from (0,0,Z) to (d,0,Z) seen by an identity camera: the root at depth Z in units of the bone.
    # Build 21 joints where only wrist (0) and middle MCP (9) matter; palm = midpoint.
    K = np.eye(3)
    Z, d = 0.5, 0.08
    xyz = np.tile(np.array([0.0, 0.0, Z]), (21, 1))
    xyz[0] = [0.0, 0.0, Z]
    xyz[9] = [d, 0.0, Z]
    xyz += np.random.default_rng(0).normal(scale=1e-3, size=(21, 3)) * (np.arange(21) % 9 != 0)[:, None]
    uv, z_norm = g.encode_25d(xyz, K)
    z_root_norm, ok = g.solve_root_depth(uv, z_norm, K)
    assert ok
    assert z_root_norm == pytest.approx(Z / d, rel=1e-9)


def test_decode_with_known_root_depth():
    xyz = random_hands(10, seed=2)
    K = random_K(10, seed=2)
    uv, z_norm = g.encode_25d(xyz, K)
    root, bone = g.root_and_scale(xyz)
    np.testing.assert_allclose(g.decode_25d(uv, z_norm, K, bone, z_root_m=root[:, 2]), xyz, atol=1e-12)


def test_negative_discriminant_is_flagged_not_nan():
    xyz = random_hands(1, seed=3)
    K = random_K(1, seed=3)
    uv, z_norm = g.encode_25d(xyz, K)
    z_norm = z_norm.copy()
    z_norm[:, 9] += 5.0  # relative depth far longer than the bone: no real solution
    root, ok = g.solve_root_depth(uv, z_norm, K)
    assert not ok.any() and np.isfinite(root).all()


def test_normalize_pose_round_trip_and_unit_bone():
    xyz = random_hands(4, seed=4)
    norm, root, bone = g.normalize_pose(xyz, C=1.0)
    np.testing.assert_allclose(np.linalg.norm(norm[:, 0] - norm[:, 9], axis=-1), 1.0)
    np.testing.assert_allclose(sk.palm_centre(norm), 0.0, atol=1e-12)
    np.testing.assert_allclose(g.denormalize_pose(norm, root, bone), xyz, atol=1e-12)


def test_crop_round_trip_and_K_consistency():
    rng = np.random.default_rng(5)
    xyz = random_hands(6, seed=5)
    K = random_K(6, seed=5)
    uv = g.project(xyz, K)
    for i in range(6):
        A = g.crop_affine(uv[i].mean(0), side_px=rng.uniform(50, 300), out_size=128, rotation_rad=rng.uniform(-1, 1))
        crop_uv = g.apply_affine(A, uv[i])
        np.testing.assert_allclose(g.apply_affine(g.invert_affine(A), crop_uv), uv[i], atol=1e-3)
        # Projecting with the carried K lands where the crop put the pixels.
        np.testing.assert_allclose(g.project(xyz[i], g.transform_intrinsics(A, K[i])), crop_uv, atol=1e-6)


def test_crop_maps_box_corners_to_output_edges():
    A = g.crop_affine((100.0, 50.0), side_px=40.0, out_size=20)
    # The box spans u in [80, 120] (continuous coordinates); its edges land on the output edges -0.5 and 19.5.
    np.testing.assert_allclose(g.apply_affine(A, np.array([[80.0, 30.0], [120.0, 70.0]])), [[-0.5, -0.5], [19.5, 19.5]])


def test_flip_matches_mirrored_projection():
    xyz = random_hands(3, seed=6)
    K = random_K(3, seed=6)
    uv = g.project(xyz, K)
    uv_f, K_f = g.flip_horizontal(uv, K, width_px=320)
    np.testing.assert_allclose(g.project(sk.mirror_xyz(xyz), K_f), uv_f, atol=1e-9)
    back, K_b = g.flip_horizontal(uv_f, K_f, 320)
    np.testing.assert_allclose(back, uv)
    np.testing.assert_allclose(K_b, K)


def test_heatmap_scale_round_trip():
    uv = np.array([[0.0, 3.0], [63.0, 10.5]])
    np.testing.assert_allclose(g.input_to_heatmap_px(g.heatmap_to_input_px(uv, 4), 4), uv)
    np.testing.assert_allclose(g.heatmap_to_input_px(np.array([0.0]), 4), [1.5])  # centre of input pixels 0..3


def test_bad_inputs_are_clear_errors():
    xyz = random_hands(1)
    K = random_K(1)
    with pytest.raises(ValueError, match=r"21, 3"):
        g.encode_25d(xyz[:, :20], K)
    bad = xyz.copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        g.encode_25d(bad, K)
    with pytest.raises(ValueError, match="singular"):
        g.project(xyz, np.zeros((1, 3, 3)))
    flat = xyz.copy()
    flat[0, 9] = flat[0, 0]
    with pytest.raises(ValueError, match="zero-length"):
        g.root_and_scale(flat)
    uv, z = g.encode_25d(xyz, K)
    with pytest.raises(ValueError, match="positive"):
        g.decode_25d(uv, z, K, np.array([0.0]))
    with pytest.raises(ValueError, match="in front"):
        g.project(-xyz, K)
    with pytest.raises(ValueError, match="side_px"):
        g.crop_affine((0, 0), 0.0, 64)


@pytest.mark.parametrize("C", [1.0, 2.5])
def test_lift_root_relative_is_the_pose_in_bone_units(C):
    xyz = random_hands(200, seed=5)
    K = random_K(200, seed=5)
    uv, z_norm = g.encode_25d(xyz, K, C=C)
    root, bone = g.root_and_scale(xyz)
    lifted, ok = g.lift_root_relative(uv, z_norm, K, C=C)
    clear = _bone_ray_angle_deg(xyz) > 20.0  # where the larger root of the quadratic is the true one
    want = (xyz - root[:, None]) / bone[:, None, None]
    assert ok[clear].all()
    np.testing.assert_allclose(lifted[clear], want[clear], atol=1e-6)
    # the palm centre is the origin and the scale bone has length 1, whichever root was taken
    np.testing.assert_allclose(0.5 * (lifted[:, 0] + lifted[:, 9]), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(lifted[:, 0] - lifted[:, 9], axis=-1)[ok], 1.0, atol=1e-6)
    # the camera-space lift: the hand itself in bone units (times the bone length: the camera-space hand), the
    # same closed-form root as decode_25d with the true bone, and root-relative it is lift_root_relative
    cam, ok_cam = g.lift_camera(uv, z_norm, K, C=C)
    np.testing.assert_array_equal(ok_cam, ok)
    np.testing.assert_allclose((cam * bone[:, None, None])[clear], xyz[clear], atol=1e-9)
    np.testing.assert_allclose(cam * bone[:, None, None], g.decode_25d(uv, z_norm, K, bone, C=C), atol=1e-12)
    np.testing.assert_array_equal(g.root_relative(cam), lifted)
