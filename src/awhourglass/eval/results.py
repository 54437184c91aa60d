"""One evaluation's numbers (:class:`EvalResult`), how they are computed from arrays, and ``results.json``.

:func:`evaluate_arrays` is the single place where predictions meet ground truth: every other entry point
(the paper's 2.5D protocol in :mod:`awhourglass.eval.protocol`, prediction files in
:mod:`awhourglass.eval.predictions`) ends here, so all reported numbers come from one code path.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeGuard

import numpy as np

from awhourglass import metrics
from awhourglass.atomic import atomic_write_text
from awhourglass.skeleton import WRIST

Align = Literal["root", "wrist", "procrustes", "none"]
ALIGNS: tuple[str, ...] = ("root", "wrist", "procrustes", "none")


def is_align(value: object) -> TypeGuard[Align]:
    """Whether ``value`` is one of :data:`ALIGNS`."""
    return value in ALIGNS

RESULTS_FORMAT = "awhourglass-results/1"

# The PCK curve stored with each result: 0–50 mm in 1 mm steps (the AUCs below use their own grids of
# metrics.DEFAULT_NUM_THRESHOLDS; with 1 mm spacing both agree on shared thresholds).
CURVE_LO_MM, CURVE_HI_MM, CURVE_NUM = 0.0, 50.0, 51
# Added after the first results files were written: absent keys read as None.
OPTIONAL_KEYS: tuple[str, ...] = ("pa_epe_mean_mm", "epe2d_mean_pct", "protocol", "reflection", "auc_0_50_100",
                                   "mpjpe_single_mm", "mpjpe_interacting_mm", "mpjpe_all_mm")
GROUPS: tuple[str, ...] = ("single", "interacting")  # InterHand2.6M's sample groups (Sample.group)


@dataclass(frozen=True)
class EvalResult:
    """Summary of one evaluation. Millimetres for 3D, pixels for 2D, AUCs in [0, 1].

    Attributes:
        epe_mean_mm, epe_median_mm: 3D end-point error over visible joints (see ``average``).
        auc_0_30, auc_20_50: PCK AUC over 0–30 mm and 20–50 mm, ``metrics.DEFAULT_NUM_THRESHOLDS`` each.
        auc_0_50_hand3d, auc_20_50_hand3d: the same on hand3d's 20-threshold grid (literature tables).
        pck_thresholds_mm, pck_values: the PCK curve (0–50 mm, 1 mm steps).
        epe2d_mean_px, epe2d_median_px: 2D end-point error, ``None`` when no 2D was given.
        count: number of samples; num_joints: number of visible (sample, joint) pairs evaluated.
        align: ``"root"`` (palm-centre-relative), ``"procrustes"`` (similarity) or ``"none"``.
        average: ``"joints"`` (per joint, then over joints: hand3d/FreiHAND) or ``"all"`` (pooled).
        pa_epe_mean_mm: mean 3D error after a per-sample similarity (Procrustes, proper rotation) alignment of
            the same predictions, whatever ``align`` says (``None`` in files written before it existed).
        epe2d_mean_pct: mean 2D error as a percentage of each hand's box side (the longer side of the box of
            its ground-truth 2D joints), ``None`` without 2D (or when a ground-truth hand has no box).
        protocol: the protocol that chose ``align`` (``paper``, ``freihand``; :mod:`awhourglass.eval.protocol`),
            or ``custom`` for an ``align`` given alone.
        reflection: whether the ``procrustes`` alignment could reflect (FreiHAND's ``eval.py`` does).
        auc_0_50_100: PCK AUC over 0–50 mm with 100 thresholds (FreiHAND's grid).
        mpjpe_single_mm, mpjpe_interacting_mm, mpjpe_all_mm: InterHand2.6M's MPJPE (``protocol="interhand"``):
            the aligned errors pooled over the valid joints of the samples of group ``single``, ``interacting``,
            and of all samples; ``None`` for other protocols or a group with no sample.
    """

    epe_mean_mm: float
    epe_median_mm: float
    auc_0_30: float
    auc_20_50: float
    auc_0_50_hand3d: float
    auc_20_50_hand3d: float
    pck_thresholds_mm: tuple[float, ...]
    pck_values: tuple[float, ...]
    epe2d_mean_px: float | None
    epe2d_median_px: float | None
    count: int
    num_joints: int
    align: str
    average: str
    pa_epe_mean_mm: float | None = None
    epe2d_mean_pct: float | None = None
    protocol: str | None = None
    reflection: bool | None = None
    auc_0_50_100: float | None = None
    mpjpe_single_mm: float | None = None
    mpjpe_interacting_mm: float | None = None
    mpjpe_all_mm: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        d = asdict(self)
        d["pck_thresholds_mm"] = list(self.pck_thresholds_mm)
        d["pck_values"] = list(self.pck_values)
        return d

    def to_json(self) -> str:
        """JSON text with a ``format`` tag; floats written at full precision."""
        return json.dumps({"format": RESULTS_FORMAT, **self.to_dict()}, indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResult:
        """Inverse of :meth:`to_dict` (a ``format`` key is accepted); unknown or missing keys are errors."""
        d = dict(d)
        fmt = d.pop("format", RESULTS_FORMAT)
        if fmt != RESULTS_FORMAT:
            raise ValueError(f"results: format {fmt!r} is not {RESULTS_FORMAT!r}")
        names = {f.name for f in fields(cls)}
        unknown, missing = set(d) - names, names - set(d) - set(OPTIONAL_KEYS)
        if unknown or missing:
            raise ValueError(f"results: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        d["pck_thresholds_mm"] = tuple(float(x) for x in d["pck_thresholds_mm"])
        d["pck_values"] = tuple(float(x) for x in d["pck_values"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> EvalResult:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


def evaluate_arrays(
    pred_xyz_m: object,
    gt_xyz_m: object,
    vis: object | None = None,
    pred_uv_px: object | None = None,
    gt_uv_px: object | None = None,
    align: Align = "root",
    root: str | int = "palm",
    average: metrics.Average = "joints",
    reflection: bool = False,
    protocol: str | None = None,
    groups: Sequence[str] | None = None,
) -> EvalResult:
    """Score predicted joints against ground truth.

    Args:
        pred_xyz_m, gt_xyz_m: ``(N, 21, 3)`` camera-space joints in metres (canonical order).
        vis: ``(N, 21)`` bool / 0-1 mask of joints to score; ``None`` = all.
        pred_uv_px, gt_uv_px: optional ``(N, 21, 2)`` pixels for the 2D EPE (same mask).
        align: ``"root"`` subtracts each hand's own root (``root``: ``"palm"`` or a joint index), ``"wrist"``
            the wrist, ``"procrustes"`` fits a similarity per sample on visible joints (a reflection allowed
            with ``reflection``), ``"none"`` compares as given.
        protocol: recorded in the result (see :class:`EvalResult`).
        average: see :mod:`awhourglass.metrics`.
        groups: ``N`` sample groups (``single`` / ``interacting`` / ``""``): when given, the ``mpjpe_*`` fields are
            filled (:func:`pooled_by_group`).
    """
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
    pred = metrics.as_joints(pred_xyz_m, "pred_xyz_m", 3)
    gt = metrics.as_joints(gt_xyz_m, "gt_xyz_m", 3)
    v = metrics.check_vis(vis, pred.shape[0])
    pa_mean = None
    if (v.sum(1) >= 3).all():  # a similarity needs 3 points per hand
        pa_err = metrics.joint_errors_mm(metrics.procrustes_align(pred, gt, v), gt, v)
        pa_mean = metrics.epe_mean_median(pa_err, v, average)[0]
    if align == "root":
        pred, gt = metrics.root_align(pred, gt, root)
    elif align == "wrist":
        pred, gt = metrics.root_align(pred, gt, WRIST)
    elif align == "procrustes":
        pred = metrics.procrustes_align(pred, gt, v, allow_reflection=reflection)
    err = metrics.joint_errors_mm(pred, gt, v)
    mean, median = metrics.epe_mean_median(err, v, average)
    t = np.linspace(CURVE_LO_MM, CURVE_HI_MM, CURVE_NUM)
    curve = metrics.pck_curve(err, t, v, average)
    h3d = metrics.hand3d_aucs(err, v, average)
    mean2d = median2d = pct2d = None
    if (pred_uv_px is None) != (gt_uv_px is None):
        raise ValueError("pred_uv_px and gt_uv_px must be given together")
    if pred_uv_px is not None:
        e2d = metrics.joint_errors_px(pred_uv_px, gt_uv_px, v)
        if e2d.shape[0] != pred.shape[0]:
            raise ValueError(f"uv arrays have {e2d.shape[0]} samples, xyz arrays {pred.shape[0]}")
        mean2d, median2d = metrics.epe_mean_median(e2d, v, average)
        box = metrics.hand_box_side_px(gt_uv_px, v)
        if (box > 0).all():
            pct2d = metrics.epe_mean_median(100.0 * e2d / box[:, None], v, average)[0]
    return EvalResult(
        epe_mean_mm=mean,
        epe_median_mm=median,
        auc_0_30=metrics.pck_auc(err, 0, 30, v, average=average),
        auc_20_50=metrics.pck_auc(err, 20, 50, v, average=average),
        auc_0_50_hand3d=h3d["auc_0_50"],
        auc_20_50_hand3d=h3d["auc_20_50"],
        pck_thresholds_mm=tuple(float(x) for x in t),
        pck_values=tuple(float(x) for x in curve),
        epe2d_mean_px=mean2d,
        epe2d_median_px=median2d,
        count=int(pred.shape[0]),
        num_joints=int(v.sum()),
        align=align,
        average=average,
        pa_epe_mean_mm=pa_mean,
        epe2d_mean_pct=pct2d,
        protocol=protocol or "custom",
        reflection=bool(reflection and align == "procrustes"),
        auc_0_50_100=metrics.pck_auc(err, 0, 50, v, num=100, average=average),
        **({} if groups is None else pooled_by_group(err, v, groups)),
    )


def pooled_by_group(errors_mm: np.ndarray, vis: np.ndarray, groups: Sequence[str]) -> dict[str, float | None]:
    """``mpjpe_{single,interacting,all}_mm``: mean of the errors ``(N, 21)`` over the ``vis (N, 21)`` joints of the
    samples in each group, and of all samples (InterHand2.6M pools its errors); ``None`` for an empty group."""
    g = np.asarray(list(groups), dtype=object)
    if g.shape != (errors_mm.shape[0],):
        raise ValueError(f"groups: expected {errors_mm.shape[0]} sample groups, got {g.shape[0]}")
    out: dict[str, float | None] = {}
    for name, rows in [*((n, g == n) for n in GROUPS), ("all", np.ones(len(g), bool))]:
        m = vis & rows[:, None]
        out[f"mpjpe_{name}_mm"] = float(errors_mm[m].mean()) if m.any() else None
    return out


def write_results_json(path: str | os.PathLike, result: EvalResult) -> Path:
    """Write one result as ``results.json`` (atomically)."""
    return atomic_write_text(path, result.to_json() + "\n")


def read_results_json(path: str | os.PathLike) -> EvalResult:
    """Read a file written by :func:`write_results_json`."""
    try:
        return EvalResult.from_json(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


SUMMARY_KEYS: tuple[str, ...] = ("epe_mean_mm", "epe_median_mm", "auc_0_30", "auc_20_50")
# Aggregated too when every run has them (None: no 2D given, or a results file older than the field).
EXTRA_KEYS: tuple[str, ...] = ("pa_epe_mean_mm", "epe2d_mean_px", "epe2d_mean_pct")


@dataclass(frozen=True)
class Aggregate:
    """Mean and standard deviation of the summary numbers over runs (e.g. seeds).

    ``std`` is the sample standard deviation (ddof = 1); 0 for a single run.
    """

    mean: dict[str, float]
    std: dict[str, float]
    runs: int


def aggregate(results: list[EvalResult] | EvalResult) -> Aggregate:
    """Mean ± std of :data:`SUMMARY_KEYS` (and of each of :data:`EXTRA_KEYS` that every run has) over results."""
    rs = [results] if isinstance(results, EvalResult) else list(results)
    if not rs:
        raise ValueError("aggregate: no results")
    mean, std = {}, {}
    keys = [*SUMMARY_KEYS, *(k for k in EXTRA_KEYS if all(getattr(r, k) is not None for r in rs))]
    for k in keys:
        vals = np.array([getattr(r, k) for r in rs], dtype=np.float64)
        mean[k] = float(vals.mean())
        std[k] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        if not (math.isfinite(mean[k]) and math.isfinite(std[k])):
            raise ValueError(f"aggregate: non-finite {k}")
    return Aggregate(mean=mean, std=std, runs=len(rs))
