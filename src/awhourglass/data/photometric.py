"""Pixel-only augmentations of a network crop: white balance, cut-out, Gaussian blur and sensor noise.

Every function takes a ``(3, S, S)`` float image in [0, 1] and returns a new one of the same shape (or the
input itself when the operation is the identity); none of them moves a pixel, so the crop's labels (2D and
3D joints, K, visibility, depth) are untouched by construction. Torch only (no torchvision); the random
parts are driven by an explicit seed so that a sample depends only on its augmentation draw.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def channel_gains(image: torch.Tensor, gains_rgb: tuple[float, float, float]) -> torch.Tensor:
    """White-balance jitter: multiply each colour channel of ``(3, H, W)`` by its gain, clamped to [0, 1]."""
    if tuple(gains_rgb) == (1.0, 1.0, 1.0):
        return image
    g = torch.tensor(gains_rgb, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * g).clamp(0.0, 1.0)


def gaussian_kernel_1d(sigma_px: float) -> torch.Tensor:
    """Normalized 1D Gaussian taps of standard deviation ``sigma_px``, radius ``⌈3σ⌉`` (at least 1)."""
    radius = max(1, math.ceil(3.0 * sigma_px))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma_px) ** 2)
    return (k / k.sum()).float()


def gaussian_blur(image: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(C, H, W)`` with standard deviation ``sigma_px`` pixels (edges replicated).

    ``sigma_px <= 0`` returns the input itself.
    """
    if sigma_px <= 0.0:
        return image
    k = gaussian_kernel_1d(sigma_px).to(image.device, image.dtype)
    r = (k.numel() - 1) // 2
    c = image.shape[0]
    x = F.pad(image[None], (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # along rows (u)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # along columns (v)
    return x[0]


def seeded_normal(shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal ``shape`` tensor from a private torch generator on ``device`` seeded with ``seed`` (global
    RNG untouched). A seed gives the same field on every CPU; another device type draws another field."""
    gen = torch.Generator(device=device).manual_seed(int(seed))
    return torch.randn(shape, generator=gen, device=device)


def add_noise(image: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """Additive Gaussian pixel noise of standard deviation ``std`` ([0, 1] units), independent per pixel and
    channel, clamped to [0, 1]; ``std <= 0`` returns the input itself."""
    if std <= 0.0:
        return image
    return (image + std * seeded_normal(tuple(image.shape), seed, image.device).to(image.dtype)).clamp(0.0, 1.0)


def cut_out(image: torch.Tensor, box_frac: tuple[float, float, float, float],
            fill_rgb: tuple[float, float, float] | None, seed: int) -> torch.Tensor:
    """Fill a rectangle of ``(3, S, S)`` with one colour, or with uniform noise when ``fill_rgb`` is None.

    Args:
        box_frac: ``(u0, v0, w, h)`` as fractions of the image side: the rectangle covers pixel columns
            ``round(u0·S) .. round((u0 + w)·S) − 1`` and the same for rows; an empty rectangle is the identity.
        fill_rgb: the colour in [0, 1], or None for per-pixel uniform noise drawn from ``seed``.
        seed: seed of the noise fill.
    """
    _, h_px, w_px = image.shape
    u0, v0, w, h = box_frac
    c0, c1 = round(u0 * w_px), min(round((u0 + w) * w_px), w_px)
    r0, r1 = round(v0 * h_px), min(round((v0 + h) * h_px), h_px)
    if c1 <= c0 or r1 <= r0:
        return image
    out = image.clone()
    if fill_rgb is None:
        gen = torch.Generator(device=image.device).manual_seed(int(seed))
        out[:, r0:r1, c0:c1] = torch.rand((3, r1 - r0, c1 - c0), generator=gen, device=image.device).to(image.dtype)
    else:
        out[:, r0:r1, c0:c1] = torch.tensor(fill_rgb, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return out


__all__ = ["add_noise", "channel_gains", "cut_out", "gaussian_blur", "gaussian_kernel_1d", "seeded_normal"]
