"""Hand-pose metrics: 3D/2D end-point error, PCK curves and their AUC, root and Procrustes alignment.

All functions are pure: numpy arrays (or torch tensors, converted) in, numpy arrays / floats out.
Shapes and units are in the argument names: ``pred_xyz_m (N, 21, 3)`` is metres, ``errors_mm (N, 21)``
millimetres, ``uv_px (N, 21, 2)`` pixels. ``vis (N, 21)`` is a bool or 0/1 mask; joints with mask 0 are
excluded from every statistic, and their coordinates may even be NaN (they are never read).

Conventions, chosen to match the public evaluation code of the hand-pose literature
(``EvalUtil`` in lmb-freiburg/hand3d ``utils/general.py``, reused by FreiHAND's ``eval.py``):

* A joint is "correct" at threshold ``t`` when its error is ``<= t``.
* ``average="joints"`` (default, as EvalUtil): every statistic (mean, median, PCK) is computed per
  joint over the samples where that joint is visible, then averaged over the joints that were visible
  at least once. ``average="all"`` pools every visible (sample, joint) error instead. With every joint
  visible both give the same mean, PCK and AUC; only the median differs.
* AUC over ``[a, b]``: the trapezoid integral of the PCK curve over ``num`` thresholds spread evenly
  in ``[a, b]`` (``numpy.linspace(a, b, num)``), divided by ``b - a``. Default ``num = 31``
  (1 mm spacing for both 0–30 mm and 20–50 mm).
* hand3d's grid (:func:`hand3d_aucs`): 20 thresholds ``linspace(0, 50 mm, 20)``; its "0–50 mm" AUC uses
  all of them, its "20–50 mm" AUC keeps the thresholds ``>= 20 mm``, i.e. ``grid[8:]``, whose first
  value is 21.05 mm, and divides by ``50 − 21.05`` (hand3d ``eval_full.py``: ``pck_curve_all[8:]``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from awhourglass.skeleton import NUM_JOINTS, check_joints, palm_centre

Average = Literal["joints", "all"]
AVERAGES: tuple[str, ...] = ("joints", "all")

DEFAULT_NUM_THRESHOLDS = 31  # 1 mm spacing over a 30 mm range
HAND3D_THRESHOLDS_MM = np.linspace(0.0, 50.0, 20)  # hand3d: EvalUtil.get_measures(0.0, 0.050, 20)
HAND3D_SUBSET_START = 8  # hand3d eval_full.py: pck_curve_all[8:] -> thresholds from 21.05 mm


def as_numpy(x: object, name: str) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested list to a float64 numpy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot convert {type(x).__name__} to a float array ({exc})") from exc
    return arr


def as_joints(x: object, name: str, dim: int) -> np.ndarray:
    """``(N, 21, dim)`` joints as float64 numpy (shape checked by :func:`skeleton.check_joints`; NaN allowed)."""
    arr = as_numpy(x, name)
    check_joints(arr, name, dim=dim, batched=True)
    return arr


def check_vis(vis: object | None, n: int, name: str = "vis") -> np.ndarray:
    """Validate a ``(N, 21)`` visibility mask (bool or 0/1); ``None`` means all visible. Returns bool."""
    if vis is None:
        return np.ones((n, NUM_JOINTS), dtype=bool)
    arr = as_numpy(vis, name)
    if arr.shape != (n, NUM_JOINTS):
        raise ValueError(f"{name}: expected shape ({n}, {NUM_JOINTS}), got {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name}: mask values must be 0/1 or bool")
    return arr.astype(bool)


def _check_pair(
    pred: object, gt: object, dim: int, vis: object | None, names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a prediction/ground-truth pair and its mask; non-finite values only where vis = 0."""
    p = as_joints(pred, names[0], dim)
    g = as_joints(gt, names[1], dim)
    if p.shape != g.shape:
        raise ValueError(f"{names[0]} {p.shape} and {names[1]} {g.shape} must have the same shape")
    v = check_vis(vis, p.shape[0])
    for arr, name in ((p, names[0]), (g, names[1])):
        bad = ~np.isfinite(arr).all(axis=-1) & v
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{name}: non-finite values at {int(bad.sum())} visible joint(s), first at sample {i} joint {j}"
            )
    # Masked joints may hold NaN; zero them so nothing non-finite reaches any arithmetic.
    p = np.where(v[..., None], p, 0.0)
    g = np.where(v[..., None], g, 0.0)
    return p, g, v


