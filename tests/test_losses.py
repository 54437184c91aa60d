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
