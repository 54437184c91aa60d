import json
import math
import os

import numpy as np
import pytest

from awhourglass.eval import results as R


def _hand(seed=0, n=4):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(scale=0.04, size=(n, 21, 3))
    xyz[..., 2] += 0.5
    return xyz


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_root_aligned_numbers_by_hand():
    # Dyadic coordinates and shift: the float arithmetic is exact, so unshifted joints have error exactly 0
    # (a threshold of 0 mm counts only exact zeros, as in hand3d's EvalUtil).
    gt = np.round(_hand() * 1024) / 1024
    pred = gt + np.array([0.0625, -0.03125, 0.125])  # a global shift: removed by root alignment
    pred[:, 5, 0] += 0.0105  # joint 5 (index MCP, not a root joint) off by 10.5 mm
    gt_uv = np.zeros((4, 21, 2))
    pred_uv = gt_uv + np.array([3.0, 4.0])
    r = R.evaluate_arrays(pred, gt, None, pred_uv, gt_uv, align="root")
    assert r.epe_mean_mm == pytest.approx(10.5 / 21)
    assert r.epe_median_mm == pytest.approx(10.5 / 21)  # per-joint medians: 10.5 for joint 5, 0 elsewhere
    # Curve: 20 joints always correct; joint 5 correct from the 11 mm threshold on (1 mm grid).
    # Joint 5's trapezoid area on 0..30: 0.5 + 19 = 19.5.
    assert r.auc_0_30 == pytest.approx((20 * 30 + 19.5) / (21 * 30))
    assert r.auc_20_50 == pytest.approx(1.0)
    # hand3d grid k*50/19: joint 5 correct from k = 4 (10.53 mm): area 0.5 + 15 = 15.5 of 19.
    assert r.auc_0_50_hand3d == pytest.approx((20 + 15.5 / 19) / 21)
    assert r.pck_values[10] == pytest.approx(20 / 21) and r.pck_values[11] == pytest.approx(1.0)
    assert r.epe2d_mean_px == pytest.approx(5.0) and r.epe2d_median_px == pytest.approx(5.0)
    assert r.count == 4 and r.num_joints == 84 and r.align == "root"


def test_align_none_and_procrustes():
    rng = np.random.default_rng(1)
    gt = _hand(1)
    shifted = gt + np.array([0.1, 0.0, 0.0])  # 100 mm everywhere
    r = R.evaluate_arrays(shifted, gt, align="none")
    assert r.epe_mean_mm == pytest.approx(100.0)
    assert r.auc_0_30 == 0.0 and r.epe2d_mean_px is None
    rot = _rotation(rng)
    sim = 1.3 * gt @ rot.T + 0.2
    p = R.evaluate_arrays(sim, gt, align="procrustes")
    assert p.epe_mean_mm < 1e-6 and p.auc_20_50 == 1.0
    # 1e-13 mm of float noise fails the 0 mm threshold only: the first trapezoid loses half its area.
    assert min(p.pck_values[1:]) == 1.0
    assert p.auc_0_30 >= 1.0 - 0.5 / 30 - 1e-12


def test_visibility_mask_excludes_joints():
    gt = _hand(2, n=2)
    pred = gt.copy()
    pred[0, 7] = np.nan  # masked: never read
    pred[1, 3, 1] += 0.5  # masked: a huge error that must not count
    vis = np.ones((2, 21), dtype=bool)
    vis[0, 7] = vis[1, 3] = False
    r = R.evaluate_arrays(pred, gt, vis)
    assert r.epe_mean_mm == pytest.approx(0.0, abs=1e-9) and r.num_joints == 40
    assert all(math.isfinite(x) for x in r.pck_values)


def test_bad_arguments():
    gt = _hand()
    with pytest.raises(ValueError, match="align"):
        R.evaluate_arrays(gt, gt, align="similarity")
    with pytest.raises(ValueError, match="together"):
        R.evaluate_arrays(gt, gt, pred_uv_px=np.zeros((4, 21, 2)))
    with pytest.raises(ValueError, match=r"\(N, 21, 3\)"):
        R.evaluate_arrays(gt[:, :20], gt[:, :20])


def test_json_round_trip_and_atomic_write(tmp_path, monkeypatch):
    r = R.evaluate_arrays(_hand(3) + 0.001, _hand(3))
    path = R.write_results_json(tmp_path / "results.json", r)
    assert R.read_results_json(path) == r
    assert json.loads(path.read_text())["format"] == R.RESULTS_FORMAT

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    other = R.evaluate_arrays(_hand(4), _hand(4))
    with pytest.raises(OSError, match="disk full"):
        R.write_results_json(path, other)
    assert R.read_results_json(path) == r  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temp file left


def test_from_dict_rejects_unknown_and_missing_keys():
    d = R.evaluate_arrays(_hand(), _hand()).to_dict()
    with pytest.raises(ValueError, match="unknown keys"):
        R.EvalResult.from_dict({**d, "pck": 1})
    d.pop("count")
    with pytest.raises(ValueError, match="missing keys"):
        R.EvalResult.from_dict(d)


def test_aggregate_mean_std_by_hand():
    gt = _hand()
    a = R.evaluate_arrays(gt + np.array([0.010, 0, 0]), gt, align="none")  # 10 mm
    b = R.evaluate_arrays(gt + np.array([0.012, 0, 0]), gt, align="none")  # 12 mm
    agg = R.aggregate([a, b])
    assert agg.mean["epe_mean_mm"] == pytest.approx(11.0)
    assert agg.std["epe_mean_mm"] == pytest.approx(math.sqrt(2.0))  # sample std of {10, 12}
    assert agg.runs == 2 and R.aggregate(a).std["auc_0_30"] == 0.0


def test_pa_epe_removes_exactly_a_similarity():
    rng = np.random.default_rng(11)
    gt = rng.normal(scale=0.03, size=(5, 21, 3)) + np.array([0, 0, 0.5])
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q if np.linalg.det(q) > 0 else -q
    moved = 1.3 * gt @ q.T + 0.01  # a similarity of each hand: no shape error
    r = R.evaluate_arrays(moved, gt)
    assert r.pa_epe_mean_mm == pytest.approx(0.0, abs=1e-6) and r.epe_mean_mm > 1.0
    # a mirrored hand is not a proper similarity of the original: PA-EPE (rotations only) stays > 0
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert R.evaluate_arrays(mirrored, gt).pa_epe_mean_mm > 1.0
