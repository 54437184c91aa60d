"""RHD's depth PNG (docs/datasets.md): ``depth_m = 5 · (R·256 + G) / 65535``, R the top byte, B unused."""

from __future__ import annotations

import numpy as np

RHD_DEPTH_MAX_M = 5.0


def encode_rhd_depth(depth_m: np.ndarray) -> np.ndarray:
    """Depth ``(H, W)`` metres (clipped to [0, 5]) → RHD PNG pixels ``(H, W, 3)`` uint8."""
    v = np.round(np.clip(depth_m, 0.0, RHD_DEPTH_MAX_M) / RHD_DEPTH_MAX_M * 65535).astype(np.uint16)
    return np.stack([(v >> 8).astype(np.uint8), (v & 255).astype(np.uint8), np.zeros_like(v, np.uint8)], -1)


def decode_rhd_depth(rgb: np.ndarray) -> np.ndarray:
    """RHD depth PNG ``(H, W, 3)`` uint8 read as RGB → metres ``(H, W)`` float32 (inverse of the encode)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 2:
        raise ValueError(f"decode_rhd_depth: expected an (H, W, 3) image, got shape {rgb.shape}")
    r, g = rgb[..., 0].astype(np.float32), rgb[..., 1].astype(np.float32)
    return (RHD_DEPTH_MAX_M * (r * 256.0 + g) / 65535.0).astype(np.float32)


__all__ = ["RHD_DEPTH_MAX_M", "decode_rhd_depth", "encode_rhd_depth"]
