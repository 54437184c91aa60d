"""``report.md`` + its ``results.json``: one table of methods, numbers taken from the same JSON document.

The table is rendered from the dict that is written to ``results.json`` (not from the results directly),
so the two files cannot disagree: each cell is the JSON value formatted with :data:`DECIMALS` places.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from awhourglass.atomic import atomic_write_text
from awhourglass.eval.results import EXTRA_KEYS, SUMMARY_KEYS, EvalResult, aggregate

REPORT_FORMAT = "awhourglass-report/1"
# Cell precision: 0.01 mm for errors, 0.001 for AUCs (the paper's tables use 0.1 mm and 0.001).
DECIMALS: dict[str, int] = {"epe_mean_mm": 2, "epe_median_mm": 2, "auc_0_30": 3, "auc_20_50": 3,
                            "pa_epe_mean_mm": 2, "epe2d_mean_px": 2, "epe2d_mean_pct": 1}
HEADERS: dict[str, str] = {
    "epe_mean_mm": "EPE mean (mm)",
    "epe_median_mm": "EPE median (mm)",
    "auc_0_30": "AUC 0–30 mm",
    "auc_20_50": "AUC 20–50 mm",
    "pa_epe_mean_mm": "PA-EPE (mm)",
    "epe2d_mean_px": "2D (px)",
    "epe2d_mean_pct": "2D (% box)",
}
# Metrics on which a method must beat the constant hand; True where higher is better.
COMPARED: dict[str, bool] = {"epe_mean_mm": False, "pa_epe_mean_mm": False, "epe2d_mean_px": False,
                             "auc_0_30": True, "auc_20_50": True}
LOSES = "⚠"


def table_keys(doc: Mapping[str, Any]) -> list[str]:
    """Columns of the table: the summary numbers, then every extra number that all rows have."""
    rows = [*doc["methods"].values(), *doc.get("baselines", {}).values()]
    return [*SUMMARY_KEYS, *(k for k in EXTRA_KEYS if all(k in r["mean"] for r in rows))]


def losses_to_constant(doc: Mapping[str, Any]) -> list[tuple[str, str, float, float]]:
    """``(method, metric, method value, best constant value)`` wherever a method is not better than the best
    constant-hand baseline of the document on that metric (mean over runs)."""
    base = doc.get("baselines", {})
    out = []
    for key, higher in COMPARED.items():
        vals = [b["mean"][key] for b in base.values() if key in b["mean"]]
        if not vals:
            continue
        best = max(vals) if higher else min(vals)
        for name, m in doc["methods"].items():
            if key in m["mean"] and (m["mean"][key] <= best if higher else m["mean"][key] >= best):
                out.append((name, key, m["mean"][key], best))
    return out


def _entry(runs: list[EvalResult]) -> dict[str, Any]:
    agg = aggregate(runs)
    return {"runs": agg.runs, "mean": agg.mean, "std": agg.std, "results": [r.to_dict() for r in runs]}


def report_document(methods: Mapping[str, EvalResult | Sequence[EvalResult]],
                    baselines: Mapping[str, EvalResult] | None = None) -> dict[str, Any]:
    """The ``results.json`` document of a report: per method, runs, mean, std and every run's result.

    ``baselines`` (e.g. the constant mean hands of :mod:`awhourglass.eval.baselines`) are stored under their
    own key and shown beside the methods; every method that does not beat the best of them is flagged.
    All results must share the same alignment and averaging, otherwise the table would compare
    different quantities.
    """
    if not methods:
        raise ValueError("report: no methods given")
    doc: dict[str, Any] = {"format": REPORT_FORMAT, "methods": {}}
    settings = set()
    for name, base in (baselines or {}).items():
        settings.add((base.align, base.average))
        doc.setdefault("baselines", {})[str(name)] = _entry([base])
    for name, res in methods.items():
        runs = [res] if isinstance(res, EvalResult) else list(res)
        if not runs:
            raise ValueError(f"report: method {name!r} has no results")
        for r in runs:
            if not isinstance(r, EvalResult):
                raise ValueError(f"report: method {name!r} has a {type(r).__name__}, expected EvalResult")
            settings.add((r.align, r.average))
        doc["methods"][str(name)] = _entry(runs)
    if len(settings) > 1:
        raise ValueError(f"report: results mix alignment/averaging settings {sorted(settings)}")
    (align, average), = settings
    doc["align"], doc["average"] = align, average
    doc["loses_to_constant"] = [{"method": m, "metric": k, "value": v, "constant": c}
                                for m, k, v, c in losses_to_constant(doc)]
    return doc


def _cell(mean: float, std: float, runs: int, decimals: int) -> str:
    return f"{mean:.{decimals}f}" if runs == 1 else f"{mean:.{decimals}f} ± {std:.{decimals}f}"


Figure = str | os.PathLike | tuple[str | os.PathLike, str]  # a PNG path, or (path, caption)


def _figure_path_caption(f: Figure) -> tuple[Path, str]:
    return (Path(f[0]), f[1]) if isinstance(f, tuple) else (Path(f), "")


def render_markdown(doc: Mapping[str, Any], figures: Sequence[Figure] = (), title: str = "Results",
                    sections: str = "") -> str:
    """Markdown for a report document (:func:`report_document`); figure paths are used as given.

    Each figure is a path or a ``(path, caption)`` pair; a caption is printed in italics under its image.
    ``sections``: markdown of the caller's own (notes, more tables), placed between the table and the figures.
    """
    lines = [f"# {title}", ""]
    lines.append(
        f"3D errors on canonical 21 joints, alignment `{doc['align']}`, averaging `{doc['average']}`; "
        "with several runs each cell is mean ± sample standard deviation. AUCs: trapezoid over evenly "
        "spaced thresholds divided by the range (docs/evaluation.md)."
    )
    lines.append("")
    keys = table_keys(doc)
    flags = {(m, k) for m, k, _, _ in losses_to_constant(doc)}
    if flags:
        worst = sorted({m for m, _ in flags})
        lines += [f"**{LOSES} NOT BETTER THAN A CONSTANT HAND: {', '.join(worst)}.** A cell marked {LOSES} is no "
                  "better than the best constant-hand row on that metric: on it, that model has not learned "
                  "hand pose.", ""]
    lines.append("| Method | Runs | " + " | ".join(HEADERS[k] for k in keys) + " |")
    lines.append("|---|---:|" + "---:|" * len(keys))
    for name, m in doc.get("baselines", {}).items():
        cells = [_cell(m["mean"][k], m["std"][k], m["runs"], DECIMALS[k]) for k in keys]
        lines.append(f"| *{name}* | – | " + " | ".join(f"*{c}*" for c in cells) + " |")
    for name, m in doc["methods"].items():
        cells = [_cell(m["mean"][k], m["std"][k], m["runs"], DECIMALS[k]) + (f" {LOSES}" if (name, k) in flags else "")
                 for k in keys]
        lines.append(f"| {name} | {m['runs']} | " + " | ".join(cells) + " |")
    if sections:
        lines += ["", sections.strip("\n")]
    if figures:
        lines += ["", "## Figures", ""]
        for f in figures:
            p, caption = _figure_path_caption(f)
            lines += [f"![{p.stem}]({p.as_posix()})", ""]
            if caption:
                lines += [f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    out_dir: str | os.PathLike,
    methods: Mapping[str, EvalResult | Sequence[EvalResult]],
    figures: Sequence[Figure] = (),
    title: str = "Results",
    baselines: Mapping[str, EvalResult] | None = None,
) -> tuple[Path, Path]:
    """Write ``out_dir/results.json`` then ``out_dir/report.md`` (both atomically).

    Args:
        methods: method name → one result, or a list of results (e.g. one per seed: mean ± std).
        figures: PNG paths or ``(path, caption)`` pairs; those inside ``out_dir`` are linked relative to it.
    Returns:
        ``(report_md_path, results_json_path)``.
    """
    out = Path(out_dir)
    doc = report_document(methods, baselines)
    rel = []
    for f in figures:
        p, caption = _figure_path_caption(f)
        try:
            rel.append((p.resolve().relative_to(out.resolve()), caption))
        except ValueError:
            rel.append((p, caption))
    json_path = atomic_write_text(out / "results.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    md_path = atomic_write_text(out / "report.md", render_markdown(doc, rel, title))
    return md_path, json_path
