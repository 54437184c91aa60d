"""The constant mean hand: the yardstick every method must beat, scored by the same protocol as the methods.

A network that has not learned hand pose still scores a plausible-looking error: predicting the same hand
for every image. Two constants, both computed from *training* labels only:

* :func:`mean_relative_pose`, the plain average of the palm-relative, scale-normalized poses (Eq. 7 units,
  scale bone of length 1) in camera orientation, and :func:`mean_crop_uv`, the plain average of the
  training crops' 2D joints: the best constants for the unaligned metrics (palm-relative EPE, 2D error);
* :func:`procrustes_mean_shape`, the generalized-Procrustes mean shape: the best constant after a
  per-sample similarity alignment (PA-EPE).

:func:`score_constant` scores them on a test set exactly as :func:`awhourglass.eval.results.evaluate_arrays`
scores a method (the palm-relative pose lifted with the ground truth's scale bone, as the protocol lifts a
prediction), except that PA-EPE uses the Procrustes mean shape.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from awhourglass import geometry, metrics
from awhourglass.eval.results import EvalResult, evaluate_arrays
from awhourglass.skeleton import DEFAULT_SCALE_BONE


def mean_relative_pose(xyz_m: object, bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> np.ndarray:
    """Plain mean ``(21, 3)`` of ``(xyz − palm) / |bone|`` over training hands ``xyz_m (N, 21, 3)`` [m]."""
    x = metrics.as_joints(xyz_m, "xyz_m", 3)
    root, length = geometry.root_and_scale(x, bone, validate=False)
    return ((x - root[:, None]) / length[:, None, None]).mean(0)


def mean_crop_uv(uv_px: object) -> np.ndarray:
    """Plain mean ``(21, 2)`` of the training crops' 2D joints ``uv_px (N, 21, 2)`` [crop px]."""
    return metrics.as_joints(uv_px, "uv_px", 2).mean(0)


def _unit_shape(x: np.ndarray) -> np.ndarray:
    c = x - x.mean(-2, keepdims=True)
    return c / np.linalg.norm(c, axis=(-2, -1), keepdims=True)


def procrustes_mean_shape(xyz_m: object, iterations: int = 20, tol: float = 1e-10) -> np.ndarray:
    """Generalized Procrustes mean ``(21, 3)`` of training hands ``xyz_m (N, 21, 3)``: centred, unit Frobenius norm.

    Alternates aligning every hand to the current mean by a similarity (proper rotation) and re-averaging;
    the result minimises the sum of squared distances of the aligned hands to it (up to its own similarity).
    """
    x = _unit_shape(metrics.as_joints(xyz_m, "xyz_m", 3))
    mean = x[0]
    for _ in range(iterations):
        aligned = np.empty_like(x)
        for n in range(x.shape[0]):
            s, rot, t = metrics.similarity_transform(x[n], mean)
            aligned[n] = s * x[n] @ rot.T + t
        new = _unit_shape(aligned.mean(0))
        s, rot, t = metrics.similarity_transform(new, mean)  # keep the mean's pose fixed between iterations
        new = _unit_shape(s * new @ rot.T + t)
        done = np.abs(new - mean).max() < tol
        mean = new
        if done:
            break
    return mean


def fit_constant(train_xyz_m: object, train_uv_px: object,
                 bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> dict[str, np.ndarray]:
    """The three constants of a training set: ``relative (21, 3)``, ``shape (21, 3)``, ``uv_px (21, 2)``."""
    return {"relative": mean_relative_pose(train_xyz_m, bone), "shape": procrustes_mean_shape(train_xyz_m),
            "uv_px": mean_crop_uv(train_uv_px)}


def score_constant(constant: dict[str, np.ndarray], gt_xyz_m: object, gt_uv_px: object, vis: object | None = None,
                   bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> EvalResult:
    """Score the constant hand of :func:`fit_constant` on a test set, by the methods' protocol.

    Palm-relative EPE and AUCs: ``relative`` scaled by each test hand's ground-truth bone length (the
    protocol's known scale); 2D error: ``uv_px``; PA-EPE: ``shape`` aligned to each test hand.
    """
    gt = metrics.as_joints(gt_xyz_m, "gt_xyz_m", 3)
    n = gt.shape[0]
    root, length = geometry.root_and_scale(gt, bone, validate=False)
    pred = constant["relative"][None] * length[:, None, None] + root[:, None]
    uv = np.broadcast_to(constant["uv_px"][None], (n, *constant["uv_px"].shape))
    res = evaluate_arrays(pred, gt, vis, pred_uv_px=uv, gt_uv_px=gt_uv_px, align="root", root="palm")
    shape = np.broadcast_to(constant["shape"][None], gt.shape)
    pa = evaluate_arrays(shape, gt, vis, align="procrustes")
    return replace(res, pa_epe_mean_mm=pa.epe_mean_mm)


__all__ = ["fit_constant", "mean_crop_uv", "mean_relative_pose", "procrustes_mean_shape", "score_constant"]
