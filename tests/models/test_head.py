"""Latent 2.5D head: soft-argmax, spatial softmax, depth weighting, heatmap → input pixels."""

from __future__ import annotations

import torch

from awhourglass.models.head import heatmap_weighted_depth, latent_25d, soft_argmax, spatial_softmax


def test_soft_argmax_of_one_hot_heatmap():
    hm = torch.zeros(1, 2, 4, 5)
    hm[0, 0, 1, 3] = 1.0  # row 1, column 3 → (u, v) = (3, 1)
    hm[0, 1, 3, 0] = 1.0
    uv = soft_argmax(hm)
    assert torch.equal(uv, torch.tensor([[[3.0, 1.0], [0.0, 3.0]]]))


def test_soft_argmax_of_two_equal_peaks_is_their_midpoint():
    hm = torch.zeros(1, 1, 4, 4)
    hm[0, 0, 0, 0] = hm[0, 0, 2, 2] = 0.5
    assert torch.allclose(soft_argmax(hm), torch.tensor([[[1.0, 1.0]]]))


def test_spatial_softmax_normalizes_over_pixels_not_joints():
    logits = torch.randn(2, 3, 4, 4)
    p = spatial_softmax(logits)
    assert torch.allclose(p.sum((2, 3)), torch.ones(2, 3))
    e = logits[0, 1].exp()
    assert torch.allclose(p[0, 1], e / e.sum())


def test_depth_is_heatmap_weighted():
    hm = torch.zeros(1, 1, 2, 2)
    hm[0, 0, 0, 1], hm[0, 0, 1, 0] = 0.25, 0.75
    dm = torch.tensor([[[[9.0, 2.0], [-1.0, 9.0]]]])
    assert torch.allclose(heatmap_weighted_depth(hm, dm), torch.tensor([[0.25 * 2.0 + 0.75 * -1.0]]))


def test_latent_25d_maps_heatmap_pixels_to_input_pixels_and_is_differentiable():
    logits = torch.full((1, 1, 8, 8), -1e4)
    logits[0, 0, 5, 3] = 0.0  # heatmap (u, v) = (3, 5)
    depth = torch.full((1, 1, 8, 8), 0.7, requires_grad=True)
    _, uv, z = latent_25d(logits.requires_grad_(), depth, stride=4)
    # Heatmap pixel i covers input pixels [4i, 4i + 4): its centre is 4i + 1.5.
    assert torch.allclose(uv, torch.tensor([[[13.5, 21.5]]]))
    assert torch.allclose(z, torch.tensor([[0.7]]))
    (uv.sum() + z.sum()).backward()
    assert depth.grad is not None and torch.isfinite(depth.grad).all()