def _check_errors(errors: object, vis: object | None, name: str = "errors_mm") -> tuple[np.ndarray, np.ndarray]:
    e = as_numpy(errors, name)
    if e.ndim != 2 or e.shape[1] != NUM_JOINTS:
        raise ValueError(f"{name}: expected shape (N, {NUM_JOINTS}), got {e.shape}")
    v = check_vis(vis, e.shape[0])
    if not np.isfinite(e[v]).all():
        raise ValueError(f"{name}: non-finite errors at visible joints")
    if (e[v] < 0).any():
        raise ValueError(f"{name}: errors must be non-negative")
    if not v.any():
        raise ValueError(f"{name}: no visible joint to evaluate (vis is all 0)")
    return np.where(v, e, 0.0), v


def _check_average(average: str) -> None:
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")


# --- alignment ------------------------------------------------------------------------------------


def root_of(xyz: np.ndarray, root: str | int) -> np.ndarray:
    """Root point ``(N, D)`` of joints ``(N, 21, D)``: ``"palm"`` = ½(wrist + middle MCP) or a joint index."""
    if isinstance(root, str):
        if root != "palm":
            raise ValueError(f"root must be 'palm' or a joint index 0..{NUM_JOINTS - 1}, got {root!r}")
        return palm_centre(xyz)
    if not 0 <= int(root) < NUM_JOINTS:
        raise ValueError(f"root joint index must be in 0..{NUM_JOINTS - 1}, got {root}")
    return xyz[:, int(root), :]


def root_align(pred_xyz: object, gt_xyz: object, root: str | int = "palm") -> tuple[np.ndarray, np.ndarray]:
    """Subtract each hand's own root: returns root-relative ``(pred (N, 21, 3), gt (N, 21, 3))``.

    The root joints (wrist and middle MCP for ``"palm"``) must be finite even where masked out: the
    protocol treats the ground-truth root as known.
    """
    p = as_joints(pred_xyz, "pred_xyz", 3)
    g = as_joints(gt_xyz, "gt_xyz", 3)
    if p.shape != g.shape:
        raise ValueError(f"pred_xyz {p.shape} and gt_xyz {g.shape} must have the same shape")
    rp, rg = root_of(p, root), root_of(g, root)
    if not (np.isfinite(rp).all() and np.isfinite(rg).all()):
        raise ValueError(f"root_align: root {root!r} is non-finite in some sample; it is needed for alignment")
    return p - rp[:, None, :], g - rg[:, None, :]


