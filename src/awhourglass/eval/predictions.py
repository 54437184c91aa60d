"""Prediction and ground-truth JSON files, so that any method's output can be scored the same way.

Predictions (``awhourglass-predictions/1``)::

    {"format": "awhourglass-predictions/1",
     "joint_order": "canonical21",            # skeleton.JOINT_NAMES, right-hand convention
     "units": "mm",                           # camera-space millimetres
     "samples": [{"id": "stb/B1Counting/SK_color_0", "xyz_mm": [[x, y, z], ... 21 rows],
                  "uv_px": [[u, v], ... 21 rows]},          # optional: 2D EPE
                 ...]}

Ground truth (``awhourglass-groundtruth/1``): the same layout with ``"xyz_mm"`` the true joints, an
optional ``"vis": [0/1 × 21]`` per sample (default all 1) and an optional ``"group"`` string (InterHand2.6M's
``"single"`` / ``"interacting"``, what ``--protocol interhand`` reports by; default ``""``; files written before
it existed read as before). Masked joints may be ``null``.

Rules: ids are unique non-empty strings; every ground-truth id needs exactly one prediction and a
prediction without a ground-truth id is an error (a silently skipped sample changes the score);
prediction coordinates must be finite numbers. See docs/evaluation.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from awhourglass import metrics
from awhourglass.atomic import atomic_write_text
from awhourglass.errors import AwhError
from awhourglass.eval.results import Align, EvalResult, evaluate_arrays
from awhourglass.skeleton import NUM_JOINTS


class PoseFileError(AwhError, ValueError):
    """A predictions / ground-truth JSON that does not follow its documented format (docs/evaluation.md)."""

PRED_FORMAT = "awhourglass-predictions/1"
GT_FORMAT = "awhourglass-groundtruth/1"
JOINT_ORDER = "canonical21"
UNITS = "mm"


@dataclass(frozen=True)
class PoseRecord:
    """One sample of a predictions or ground-truth file.

    Attributes:
        id: unique sample id.
        xyz_m: ``(21, 3)`` metres (converted from the file's millimetres); NaN where masked / null.
        vis: ``(21,)`` bool mask (all True for predictions).
        uv_px: ``(21, 2)`` pixels or ``None``.
        group: the ground truth's sample group (``""`` when the file has none; always ``""`` for predictions).
    """

    id: str
    xyz_m: np.ndarray
    vis: np.ndarray
    uv_px: np.ndarray | None = None
    group: str = ""


def _rows(value: Any, dim: int, where: str, allow_null: bool) -> np.ndarray:
    """A JSON ``21 × dim`` list → float array; ``null`` entries → NaN when ``allow_null``."""
    if not isinstance(value, list) or len(value) != NUM_JOINTS:
        n = len(value) if isinstance(value, list) else type(value).__name__
        raise PoseFileError(f"{where}: expected {NUM_JOINTS} joints, got {n}")
    out = np.full((NUM_JOINTS, dim), np.nan)
    for j, row in enumerate(value):
        if row is None and allow_null:
            continue
        if not isinstance(row, list) or len(row) != dim:
            raise PoseFileError(f"{where}: joint {j} must be a list of {dim} numbers, got {row!r}")
        for c, x in enumerate(row):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise PoseFileError(f"{where}: joint {j} coordinate {c} is not a number: {x!r}")
            out[j, c] = float(x)
    if not allow_null and not np.isfinite(out).all():
        j = int(np.argwhere(~np.isfinite(out))[0, 0])
        raise PoseFileError(f"{where}: non-finite value at joint {j}")
    return out


def _load_json(path: str | os.PathLike) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PoseFileError(f"{path}: file not found") from exc
    try:
        # NaN/Infinity literals are not JSON; reject them instead of letting them through as floats.
        return json.loads(text, parse_constant=_reject_constant)
    except PoseFileError as exc:  # a NaN/Infinity literal: say in which file
        raise PoseFileError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PoseFileError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError:  # nesting deeper than Python's stack: no pose file looks like that
        raise PoseFileError(f"{path}: JSON nested too deeply to be a pose file") from None


def _reject_constant(name: str) -> float:
    raise PoseFileError(f"non-finite number {name} is not allowed (use null for a masked ground-truth joint)")


def parse_pose_file(data: Any, expected_format: str, source: str = "<data>") -> list[PoseRecord]:
    """Validate a parsed predictions / ground-truth document and return its records in file order."""
    if not isinstance(data, dict):
        raise PoseFileError(f"{source}: expected a JSON object at top level, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt != expected_format:
        raise PoseFileError(f"{source}: format must be {expected_format!r}, got {fmt!r}")
    if data.get("joint_order") != JOINT_ORDER:
        raise PoseFileError(f"{source}: joint_order must be {JOINT_ORDER!r}, got {data.get('joint_order')!r}")
    if data.get("units") != UNITS:
        raise PoseFileError(f"{source}: units must be {UNITS!r}, got {data.get('units')!r}")
    unknown = set(data) - {"format", "joint_order", "units", "samples", "meta"}
    if unknown:
        raise PoseFileError(f"{source}: unknown top-level keys {sorted(unknown)}")
    samples = data.get("samples")
    if not isinstance(samples, list) or not samples:
        raise PoseFileError(f"{source}: 'samples' must be a non-empty list")
    is_gt = expected_format == GT_FORMAT
    allowed = {"id", "xyz_mm", "uv_px"} | ({"vis", "group"} if is_gt else set())
    records, seen = [], set()
    for i, s in enumerate(samples):
        where = f"{source}: samples[{i}]"
        if not isinstance(s, dict):
            raise PoseFileError(f"{where}: expected an object")
        extra = set(s) - allowed
        if extra:
            raise PoseFileError(f"{where}: unknown keys {sorted(extra)}")
        sid = s.get("id")
        if not isinstance(sid, str) or not sid:
            raise PoseFileError(f"{where}: 'id' must be a non-empty string")
        if sid in seen:
            raise PoseFileError(f"{where}: duplicate id {sid!r}")
        seen.add(sid)
        where = f"{source}: sample {sid!r}"
        if "xyz_mm" not in s:
            raise PoseFileError(f"{where}: missing 'xyz_mm'")
        xyz_m = _rows(s["xyz_mm"], 3, f"{where} xyz_mm", allow_null=is_gt) / 1000.0
        uv = _rows(s["uv_px"], 2, f"{where} uv_px", allow_null=is_gt) if "uv_px" in s else None
        vis = np.ones(NUM_JOINTS, dtype=bool)
        if is_gt and "vis" in s:
            v = s["vis"]
            if not isinstance(v, list) or len(v) != NUM_JOINTS or any(x not in (0, 1) for x in v):
                raise PoseFileError(f"{where}: 'vis' must be a list of {NUM_JOINTS} values 0/1 (or bools)")
            vis = np.array(v, dtype=bool)
        group = s.get("group", "")
        if not isinstance(group, str):
            raise PoseFileError(f"{where}: 'group' must be a string, got {group!r}")
        if is_gt:
            for name, arr in (("xyz_mm", xyz_m), ("uv_px", uv)):
                if arr is not None and not np.isfinite(arr[vis]).all():
                    j = int(np.argwhere(~np.isfinite(arr).all(-1) & vis)[0, 0])
                    raise PoseFileError(f"{where}: {name} is null/non-finite at visible joint {j}")
        records.append(PoseRecord(id=sid, xyz_m=xyz_m, vis=vis, uv_px=uv, group=group))
    return records


def read_predictions(path: str | os.PathLike) -> list[PoseRecord]:
    """Read and validate a predictions file (see module doc)."""
    return parse_pose_file(_load_json(path), PRED_FORMAT, str(path))


def read_ground_truth(path: str | os.PathLike) -> list[PoseRecord]:
    """Read and validate a ground-truth file (see module doc)."""
    return parse_pose_file(_load_json(path), GT_FORMAT, str(path))


def _to_mm_rows(arr: np.ndarray, scale: float) -> list:
    return [None if not np.isfinite(r).all() else [float(x) * scale for x in r] for r in arr]


def _write_pose_file(
    path: str | os.PathLike,
    fmt: str,
    ids: Sequence[str],
    xyz_m: object,
    uv_px: object | None,
    vis: object | None,
    meta: Mapping[str, Any] | None,
    groups: Sequence[str] | None = None,
) -> Path:
    xyz = metrics.as_joints(xyz_m, "xyz_m", 3)
    n = xyz.shape[0]
    if len(ids) != n:
        raise PoseFileError(f"ids: {len(ids)} ids for {n} samples")
    uv = metrics.as_joints(uv_px, "uv_px", 2) if uv_px is not None else None
    if uv is not None and uv.shape[0] != n:
        raise PoseFileError(f"uv_px: {uv.shape[0]} samples, xyz_m has {n}")
    v = metrics.check_vis(vis, n) if vis is not None else None
    if groups is not None and len(groups) != n:
        raise PoseFileError(f"groups: {len(groups)} groups for {n} samples")
    samples = []
    for i, sid in enumerate(ids):
        s: dict[str, Any] = {"id": str(sid), "xyz_mm": _to_mm_rows(xyz[i], 1000.0)}
        if uv is not None:
            s["uv_px"] = _to_mm_rows(uv[i], 1.0)
        if v is not None:
            s["vis"] = [int(x) for x in v[i]]
        if groups is not None and groups[i]:  # written only where there is one: other datasets' files unchanged
            s["group"] = str(groups[i])
        samples.append(s)
    doc: dict[str, Any] = {"format": fmt, "joint_order": JOINT_ORDER, "units": UNITS, "samples": samples}
    if meta:
        doc["meta"] = dict(meta)
    text = json.dumps(doc, allow_nan=False)
    parse_pose_file(json.loads(text), fmt, str(path))  # never write a file the reader would reject
    return atomic_write_text(path, text + "\n")


def write_predictions(
    path: str | os.PathLike,
    ids: Sequence[str],
    xyz_m: object,
    uv_px: object | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write predictions ``xyz_m (N, 21, 3)`` [m] (stored as mm) with their ids, atomically."""
    if not np.isfinite(metrics.as_joints(xyz_m, "xyz_m", 3)).all():
        raise PoseFileError("xyz_m: predictions must be finite (every joint of every sample)")
    return _write_pose_file(path, PRED_FORMAT, ids, xyz_m, uv_px, None, meta)


def write_ground_truth(
    path: str | os.PathLike,
    ids: Sequence[str],
    xyz_m: object,
    vis: object | None = None,
    uv_px: object | None = None,
    meta: Mapping[str, Any] | None = None,
    groups: Sequence[str] | None = None,
) -> Path:
    """Write ground truth ``xyz_m (N, 21, 3)`` [m] (stored as mm; masked/NaN joints as null), atomically;
    ``groups`` (``N`` strings) as each sample's ``group`` where non-empty."""
    return _write_pose_file(path, GT_FORMAT, ids, xyz_m, uv_px, vis, meta, groups)


def match_records(preds: Sequence[PoseRecord], gts: Sequence[PoseRecord]) -> list[tuple[PoseRecord, PoseRecord]]:
    """Pair predictions with ground truth by id, in ground-truth order; missing or extra ids are errors."""
    by_id = {p.id: p for p in preds}
    if len(by_id) != len(preds):
        raise PoseFileError("predictions: duplicate ids")
    gt_ids = [g.id for g in gts]
    if len(set(gt_ids)) != len(gt_ids):
        raise PoseFileError("ground truth: duplicate ids")
    missing = [i for i in gt_ids if i not in by_id]
    extra = sorted(set(by_id) - set(gt_ids))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} ground-truth id(s) without a prediction, e.g. {missing[:3]}")
        if extra:
            parts.append(f"{len(extra)} predicted id(s) not in the ground truth, e.g. {extra[:3]}")
        raise PoseFileError("predictions do not match the ground truth: " + "; ".join(parts))
    return [(by_id[g.id], g) for g in gts]


