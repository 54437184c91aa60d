"""Scores of the real-hands evaluation (pure functions): 2D error per hand as a share of its box, PCK, the
leave-one-out constant mean hand, per-joint offsets in the hand's own axes and the IoU of two boxes.

A hand's box side is :func:`awhourglass.metrics.hand_box_side_px` of its labelled reference joints; a hand's error
is the mean over its labelled joints of the 2D distance divided by that side, in %.
"""

from __future__ import annotations

import numpy as np

from awhourglass import metrics
from awhourglass.skeleton import INDEX_MCP, LITTLE_MCP, MIDDLE_MCP, WRIST

PCK_THRESHOLDS = (0.10, 0.20)  # of the hand's box side


def joint_errors_px(pred_uv_px: np.ndarray, ref_uv_px: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """2D distances ``(N, 21)`` [px]; NaN at unlabelled joints."""
    d = np.linalg.norm(np.asarray(pred_uv_px, np.float64) - np.asarray(ref_uv_px, np.float64), axis=-1)
    return np.where(np.asarray(labelled, bool), d, np.nan)


def box_sides_px(ref_uv_px: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Box side ``(N,)`` [px] of each hand's labelled reference joints (:func:`metrics.hand_box_side_px`)."""
    ref = np.where(np.asarray(labelled, bool)[..., None], np.asarray(ref_uv_px, np.float64), np.nan)
    return metrics.hand_box_side_px(ref)


def hand_errors(pred_uv_px: np.ndarray, ref_uv_px: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per hand: mean error over labelled joints ``(N,)`` in % of the box side, and ``(N,)`` in px."""
    e = joint_errors_px(pred_uv_px, ref_uv_px, labelled)
    px = np.nanmean(e, axis=1)
    return 100.0 * px / box_sides_px(ref_uv_px, labelled), px


def summarize(pred_uv_px: np.ndarray, ref_uv_px: np.ndarray, labelled: np.ndarray) -> dict[str, float]:
    """A set's scores: mean and median over hands of the error in % of the box, PCK at :data:`PCK_THRESHOLDS`
    (% of the labelled joints of all hands within that share of their hand's box side) and the mean error in px."""
    pct, px = hand_errors(pred_uv_px, ref_uv_px, labelled)
    rel = joint_errors_px(pred_uv_px, ref_uv_px, labelled) / box_sides_px(ref_uv_px, labelled)[:, None]
    lab = np.asarray(labelled, bool)
    out = {"hands": len(pct), "mean_pct_box": float(np.mean(pct)), "median_pct_box": float(np.median(pct))}
    for t in PCK_THRESHOLDS:
        out[f"pck{round(100 * t)}_pct"] = float(100.0 * np.mean(rel[lab] <= t))
    out["mean_px"] = float(np.mean(px))
    return out


def hand_axis_offsets(pred_uv_px: np.ndarray, ref_uv_px: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Signed offsets ``pred − ref`` ``(N, 21, 2)`` in % of each hand's box side, in the reference hand's own axes.

    Axis 0 ("along") is the unit vector from the reference wrist to its middle MCP; axis 1 ("across") is
    perpendicular to it and points to the side of the index MCP (away from the little MCP), so a left and a right
    hand, palm or back, share one meaning of the sign. A mean offset over many hands is a bias (e.g. MCPs drawn
    towards the wrist), which an error norm hides. NaN at unlabelled joints and for hands whose wrist, index,
    middle or little MCP is not labelled.
    """
    pred, ref = np.asarray(pred_uv_px, np.float64), np.asarray(ref_uv_px, np.float64)
    lab = np.asarray(labelled, bool)
    along = ref[:, MIDDLE_MCP] - ref[:, WRIST]
    along = along / np.linalg.norm(along, axis=-1, keepdims=True)
    across = np.stack([-along[:, 1], along[:, 0]], axis=-1)
    flip = ((ref[:, INDEX_MCP] - ref[:, LITTLE_MCP]) * across).sum(-1) < 0
    across[flip] *= -1.0
    d = pred - ref
    out = np.stack([(d * along[:, None]).sum(-1), (d * across[:, None]).sum(-1)], axis=-1)
    out *= 100.0 / box_sides_px(ref, lab)[:, None, None]
    axes_known: np.ndarray = np.all(lab[:, [WRIST, INDEX_MCP, MIDDLE_MCP, LITTLE_MCP]], axis=1)
    return np.where((lab & axes_known[:, None])[..., None], out, np.nan)


def mirrored_hands(pred_uv_px: np.ndarray, ref_uv_px: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Per hand ``(N,)``: 1.0 where the predicted hand is the mirror image of the reference in the picture (palm read
    as back, or the reverse), 0.0 where not, NaN where the reference lacks its wrist, index or little MCP.

    The handedness a 2D hand shows is the sign of the cross product (index MCP − wrist) × (little MCP − wrist):
    turning or scaling the hand keeps it; mirroring, or swapping thumb side for little-finger side, flips it.
    """
    pred, ref = np.asarray(pred_uv_px, np.float64), np.asarray(ref_uv_px, np.float64)

    def handedness(uv: np.ndarray) -> np.ndarray:
        a, b = uv[:, INDEX_MCP] - uv[:, WRIST], uv[:, LITTLE_MCP] - uv[:, WRIST]
        return np.sign(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])

    known = np.all(np.asarray(labelled, bool)[:, [WRIST, INDEX_MCP, LITTLE_MCP]], axis=1)
    return np.where(known, (handedness(pred) != handedness(ref)).astype(np.float64), np.nan)


def per_joint(pred_uv_px: np.ndarray, ref_uv_px: np.ndarray, labelled: np.ndarray) -> dict[str, list[float | None]]:
    """Per joint over the hands: ``mean_pct_box`` (mean 2D error in % of the box) and the mean signed offsets
    ``along_pct_box`` / ``across_pct_box`` of :func:`hand_axis_offsets`; None where no hand has the joint."""
    err = joint_errors_px(pred_uv_px, ref_uv_px, labelled) * 100.0 / box_sides_px(ref_uv_px, labelled)[:, None]
    off = hand_axis_offsets(pred_uv_px, ref_uv_px, labelled)

    def means(a: np.ndarray) -> list[float | None]:
        n = np.isfinite(a).sum(0)
        m = np.where(n > 0, np.nansum(a, axis=0) / np.maximum(n, 1), np.nan)
        return [float(v) if np.isfinite(v) else None for v in m]

    return {"mean_pct_box": means(err), "along_pct_box": means(off[..., 0]), "across_pct_box": means(off[..., 1])}


def crop_normalized(uv_px: np.ndarray, centre_px: np.ndarray, side_px: np.ndarray) -> np.ndarray:
    """``(uv − crop centre) / crop side``: ``uv_px (N, 21, 2)``, ``centre_px (N, 2)``, ``side_px (N,)``."""
    return (np.asarray(uv_px, np.float64) - np.asarray(centre_px, np.float64)[:, None]) / \
        np.asarray(side_px, np.float64)[:, None, None]


def leave_one_out_mean(norm_uv: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """For each hand ``n`` the mean ``(21, 2)`` over the other hands' labelled joints of ``norm_uv (N, 21, 2)``
    (crop-normalized); a joint labelled in no other hand falls back to 0 (the crop centre). Returns ``(N, 21, 2)``."""
    x = np.asarray(norm_uv, np.float64)
    lab = np.asarray(labelled, bool)[..., None]
    vals = np.where(lab, x, 0.0)
    total, count = vals.sum(0), lab.sum(0).astype(np.float64)
    others_sum = total[None] - vals
    others_n = count[None] - lab
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = others_sum / others_n
    return np.where(others_n > 0, mean, 0.0)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes ``(x, y, w, h)``."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
