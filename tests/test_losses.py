"""Losses (Eq. 8, 10, 11) by hand, and NaN safety of missing labels."""

from __future__ import annotations

import torch

from awhourglass.geometry import encode_z_norm
from awhourglass.losses import (
    depth_reg_loss_eq10,
    pose_loss_eq8,
    total_loss_eq11,
    uv_l1_per_sample,
    z_l1_per_sample,
)
from awhourglass.skeleton import MIDDLE_MCP, WRIST


def test_uv_l1_by_hand_skips_unlabelled_joints():
    pred = torch.zeros(1, 21, 2, requires_grad=True)
    gt = torch.zeros(1, 21, 2)
    gt[0, 0] = torch.tensor([3.0, -1.0])  # |3| + |−1| = 4
    gt[0, 1] = torch.tensor([float("nan"), 2.0])  # unlabelled (NaN) → skipped
    vis = torch.ones(1, 21, dtype=torch.bool)
    vis[0, 2] = False
    gt[0, 2] = 100.0  # not visible → skipped
    loss = uv_l1_per_sample(pred, gt, vis)
    assert torch.allclose(loss, torch.tensor([4.0 / 19]))
    loss.sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 1].abs().sum() == 0


def test_encode_z_norm_by_hand():
    xyz = torch.zeros(1, 21, 3)
    xyz[..., 2] = 0.5
    xyz[0, WRIST] = torch.tensor([0.0, 0.0, 0.5])
    xyz[0, MIDDLE_MCP] = torch.tensor([0.0, 0.06, 0.58])  # bone = √(0.06² + 0.08²) = 0.1; root z = 0.54
    xyz[0, 4, 2] = 0.49
    z = encode_z_norm(xyz)
    assert torch.allclose(z[0, 4], torch.tensor((0.49 - 0.54) / 0.1))
    assert torch.allclose(z[0, WRIST], torch.tensor(-0.4)) and torch.allclose(z[0, MIDDLE_MCP], torch.tensor(0.4))


def test_z_loss_never_reads_nan_rows_and_eq8_combines_terms():
    xyz = torch.zeros(2, 21, 3)
    xyz[..., 2] = 0.5
    xyz[:, MIDDLE_MCP] = torch.tensor([0.0, 0.1, 0.5])  # bone 0.1, flat hand: z_norm ≡ 0
    xyz[1] = float("nan")
    z_pred = torch.full((2, 21), 0.2, requires_grad=True)
    rows = torch.tensor([True, True])
    per = z_l1_per_sample(z_pred, xyz, rows)
    assert torch.allclose(per, torch.tensor([0.2, 0.0]))
    uv = torch.zeros(2, 21, 2, requires_grad=True)
    uv_gt = torch.ones(2, 21, 2)
    vis = torch.ones(2, 21, dtype=torch.bool)
    out = pose_loss_eq8(uv, z_pred, uv_gt, vis, xyz, rows, torch.tensor([True, False]), lambda_alpha=10.0)
    assert torch.allclose(out["2d"], torch.tensor(2.0)) and torch.allclose(out["z"], torch.tensor(0.2))
    assert torch.allclose(out["total"], torch.tensor(2.0 + 10.0 * 0.2))
    out["total"].backward()
    assert torch.isfinite(z_pred.grad).all() and z_pred.grad[1].abs().sum() == 0


def test_depth_reg_by_hand_and_missing_depth():
    pred = torch.full((2, 1, 2, 2), 0.5, requires_grad=True)
    gt = torch.tensor([[1.0, 0.0], [0.25, 9.0]]).reshape(1, 1, 2, 2).repeat(2, 1, 1, 1)
    gt[1] = float("nan")
    mask = torch.tensor([[True, True], [True, False]]).reshape(1, 1, 2, 2).repeat(2, 1, 1, 1)
    loss = depth_reg_loss_eq10(pred, gt, mask, torch.tensor([True, False]))
    assert torch.allclose(loss, torch.tensor((0.5 + 0.5 + 0.25) / 3))
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    none = depth_reg_loss_eq10(pred, gt, mask, torch.tensor([False, False]))
    assert none.item() == 0.0


def test_eq11_weights_and_sign():
    one = torch.tensor(1.0)
    total = total_loss_eq11(one, 2 * one, 3 * one, 4 * one, torch.tensor(-5.0), lambda_res=2.0, lambda_reg=0.5,
                            lambda_adv=0.1)
    assert torch.allclose(total, torch.tensor(2 * 3 + 0.5 * 7 + 0.1 * -5.0))


def _old_z_l1_per_sample(z_pred, xyz_m, rows):
    """The depth term as it was before masked joints were allowed (a row with any NaN joint is dropped)."""
    from awhourglass.losses import _dummy_pose

    rows = rows.bool() & torch.isfinite(xyz_m).all(-1).all(-1)
    safe = torch.where(rows[:, None, None], xyz_m, _dummy_pose(xyz_m))
    z_gt = encode_z_norm(safe, validate=False)
    err = (z_pred - torch.where(rows[:, None], z_gt, z_pred.detach())).abs().mean(-1)
    return torch.where(rows, err, torch.zeros_like(err))


def test_z_loss_keeps_the_valid_joints_of_a_partly_labelled_hand():
    g = torch.Generator().manual_seed(0)
    xyz = torch.rand(4, 21, 3, generator=g, dtype=torch.float64) * 0.1 + torch.tensor([0.0, 0.0, 0.5])
    z_pred = torch.randn(4, 21, generator=g, dtype=torch.float64, requires_grad=True)
    full = z_l1_per_sample(z_pred, xyz, torch.ones(4, dtype=torch.bool))
    assert torch.equal(full, _old_z_l1_per_sample(z_pred, xyz, torch.ones(4, dtype=torch.bool)))  # bit for bit
    part = xyz.clone()
    part[1, [3, 14, 20]] = float("nan")  # invalid finger joints: root and scale bone still labelled
    part[2, MIDDLE_MCP] = float("nan")  # no root / scale bone: the row has no depth term
    part[3, WRIST, 2] = float("inf")
    per = z_l1_per_sample(z_pred, part, torch.ones(4, dtype=torch.bool))
    # by hand, row 1: root z = mean of wrist and middle MCP z, bone = |wrist − middle MCP|, 18 joints averaged
    x, zp = part[1].numpy(), z_pred.detach().numpy()
    root_z = 0.5 * (x[0, 2] + x[9, 2])
    bone = float(((x[0] - x[9]) ** 2).sum() ** 0.5)
    keep = [j for j in range(21) if j not in (3, 14, 20)]
    want = sum(abs(zp[1, j] - (x[j, 2] - root_z) / bone) for j in keep) / len(keep)
    assert abs(float(per[1].detach()) - want) < 1e-12
    assert per[0] == full[0] and per[2] == 0 and per[3] == 0
    per.sum().backward()
    grad = z_pred.grad
    assert torch.isfinite(grad).all() and grad[1, [3, 14, 20]].abs().sum() == 0 and grad[2:].abs().sum() == 0
    assert (grad[1, keep].abs() - 1.0 / 18).abs().max() < 1e-12  # d/dz |z − t| / 18 for each kept joint
