"""`awh eval --protocol interhand`: InterHand2.6M's MPJPE (wrist-relative, pooled over valid joints, by group)
against an independent numpy computation on random poses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from awhourglass.cli import main
from awhourglass.eval.protocol import evaluate_25d, protocol_settings
from awhourglass.eval.results import EvalResult

GROUPS = ["single", "interacting", "single", "interacting", "interacting", "single", "single", "interacting"]


def _case(seed=0):
    """GT hands (m), a predicted 2.5D (pixels, normalized depth) near them, K, and a validity mask whose invalid
    joints are NaN in the ground truth (never the wrist or middle MCP: the lift needs them)."""
    n = len(GROUPS)
    rng = np.random.default_rng(seed)
    gt = rng.normal(0, 0.04, (n, 21, 3)) + np.array([0.02, -0.01, 0.6])
    K = np.array([[500.0, 0.0, 64.0], [0.0, 480.0, 60.0], [0.0, 0.0, 1.0]])
    uv_true = gt[..., :2] / gt[..., 2:] * np.array([500.0, 480.0]) + np.array([64.0, 60.0])
    uv = uv_true + rng.normal(0, 2.0, uv_true.shape)
    bone = np.linalg.norm(gt[:, 0] - gt[:, 9], axis=-1)
    z_norm = (gt[..., 2] - 0.5 * (gt[:, None, 0, 2] + gt[:, None, 9, 2])) / bone[:, None]
    z_norm = z_norm + rng.normal(0, 0.1, z_norm.shape)
    vis = rng.random((n, 21)) > 0.2
    vis[:, [0, 9]] = True
    gt_masked = np.where(vis[..., None], gt, np.nan)
    return uv, z_norm, K, gt_masked, vis


def _by_hand(uv, z_norm, K, gt, vis, groups):
    """Lift with the GT root depth and scale-bone length, subtract the wrist per hand, pool per group (mm)."""
    out = {}
    errs = []
    for i in range(len(uv)):
        d = np.linalg.norm(gt[i, 0] - gt[i, 9])
        z_root = 0.5 * (gt[i, 0, 2] + gt[i, 9, 2])
        Z = z_root + z_norm[i] * d
        X = (uv[i, :, 0] - K[0, 2]) / K[0, 0] * Z
        Y = (uv[i, :, 1] - K[1, 2]) / K[1, 1] * Z
        pred = np.stack([X, Y, Z], 1)
        e = np.linalg.norm((pred - pred[0]) - (gt[i] - gt[i, 0]), axis=1) * 1000.0
        errs.append(e[vis[i]])
    for name in ("single", "interacting"):
        out[name] = np.concatenate([e for e, g in zip(errs, groups, strict=True) if g == name]).mean()
    out["all"] = np.concatenate(errs).mean()
    return out


def test_interhand_mpjpe_by_group_equals_a_numpy_computation():
    uv, z, K, gt, vis = _case()
    r = evaluate_25d(uv, z, K, gt, vis, protocol="interhand", groups=GROUPS)
    want = _by_hand(uv, z, K, gt, vis, GROUPS)
    assert r.mpjpe_single_mm == pytest.approx(want["single"], abs=1e-6)
    assert r.mpjpe_interacting_mm == pytest.approx(want["interacting"], abs=1e-6)
    assert r.mpjpe_all_mm == pytest.approx(want["all"], abs=1e-6)
    assert r.epe_mean_mm == pytest.approx(want["all"], abs=1e-6)  # pooled: the headline EPE is the same number
    assert r.protocol == "interhand" and r.align == "wrist" and r.average == "all"
    assert r.num_joints == int(vis.sum()) and r.count == len(GROUPS)
    # pooled is not the per-joint average of the paper protocol, nor the palm-relative error
    assert abs(want["single"] - want["interacting"]) > 1e-3
    paper = evaluate_25d(uv, z, K, gt, vis)
    assert paper.mpjpe_all_mm is None and paper.epe_mean_mm != pytest.approx(r.epe_mean_mm, abs=1e-3)
    assert protocol_settings("interhand") == ("wrist", False, "interhand")
    # without groups only the overall figure is known
    bare = evaluate_25d(uv, z, K, gt, vis, protocol="interhand")
    assert bare.mpjpe_single_mm is None and bare.mpjpe_all_mm == pytest.approx(want["all"], abs=1e-6)
    again = EvalResult.from_json(r.to_json())
    assert again == r


def _write(path, kind, xyz_m, vis=None, groups=None):
    samples = []
    for i, x in enumerate(xyz_m):
        s = {"id": f"h{i}", "xyz_mm": [None if not np.isfinite(row).all() else (row * 1000).tolist() for row in x]}
        if vis is not None:
            s["vis"] = vis[i].astype(int).tolist()
        if groups is not None:
            s["group"] = groups[i]
        samples.append(s)
    path.write_text(json.dumps({"format": f"awhourglass-{kind}/1", "joint_order": "canonical21", "units": "mm",
                                "samples": samples}))


def test_cli_pred_gt_reports_single_interacting_and_all(tmp_path, capsys):
    rng = np.random.default_rng(5)
    _, _, _, gt, vis = _case(seed=5)
    pred = np.where(np.isfinite(gt), gt, 0.0) + rng.normal(0, 0.008, gt.shape) + 0.05  # an offset: wrist removes it
    _write(tmp_path / "p.json", "predictions", pred)
    _write(tmp_path / "g.json", "groundtruth", gt, vis, GROUPS)
    assert main(["eval", "--pred", str(tmp_path / "p.json"), "--gt", str(tmp_path / "g.json"), "--out",
                 str(tmp_path / "o"), "--protocol", "interhand"]) == 0
    out = capsys.readouterr().out
    got = json.loads((tmp_path / "o" / "results.json").read_text())
    e = np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1) * 1000.0
    g = np.array(GROUPS)
    for name, rows in (("single", g == "single"), ("interacting", g == "interacting"), ("all", g == g)):
        m = vis & rows[:, None]
        assert got[f"mpjpe_{name}_mm"] == pytest.approx(e[m].mean(), abs=1e-6)
        assert f"{name} {e[m].mean():.2f} mm" in out
    assert "protocol interhand" in out and "MPJPE" in out
    # a ground-truth file without groups (written before they existed) still reads: only "all"
    _write(tmp_path / "g0.json", "groundtruth", gt, vis)
    assert main(["eval", "--pred", str(tmp_path / "p.json"), "--gt", str(tmp_path / "g0.json"), "--out",
                 str(tmp_path / "o0"), "--protocol", "interhand"]) == 0
    old = json.loads((tmp_path / "o0" / "results.json").read_text())
    assert old["mpjpe_single_mm"] is None and old["mpjpe_all_mm"] == pytest.approx(got["mpjpe_all_mm"], abs=1e-9)
    bad = json.loads((tmp_path / "g.json").read_text())
    bad["samples"][0]["group"] = 3
    (tmp_path / "g1.json").write_text(json.dumps(bad))
    assert main(["eval", "--pred", str(tmp_path / "p.json"), "--gt", str(tmp_path / "g1.json"), "--out",
                 str(tmp_path / "o1"), "--protocol", "interhand"]) != 0
    assert "'group' must be a string" in capsys.readouterr().err
