"""Crop a full-resolution hand record to the network input, with augmentation, carrying K, 3D and depth along.

The pipeline per sample (all maps are 3×3 affine on pixels, ``A @ K`` carries the intrinsics):

1. Rotation (augmentation): the camera rotates about its optical axis by θ. The pixel map is
   ``H = K R_z K⁻¹`` (exactly affine), the 3D joints become ``R_z X`` and K is unchanged, so K stays a
   valid pinhole and ``project(R_z X, K) = H · uv`` holds exactly, also for ``fx ≠ fy``.
2. Hand square from the (rotated) visible 2D joints: centre of their bounding box, side ``crop_scale`` ×
   its longer side, times the scale augmentation, centre shifted by the translation augmentation.
3. Crop + resize ``C`` (scale and translate only): ``K_crop = C K``.
4. Mirror (left hand → right convention, or a flip augmentation): image columns reversed,
   ``cx' = (S−1) − cx``, ``X' = −X`` (:func:`awhourglass.geometry.flip_horizontal`).
5. Warp RGB (bilinear) and depth / mask (nearest) with ``torch.nn.functional.grid_sample``; depth values
   are unchanged by all these maps (rotation about the optical axis and mirroring keep z).
6. Hand mask (given, or derived from depth + 2D joints), then Eq. 9 depth normalization on the crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from awhourglass.data.config import AugmentConfig
from awhourglass.data.depth import hand_mask_from_depth, normalize_depth_eq9
from awhourglass.data.sample import SOURCE, Sample
from awhourglass.errors import PredictError
from awhourglass.geometry import apply_affine, crop_affine, flip_horizontal
from awhourglass.skeleton import mirror_xyz


@dataclass
class RawSample:
    """One full-resolution record as a reader returns it (canonical joint order, metres, as recorded).

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB. K: ``(3, 3)`` intrinsics of ``image``.
        uv_px: ``(21, 2)`` pixels in ``image``. vis: ``(21,)`` bool.
        xyz_m: ``(21, 3)`` colour-camera metres, or None. depth_m: ``(H, W)`` metres aligned with
            ``image`` (0 = no reading), or None. mask: ``(H, W)`` bool hand pixels, or None (derive from depth).
        hand_side: ``left`` / ``right`` as recorded. source: file and frame, for messages.
    """

    image: np.ndarray
    K: np.ndarray
    uv_px: np.ndarray
    vis: np.ndarray
    xyz_m: np.ndarray | None
    depth_m: np.ndarray | None
    mask: np.ndarray | None
    hand_side: str
    source: str


@dataclass
class AugmentParams:
    """One draw of augmentation; the identity by default."""

    scale: float = 1.0
    rotation_rad: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)  # fractions of the crop side
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0


def draw_augment(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw one :class:`AugmentParams` from ``cfg`` (identity when ``cfg.enabled`` is False)."""
    if not cfg.enabled:
        return AugmentParams()
    u = rng.uniform
    return AugmentParams(
        scale=float(u(cfg.scale[0], cfg.scale[1])),
        rotation_rad=math.radians(float(u(-cfg.rotation_deg, cfg.rotation_deg))),
        shift=(float(u(-cfg.translate, cfg.translate)), float(u(-cfg.translate, cfg.translate))),
        flip=bool(rng.random() < cfg.flip_prob),
        brightness=float(u(1 - cfg.brightness, 1 + cfg.brightness)),
        contrast=float(u(1 - cfg.contrast, 1 + cfg.contrast)),
        saturation=float(u(1 - cfg.saturation, 1 + cfg.saturation)),
    )


def hand_square(uv_px: np.ndarray, vis: np.ndarray, crop_scale: float, min_side_px: float):
    """Centre ``(2,)`` and side of the square around the visible joints (all joints if fewer than 2 visible)."""
    vis = np.asarray(vis, bool)
    pts = np.asarray(uv_px, np.float64)[vis] if vis.sum() >= 2 else np.asarray(uv_px, np.float64)
    lo, hi = pts.min(0), pts.max(0)
    side = max(crop_scale * float((hi - lo).max()), min_side_px)
    return (lo + hi) / 2.0, side


