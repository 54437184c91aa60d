import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from awhourglass import metrics as m


def _vis_two():
    """Only joints 0 and 1 of one sample visible."""
    vis = np.zeros((1, 21), dtype=bool)
    vis[0, :2] = True
    return vis


def _errors_two(e0=10.0, e1=25.0):
    e = np.full((1, 21), 999.0)
    e[0, 0], e[0, 1] = e0, e1
    return e


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


# --- hand-computed tiny cases ----------------------------------------------------------------------


def test_joint_errors_mm_units_and_mask():
    gt = np.zeros((1, 21, 3))
    pred = np.zeros((1, 21, 3))
    pred[0, 0] = [0.003, 0.004, 0.0]  # 5 mm
    pred[0, 1] = [0.0, 0.0, 0.012]  # 12 mm
    gt[0, 2] = np.nan  # masked out below: allowed and never read
    vis = np.ones((1, 21))
    vis[0, 2] = 0
    err = m.joint_errors_mm(pred, gt, vis)
    assert err[0, 0] == pytest.approx(5.0) and err[0, 1] == pytest.approx(12.0)
    assert np.isfinite(err).all()
    mean, median = m.epe_mean_median(err, vis, average="all")
    assert mean == pytest.approx(17.0 / 20) and median == pytest.approx(0.0)


def test_pck_two_joints_by_hand():
    e, vis = _errors_two(), _vis_two()
    pck = m.pck_curve(e, [0, 9.99, 10, 24.9, 25, 30], vis)
    np.testing.assert_allclose(pck, [0, 0, 0.5, 0.5, 1, 1])  # "correct" means error <= threshold


def test_auc_two_joints_by_hand():
    e, vis = _errors_two(), _vis_two()
    # 0..30 mm, 1 mm steps: curve 0 on 0..9, 0.5 on 10..24, 1 on 25..30. Trapezoids:
    # 0.25 + 14*0.5 + 0.75 + 5*1 = 13  ->  13 / 30.
    assert m.pck_auc(e, 0, 30, vis) == pytest.approx(13 / 30)
    # 20..50 mm: 4*0.5 + 0.75 + 25*1 = 27.75  ->  27.75 / 30.
    assert m.pck_auc(e, 20, 50, vis) == pytest.approx(27.75 / 30)
    # Two thresholds only: one trapezoid (0 + 1) / 2.
    assert m.pck_auc(e, 0, 30, vis, num=2) == pytest.approx(0.5)


def test_hand3d_grid_by_hand():
    e, vis = _errors_two(), _vis_two()
    # grid k*50/19 mm: 10 mm first reached at k=4 (10.53), 25 mm at k=10 (26.32).
    # 0..50: trapezoid units 0.25 + 5*0.5 + 0.75 + 9*1 = 12.5 over 19 intervals.
    # 20..50 = grid[8:] (21.05..50): 0.5 + 0.75 + 9*1 = 10.25 over 11 intervals.
    a = m.hand3d_aucs(e, vis)
    assert a["auc_0_50"] == pytest.approx(12.5 / 19)
    assert a["auc_20_50"] == pytest.approx(10.25 / 11)
    assert m.HAND3D_THRESHOLDS_MM[8] == pytest.approx(21.0526, abs=1e-4)


def test_average_joints_vs_all_by_hand():
    # joint 0 visible in all 3 samples (errors 1, 2, 9); joint 1 only in sample 0 (error 30).
    e = np.zeros((3, 21))
    vis = np.zeros((3, 21), dtype=bool)
    e[:, 0] = [1, 2, 9]
    vis[:, 0] = True
    e[0, 1] = 30
    vis[0, 1] = True
    assert m.epe_mean_median(e, vis, average="all") == pytest.approx((10.5, 5.5))
    # per joint: (mean 4, median 2) and (30, 30) -> averaged over joints
    assert m.epe_mean_median(e, vis, average="joints") == pytest.approx((17.0, 16.0))
    # PCK at 5: pooled 2/4; per joint (2/3 + 0) / 2
    assert m.pck_curve(e, [5.0], vis, average="all")[0] == pytest.approx(0.5)
    assert m.pck_curve(e, [5.0], vis, average="joints")[0] == pytest.approx(1 / 3)