def similarity_transform(
    src: object, dst: object, allow_reflection: bool = False
) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s · R @ src + t`` (Umeyama 1991) of two point sets ``(J, 3)``.

    Returns ``(s, R (3, 3), t (3,))``. ``R`` is a proper rotation (det +1) unless ``allow_reflection``
    (FreiHAND's ``eval.py`` uses ``scipy.linalg.orthogonal_procrustes``, which allows reflections).
    """
    a = as_numpy(src, "src")
    b = as_numpy(dst, "dst")
    if a.ndim != 2 or a.shape[1] != 3 or a.shape != b.shape:
        raise ValueError(f"similarity_transform: expected two (J, 3) arrays, got {a.shape} and {b.shape}")
    if a.shape[0] < 3:
        raise ValueError(f"similarity_transform: need at least 3 points, got {a.shape[0]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    a0, b0 = a - mu_a, b - mu_b
    var_a = float((a0**2).sum())
    if var_a <= 1e-24:
        # A collapsed source (e.g. an untrained network): the least-squares answer is s = 0, i.e. every
        # point maps to the destination centroid; any rotation is optimal, report the identity.
        return 0.0, np.eye(3), mu_b
    u, sig, vt = np.linalg.svd(b0.T @ a0)  # cross-covariance dst^T src
    d = np.ones(3)
    if not allow_reflection and np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / var_a)
    t = mu_b - s * rot @ mu_a
    return s, rot, t


def procrustes_align(
    pred_xyz: object, gt_xyz: object, vis: object | None = None, allow_reflection: bool = False
) -> np.ndarray:
    """Align each predicted hand to its ground truth by a similarity (scale, rotation, translation).

    The transform of sample ``n`` is fitted on its visible joints only (at least 3), then applied to all
    21 joints. Returns the aligned prediction ``(N, 21, 3)`` in the units of ``gt_xyz``.
    """
    p, g, v = _check_pair(pred_xyz, gt_xyz, 3, vis, ("pred_xyz", "gt_xyz"))
    out = np.empty_like(p)
    for n in range(p.shape[0]):
        m = v[n]
        if m.sum() < 3:
            raise ValueError(f"procrustes_align: sample {n} has {int(m.sum())} visible joints, need at least 3")
        s, rot, t = similarity_transform(p[n, m], g[n, m], allow_reflection)
        out[n] = s * p[n] @ rot.T + t
    return out


# --- errors ------------------------------------------------------------------------------------------


def joint_errors_mm(pred_xyz_m: object, gt_xyz_m: object, vis: object | None = None) -> np.ndarray:
    """Per-joint 3D Euclidean error ``(N, 21)`` in millimetres from metre inputs ``(N, 21, 3)``.

    Masked-out joints get error 0 (use ``vis`` to exclude them from statistics).
    """
    p, g, _ = _check_pair(pred_xyz_m, gt_xyz_m, 3, vis, ("pred_xyz_m", "gt_xyz_m"))
    errors: np.ndarray = 1000.0 * np.linalg.norm(p - g, axis=-1)
    return errors


def joint_errors_px(pred_uv_px: object, gt_uv_px: object, vis: object | None = None) -> np.ndarray:
    """Per-joint 2D Euclidean error ``(N, 21)`` in pixels from ``(N, 21, 2)`` pixel coordinates."""
    p, g, _ = _check_pair(pred_uv_px, gt_uv_px, 2, vis, ("pred_uv_px", "gt_uv_px"))
    errors: np.ndarray = np.linalg.norm(p - g, axis=-1)
    return errors


def hand_box_side_px(gt_uv_px: object, vis: object | None = None) -> np.ndarray:
    """Side of each hand's 2D box ``(N,)`` [px]: the longer side of the bounding box of the ground-truth joints
    with finite pixels (labelled joints are in the box whether visible or not; unlabelled NaN joints are not;
    ``vis`` only checks the shape); 0 for a degenerate hand whose joints share one pixel, NaN for a hand
    without any finite joint."""
    g = as_joints(gt_uv_px, "gt_uv_px", 2)
    check_vis(vis, g.shape[0])
    known = np.isfinite(g).all(-1, keepdims=True)
    side = (np.where(known, g, -np.inf).max(1) - np.where(known, g, np.inf).min(1)).max(-1)
    return np.where(known.any(axis=(1, 2)), side, np.nan)


def epe_mean_median(errors: object, vis: object | None = None, average: Average = "joints") -> tuple[float, float]:
    """Mean and median of per-joint errors ``(N, 21)`` (any unit) over visible joints.

    ``average="joints"``: per-joint mean/median over its visible samples, then the mean over joints
    (hand3d's "average mean/median EPE"). ``average="all"``: mean/median of all visible errors pooled.
    """
    _check_average(average)
    e, v = _check_errors(errors, vis)
    if average == "all":
        vals = e[v]
        return float(vals.mean()), float(np.median(vals))
    means, medians = [], []
    for j in range(NUM_JOINTS):
        col = e[v[:, j], j]
        if col.size:
            means.append(col.mean())
            medians.append(np.median(col))
    return float(np.mean(means)), float(np.mean(medians))


def pck_curve(
    errors: object, thresholds: object, vis: object | None = None, average: Average = "joints"
) -> np.ndarray:
    """Fraction of visible joints with error ``<=`` each threshold: ``(T,)`` values in [0, 1].

    ``errors (N, 21)`` and ``thresholds (T,)`` share a unit (mm for 3D, px for 2D).
    """
    _check_average(average)
    e, v = _check_errors(errors, vis)
    t = as_numpy(thresholds, "thresholds")
    if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all():
        raise ValueError(f"thresholds: expected a non-empty finite 1D array, got shape {t.shape}")
    hit = (e[..., None] <= t) & v[..., None]  # (N, 21, T)
    if average == "all":
        pooled: np.ndarray = hit.sum(axis=(0, 1)) / v.sum()
        return pooled
    counts = v.sum(axis=0)  # (21,)
    seen = counts > 0
    per_joint = hit.sum(axis=0)[seen] / counts[seen, None]  # (J_seen, T)
    curve: np.ndarray = per_joint.mean(axis=0)
    return curve


def auc(thresholds: object, pck: object) -> float:
    """Normalized area under a PCK curve: trapezoid integral divided by ``thresholds[-1] - thresholds[0]``."""
    t = as_numpy(thresholds, "thresholds")
    y = as_numpy(pck, "pck")
    if t.ndim != 1 or t.shape != y.shape or t.size < 2:
        raise ValueError(f"auc: expected two 1D arrays of equal length >= 2, got {t.shape} and {y.shape}")
    if not (np.diff(t) > 0).all():
        raise ValueError("auc: thresholds must be strictly increasing")
    area = float(np.sum((y[1:] + y[:-1]) * np.diff(t)) / 2.0)
    return area / float(t[-1] - t[0])


def thresholds_mm(lo_mm: float, hi_mm: float, num: int = DEFAULT_NUM_THRESHOLDS) -> np.ndarray:
    """``num`` thresholds spread evenly over ``[lo_mm, hi_mm]`` (both ends included)."""
    if not (np.isfinite(lo_mm) and np.isfinite(hi_mm) and hi_mm > lo_mm >= 0):
        raise ValueError(f"thresholds: need 0 <= lo < hi, got [{lo_mm}, {hi_mm}]")
    if num < 2:
        raise ValueError(f"thresholds: need at least 2 thresholds, got {num}")
    return np.linspace(float(lo_mm), float(hi_mm), int(num))


def pck_auc(
    errors_mm: object,
    lo_mm: float,
    hi_mm: float,
    vis: object | None = None,
    num: int = DEFAULT_NUM_THRESHOLDS,
    average: Average = "joints",
) -> float:
    """AUC of the PCK curve over ``[lo_mm, hi_mm]`` with ``num`` evenly spread thresholds, in [0, 1]."""
    t = thresholds_mm(lo_mm, hi_mm, num)
    return auc(t, pck_curve(errors_mm, t, vis, average))


def hand3d_aucs(errors_mm: object, vis: object | None = None, average: Average = "joints") -> dict[str, float]:
    """AUCs on hand3d's grid: ``{"auc_0_50": ..., "auc_20_50": ...}``.

    Grid: ``linspace(0, 50, 20)`` mm. "20–50" keeps ``grid[8:]`` (21.05 … 50 mm), exactly as hand3d's
    ``eval_full.py``. hand3d averages per-joint AUCs; since AUC is linear in the curve this equals the
    AUC of the joint-averaged curve computed here.
    """
    t = HAND3D_THRESHOLDS_MM
    curve = pck_curve(errors_mm, t, vis, average)
    k = HAND3D_SUBSET_START
    return {"auc_0_50": auc(t, curve), "auc_20_50": auc(t[k:], curve[k:])}
