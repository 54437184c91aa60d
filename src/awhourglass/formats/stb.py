"""STB's files (docs/datasets.md): the SK camera pair's calibration (readme) and its depth PNG (mm = R + 256·G)."""

from __future__ import annotations

import numpy as np

from awhourglass.geometry import rodrigues

STB_SIZE = (640, 480)  # (width, height) of every STB image
SK_COLOR_FXFYCXCY = (607.92271, 607.88192, 314.78337, 236.42484)
SK_DEPTH_FXFYCXCY = (475.62768, 474.77709, 336.41179, 238.77962)
BB_K = ((822.79041, 0.0, 318.47345), (0.0, 822.79041, 250.31296), (0.0, 0.0, 1.0))
# X_depth = R · X_colour + t, R the Rodrigues vector below
SK_RVEC = (0.00531, -0.01196, 0.00301)
SK_T_MM = (-24.0381, -0.4563, -1.2326)


def intrinsics(fxfycxcy: tuple[float, float, float, float]) -> np.ndarray:
    """``K (3, 3)`` of ``fx, fy, cx, cy``."""
    fx, fy, cx, cy = fxfycxcy
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def sk_extrinsics() -> tuple[np.ndarray, np.ndarray]:
    """``(R (3, 3), t_m (3,))`` of the SK pair: ``X_depth = R · X_colour + t``."""
    return rodrigues(SK_RVEC), np.array(SK_T_MM) / 1000.0


def encode_stb_depth(depth_m: np.ndarray) -> np.ndarray:
    """Depth ``(H, W)`` metres (0 = no reading) → STB SK depth PNG pixels ``(H, W, 3)`` uint8, mm = R + 256·G."""
    mm = np.round(np.clip(depth_m, 0.0, 65.535) * 1000).astype(np.uint16)
    return np.stack([(mm & 255).astype(np.uint8), (mm >> 8).astype(np.uint8), np.zeros_like(mm, np.uint8)], -1)


def decode_stb_depth(rgb: np.ndarray) -> np.ndarray:
    """STB SK depth PNG ``(H, W, 3)`` uint8 read as RGB → metres ``(H, W)`` float32; 0 = no reading."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 2:
        raise ValueError(f"decode_stb_depth: expected an (H, W, 3) image, got shape {rgb.shape}")
    mm = rgb[..., 0].astype(np.float32) + 256.0 * rgb[..., 1].astype(np.float32)
    return (mm / 1000.0).astype(np.float32)


REGISTERED_UNIT_M = 1e-4  # awh's cache of registered depth: uint16 PNG in 0.1 mm (≤ 6.5535 m)


def encode_registered_depth(depth_m: np.ndarray) -> np.ndarray:
    """Registered depth ``(H, W)`` metres (0 = none) → the cache's uint16 pixels in units of 0.1 mm.

    Raises:
        ValueError: a depth beyond 6.5535 m (the unit's range; STB's SK camera reads up to ~1.5 m).
    """
    depth_m = np.asarray(depth_m, np.float64)
    if depth_m.size and float(depth_m.max()) > 65535 * REGISTERED_UNIT_M:
        raise ValueError(f"encode_registered_depth: {float(depth_m.max()):.3f} m is beyond the cache's 6.5535 m")
    return np.round(np.clip(depth_m, 0.0, None) / REGISTERED_UNIT_M).astype(np.uint16)


def decode_registered_depth(pixels: np.ndarray) -> np.ndarray:
    """The cache's uint16 pixels ``(H, W)`` → metres ``(H, W)`` float32; 0 = none."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"decode_registered_depth: expected an (H, W) image, got shape {pixels.shape}")
    return (pixels.astype(np.float64) * REGISTERED_UNIT_M).astype(np.float32)


__all__ = [
    "BB_K",
    "REGISTERED_UNIT_M",
    "SK_COLOR_FXFYCXCY",
    "SK_DEPTH_FXFYCXCY",
    "SK_RVEC",
    "SK_T_MM",
    "STB_SIZE",
    "decode_registered_depth",
    "decode_stb_depth",
    "encode_registered_depth",
    "encode_stb_depth",
    "intrinsics",
    "sk_extrinsics",
]
