"""The latent 2.5D head (Iqbal et al. 2018): per joint a heatmap and a depth map → 2D location and depth.

Convention: heatmap pixel ``i``'s centre has coordinate ``i`` (OpenCV, as everywhere in the package); the
soft-argmax is the expectation of these integer coordinates, so it lies in ``[0, W-1]``. It is mapped to
input-crop pixels with :func:`awhourglass.geometry.heatmap_to_input_px` (centre of heatmap pixel ``i`` ↔
input coordinate ``(i + 0.5)·stride − 0.5``).
"""

from __future__ import annotations

import math

import torch

from awhourglass.geometry import heatmap_to_input_px

# Confidence below which "no hand" is reported by prediction for checkpoints without a calibrated threshold
# (``awh train`` stores one per model: train/calibrate.py); a value once chosen on one demo model (docs/demo.md).
DEFAULT_HAND_THRESHOLD = 0.075


def spatial_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over all H·W pixels of each joint (not over joints): ``(B, J, H, W)`` → same, sums to 1."""
    b, j, h, w = logits.shape
    return torch.softmax(logits.reshape(b, j, h * w), dim=-1).reshape(b, j, h, w)


def soft_argmax(heatmap: torch.Tensor) -> torch.Tensor:
    """Expected pixel coordinates ``(B, J, 2)`` as (u, v) of normalized heatmaps ``(B, J, H, W)``."""
    _, _, h, w = heatmap.shape
    xs = torch.arange(w, dtype=heatmap.dtype, device=heatmap.device)
    ys = torch.arange(h, dtype=heatmap.dtype, device=heatmap.device)
    u = (heatmap.sum(2) * xs).sum(-1)  # marginal over rows, then expectation over columns
    v = (heatmap.sum(3) * ys).sum(-1)
    return torch.stack([u, v], dim=-1)


def heatmap_weighted_depth(heatmap: torch.Tensor, depthmap: torch.Tensor) -> torch.Tensor:
    """Normalized relative depth ``(B, J)``: the depth map weighted by the same normalized heatmap."""
    return (heatmap * depthmap).sum((2, 3))


def latent_25d(logits: torch.Tensor, depthmap: torch.Tensor, stride: float):
    """Latent 2.5D decoding of one stack.

    Args:
        logits: ``(B, J, h, w)`` heatmap logits.
        depthmap: ``(B, J, h, w)`` per-joint depth maps (normalized relative depth, Eq. 7 units).
        stride: input pixels per heatmap pixel.

    Returns:
        ``(heatmap (B, J, h, w), uv_px (B, J, 2) in input-crop pixels, z_norm (B, J))``.
    """
    if logits.shape != depthmap.shape or logits.dim() != 4:
        raise ValueError(f"latent_25d: logits {tuple(logits.shape)} and depthmap {tuple(depthmap.shape)} "
                         "must both be (B, J, H, W)")
    heatmap = spatial_softmax(logits)
    uv_px = heatmap_to_input_px(soft_argmax(heatmap), stride)
    return heatmap, uv_px, heatmap_weighted_depth(heatmap, depthmap)


def heatmap_confidence(heatmap: torch.Tensor) -> torch.Tensor:
    """Per-joint confidence ``(B, J)`` in [0, 1] from the spread of each heatmap.

    ``heatmap (B, J, h, w)`` must be a spatial softmax (each map sums to 1). The spread is the standard
    deviation of the map around its mean, ``sqrt(var_u + var_v)`` in heatmap pixels; the confidence is
    ``1 − spread / spread_uniform`` clipped to [0, 1], where ``spread_uniform = sqrt((w² − 1)/12 + (h² − 1)/12)``
    is that of a flat map: 1 = all mass on one pixel, 0 = as spread as a flat map (or more).
    """
    h, w = heatmap.shape[-2:]
    xs = torch.arange(w, dtype=heatmap.dtype, device=heatmap.device)
    ys = torch.arange(h, dtype=heatmap.dtype, device=heatmap.device)
    pu, pv = heatmap.sum(2), heatmap.sum(3)  # marginals over columns (u) and rows (v)
    mu, mv = (pu * xs).sum(-1), (pv * ys).sum(-1)
    var = (pu * (xs - mu[..., None]) ** 2).sum(-1) + (pv * (ys - mv[..., None]) ** 2).sum(-1)
    flat = math.sqrt((w * w - 1) / 12.0 + (h * h - 1) / 12.0)
    return (1.0 - var.clamp_min(0).sqrt() / flat).clamp(0.0, 1.0)