def score_prediction_file(
    pred_path: str | os.PathLike,
    gt_samples: str | os.PathLike | Sequence[PoseRecord],
    align: Align = "root",
    average: metrics.Average | None = None,
    protocol: str | None = None,
    align_override: str | None = None,
    ignore_ids: Sequence[str] = (),
) -> EvalResult:
    """Score a predictions file against ground truth (a ground-truth file path or its records).

    The 2D EPE is included when every prediction and every ground-truth sample has ``uv_px``. ``protocol`` /
    ``align_override`` (``awh eval --protocol/--align``) choose the scoring as
    :func:`~awhourglass.eval.protocol.protocol_settings`; without them ``align`` is used. ``average`` defaults to
    the protocol's (pooled for ``interhand``, else per joint); ``interhand`` reports by the ground truth's groups.
    ``ignore_ids``: predictions of samples the ground truth leaves out on purpose (not errors).
    """
    from awhourglass.eval.protocol import protocol_average, protocol_groups, protocol_settings

    ignored = set(ignore_ids)
    preds = [p for p in read_predictions(pred_path) if p.id not in ignored]
    gts = read_ground_truth(gt_samples) if isinstance(gt_samples, (str, os.PathLike)) else list(gt_samples)
    pairs = match_records(preds, gts)
    pred_xyz = np.stack([p.xyz_m for p, _ in pairs])
    gt_xyz = np.stack([g.xyz_m for _, g in pairs])
    vis = np.stack([g.vis for _, g in pairs])
    pred_uvs = [p.uv_px for p, _ in pairs if p.uv_px is not None]
    gt_uvs = [g.uv_px for _, g in pairs if g.uv_px is not None]
    with_2d = len(pred_uvs) == len(gt_uvs) == len(pairs)  # every pair has both
    pred_uv = np.stack(pred_uvs) if with_2d else None
    gt_uv = np.stack(gt_uvs) if with_2d else None
    reflect, name = False, None
    if protocol is not None or align_override is not None:
        align, reflect, name = protocol_settings(protocol, align_override)
    return evaluate_arrays(pred_xyz, gt_xyz, vis, pred_uv, gt_uv, align=align,
                           average=protocol_average(protocol, average), reflection=reflect, protocol=name,
                           groups=protocol_groups(protocol, [g.group for _, g in pairs], len(pairs)))
