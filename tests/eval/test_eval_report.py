import json
import re

import numpy as np
import pytest

from awhourglass.eval.report import DECIMALS, table_keys, write_report
from awhourglass.eval.results import SUMMARY_KEYS, evaluate_arrays


def _result(noise_m, seed, align="root"):
    rng = np.random.default_rng(seed)
    gt = rng.normal(scale=0.03, size=(6, 21, 3))
    return evaluate_arrays(gt + rng.normal(scale=noise_m, size=gt.shape), gt, align=align)


def _table(md):
    """Rows of the markdown table: method -> list of cell strings."""
    rows = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| Method"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_report_numbers_are_those_of_results_json(tmp_path):
    seeds = [_result(0.008, s) for s in range(3)]
    single = _result(0.015, 10)
    fig = tmp_path / "figs" / "pck.png"
    fig.parent.mkdir()
    fig.write_bytes(b"png")
    md_path, json_path = write_report(tmp_path, {"AWH": seeds, "wo/AWH": single}, figures=[fig])
    doc = json.loads(json_path.read_text())
    rows = _table(md_path.read_text())
    assert set(rows) == {"AWH", "wo/AWH"}
    for name, cells in rows.items():
        m = doc["methods"][name]
        assert int(cells[0]) == m["runs"]
        for k, cell in zip(table_keys(doc), cells[1:], strict=True):
            nums = [float(x) for x in re.findall(r"-?\d+\.\d+", cell)]
            half_unit = 0.5 * 10 ** -DECIMALS[k] + 1e-12
            assert abs(nums[0] - m["mean"][k]) <= half_unit
            if m["runs"] > 1:
                assert "±" in cell and abs(nums[1] - m["std"][k]) <= half_unit
            else:
                assert len(nums) == 1
    # the aggregate is the mean of the per-seed results stored beside it (an independent recomputation)
    per_seed = [r["epe_mean_mm"] for r in doc["methods"]["AWH"]["results"]]
    assert doc["methods"]["AWH"]["mean"]["epe_mean_mm"] == pytest.approx(np.mean(per_seed))
    assert doc["methods"]["AWH"]["std"]["epe_mean_mm"] == pytest.approx(np.std(per_seed, ddof=1))
    assert [r.epe_mean_mm for r in seeds] == per_seed
    assert "![pck](figs/pck.png)" in md_path.read_text()  # linked relative to the report
    assert table_keys(doc)[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS) and "pa_epe_mean_mm" in table_keys(doc)


def test_report_refuses_mixed_settings_and_empty(tmp_path):
    with pytest.raises(ValueError, match="mix alignment"):
        write_report(tmp_path, {"a": _result(0.01, 0), "b": _result(0.01, 0, align="procrustes")})
    with pytest.raises(ValueError, match="no methods"):
        write_report(tmp_path, {})
    with pytest.raises(ValueError, match="no results"):
        write_report(tmp_path, {"a": []})
    assert not (tmp_path / "report.md").exists()


def test_figure_captions_are_printed_under_their_image(tmp_path):
    fig = tmp_path / "tsne.png"
    fig.write_bytes(b"png")
    md_path, _ = write_report(tmp_path, {"a": _result(0.01, 0)}, figures=[(fig, "red = source, blue = target")])
    md = md_path.read_text()
    assert "![tsne](tsne.png)\n\n*red = source, blue = target*" in md


def test_a_method_that_loses_to_the_constant_is_flagged(tmp_path):
    rng = np.random.default_rng(3)
    gt = rng.normal(scale=0.03, size=(8, 21, 3))
    uv = rng.uniform(0, 64, size=(8, 21, 2))

    def res(noise_m, noise_px):
        return evaluate_arrays(gt + rng.normal(scale=noise_m, size=gt.shape), gt,
                               pred_uv_px=uv + rng.normal(scale=noise_px, size=uv.shape), gt_uv_px=uv)

    const = res(0.02, 5.0)
    md_path, json_path = write_report(tmp_path, {"good": res(0.002, 0.5), "bad": res(0.05, 10.0)},
                                      baselines={"constant": const})
    md, doc = md_path.read_text(), json.loads(json_path.read_text())
    assert "NOT BETTER THAN A CONSTANT HAND: bad." in md
    rows = _table(md)
    assert "⚠" in rows["bad"][1] and all("⚠" not in c for c in rows["good"])
    assert rows["*constant*"][0] == "–"
    flagged = {(f["method"], f["metric"]) for f in doc["loses_to_constant"]}
    assert ("bad", "epe_mean_mm") in flagged and ("bad", "pa_epe_mean_mm") in flagged
    assert not any(m == "good" for m, _ in flagged)
    # the PA-EPE and 2D columns are shown
    assert "PA-EPE (mm)" in md and "2D (% box)" in md


def test_sections_go_between_the_table_and_the_figures():
    from awhourglass.eval.report import render_markdown, report_document

    doc = report_document({"a": [_result(0.01, 0)]})
    md = render_markdown(doc, ["f.png"], sections="## Notes\n\nsome words\n")
    table, notes, figs = md.index("| a |"), md.index("## Notes"), md.index("## Figures")
    assert table < notes < figs and "some words" in md[notes:figs]
    assert "## Notes" not in render_markdown(doc, ["f.png"])