def test_epe_2d_px_by_hand():
    gt = np.zeros((2, 21, 2))
    pred = gt.copy()
    pred[:, :, 0] = 3.0
    pred[:, :, 1] = 4.0
    pred[1, 5] = [100.0, 100.0]
    vis = np.ones((2, 21))
    vis[1, 5] = 0
    err = m.joint_errors_px(pred, gt, vis)
    assert m.epe_mean_median(err, vis) == pytest.approx((5.0, 5.0))


def test_auc_approaches_exact_integral():
    # Independent route: the exact area under an empirical PCK step curve over [a, b] is
    # mean(clip((b - e) / (b - a), 0, 1)) per joint; a fine trapezoid grid converges to it.
    rng = np.random.default_rng(0)
    e = rng.uniform(0, 60, size=(50, 21))
    exact = np.clip((30.0 - e) / 30.0, 0, 1).mean()
    assert m.pck_auc(e, 0, 30, num=30001) == pytest.approx(exact, abs=1e-3)
    exact_20_50 = np.clip((50.0 - e) / 30.0, 0, 1).mean()
    assert m.pck_auc(e, 20, 50, num=30001) == pytest.approx(exact_20_50, abs=1e-3)


# --- alignment -----------------------------------------------------------------------------------


def test_procrustes_recovers_similarity():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(21, 3))
    rot = _rotation(rng)
    s_true, t_true = 1.7, np.array([0.3, -2.0, 5.0])
    dst = s_true * src @ rot.T + t_true
    s, r, t = m.similarity_transform(src, dst)
    assert s == pytest.approx(s_true)
    np.testing.assert_allclose(r, rot, atol=1e-10)
    np.testing.assert_allclose(t, t_true, atol=1e-10)
    aligned = m.procrustes_align(src[None], dst[None])
    np.testing.assert_allclose(aligned[0], dst, atol=1e-10)


def test_procrustes_matches_scipy_route():
    # Independent route (FreiHAND's recipe): centre, normalize both by Frobenius norm, solve the orthogonal
    # Procrustes problem with scipy, rescale. It allows reflections, so compare with allow_reflection=True.
    from scipy.linalg import orthogonal_procrustes

    rng = np.random.default_rng(7)
    gt, pred = rng.normal(size=(21, 3)), rng.normal(size=(21, 3))
    g0, p0 = gt - gt.mean(0), pred - pred.mean(0)
    ng, np_ = np.linalg.norm(g0), np.linalg.norm(p0)
    rot, s = orthogonal_procrustes(p0 / np_, g0 / ng)
    expected = (p0 / np_) @ rot * s * ng + gt.mean(0)
    ours = m.procrustes_align(pred[None], gt[None], allow_reflection=True)[0]
    np.testing.assert_allclose(ours, expected, atol=1e-10)


def test_procrustes_collapsed_prediction_maps_to_centroid():
    gt = np.random.default_rng(6).normal(size=(1, 21, 3))
    aligned = m.procrustes_align(np.ones((1, 21, 3)), gt)
    np.testing.assert_allclose(aligned[0], np.broadcast_to(gt[0].mean(0), (21, 3)), atol=1e-12)


def test_procrustes_uses_visible_joints_only():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(1, 21, 3))
    rot = _rotation(rng)
    pred = (0.5 * gt @ rot.T) + 1.0
    pred[0, 3] += 10.0  # a wild, masked-out joint must not disturb the fit
    vis = np.ones((1, 21))
    vis[0, 3] = 0
    aligned = m.procrustes_align(pred, gt, vis)
    err = np.linalg.norm(aligned - gt, axis=-1)
    assert err[0, vis[0] == 1].max() < 1e-9
    assert err[0, 3] > 1.0


