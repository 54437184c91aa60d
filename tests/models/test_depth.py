"""Depth regularizer: Eq. 9 normalization, masked pooling, decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from awhourglass.data.depth import normalize_depth_eq9
from awhourglass.models.depth import DepthDecoder, masked_avg_pool


def test_eq9_on_a_tiny_depth_map_by_hand():
    d = torch.tensor([[0.50, 0.60, 9.00], [0.55, 0.0, float("nan")]])
    m = torch.tensor([[True, True, False], [True, True, True]])
    out, mask = normalize_depth_eq9(d, m)
    # hand pixels with valid depth: 0.50, 0.60, 0.55 → d_max 0.60, range 0.10
    assert torch.equal(mask, torch.tensor([[True, True, False], [True, False, False]]))
    assert torch.allclose(out, torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.0, 0.0]]), atol=1e-6)


def test_eq9_batched_numpy_and_flat_hand():
    d = np.stack([np.full((2, 2), 0.4), np.array([[1.0, 2.0], [3.0, 5.0]])])[:, None]
    m = np.ones_like(d, dtype=bool)
    out, mask = normalize_depth_eq9(d, m)
    assert isinstance(mask, np.ndarray) and mask.all()
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], 0.0)  # a flat hand: range floored, values 0
    np.testing.assert_allclose(out[1, 0], [[1.0, 0.75], [0.5, 0.0]], atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        normalize_depth_eq9(d, m[..., :1])


def test_masked_avg_pool_by_hand():
    d = torch.tensor([[1.0, 3.0, 5.0, float("nan")], [2.0, 4.0, 7.0, 7.0],
                      [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 9.0]]).reshape(1, 1, 4, 4)
    m = torch.tensor([[1, 1, 1, 0], [1, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=torch.bool).reshape(1, 1, 4, 4)
    out, mask = masked_avg_pool(d, m, 2)
    # blocks: TL (1,3,2) 3/4 hand → 2; TR (5,7,7) 3/4 → 19/3; BL none; BR 1/4 < ½ → off
    assert torch.equal(mask[0, 0], torch.tensor([[True, True], [False, False]]))
    assert torch.allclose(out[0, 0], torch.tensor([[2.0, 19 / 3], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="divisible by 3"):
        masked_avg_pool(d, m, 3)


def test_decoder_shape_and_gradient_only_through_depths():
    dec = DepthDecoder(input_size=32, out_size=16, width=8)
    uv = (torch.rand(2, 21, 2) * 32).requires_grad_()
    z = torch.randn(2, 21, requires_grad=True)
    out = dec(uv, z)
    assert out.shape == (2, 1, 16, 16) and bool(((out > 0) & (out < 1)).all())
    out.sum().backward()
    assert uv.grad is None and z.grad is not None and z.grad.abs().sum() > 0


def test_eq9_per_image_equals_each_image_alone():
    g = torch.Generator().manual_seed(0)
    d = 0.4 + 0.3 * torch.rand(3, 1, 6, 5, generator=g)
    m = torch.rand(3, 1, 6, 5, generator=g) > 0.4
    m[1] = False  # an image without hand pixels: zeros there, the others unaffected
    out, used = normalize_depth_eq9(d, m)
    for i in (0, 2):
        alone, alone_used = normalize_depth_eq9(d[i], m[i])
        assert torch.equal(out[i], alone) and torch.equal(used[i], alone_used)
        vals = d[i][m[i]]
        assert out[i][m[i]].max() == 1.0 and out[i][m[i]].min() == 0.0  # nearest → 1, farthest → 0
        assert torch.allclose(out[i][m[i]], (vals.max() - vals) / (vals.max() - vals.min()))
    assert not out[1].any() and not used[1].any()
    none, _ = normalize_depth_eq9(d[1], m[1])
    assert none is None  # no hand pixel at all: no depth label