def optical_axis_rotation(theta_rad: float) -> np.ndarray:
    """3×3 rotation about the camera's z axis that turns the image by θ counter-clockwise as displayed."""
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def mirror_affine(size: int) -> np.ndarray:
    """Pixel map of a left↔right flip of a ``size``-wide image: ``u' = (size − 1) − u``."""
    return np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def warp(image: torch.Tensor, A: np.ndarray, out_size: int, mode: str = "bilinear") -> torch.Tensor:
    """Warp ``(C, H, W)`` float by the pixel map ``A`` (source px → output px) into ``(C, S, S)``; zeros outside.

    Uses ``grid_sample(align_corners=True)``, where normalized −1 / +1 are the centres of the first /
    last pixel: the OpenCV pixel-centre convention of the package.
    """
    _, H, W = image.shape
    inv = np.linalg.inv(A)
    ys, xs = np.meshgrid(np.arange(out_size, dtype=np.float64), np.arange(out_size, dtype=np.float64), indexing="ij")
    src_u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    src_v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    gx = 2.0 * src_u / max(W - 1, 1) - 1.0
    gy = 2.0 * src_v / max(H - 1, 1) - 1.0
    grid = torch.from_numpy(np.stack([gx, gy], -1)[None].astype(np.float32))
    out = F.grid_sample(image[None].float(), grid, mode=mode, padding_mode="zeros", align_corners=True)
    return out[0]


def colour_jitter(image: torch.Tensor, p: AugmentParams) -> torch.Tensor:
    """Brightness, contrast and saturation factors on ``(3, H, W)`` in [0, 1]."""
    if p.brightness == p.contrast == p.saturation == 1.0:
        return image
    img = image * p.brightness
    grey = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    img = grey.mean() + p.contrast * (img - grey.mean())
    grey = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    img = grey + p.saturation * (img - grey)
    return img.clamp(0.0, 1.0)


def make_sample(
    raw: RawSample,
    *,
    input_size: int,
    crop_scale: float = 1.5,
    min_crop_px: float = 16.0,
    mirror: bool = False,
    aug: AugmentParams | None = None,
    depth_band_m: float = 0.08,
    domain: int = SOURCE,
) -> Sample:
    """Crop, augment and normalize one :class:`RawSample` into a network-ready :class:`Sample`.

    Args:
        mirror: mirror the record (a left hand under ``mirror_left``); a flip augmentation toggles it.
        aug: augmentation draw (identity if None).
        depth_band_m: band of the depth-derived hand mask when the record has no mask.
    """
    aug = aug or AugmentParams()
    K = np.asarray(raw.K, np.float64)
    Rz = optical_axis_rotation(aug.rotation_rad)
    H_rot = K @ Rz @ np.linalg.inv(K)
    uv_rot = apply_affine(H_rot, np.asarray(raw.uv_px, np.float64))
    centre, side = hand_square(uv_rot, raw.vis, crop_scale, min_crop_px)  # square around the rotated hand
    side *= aug.scale
    C = crop_affine(centre + side * np.asarray(aug.shift), side, input_size)
    A = C @ H_rot
    K_crop = C @ K
    uv = apply_affine(C, uv_rot)
    xyz = None if raw.xyz_m is None else np.asarray(raw.xyz_m, np.float64) @ Rz.T
    mirrored = mirror != aug.flip
    if mirrored:
        A = mirror_affine(input_size) @ A
        uv, K_crop = flip_horizontal(uv, K_crop, input_size)
        xyz = None if xyz is None else mirror_xyz(xyz)

    img = torch.from_numpy(np.ascontiguousarray(raw.image)).permute(2, 0, 1).float() / 255.0
    img = colour_jitter(warp(img, A, input_size, "bilinear").clamp(0.0, 1.0), aug)

    depth = depth_mask = None
    if raw.depth_m is not None:
        d = warp(torch.from_numpy(np.asarray(raw.depth_m, np.float32))[None], A, input_size, "nearest")
        if raw.mask is not None:
            m = warp(torch.from_numpy(np.asarray(raw.mask, np.float32))[None], A, input_size, "nearest") > 0.5
        else:
            m = torch.from_numpy(hand_mask_from_depth(d[0].numpy(), uv, raw.vis, band_m=depth_band_m))[None]
        depth, used = normalize_depth_eq9(d, m)
        depth_mask = used if depth is not None else None

    return Sample(
        image=img.contiguous(),
        K=torch.from_numpy(K_crop.astype(np.float32)),
        uv_px=torch.from_numpy(uv.astype(np.float32)),
        vis=torch.from_numpy(np.asarray(raw.vis, bool).copy()),
        xyz_m=None if xyz is None else torch.from_numpy(xyz.astype(np.float32)),
        depth=depth,
        depth_mask=depth_mask,
        hand_side=raw.hand_side,
        domain=domain,
        source=raw.source,
        mirrored=mirrored,
    )


