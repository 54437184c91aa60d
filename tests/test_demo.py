"""`awh demo` end to end at a tiny size: every stage runs, report.md's table is results.json's numbers."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from awhourglass.cli import main
from awhourglass.demo.config import METHOD_LABELS, DemoConfig, tiny_config
from awhourglass.demo.run import run_demo
from awhourglass.eval.report import DECIMALS, table_keys
from awhourglass.eval.results import read_results_json


def _table(md: str) -> dict[str, list[str]]:
    rows = {}
    for line in md.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] != "Method" and not cells[0].startswith("---"):
            rows[cells[0].strip("*")] = cells[1:]
    return rows


def test_tiny_demo_report_matches_results_json(tmp_path):
    out = tmp_path / "demo"
    doc = run_demo(tiny_config(out=str(out), seeds=2), echo=lambda s: None)
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(doc))
    assert list(saved["methods"]) == [METHOD_LABELS[m] for m in ("source_only", "joint", "wh", "dann", "awh",
                                                                    "oracle")]
    rows = _table((out / "report.md").read_text())
    assert set(rows) == set(saved["methods"]) | set(saved["baselines"])
    assert len(saved["baselines"]) == 2  # the source's and the target's constant hands
    keys = table_keys(saved)
    assert {"pa_epe_mean_mm", "epe2d_mean_px", "epe2d_mean_pct"} <= set(keys)
    for name, m in saved["methods"].items():
        assert m["runs"] == 2 and len(m["results"]) == 2
        runs, *cells = rows[name]
        assert runs == "2"
        for key, cell in zip(keys, cells, strict=True):
            dec = DECIMALS[key]
            mean, std = (float(x) for x in re.match(r"([-\d.]+) ± ([-\d.]+)", cell).groups())
            assert mean == pytest.approx(round(m["mean"][key], dec), abs=10 ** -dec / 2 + 1e-12)
            assert std == pytest.approx(round(m["std"][key], dec), abs=10 ** -dec / 2 + 1e-12)
            # mean over seeds, recomputed from the per-run results stored with it
            assert m["mean"][key] == pytest.approx(sum(r[key] for r in m["results"]) / 2)
    # Each run's own target-test result (written next to its model.pt) is one of the reported runs.
    awh = read_results_json(out / "runs" / "seed1" / "awh" / "target_test_results.json")
    assert awh.epe_mean_mm == saved["methods"][METHOD_LABELS["awh"]]["results"][1]["epe_mean_mm"]
    for fig in ("pck.png", "tsne_awh.png", "tsne_source_only.png", "qualitative_awh_0_2d.png",
                "qualitative_awh_0_3d.png", "heatmaps_awh_0.png", "confidence.png"):
        assert (out / fig).stat().st_size > 0
        assert f"]({fig})" in (out / "report.md").read_text()
    report = (out / "report.md").read_text()
    # what the runs trained in is recorded: each checkpoint's own config says the same
    from awhourglass.checkpoint import load_checkpoint

    ckpt = load_checkpoint(out / "runs" / "seed0" / "awh" / "model.pt")
    assert saved["demo"]["training_precision"] == ckpt["config"]["precision"] == tiny_config().training_precision()
    conf = saved["demo"]["confidence_check"]
    # the notes are filled in, with the threshold the demo's model carries (calibrated when it was trained)
    assert f"with threshold {conf['threshold']:.3f} ({conf['threshold_source']}), hand_detected on" in report
    assert conf["threshold_source"].startswith("calibrated")
    assert "*t-SNE of the last stack's bottleneck features" in report  # figures carry captions
    # The written test split is a real STB-format dataset: `awh eval` scores a demo model on it.
    assert main(["eval", str(out / "runs" / "seed0" / "awh" / "model.pt"), "--data", str(out / "data" / "stb"),
                 "--format", "stb", "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    ev = read_results_json(tmp_path / "ev" / "results.json")
    # (same crops and weights; only float summation order may differ between batchings and thread counts)
    awh_saved = saved["methods"][METHOD_LABELS["awh"]]["results"][0]
    assert ev.epe_mean_mm == pytest.approx(awh_saved["epe_mean_mm"], rel=1e-6)


def test_demo_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown"):
        DemoConfig(methods=("awh", "magic"))
    with pytest.raises(ValueError, match="seeds"):
        DemoConfig(seeds=0)
    with pytest.raises(ValueError, match=r"batch_size must be even \(half source, half target\), got 33"):
        DemoConfig(batch_size=33)
    DemoConfig(batch_size=34)


def test_demo_precision_setting_reaches_every_training_run(monkeypatch):
    from awhourglass.demo.run import adapt_config
    from awhourglass.models.config import ModelConfig

    with pytest.raises(ValueError, match="precision"):
        DemoConfig(precision="fp16")
    model = ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=1, depth=2)
    for setting, native, expected in [("fp32", True, "fp32"), ("bf16", False, "bf16"), ("auto", True, "bf16"),
                                      ("auto", False, "fp32")]:
        monkeypatch.setattr("awhourglass.demo.config.cpu_precision", lambda n=native: "bf16" if n else "fp32")
        cfg = DemoConfig(precision=setting)
        assert cfg.training_precision() == expected
        assert adapt_config(cfg, model, "awh", 0, "pre.pt").precision == expected


def test_demo_cli_bad_seeds_is_one_line(capsys, tmp_path):
    assert main(["demo", "--seeds", "0", "--out", str(tmp_path / "d")]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err


def test_tiny_demo_scores_its_models_on_a_real_hands_folder(tmp_path):
    # A folder in the realdev layout with one set (two OneHand10K-style photos): every model of seed 0 is scored
    # beside the constant hand, the sets that are not there are named, and the report carries the table.
    from PIL import Image

    rng = np.random.default_rng(0)
    real = tmp_path / "realdev"
    (real / "onehand10k").mkdir(parents=True)
    images, anns = [], []
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (60, 50, 3), dtype=np.uint8)).save(real / "onehand10k" / f"{i}.jpg")
        kp = np.column_stack([rng.uniform(5, 45, 21), rng.uniform(5, 55, 21), np.full(21, 2.0)])
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 50, "height": 60})
        anns.append({"id": 10 + i, "image_id": i, "keypoints": kp.ravel().tolist(), "bbox": [0, 0, 50, 60]})
    (real / "onehand10k" / "test_onehand10k.json").write_text(json.dumps({"images": images, "annotations": anns}))
    out = tmp_path / "demo"
    doc = run_demo(tiny_config(out=str(out), methods=("joint",), realdev=str(real)), echo=lambda s: None)
    r = doc["real_hands"]
    assert list(r["sets"]) == ["onehand10k"] and set(r["missing"]) == {"asl_video", "coco_wholebody"}
    rows = r["sets"]["onehand10k"]["rows"]
    assert {METHOD_LABELS["source_only"], METHOD_LABELS["joint"]} < set(rows)
    assert any(k.startswith("constant mean hand") for k in rows) and r["sets"]["onehand10k"]["hands"] == 2
    md = (out / "report.md").read_text()
    assert "## Real photographs" in md and (out / "realhands" / "realhands.json").is_file()
    assert json.loads((out / "results.json").read_text())["real_hands"] == json.loads(json.dumps(r))


def test_demo_realdev_setting_none_auto_or_a_folder(tmp_path, monkeypatch):
    from awhourglass.config import ConfigError
    from awhourglass.demo.run import realdev_folder

    assert realdev_folder("none") is None
    monkeypatch.setenv("AWH_REALDEV", str(tmp_path))
    assert realdev_folder("auto") == tmp_path
    monkeypatch.setenv("AWH_REALDEV", str(tmp_path / "absent"))
    assert realdev_folder("auto") is None
    assert realdev_folder(str(tmp_path)) == tmp_path
    with pytest.raises(ConfigError, match="not a folder"):
        realdev_folder(str(tmp_path / "absent"))
