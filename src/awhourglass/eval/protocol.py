"""The paper's evaluation protocol for 2.5D predictions (method-notes item 10).

"We assume the global hand scale and the root depth are known" (paper, Experiments; as Zimmermann &
Brox 2017 and Cai et al. 2018): a 2.5D prediction (pixels + normalized relative depth) is lifted to
metric 3D with the ground truth's scale-bone length and the ground truth's root (palm-centre) depth,
then scored root-relative (palm centre subtracted from both hands).

Other protocols score the same lifted joints another way (:data:`PROTOCOLS`, ``awh eval --protocol``):
``freihand`` as FreiHAND's ``eval.py``: a per-sample similarity (scale, rotation, translation) fitted on the
joints, **reflections allowed** as its ``scipy.linalg.orthogonal_procrustes`` does, mean error in mm and the
AUC over 0–50 mm with 100 thresholds (``auc_0_50_100``; per joint, then averaged, as its ``EvalUtil``).
``interhand`` as InterHand2.6M's MPJPE: the lifted joints (our network predicts normalized depth, so the lift
also takes the ground truth's scale-bone length) with the wrist subtracted per hand, errors **pooled** over valid
joints (``average="all"``), reported for its ``single`` and ``interacting`` groups and ``all``
(``mpjpe_*_mm``; the samples' :attr:`~awhourglass.data.sample.Sample.group`). A hand whose root or scale bone is
unlabelled cannot be lifted and is left out (InterHand2.6M's own evaluation drops a hand with an invalid root).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from awhourglass import geometry, metrics
from awhourglass.eval.results import ALIGNS, Align, EvalResult, evaluate_arrays, is_align
from awhourglass.skeleton import DEFAULT_SCALE_BONE, PALM_CENTRE_JOINTS

# protocol → (alignment, reflections allowed in a Procrustes alignment)
PROTOCOLS: dict[str, tuple[Align, bool]] = {"paper": ("root", False), "freihand": ("procrustes", True),
                                            "interhand": ("wrist", False)}
# protocols that pool errors over all joints instead of averaging per joint first (metrics.Average)
POOLED: frozenset[str] = frozenset({"interhand"})


def protocol_average(protocol: str | None, average: metrics.Average | None = None) -> metrics.Average:
    """The averaging of ``protocol``: ``average`` when given, ``"all"`` (pooled) for :data:`POOLED` protocols, else
    ``"joints"``."""
    if average is not None:
        return average
    return "all" if protocol in POOLED else "joints"


def protocol_groups(protocol: str | None, groups: Iterable[object] | None, n: int) -> list[str] | None:
    """The ``n`` per-sample groups to report by under ``interhand`` (all ``""`` when ``groups`` is None: only the
    ``all`` figure), else None (other protocols report no groups)."""
    if protocol != "interhand":
        return None
    return [str(g) for g in groups] if groups is not None else [""] * n


def protocol_settings(protocol: str | None = None, align: str | None = None) -> tuple[Align, bool, str]:
    """``(align, reflection, protocol name)`` of ``--protocol`` / ``--align`` (an explicit ``align`` overrides the
    protocol's; ``align`` alone is the ``custom`` protocol, no reflections)."""
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if align is None:
        a, reflect = PROTOCOLS[protocol or "paper"]
        return a, reflect, protocol or "paper"
    if not is_align(align):  # the check evaluate_arrays makes, with its message
        raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
    base_align, reflect = PROTOCOLS.get(protocol or "", (None, False))
    name = protocol if protocol is not None and align == base_align else ("custom" if protocol is None
                                                                          else f"{protocol}, align {align}")
    return align, reflect and align == "procrustes", name


def lift_with_gt_scale_and_root(
    pred_uv_px: object,
    pred_z_norm: object,
    K: object,
    gt_xyz_m: object,
    bone: tuple[int, int] = DEFAULT_SCALE_BONE,
    C: float = 1.0,
) -> np.ndarray:
    """Predicted 2.5D → metric camera-space joints ``(N, 21, 3)`` [m] with ground-truth scale and root depth.

    Args:
        pred_uv_px: ``(N, 21, 2)`` predicted pixels in the image that ``K`` describes.
        pred_z_norm: ``(N, 21)`` predicted normalized root-relative depths (Eq. 7, bone length ``C``).
        K: ``(N, 3, 3)`` or ``(3, 3)`` intrinsics.
        gt_xyz_m: ``(N, 21, 3)`` ground truth in metres: only its scale-bone length and palm-centre
            depth are used (wrist and middle MCP must be finite).
        bone, C: the scale bone and its normalized length used by the model's encoding.
    """
    uv = metrics.as_joints(pred_uv_px, "pred_uv_px", 2)
    gt = metrics.as_joints(gt_xyz_m, "gt_xyz_m", 3)
    z = metrics.as_numpy(pred_z_norm, "pred_z_norm")
    k = metrics.as_numpy(K, "K")
    n = uv.shape[0]
    if gt.shape[0] != n or z.shape != (n, uv.shape[1]):
        raise ValueError(f"pred_uv_px {uv.shape}, pred_z_norm {z.shape}, gt_xyz_m {gt.shape}: sample counts differ")
    if k.shape == (3, 3):
        k = np.broadcast_to(k, (n, 3, 3)).copy()
    if k.shape != (n, 3, 3):
        raise ValueError(f"K: expected (3, 3) or ({n}, 3, 3), got {k.shape}")
    needed = [*PALM_CENTRE_JOINTS, *bone]
    if not np.isfinite(gt[:, needed]).all():
        raise ValueError(f"gt_xyz_m: joints {sorted(set(needed))} must be finite (root and scale bone)")
    root_m, bone_m = geometry.root_and_scale(gt, bone, validate=False)
    if not (bone_m > 0).all():
        raise ValueError("gt_xyz_m: zero-length scale bone in some sample")
    return np.asarray(geometry.decode_25d(uv, z, k, bone_m, z_root_m=root_m[:, 2], bone=bone, C=C))


def evaluate_25d(
    pred_uv_px: object,
    pred_z_norm: object,
    K: object,
    gt_xyz_m: object,
    vis: object | None = None,
    gt_uv_px: object | None = None,
    bone: tuple[int, int] = DEFAULT_SCALE_BONE,
    C: float = 1.0,
    average: metrics.Average | None = None,
    protocol: str | None = None,
    align: str | None = None,
    groups: Iterable[object] | None = None,
) -> EvalResult:
    """Score 2.5D predictions: lift with GT scale + root depth, then score by ``protocol`` (default the paper's:
    root-relative EPE/AUC) or ``align`` (:func:`protocol_settings`).

    ``gt_uv_px`` (optional) adds the 2D EPE of ``pred_uv_px``. ``average`` defaults to the protocol's
    (:func:`protocol_average`); ``groups`` (``N`` strings, the samples' groups) are reported by under ``interhand``
    (every sample without a group when None).
    """
    a, reflect, name = protocol_settings(protocol, align)
    xyz = lift_with_gt_scale_and_root(pred_uv_px, pred_z_norm, K, gt_xyz_m, bone, C)
    return evaluate_arrays(
        xyz,
        gt_xyz_m,
        vis,
        pred_uv_px=pred_uv_px if gt_uv_px is not None else None,
        gt_uv_px=gt_uv_px,
        align=a,
        root="palm",
        average=protocol_average(protocol, average),
        reflection=reflect,
        protocol=name,
        groups=protocol_groups(protocol, groups, xyz.shape[0]),
    )
