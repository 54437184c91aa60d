"""Losses of the AW Hourglass (paper Eq. 3, 4, 6, 8, 10, 11), each a named function over tensors.

Signs (method-notes item 4): ``L_wd = mean f(src) − mean f(tgt)`` (Eq. 3/6). The critic *minimises*
``−L_wd + λ_gp·GP`` (it maximises the estimate, Eq. 4 with the sign of WGAN-GP); the feature extractor
minimises ``task losses + λ_wd·L_wd`` with the critic frozen (Eq. 11 printed "−λ_wd·L_wd", a sign slip).

Every function is NaN-safe in the labels: entries outside the given masks (missing 3D, missing depth,
unlabelled joints) never reach the value or the gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch

from awhourglass.geometry import encode_z_norm
from awhourglass.skeleton import DEFAULT_SCALE_BONE, MIDDLE_MCP, WRIST


def _masked_mean(per_sample: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_sample (B,)`` over ``rows (B,) bool``; 0 (still in the graph) when no row is selected."""
    w = rows.to(per_sample.dtype)
    return (torch.where(rows, per_sample, torch.zeros_like(per_sample)) * w).sum() / w.sum().clamp_min(1.0)


def uv_l1_per_sample(uv_pred: torch.Tensor, uv_gt: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Eq. 8, 2D term: per sample, mean over labelled joints of ``|Δu| + |Δv|`` [input px] → ``(B,)``."""
    valid = vis.bool() & torch.isfinite(uv_gt).all(-1)
    gt = torch.where(valid[..., None], uv_gt, uv_pred.detach())
    err = (uv_pred - gt).abs().sum(-1)
    n = valid.sum(-1).clamp_min(1).to(err.dtype)
    return torch.where(valid, err, torch.zeros_like(err)).sum(-1) / n


def z_label_joints(xyz_m: torch.Tensor, rows: torch.Tensor,
                   bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> tuple[torch.Tensor, torch.Tensor]:
    """Which 3D labels the depth term may read: ``(rows (B,), joints (B, 21))`` bool.

    A row is usable when it is selected and its root (palm centre: joints 0 and 9) and scale-bone joints are
    finite (Eq. 7 needs both); within a usable row, only the joints with finite xyz enter (InterHand2.6M's
    invalid joints are NaN). A reader gives a hand whose root or scale bone is unlabelled no 3D at all.
    """
    finite = torch.isfinite(xyz_m).all(-1)
    needed = sorted({WRIST, MIDDLE_MCP, *bone})
    rows = rows.bool() & finite[:, needed].all(-1)
    return rows, finite & rows[:, None]


def z_l1_per_sample(z_pred: torch.Tensor, xyz_m: torch.Tensor, rows: torch.Tensor,
                    bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> torch.Tensor:
    """Eq. 8, depth term: per sample, mean over labelled joints of ``|Z^n − Z^n_gt|`` → ``(B,)``; 0 where
    ``rows`` is False or the row's root / scale bone is not finite (:func:`z_label_joints`).

    Joints with non-finite xyz (masked labels) are left out of their sample's mean; a fully labelled sample gives
    the plain mean over its 21 joints. Non-finite labels are never read into the value or the gradient.
    """
    rows, joints = z_label_joints(xyz_m, rows, bone)
    safe = torch.where(joints[..., None], xyz_m, _dummy_pose(xyz_m))  # root/bone joints are real in used rows
    z_gt = encode_z_norm(safe, bone, validate=False)
    err = (z_pred - torch.where(joints, z_gt, z_pred.detach())).abs()
    n = joints.sum(-1)
    # a full row keeps the plain mean (bit-identical to before masked joints were allowed)
    per = torch.where(n == err.shape[-1], err.mean(-1), err.sum(-1) / n.clamp_min(1).to(err.dtype))
    return torch.where(rows, per, torch.zeros_like(per))


def _dummy_pose(like: torch.Tensor) -> torch.Tensor:
    pose = torch.zeros_like(like)
    pose[..., 2] = 1.0
    pose[..., :, 0] = torch.arange(like.shape[-2], dtype=like.dtype, device=like.device) * 0.01
    return pose


def pose_loss_eq8(uv_pred, z_pred, uv_gt, vis, xyz_m, rows_2d, rows_3d, lambda_alpha: float,
                  bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> dict[str, torch.Tensor]:
    """Paper Eq. 8 over a batch: ``L_2D + λ_alpha·L_z`` (each a mean over joints, then over selected samples).

    Args:
        uv_pred ``(B, 21, 2)``, z_pred ``(B, 21)``: predictions; uv_gt ``(B, 21, 2)``, vis ``(B, 21)``, xyz_m
        ``(B, 21, 3)``: labels; rows_2d, rows_3d ``(B,)`` bool: samples whose 2D / 3D labels may be used.

    Returns:
        ``{"2d", "z", "total"}`` scalars.
    """
    l2d = _masked_mean(uv_l1_per_sample(uv_pred, uv_gt, vis), rows_2d.bool())
    lz = _masked_mean(z_l1_per_sample(z_pred, xyz_m, rows_3d, bone), rows_3d.bool())
    return {"2d": l2d, "z": lz, "total": l2d + lambda_alpha * lz}


def depth_l1_per_sample(depth_pred: torch.Tensor, depth_gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 10 per sample: mean of ``|D_n − D_gt|`` over hand pixels ``(B, 1, S, S)`` → ``(B,)``."""
    if depth_pred.shape != depth_gt.shape or depth_gt.shape != mask.shape:
        raise ValueError(f"depth_l1_per_sample: prediction {tuple(depth_pred.shape)}, target {tuple(depth_gt.shape)} "
                         f"and mask {tuple(mask.shape)} must have the same shape (B, 1, S, S)")
    mask = mask.bool() & torch.isfinite(depth_gt)
    gt = torch.where(mask, depth_gt, depth_pred.detach())
    err = torch.where(mask, (depth_pred - gt).abs(), torch.zeros_like(depth_pred))
    return err.flatten(1).sum(-1) / mask.flatten(1).sum(-1).clamp_min(1).to(err.dtype)


def depth_reg_loss_eq10(depth_pred, depth_gt, mask, rows) -> torch.Tensor:
    """Paper Eq. 10 over a batch: the masked L1 averaged over the ``rows (B,)`` that have a depth image."""
    rows = rows.bool() & mask.flatten(1).any(-1)
    return _masked_mean(depth_l1_per_sample(depth_pred, depth_gt, mask), rows)


def wasserstein_eq6(scores_src: Sequence[torch.Tensor], scores_tgt: Sequence[torch.Tensor]) -> torch.Tensor:
    """Paper Eq. 3/6: ``L_wd = mean f(src) − mean f(tgt)``, summed over feature points (critic outputs ``(B,)``)."""
    return torch.stack([s.mean() - t.mean() for s, t in zip(scores_src, scores_tgt, strict=True)]).sum()


def check_halves(src: Sequence[torch.Tensor], tgt: Sequence[torch.Tensor]) -> None:
    """Raise ``ValueError`` unless source and target features have identical shapes (equal batch halves)."""
    if len(src) != len(tgt):
        raise ValueError(f"mismatched feature lists: {len(src)} source vs {len(tgt)} target")
    for s, t in zip(src, tgt, strict=True):
        if s.shape != t.shape:
            raise ValueError(f"mismatched batch halves: source features {tuple(s.shape)} vs target {tuple(t.shape)}; "
                             "expected equal shapes (B, C, H, W) for both halves")


def gradient_penalty_eq4(critic: Callable[[list[torch.Tensor]], list[torch.Tensor]],
                         src: Sequence[torch.Tensor], tgt: Sequence[torch.Tensor],
                         t: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Paper Eq. 4 penalty (WGAN-GP): ``E (‖∇_{x_m} f(x_m)‖₂ − 1)²`` at ``x_m = t·x_s + (1−t)·x_t``.

    Per feature point: ``t ~ U[0, 1]`` of shape ``(B, 1, 1, 1)`` (one per sample), the norm over all C·H·W
    of each sample, ``create_graph=True`` so the penalty trains the critic; summed over feature points.
    """
    check_halves(src, tgt)
    if t is None:
        t = [torch.rand(s.shape[0], 1, 1, 1, dtype=s.dtype, device=s.device) for s in src]
    pairs = zip(t, src, tgt, strict=True)
    mixed = [(ti * s.detach() + (1 - ti) * g.detach()).requires_grad_(True) for ti, s, g in pairs]
    scores = critic(mixed)
    total = cast(torch.Tensor, sum(sc.sum() for sc in scores))  # typeshed: sum() may return its start, 0
    grads = torch.autograd.grad(total, mixed, create_graph=True)
    return torch.stack([((g.flatten(1).norm(dim=1) - 1.0) ** 2).mean() for g in grads]).sum()


def critic_objective(l_wd: torch.Tensor, gp: torch.Tensor, lambda_gp: float) -> torch.Tensor:
    """What the critic minimises: ``−L_wd + λ_gp·GP``."""
    return -l_wd + lambda_gp * gp


def total_loss_eq11(l25d_src, l2d_tgt, lreg_src, lreg_tgt, l_adv, lambda_res: float, lambda_reg: float,
                    lambda_adv: float, l_intermediate=0.0) -> torch.Tensor:
    """Paper Eq. 11 with the corrected sign: ``λ_res(L_2.5D^s + L_2D^t) + λ_reg(L_reg^s + L_reg^t) + λ_wd·L_wd``.

    ``l_adv`` is L_wd for ``wh``/``awh`` (the feature extractor *lowers* the critic's estimate) and the domain
    classification loss for ``dann`` (behind gradient reversal); 0 with ``lambda_adv`` 0 for methods without one.
    ``l_intermediate``: the weighted intermediate supervision of paper Table 1 (0 for wo/IL), added before the
    adversarial term.
    """
    return lambda_res * (l25d_src + l2d_tgt) + lambda_reg * (lreg_src + lreg_tgt) + l_intermediate + lambda_adv * l_adv
