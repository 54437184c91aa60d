import json

import numpy as np
import pytest

from awhourglass.eval import predictions as P


def _hands(n=3, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(scale=0.03, size=(n, 21, 3))
    xyz[..., 2] += 0.5
    return xyz


def _files(tmp_path, n=3):
    ids = [f"s{i}" for i in range(n)]
    gt = _hands(n)
    pred = gt + 0.02  # root alignment removes this shift
    pred[:, 5, 1] += 0.0105  # 10.5 mm at joint 5
    gp = P.write_ground_truth(tmp_path / "gt.json", ids, gt, uv_px=np.zeros((n, 21, 2)))
    pp = P.write_predictions(tmp_path / "pred.json", ids, pred, uv_px=np.full((n, 21, 2), 2.0))
    return pp, gp, ids, gt, pred


def test_round_trip_and_mm_units(tmp_path):
    pp, gp, ids, _, pred = _files(tmp_path)
    doc = json.loads(pp.read_text())
    assert doc["format"] == "awhourglass-predictions/1" and doc["units"] == "mm"
    assert doc["samples"][1]["xyz_mm"][4][0] == pytest.approx(1000 * pred[1, 4, 0])
    recs = P.read_predictions(pp)
    assert [r.id for r in recs] == ids
    np.testing.assert_allclose(np.stack([r.xyz_m for r in recs]), pred, atol=1e-12)
    gts = P.read_ground_truth(gp)
    assert all(r.vis.all() for r in gts)


def test_score_by_hand_and_order_independent(tmp_path):
    pp, gp, *_ = _files(tmp_path)
    r = P.score_prediction_file(pp, gp)
    assert r.epe_mean_mm == pytest.approx(10.5 / 21)
    assert r.epe2d_mean_px == pytest.approx(np.hypot(2.0, 2.0))
    doc = json.loads(pp.read_text())
    doc["samples"].reverse()
    shuffled = tmp_path / "shuffled.json"
    shuffled.write_text(json.dumps(doc))
    assert P.score_prediction_file(shuffled, P.read_ground_truth(gp)) == r


def test_gt_vis_and_null_masked_joints(tmp_path):
    gt = _hands(2)
    pred = gt.copy()
    pred[1, 3] += 1.0  # wildly wrong, but masked in the ground truth
    vis = np.ones((2, 21), dtype=bool)
    vis[1, 3] = False
    gt_nan = gt.copy()
    gt_nan[1, 3] = np.nan
    gp = P.write_ground_truth(tmp_path / "gt.json", ["a", "b"], gt_nan, vis=vis)
    assert json.loads(gp.read_text())["samples"][1]["xyz_mm"][3] is None
    pp = P.write_predictions(tmp_path / "p.json", ["a", "b"], pred)
    r = P.score_prediction_file(pp, gp)
    assert r.epe_mean_mm == pytest.approx(0.0, abs=1e-9) and r.num_joints == 41


def _write(tmp_path, doc, name="bad.json"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def _doc(samples, fmt=P.PRED_FORMAT, **kw):
    return {"format": fmt, "joint_order": "canonical21", "units": "mm", "samples": samples, **kw}


def _sample(sid="s0", n=21):
    return {"id": sid, "xyz_mm": [[1.0, 2.0, 500.0]] * n}


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (_doc([_sample(n=20)]), "expected 21 joints, got 20"),
        (_doc([_sample(), _sample()]), "duplicate id 's0'"),
        (_doc([{"id": "", "xyz_mm": [[0, 0, 0]] * 21}]), "'id' must be a non-empty string"),
        (_doc([{"id": "a"}]), "missing 'xyz_mm'"),
        (_doc([{"id": "a", "xyz_mm": [[0, 0, "x"]] * 21}]), "not a number"),
        (_doc([{"id": "a", "xyz_mm": [[0, 0]] * 21}]), "list of 3 numbers"),
        (_doc([{"id": "a", "xyz_mm": [None] * 21}]), "list of 3 numbers"),
        (_doc([{"id": "a", "xyz_mm": [[0, 0, 1e400]] * 21}]), "non-finite"),
        (_doc([_sample()], fmt="freihand"), "format must be"),
        (_doc([_sample()]) | {"units": "m"}, "units must be 'mm'"),
        (_doc([_sample()]) | {"joint_order": "rhd"}, "joint_order"),
        (_doc([]), "non-empty list"),
        (_doc([_sample() | {"conf": 1}]), "unknown keys"),
        ('{"format": "awhourglass-predictions/1", "samples": [NaN', "non-finite number NaN"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_bad_prediction_files(tmp_path, doc, match):
    with pytest.raises(ValueError, match=match):
        P.read_predictions(_write(tmp_path, doc))


def test_bad_ground_truth_files(tmp_path):
    s = _sample() | {"vis": [1] * 21}
    s["xyz_mm"] = [None] + [[1.0, 2.0, 500.0]] * 20
    with pytest.raises(ValueError, match="null/non-finite at visible joint 0"):
        P.read_ground_truth(_write(tmp_path, _doc([s], fmt=P.GT_FORMAT)))
    s["vis"] = [0.5] * 21
    with pytest.raises(ValueError, match="'vis' must be"):
        P.read_ground_truth(_write(tmp_path, _doc([s], fmt=P.GT_FORMAT)))
    with pytest.raises(ValueError, match="file not found"):
        P.read_ground_truth(tmp_path / "missing.json")


def test_missing_and_extra_ids(tmp_path):
    gt = _write(tmp_path, _doc([_sample("a"), _sample("b"), _sample("c")], fmt=P.GT_FORMAT), "gt.json")
    missing = _write(tmp_path, _doc([_sample("a"), _sample("b")]), "p1.json")
    with pytest.raises(ValueError, match=r"1 ground-truth id\(s\) without a prediction, e.g. \['c'\]"):
        P.score_prediction_file(missing, gt)
    extra = _write(tmp_path, _doc([_sample("a"), _sample("b"), _sample("c"), _sample("z")]), "p2.json")
    with pytest.raises(ValueError, match=r"1 predicted id\(s\) not in the ground truth"):
        P.score_prediction_file(extra, gt)


def test_writer_refuses_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="2 ids for 3 samples"):
        P.write_predictions(tmp_path / "p.json", ["a", "b"], _hands(3))
    bad = _hands(1)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="predictions must be finite"):
        P.write_predictions(tmp_path / "p.json", ["a"], bad)
    assert not (tmp_path / "p.json").exists()


def test_a_deeply_nested_json_is_one_line(tmp_path, capsys):
    from awhourglass.cli import main

    bomb = tmp_path / "deep.json"
    bomb.write_text("[" * 100_000 + "]" * 100_000)
    gt = tmp_path / "gt.json"
    gt.write_text("{}")
    assert main(["eval", "--pred", str(bomb), "--gt", str(gt), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"awh eval: error: {bomb}: JSON nested too deeply to be a pose file"]