def test_procrustes_reflection_option():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(1, 21, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    proper = m.procrustes_align(mirrored, gt)
    improper = m.procrustes_align(mirrored, gt, allow_reflection=True)
    assert np.abs(improper - gt).max() < 1e-9
    assert np.abs(proper - gt).max() > 1e-3
    # the proper fit is still the best rotation: never worse than the unaligned mirror
    assert np.linalg.norm(proper - gt) <= np.linalg.norm(mirrored - gt) + 1e-12


def test_root_align_palm_and_joint():
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(2, 21, 3))
    pred = gt + np.array([0.1, 0.2, -0.3])
    p, g = m.root_align(pred, gt, root="palm")
    np.testing.assert_allclose(p, g, atol=1e-12)
    np.testing.assert_allclose(0.5 * (g[:, 0] + g[:, 9]), 0.0, atol=1e-12)
    _, g0 = m.root_align(pred, gt, root=0)
    np.testing.assert_allclose(g0[:, 0], 0.0)
    with pytest.raises(ValueError, match="root"):
        m.root_align(pred, gt, root="thumb")
    with pytest.raises(ValueError, match=r"0\.\.20"):
        m.root_align(pred, gt, root=21)


def test_torch_inputs_match_numpy():
    rng = np.random.default_rng(5)
    gt = rng.normal(size=(3, 21, 3))
    pred = gt + rng.normal(scale=0.01, size=gt.shape)
    a = m.joint_errors_mm(pred, gt)
    b = m.joint_errors_mm(torch.tensor(pred, requires_grad=True), torch.tensor(gt))
    np.testing.assert_allclose(a, b)
    assert isinstance(b, np.ndarray)


# --- bad input -----------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    good = np.zeros((2, 21, 3))
    with pytest.raises(ValueError, match=r"\(N, 21, 3\).*\(2, 20, 3\)"):
        m.joint_errors_mm(np.zeros((2, 20, 3)), good)
    with pytest.raises(ValueError, match=r"\(N, 21, 3\)"):
        m.joint_errors_mm(np.zeros((21, 3)), good)
    with pytest.raises(ValueError, match="same shape"):
        m.joint_errors_mm(np.zeros((3, 21, 3)), good)
    bad = good.copy()
    bad[1, 7, 2] = np.inf
    with pytest.raises(ValueError, match=r"non-finite.*sample 1 joint 7"):
        m.joint_errors_mm(bad, good)
    with pytest.raises(ValueError, match=r"vis: expected shape \(2, 21\)"):
        m.joint_errors_mm(good, good, np.ones((2, 20)))
    with pytest.raises(ValueError, match="0/1"):
        m.joint_errors_mm(good, good, np.full((2, 21), 0.5))
    with pytest.raises(ValueError, match="no visible joint"):
        m.epe_mean_median(np.zeros((2, 21)), np.zeros((2, 21)))
    with pytest.raises(ValueError, match="average"):
        m.epe_mean_median(np.zeros((2, 21)), average="median")
    with pytest.raises(ValueError, match="lo < hi"):
        m.pck_auc(np.zeros((2, 21)), 30, 0)
    with pytest.raises(ValueError, match="at least 3"):
        vis = np.zeros((2, 21))
        vis[:, :2] = 1
        m.procrustes_align(good, good, vis)


# --- properties ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1.0, 5.0),
    lo=st.sampled_from([0.0, 20.0]),
    average=st.sampled_from(["joints", "all"]),
)
def test_auc_bounded_and_non_increasing_in_error(seed, scale, lo, average):
    rng = np.random.default_rng(seed)
    e = rng.exponential(20.0, size=(rng.integers(1, 6), 21))
    vis = rng.random(e.shape) < 0.8
    vis[0, 0] = True
    a = m.pck_auc(e, lo, lo + 30, vis, average=average)
    b = m.pck_auc(e * scale, lo, lo + 30, vis, average=average)
    assert 0.0 <= b <= a <= 1.0
    h_a, h_b = m.hand3d_aucs(e, vis, average), m.hand3d_aucs(e * scale, vis, average)
    for k in h_a:
        assert 0.0 <= h_b[k] <= h_a[k] <= 1.0


def test_hand_box_side_ignores_unlabelled_joints():
    from awhourglass.metrics import hand_box_side_px

    uv = np.random.default_rng(3).uniform(10, 90, (3, 21, 2))
    want = (uv.max(1) - uv.min(1)).max(-1)
    np.testing.assert_allclose(hand_box_side_px(uv), want)
    uv[1, 4] = np.nan
    uv[2] = np.nan
    got = hand_box_side_px(uv)
    keep = [j for j in range(21) if j != 4]
    assert got[0] == want[0] and got[1] == (uv[1, keep].max(0) - uv[1, keep].min(0)).max() and np.isnan(got[2])
