"""`awh eval --protocol/--align`: each scorer against an independent computation on random poses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from awhourglass.cli import main
from awhourglass.eval.protocol import protocol_settings
from awhourglass.eval.results import evaluate_arrays


def _poses(n=12, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.normal(0, 0.04, (n, 21, 3)) + np.array([0, 0, 0.5])
    pred = gt + rng.normal(0, 0.01, gt.shape)
    pred[::3] = pred[::3] * np.array([-1.0, 1.0, 1.0])  # some mirrored predictions: a reflection fits them
    return pred, gt


def freihand_align_w_scale(gt, pred):
    """FreiHAND's eval.py ``align_w_scale(mtx1=gt, mtx2=pred)``, rewritten from its description."""
    t1, t2 = gt.mean(0), pred.mean(0)
    g, p = gt - t1, pred - t2
    s1, s2 = np.linalg.norm(g) + 1e-8, np.linalg.norm(p) + 1e-8
    R, s = orthogonal_procrustes(g / s1, p / s2)
    return (p / s2) @ R.T * s * s1 + t1


def test_freihand_protocol_equals_its_eval_py_to_a_micrometre():
    pred, gt = _poses()
    r = evaluate_arrays(pred, gt, *_align("freihand"))
    aligned = np.stack([freihand_align_w_scale(g, p) for p, g in zip(pred, gt, strict=True)])
    err_mm = np.linalg.norm(aligned - gt, axis=-1) * 1000.0
    per_joint = err_mm.mean(0)  # FreiHAND's EvalUtil: per keypoint over samples, then the mean
    assert r.epe_mean_mm == pytest.approx(per_joint.mean(), abs=1e-6)
    t = np.linspace(0.0, 50.0, 100)
    pck = np.stack([(err_mm[:, j, None] <= t).mean(0) for j in range(21)]).mean(0)
    assert r.auc_0_50_100 == pytest.approx(np.trapezoid(pck, t) / 50.0, abs=1e-9)
    assert r.protocol == "freihand" and r.reflection and r.align == "procrustes"
    # without reflections the mirrored predictions fit worse: the protocols really differ
    proper = evaluate_arrays(pred, gt, align="procrustes")
    assert proper.epe_mean_mm > r.epe_mean_mm + 1.0


def _align(protocol=None, align=None):
    a, reflect, name = protocol_settings(protocol, align)
    return None, None, None, a, "palm", "joints", reflect, name


def test_wrist_and_none_alignment_by_hand():
    pred, gt = _poses(seed=1)
    r = evaluate_arrays(pred, gt, *_align(align="wrist"))
    err = np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1) * 1000.0
    assert r.epe_mean_mm == pytest.approx(err.mean(0).mean(), abs=1e-6) and r.protocol == "custom"
    r = evaluate_arrays(pred, gt, *_align(align="none"))
    assert r.epe_mean_mm == pytest.approx((np.linalg.norm(pred - gt, axis=-1) * 1000).mean(0).mean(), abs=1e-6)
    assert protocol_settings("freihand", "wrist") == ("wrist", False, "freihand, align wrist")
    assert protocol_settings() == ("root", False, "paper")
    with pytest.raises(ValueError, match="protocol"):
        protocol_settings("interhand2")


def test_cli_pred_gt_with_each_protocol(tmp_path, capsys):
    pred, gt = _poses(n=4, seed=2)

    def write(path, xyz, kind):
        path.write_text(json.dumps({"format": f"awhourglass-{kind}/1", "joint_order": "canonical21", "units": "mm",
                                    "samples": [{"id": str(i), "xyz_mm": (x * 1000).tolist()}
                                                for i, x in enumerate(xyz)]}))
    write(tmp_path / "p.json", pred, "predictions")
    write(tmp_path / "g.json", gt, "groundtruth")
    got = {}
    for proto in ("paper", "freihand"):
        out = tmp_path / proto
        assert main(["eval", "--pred", str(tmp_path / "p.json"), "--gt", str(tmp_path / "g.json"), "--out",
                     str(out), "--protocol", proto]) == 0, capsys.readouterr().err
        got[proto] = json.loads((out / "results.json").read_text())
        assert f"protocol {proto}" in capsys.readouterr().out
    assert got["freihand"]["epe_mean_mm"] < got["paper"]["epe_mean_mm"]
    aligned = np.stack([freihand_align_w_scale(g, p) for p, g in zip(pred, gt, strict=True)])
    assert got["freihand"]["epe_mean_mm"] == pytest.approx(
        (np.linalg.norm(aligned - gt, axis=-1) * 1000).mean(0).mean(), abs=1e-6)
