"""Depth at the dataset edge (the depth-PNG codecs live in :mod:`awhourglass.formats`): registering a depth
camera to the colour camera, deriving a hand mask from depth and 2D joints, and the paper's Eq. 9 normalization.

Everything here uses only the depth image, the calibration and the 2D joints, never 3D labels
(method-notes item 7), so the same code serves the weakly supervised target domain.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# --- Registration ------------------------------------------------------------------------------------------------


def register_depth(
    depth_m: np.ndarray, K_depth: np.ndarray, R: np.ndarray, t_m: np.ndarray, K_color: np.ndarray, shape: tuple
) -> np.ndarray:
    """Re-render a depth image into the colour camera: ``X_colour = Rᵀ (X_depth − t)`` (STB's calibration).

    Each valid depth pixel is back-projected with ``K_depth``, moved to the colour frame, projected with
    ``K_color`` and splatted with a z-buffer (nearest surface wins) over a footprint as wide as one depth pixel
    seen by the colour camera (focal-length ratio), so the magnified image has no holes.

    Args:
        depth_m: ``(Hd, Wd)`` metres, 0 = no reading.
        K_depth, K_color: ``(3, 3)`` intrinsics; R: ``(3, 3)``; t_m: ``(3,)`` metres.
        shape: ``(H, W)`` of the colour image.

    Returns:
        ``(H, W)`` float32 metres in the colour camera's pixel grid (z in the colour frame), 0 = none.
    """
    H, W = shape
    v, u = np.nonzero(depth_m > 0)
    z = depth_m[v, u].astype(np.float64)
    x = (u - K_depth[0, 2]) / K_depth[0, 0] * z
    y = (v - K_depth[1, 2]) / K_depth[1, 1] * z
    pts = np.stack([x, y, z], 1) - np.asarray(t_m, np.float64)[None]
    pts = pts @ np.asarray(R, np.float64)  # row-vector form of Rᵀ (X − t)
    zc = pts[:, 2]
    front = zc > 1e-6
    pts, zc = pts[front], zc[front]
    uc = K_color[0, 0] * pts[:, 0] / zc + K_color[0, 2]
    vc = K_color[1, 1] * pts[:, 1] / zc + K_color[1, 2]
    out = np.full(H * W, np.inf)
    # Splat each point at 4 sub-pixel offsets ±h around its position: h covers the colour camera's
    # magnification of one depth pixel (focal ratio), so neighbouring points leave no holes; h → 0.05 at 1:1.
    ratio = max(K_color[0, 0] / K_depth[0, 0], K_color[1, 1] / K_depth[1, 1])
    h = max(0.0, 0.5 * (ratio - 1.0)) + 0.05
    for du in (-h, h):
        for dv in (-h, h):
            uu, vv = np.round(uc + du).astype(np.int64), np.round(vc + dv).astype(np.int64)
            ok = (uu >= 0) & (uu < W) & (vv >= 0) & (vv < H)
            np.minimum.at(out, vv[ok] * W + uu[ok], zc[ok])
    out[~np.isfinite(out)] = 0.0
    return out.reshape(H, W).astype(np.float32)


# --- Hand mask from depth ----------------------------------------------------------------------------------------


def sample_depth_at(depth_m: np.ndarray, uv_px: np.ndarray, radius: int = 2) -> np.ndarray:
    """Median valid depth in a ``(2r+1)²`` window around each pixel ``(J, 2)`` → ``(J,)``, NaN where none."""
    _H, _W = depth_m.shape
    out = np.full(len(uv_px), np.nan)
    for j, (u, v) in enumerate(np.asarray(uv_px, np.float64)):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        ui, vi = round(u), round(v)
        win = depth_m[max(vi - radius, 0) : max(vi + radius + 1, 0), max(ui - radius, 0) : max(ui + radius + 1, 0)]
        vals = win[win > 0]
        if vals.size:
            out[j] = float(np.median(vals))
    return out


def hand_mask_from_depth(
    depth_m: np.ndarray, uv_px: np.ndarray, vis: np.ndarray, band_m: float = 0.08, margin: float = 0.15
) -> np.ndarray:
    """Hand pixels of a depth image, from the depth and the 2D joints only (no 3D labels).

    A pixel is hand if its depth is valid, within ``band_m`` of the median depth sampled at the visible
    joints, and inside the joints' bounding box grown by ``margin`` × its longer side on every edge.

    Args:
        depth_m: ``(H, W)`` metres, 0 = no reading. uv_px: ``(21, 2)``. vis: ``(21,)`` bool.

    Returns:
        ``(H, W)`` bool; all False when no visible joint has a depth reading.
    """
    H, W = depth_m.shape
    vis = np.asarray(vis, bool)
    pts = np.asarray(uv_px, np.float64)[vis if vis.any() else slice(None)]
    pts = pts[np.isfinite(pts).all(-1)]  # unlabelled joints may be NaN
    if len(pts) == 0:
        return np.zeros((H, W), bool)
    d = sample_depth_at(depth_m, pts)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return np.zeros((H, W), bool)
    centre = float(np.median(d))
    lo, hi = pts.min(0), pts.max(0)
    grow = margin * float((hi - lo).max()) + 2.0
    lo, hi = lo - grow, hi + grow
    rows, cols = np.arange(H), np.arange(W)
    inside = ((rows >= lo[1]) & (rows <= hi[1]))[:, None] & ((cols >= lo[0]) & (cols <= hi[0]))[None, :]
    return inside & (depth_m > 0) & (np.abs(depth_m - centre) <= band_m)


# --- Paper Eq. 9 -------------------------------------------------------------------------------------------------


def normalize_depth_eq9(depth_m, mask, min_range_m: float = 1e-3):
    """Paper Eq. 9 (without its stray Σ): ``D = (d_max − d) / d_range`` on hand pixels, 0 elsewhere.

    The package's one Eq. 9 (training targets and any batch of depth maps). ``d_max`` and
    ``d_range = d_max − d_min`` are taken per image (over the last two axes) on the hand pixels with a
    valid (finite, > 0) depth, so the nearest hand point maps to 1 and the farthest to 0.

    Args:
        depth_m: ``(..., H, W)`` metres, 0 = no reading; torch or numpy. mask: same shape, bool hand pixels.
        min_range_m: floor on ``d_range`` so a flat hand does not divide by ~0 (it gets D = 0).

    Returns:
        ``(normalized float32, mask_used)`` (numpy in → numpy out), ``mask_used = mask & valid depth``;
        ``normalized`` is None when no pixel of any image is used (no depth label, rather than an all-zero one).
    """
    if isinstance(depth_m, torch.Tensor) and isinstance(mask, torch.Tensor) and depth_m.shape == mask.shape \
            and (depth_m.dim() == 2 or (depth_m.dim() == 3 and depth_m.shape[0] == 1)):
        # one image (each training target): the same values with fewer tensor ops. NaN fails d > 0; an infinite
        # reading (which passes it) shows in the maximum, and only then the general route below removes it.
        m = mask.bool() & (depth_m > 0)
        if not bool(m.any()):
            return None, m
        d_min, d_max = depth_m[m].aminmax()
        if math.isfinite(float(d_max)):
            d_range = (d_max - d_min).clamp_min(min_range_m)
            return torch.where(m, (d_max - depth_m) / d_range, torch.zeros_like(depth_m)).float(), m
    as_numpy = isinstance(depth_m, np.ndarray)
    d = torch.as_tensor(depth_m)
    m = torch.as_tensor(mask).bool()
    if d.shape != m.shape or d.dim() < 2:
        raise ValueError(f"normalize_depth_eq9: depth_m {tuple(d.shape)} and mask {tuple(m.shape)} "
                         "must have the same shape (..., H, W)")
    m = m & torch.isfinite(d) & (d > 0)
    if not bool(m.any()):
        return None, (m.numpy() if as_numpy else m)
    inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
    d_max = torch.where(m, d, -inf).amax((-2, -1), keepdim=True)
    d_min = torch.where(m, d, inf).amin((-2, -1), keepdim=True)
    d_range = (d_max - d_min).clamp_min(min_range_m)
    out = torch.where(m, (d_max - torch.where(m, d, d_max)) / d_range, torch.zeros_like(d)).float()
    return (out.numpy(), m.numpy()) if as_numpy else (out, m)


def denormalize_depth_eq9(norm: torch.Tensor, d_max_m: float, d_range_m: float) -> torch.Tensor:
    """Inverse of :func:`normalize_depth_eq9` on hand pixels: ``d = d_max − norm · d_range``."""
    return d_max_m - norm * d_range_m