# --- a user's box on a photo ----------------------------------------------------------------------------


def parse_bbox(bbox: Any, width: int, height: int) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` in original pixels (x, y = top-left corner); must overlap the image and be positive."""
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise PredictError(f"bbox: expected 4 numbers x,y,w,h, got {bbox!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise PredictError(f"bbox: width and height must be positive finite pixels, got {bbox!r}")
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise PredictError(f"bbox {bbox!r} lies outside the {width}x{height} image")
    return x, y, w, h


def parse_intrinsics(K: Any) -> np.ndarray:
    """``fx, fy, cx, cy`` (4 numbers) or a 3×3 matrix → ``K (3, 3)``; focal lengths must be positive."""
    a = np.asarray(K, dtype=np.float64) if not isinstance(K, str) else None
    if a is None:
        raise PredictError(f"K: expected fx,fy,cx,cy, got {K!r}")
    if a.shape == (4,):
        fx, fy, cx, cy = a
        a = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if a.shape != (3, 3) or not np.isfinite(a).all():
        raise PredictError(f"K: expected fx,fy,cx,cy or a finite 3x3 matrix, got shape {a.shape}")
    if a[0, 0] <= 0 or a[1, 1] <= 0:
        raise PredictError(f"K: focal lengths must be positive pixels, got fx={a[0, 0]}, fy={a[1, 1]}")
    return a


def crop_box(bbox: tuple[float, float, float, float] | None, width: int, height: int) -> tuple[int, int, int]:
    """Integer square ``(x0, y0, side)`` (corner coordinates) around ``bbox`` or the whole image, centred.

    The square covers the box's longer side; the whole-image square is ``max(W, H)`` (padded with black).
    """
    if bbox is None:
        x, y, w, h = 0.0, 0.0, float(width), float(height)
    else:
        x, y, w, h = bbox
    side = max(1, round(max(w, h)))
    cx, cy = x + w / 2.0, y + h / 2.0
    return round(cx - side / 2.0), round(cy - side / 2.0), side


def crop_resize(rgb: np.ndarray, x0: int, y0: int, side: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Square crop (black outside the image) resized to ``size``; returns ``(crop (size, size, 3) uint8, A)``.

    ``A`` maps original pixels to crop pixels (pixel-centre convention), as :func:`crop_affine`:
    crop pixel ``i`` covers original ``[x0 + i·side/size, x0 + (i+1)·side/size)`` in corner coordinates.
    """
    from PIL import Image

    H, W = rgb.shape[:2]
    # Only the part of the square inside the image is decoded/resized; the rest is black padding.
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + side, W), min(y0 + side, H)
    canvas = np.zeros((side, side, 3), np.uint8) if side <= 4096 else None
    if canvas is not None:
        canvas[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = rgb[iy0:iy1, ix0:ix1]
        out = np.asarray(Image.fromarray(canvas).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0))
    else:  # a huge square: resize the inside part alone, then paste it at its scaled place
        s = size / side
        inner = Image.fromarray(np.ascontiguousarray(rgb[iy0:iy1, ix0:ix1]))
        px0, py0 = round((ix0 - x0) * s), round((iy0 - y0) * s)
        pw, ph = max(1, round((ix1 - ix0) * s)), max(1, round((iy1 - iy0) * s))
        small = np.asarray(inner.resize((pw, ph), Image.Resampling.BILINEAR, reducing_gap=3.0))
        out = np.zeros((size, size, 3), np.uint8)
        out[py0:py0 + ph, px0:px0 + pw] = small[: size - py0, : size - px0]
    centre = (x0 - 0.5 + side / 2.0, y0 - 0.5 + side / 2.0)
    return np.ascontiguousarray(out), crop_affine(centre, float(side), size)
