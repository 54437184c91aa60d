"""Faces behind the hand: the skin-coloured distractor that photographs of hands show most.

People photograph hands next to their face (sign language, gestures to a webcam, selfies), and a face is the
largest skin-coloured thing a hand detector must learn to pass over. A face here is painted on the background,
before the hand is composited over it, so it lies behind the hand: masks, depth, labels and joint visibility are
those of the image without it. It is drawn in the image plane, the way a far object looks: a shaded skin oval
(any tone) with hair, brows, eyes with irises, a nose shadow, lips, ears and a neck, turned up to ±30°, its
centre 0.25–0.7 image widths from the image centre (beside the hand, partly out of the frame), 0.4–1.0 image
widths tall.

Draws come from their own stream (:func:`faces_rng`), so the hands, their looks and every other pixel are the
same with or without faces.
"""

from __future__ import annotations

import numpy as np
import torch

from awhourglass.synth.clutter import keyed_rng

FACES_KEY = 0xFACE5  # spawn key of the faces' stream (other than clutter.EXTRAS_KEY and any spawned child's index)
CENTRE_OFFSET_WIDTHS = (0.25, 0.7)
HEIGHT_WIDTHS = (0.4, 1.0)
TILT_RAD = np.deg2rad(30.0)
_HAIR = np.array([[0.05, 0.04, 0.03], [0.22, 0.13, 0.07], [0.45, 0.30, 0.15], [0.75, 0.62, 0.38], [0.6, 0.6, 0.6]])


def faces_rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """The faces' random stream for ``generate_batch``'s ``seed``: independent of the hands' and the extras'."""
    return keyed_rng(seed, FACES_KEY)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)


def _blob(x: torch.Tensor, y: torch.Tensor, cx: float, cy: float, rx: float, ry: float) -> torch.Tensor:
    """Inside of an axis-aligned ellipse in the face's unit coordinates."""
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def paint_faces(rng: np.random.Generator, img: torch.Tensor, share: float,
                albedo_of_tone) -> tuple[torch.Tensor, np.ndarray]:
    """Paint a face on ``share`` of the background images ``(B, H, W, 3)`` in [0, 1] (module docstring).

    Args:
        albedo_of_tone: ``tone (B,) in [0, 1] → (B, 3)`` skin albedo (``style.skin_tone_albedo``).

    Returns:
        The images and ``chosen (B,)`` bool, the images that show a face.
    """
    b, h, w, _ = img.shape
    chosen = rng.uniform(size=b) < share
    ang = rng.uniform(0, 2 * np.pi, b)
    off = rng.uniform(*CENTRE_OFFSET_WIDTHS, b) * w
    cu, cv = (w - 1) / 2 + off * np.cos(ang), (h - 1) / 2 + off * np.sin(ang)
    half_h = rng.uniform(*HEIGHT_WIDTHS, b) * w / 2
    half_w = half_h * rng.uniform(0.7, 0.82, b)
    tilt = rng.uniform(-TILT_RAD, TILT_RAD, b)
    skin = _t(albedo_of_tone(rng.uniform(0, 1, b)))[:, None, None, :]
    hair = _t(_HAIR[rng.integers(0, len(_HAIR), b)] * rng.uniform(0.8, 1.2, (b, 1)))[:, None, None, :]
    iris = _t(rng.uniform(0.05, 0.45, (b, 3)))[:, None, None, :]
    light = rng.normal(size=(b, 3)) * np.array([0.6, 0.6, 0.2]) + np.array([0.0, 0.0, 1.0])
    light = _t(light / np.linalg.norm(light, axis=1, keepdims=True))
    hairline = _t(rng.uniform(-0.75, -0.4, b))[:, None, None]
    if not chosen.any():
        return img, chosen
    # every draw above is made for every image (the stream is the same at any share); pixels only where a face is
    k = torch.as_tensor(np.flatnonzero(chosen))
    skin, hair, iris, light, hairline = skin[k], hair[k], iris[k], light[k], hairline[k]
    cu, cv, half_w, half_h, tilt = cu[chosen], cv[chosen], half_w[chosen], half_h[chosen], tilt[chosen]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    dx, dy = xx[None] - _t(cu)[:, None, None], yy[None] - _t(cv)[:, None, None]
    c, s = _t(np.cos(tilt))[:, None, None], _t(np.sin(tilt))[:, None, None]
    x = (c * dx + s * dy) / _t(half_w)[:, None, None]  # unit face coordinates: the oval is x² + y² ≤ 1
    y = (-s * dx + c * dy) / _t(half_h)[:, None, None]
    r2 = x * x + y * y
    head = r2 <= 1.0
    nz = (1 - r2).clamp_min(0).sqrt()  # an ellipsoid's normal, for shading
    lam = (x * light[:, 0, None, None] + y * light[:, 1, None, None] + nz * light[:, 2, None, None]).clamp_min(0)
    shade = (0.45 + 0.55 * lam)[..., None]
    face = skin * shade
    ears = _blob(x.abs(), y, 0.98, 0.0, 0.13, 0.24)
    neck = (x.abs() <= 0.55) & (y >= 0.6) & (y <= 2.2)
    behind = torch.where(neck[..., None], skin * 0.7, skin * 0.8)  # the neck and ears, in the head's shadow
    out = torch.where((neck | ears)[..., None], behind, img[k])
    out = torch.where(head[..., None], face, out)
    hair_top = (r2 <= 1.12) & (y <= hairline)
    out = torch.where(hair_top[..., None], hair * (0.7 + 0.3 * shade), out)
    brows = _blob(x.abs(), y, 0.38, -0.3, 0.22, 0.045)
    sclera = _blob(x.abs(), y, 0.38, -0.12, 0.17, 0.075)
    pupil = _blob(x.abs(), y, 0.38, -0.12, 0.075, 0.075)
    nose = _blob(x, y, 0.06, 0.18, 0.09, 0.2)
    lips = _blob(x, y, 0.0, 0.52, 0.3, 0.075)
    out = torch.where(nose[..., None], out * 0.82, out)
    out = torch.where(lips[..., None], skin * _t(np.array([0.85, 0.5, 0.5])) * shade, out)
    out = torch.where(brows[..., None], hair * 0.8, out)
    out = torch.where(sclera[..., None], _t(np.array([0.88, 0.86, 0.84])) * shade, out)
    out = torch.where(pupil[..., None], iris * shade, out)
    full = img.clone()
    full[k] = out
    return full, chosen
