import numpy as np
import pytest
import torch

from awhourglass import geometry
from awhourglass.eval.protocol import evaluate_25d, lift_with_gt_scale_and_root

K = np.array([[600.0, 0.0, 320.0], [0.0, 590.0, 240.0], [0.0, 0.0, 1.0]])


def _hands(n=3, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(scale=0.03, size=(n, 21, 3))
    xyz[..., 2] += rng.uniform(0.4, 0.7, size=(n, 1))
    return xyz


def test_lift_of_exact_25d_recovers_ground_truth():
    gt = _hands()
    uv, z_norm = geometry.encode_25d(gt, K)
    xyz = lift_with_gt_scale_and_root(uv, z_norm, K, gt)
    np.testing.assert_allclose(xyz, gt, atol=1e-12)
    r = evaluate_25d(uv, z_norm, K, gt, gt_uv_px=uv)
    assert r.epe_mean_mm < 1e-9 and r.epe2d_mean_px == pytest.approx(0.0, abs=1e-9)
    assert r.align == "root"


def test_depth_error_maps_to_metric_error_by_hand():
    # z_norm of joint 8 off by delta: its depth moves by delta·d (d = GT wrist–middle-MCP length) along
    # its pixel's viewing ray (x̄, ȳ, 1) = K⁻¹(u, v, 1), so its 3D error is delta·d·|(x̄, ȳ, 1)|.
    # Root joints are untouched, so root alignment leaves the error unchanged.
    gt = _hands(n=2, seed=1)
    uv, z_norm = geometry.encode_25d(gt, K)
    delta = 0.25
    z_bad = z_norm.copy()
    z_bad[:, 8] += delta
    d = np.linalg.norm(gt[:, 0] - gt[:, 9], axis=-1)
    xbar = (uv[:, 8, 0] - K[0, 2]) / K[0, 0]
    ybar = (uv[:, 8, 1] - K[1, 2]) / K[1, 1]
    expected_mm = 1000 * delta * d * np.sqrt(xbar**2 + ybar**2 + 1)
    r = evaluate_25d(uv, z_bad, torch.tensor(K), gt)
    # per-joint means: joint 8 has mean(expected), the others 0; averaged over 21 joints
    assert r.epe_mean_mm == pytest.approx(expected_mm.mean() / 21, rel=1e-9)


def test_gt_root_depth_and_scale_are_used_not_predicted():
    # Lifting against a ground truth twice as big (about its palm) and 5 cm farther: the lifted relative
    # depths are z_norm times the big hand's bone length, and the lifted palm sits at its depth.
    gt = _hands(n=1, seed=2)
    uv, z_norm = geometry.encode_25d(gt, K)
    palm = 0.5 * (gt[:, 0] + gt[:, 9])
    other = palm[:, None] + 2.0 * (gt - palm[:, None]) + np.array([0.0, 0.0, 0.05])
    d_other = np.linalg.norm(other[:, 0] - other[:, 9], axis=-1)
    z_root = palm[:, 2] + 0.05
    xyz = lift_with_gt_scale_and_root(uv, z_norm, K, other)
    np.testing.assert_allclose(xyz[..., 2] - z_root[:, None], z_norm * d_other[:, None], atol=1e-12)
    np.testing.assert_allclose(0.5 * (xyz[:, 0, 2] + xyz[:, 9, 2]), z_root, atol=1e-12)
    np.testing.assert_allclose(geometry.project(xyz, K), uv, atol=1e-9)  # pixels are kept


def test_protocol_bad_inputs():
    gt = _hands(n=2)
    uv, z_norm = geometry.encode_25d(gt, K)
    with pytest.raises(ValueError, match="sample counts"):
        lift_with_gt_scale_and_root(uv, z_norm[:1], K, gt)
    with pytest.raises(ValueError, match="K: expected"):
        lift_with_gt_scale_and_root(uv, z_norm, np.eye(4), gt)
    bad = gt.copy()
    bad[0, 9, 0] = np.nan
    with pytest.raises(ValueError, match="must be finite"):
        lift_with_gt_scale_and_root(uv, z_norm, K, bad)
