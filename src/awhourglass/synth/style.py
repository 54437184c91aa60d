"""Appearance of the two domains: backgrounds, skin, lighting, camera artefacts, depth-sensor artefacts.

``source`` (synthetic look): a clean background (one colour or a linear gradient), one narrow
family of skin tones with uniform albedo, Lambertian shading under a fixed light near the camera,
no noise, no blur, exact depth over a far background plane.

``target`` (real look), graded by ``gap`` in [0, 1] (0 = the source look, 1 = the harshest):
cluttered textured background (multi-octave value noise, random ellipses and rectangles, some
skin-coloured and finger-shaped), skin tones from light to dark with blotchy albedo, sleeves, a
random light direction, colour and intensity, specular highlights, vignetting, Gaussian blur,
sensor noise, JPEG compression; depth over a near wall with noise growing with z², dropped pixels
at depth edges and blob-shaped holes (0 = no reading, as the RealSense writes).
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_SKIN_LIGHT = np.array([0.96, 0.80, 0.70])
_SKIN_DARK = np.array([0.36, 0.22, 0.15])
_SOURCE_TONE = 0.25  # position of the source skin on the light → dark line
_LIGHT_DIR = np.array([0.25, -0.45, -1.0])  # towards the light, camera frame (from the camera, above left)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)


def value_noise(rng: np.random.Generator, b: int, c: int, h: int, w: int, cells: int) -> torch.Tensor:
    """Smooth noise ``(B, C, H, W)`` in [0, 1]: a ``cells``-wide random grid, bilinearly upsampled."""
    ch = max(2, round(cells * h / w))
    grid = _t(rng.uniform(size=(b, c, ch, cells)))
    return F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)


def _ramp(rng: np.random.Generator, b: int, h: int, w: int) -> torch.Tensor:
    ang = _t(rng.uniform(0, 2 * np.pi, b))
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    r = xx[None] * torch.cos(ang)[:, None, None] + yy[None] * torch.sin(ang)[:, None, None]
    return ((r + 1.5) / 3.0).clamp(0, 1)  # (B, H, W)


def clean_background(rng: np.random.Generator, b: int, h: int, w: int) -> torch.Tensor:
    """Source backgrounds ``(B, H, W, 3)``: one colour (50 %) or a linear gradient between two colours."""
    c1 = _t(rng.uniform(0.1, 0.9, (b, 3)))
    c2 = torch.where(_t(rng.uniform(size=(b, 1))) < 0.5, c1, _t(rng.uniform(0.1, 0.9, (b, 3))))
    r = _ramp(rng, b, h, w)[..., None]
    return c1[:, None, None] * (1 - r) + c2[:, None, None] * r


def skin_colour(tone: np.ndarray) -> np.ndarray:
    """RGB albedo ``(B, 3)`` at ``tone`` in [0, 1] on the light → dark line."""
    return _SKIN_LIGHT[None] * (1 - tone[:, None]) + _SKIN_DARK[None] * tone[:, None]


def cluttered_background(rng: np.random.Generator, b: int, h: int, w: int, n_shapes: int = 12) -> torch.Tensor:
    """Target clutter ``(B, H, W, 3)``: coloured value noise plus random shapes, ~30 % of them skin-coloured.

    Drawn at half resolution (above 48 pixels wide) and upsampled bilinearly: a quarter of the cost,
    and a background slightly softer than the hand in focus.
    """
    if w > 48:
        half = cluttered_background(rng, b, (h + 1) // 2, (w + 1) // 2, n_shapes).permute(0, 3, 1, 2)
        return F.interpolate(half, size=(h, w), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    pal_a, pal_b = _t(rng.uniform(0, 1, (b, 3))), _t(rng.uniform(0, 1, (b, 3)))
    mix = 0.5 * value_noise(rng, b, 1, h, w, 4) + 0.3 * value_noise(rng, b, 1, h, w, 9)
    mix = mix + 0.2 * value_noise(rng, b, 1, h, w, max(4, w // 4))
    img = pal_a[:, :, None, None] * (1 - mix) + pal_b[:, :, None, None] * mix  # (B, 3, H, W)
    img = img.permute(0, 2, 3, 1)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    cu, cv = _t(rng.uniform(0, w, (n_shapes, b))), _t(rng.uniform(0, h, (n_shapes, b)))
    skin = rng.uniform(size=(n_shapes, b)) < 0.3
    ax = _t(rng.uniform(0.04, 0.35, (n_shapes, b)) * w)
    ay = ax * _t(np.where(skin, rng.uniform(0.15, 0.35, (n_shapes, b)), rng.uniform(0.3, 1.0, (n_shapes, b))))
    ang = _t(rng.uniform(0, np.pi, (n_shapes, b)))
    rect = _t(rng.uniform(size=(n_shapes, b)) < 0.4)
    col = np.where(
        skin[..., None],
        skin_colour(rng.uniform(0, 1, n_shapes * b)).reshape(n_shapes, b, 3) * rng.uniform(0.7, 1.1, (n_shapes, b, 1)),
        rng.uniform(0, 1, (n_shapes, b, 3)),
    )
    col = _t(np.clip(col, 0, 1))
    for k in range(n_shapes):
        dx, dy = xx[None] - cu[k, :, None, None], yy[None] - cv[k, :, None, None]
        c, s = torch.cos(ang[k])[:, None, None], torch.sin(ang[k])[:, None, None]
        x1, y1 = (c * dx + s * dy) / ax[k, :, None, None], (-s * dx + c * dy) / ay[k, :, None, None]
        ell = x1 * x1 + y1 * y1 <= 1.0
        box = (x1.abs() <= 1.0) & (y1.abs() <= 1.0)
        inside = torch.where(rect[k, :, None, None] > 0, box, ell)
        shade = 1.0 - 0.25 * (x1 * x1 + y1 * y1).clamp(max=1.0)  # a little relief
        img = torch.where(inside[..., None], col[k, :, None, None, :] * shade[..., None], img)
    return img


def _gaussian_blur(img: torch.Tensor, sigma: np.ndarray) -> torch.Tensor:
    """Blur ``(B, H, W, 3)`` with one Gaussian sigma (pixels) per image; sigma 0 leaves the image unchanged."""
    b, h, w, _ = img.shape
    radius = max(1, int(np.ceil(3 * float(sigma.max()))))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    s = _t(np.maximum(sigma, 1e-3))[:, None]
    k = torch.exp(-0.5 * (x[None] / s) ** 2)
    k = k / k.sum(1, keepdim=True)  # (B, K); sigma ≈ 0 gives a delta
    k = k.repeat_interleave(3, 0)  # one per channel
    z = img.permute(0, 3, 1, 2).reshape(1, b * 3, h, w)
    z = F.pad(z, (radius, radius, radius, radius), mode="replicate")
    z = F.conv2d(z, k[:, None, None, :], groups=b * 3)
    z = F.conv2d(z, k[:, None, :, None], groups=b * 3)
    return z.reshape(b, 3, h, w).permute(0, 2, 3, 1)


def _jpeg(rgb: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """JPEG-compress and decode each ``(H, W, 3)`` uint8 image at its quality (≥ 100 = untouched)."""
    out = rgb.copy()
    for i, q in enumerate(quality):
        if q >= 100:
            continue
        buf = io.BytesIO()
        Image.fromarray(rgb[i]).save(buf, format="JPEG", quality=int(q))
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def appearance(
    rng: np.random.Generator,
    target: bool,
    gap: float,
    hit: torch.Tensor,
    is_arm: torch.Tensor,
    normal: torch.Tensor,
) -> np.ndarray:
    """RGB images ``(B, H, W, 3)`` uint8 of rendered hands in the source look or the target look at ``gap``.

    Args:
        hit: ``(B, H, W)`` bool, a body surface is visible; is_arm: the visible surface is the forearm.
        normal: ``(B, H, W, 3)`` camera-space unit normals.
    """
    b, h, w = hit.shape
    g = float(gap) if target else 0.0
    bg = clean_background(rng, b, h, w)
    # Skin: the source's narrow tone family, widened towards any tone as the gap grows.
    tone = _SOURCE_TONE + rng.uniform(-0.05, 0.05, b)
    tone = tone + g * (rng.uniform(0, 1, b) - tone)
    albedo = _t(skin_colour(tone) * (1 + g * rng.uniform(-0.06, 0.06, (b, 3))))[:, None, None, :]
    sleeve = _t(rng.uniform(0.05, 0.9, (b, 3)))[:, None, None, :]
    wear_sleeve = _t(rng.uniform(size=b) < 0.5 * g)[:, None, None, None] > 0
    light = _LIGHT_DIR[None] + g * rng.uniform(-1.2, 1.2, (b, 3)) * np.array([1.0, 1.0, 0.4])
    light = _t(light / np.linalg.norm(light, axis=1, keepdims=True))
    ambient = _t(0.35 + g * rng.uniform(-0.2, 0.15, b))[:, None, None, None]
    gain = _t(1.0 + g * rng.uniform(-0.4, 0.3, b))[:, None, None, None]
    tint = _t(1.0 + g * rng.uniform(-0.15, 0.15, (b, 3)))[:, None, None, :]
    if target and g > 0:
        clutter = cluttered_background(rng, b, h, w)
        bg = bg + g * (clutter - bg)
        blotch = value_noise(rng, b, 1, h, w, 6).permute(0, 2, 3, 1)
        albedo = albedo * (1 + 0.25 * g * (blotch - 0.5))
    albedo = torch.where(is_arm[..., None] & wear_sleeve, sleeve, albedo)
    lambert = (normal * light[:, None, None, :]).sum(-1, keepdim=True).clamp_min(0.0)
    half = light + torch.tensor([0.0, 0.0, -1.0])
    half = half / torch.linalg.vector_norm(half, dim=-1, keepdim=True)
    spec = (normal * half[:, None, None, :]).sum(-1, keepdim=True).clamp_min(0.0) ** 20
    body = albedo * (ambient + (1 - ambient) * lambert) * gain + 0.3 * g * spec
    img = torch.where(hit[..., None], body, bg * (0.6 + 0.4 * gain))
    if target and g > 0:
        img = img * tint
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        img = img * (1 - 0.3 * g * (xx * xx + yy * yy) / 2)[None, :, :, None]
        img = _gaussian_blur(img, g * rng.uniform(0.0, 1.2, b) * w / 128)
        img = img + _t(g * rng.uniform(0.005, 0.04, (b, 1, 1, 1)) * rng.standard_normal((b, h, w, 3)))
    rgb = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    if target and g > 0:
        rgb = _jpeg(rgb, np.round(95 - 60 * g * rng.uniform(0.5, 1.0, b)))
    return rgb


def depth_image(rng: np.random.Generator, target: bool, gap: float, depth_m: torch.Tensor) -> np.ndarray:
    """Metric depth ``(B, H, W)`` float32 with a background plane (and, for the target, sensor artefacts).

    Args:
        depth_m: rendered z-depth ``(B, H, W)``, inf where no body surface.
    """
    b, h, w = depth_m.shape
    g = float(gap) if target else 0.0
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    if target:
        z0, slope = _t(rng.uniform(0.6, 1.1, b)), _t(rng.uniform(-0.1, 0.1, (b, 2)))
    else:
        z0, slope = _t(rng.uniform(1.5, 4.0, b)), _t(rng.uniform(-0.3, 0.3, (b, 2)))
    plane = z0[:, None, None] + slope[:, 0, None, None] * xx + slope[:, 1, None, None] * yy
    d = torch.where(torch.isfinite(depth_m), depth_m, plane)
    if target and g > 0:
        d = d + _t(g * rng.standard_normal((b, h, w))) * (0.0015 + 0.002 * (d / 0.5) ** 2)
        # Dropped pixels: at depth edges (flying pixels are discarded by the sensor) and in blobs.
        pad = F.pad(d[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
        jump = torch.maximum((pad[:, 1:-1, 2:] - pad[:, 1:-1, :-2]).abs(), (pad[:, 2:, 1:-1] - pad[:, :-2, 1:-1]).abs())
        drop = (jump > 0.02) & (_t(rng.uniform(size=(b, h, w))) < 0.8 * g)
        blobs = value_noise(rng, b, 1, h, w, 8)[:, 0] > 1.0 - 0.12 * g
        d = torch.where(drop | blobs, 0.0, d)
    return d.numpy().astype(np.float32)
