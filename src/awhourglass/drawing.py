"""Drawing a hand on a picture, for the product (``awh predict`` overlays, video frames) and the reports: the
skeleton in the package's joint colours, the crop square and a label, with PIL (fast enough per video frame).

Pixel coordinates follow the package convention (pixel ``i``'s centre at ``i``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from awhourglass.atomic import atomic_open
from awhourglass.skeleton import BONES, joint_colour


def draw_overlay(rgb: np.ndarray, uv_px: np.ndarray, box: tuple[float, float, float, float], label: str,
                 path: str | os.PathLike, max_side: int = 1024) -> Path:
    """PNG of ``rgb (H, W, 3)`` uint8 (downscaled to ``max_side``, small ones magnified) with the skeleton
    ``uv_px (21, 2)`` (original pixels), the crop square ``box = (x, y, w, h)`` and a ``label`` (written atomically)."""
    from PIL import Image

    H, W = rgb.shape[:2]
    s = min(1.0, max_side / max(W, H))
    if max(W, H) < 256:  # small images are magnified (nearest) so the skeleton stays readable
        s = float(256 // max(W, H) or 1)
    im = Image.fromarray(rgb)
    if s < 1.0:
        im = im.resize((max(1, round(W * s)), max(1, round(H * s))), Image.Resampling.BILINEAR, reducing_gap=3.0)
    elif s > 1.0:
        im = im.resize((round(W * s), round(H * s)), Image.Resampling.NEAREST)
    _draw_hand(im, uv_px, box, label, s)
    with atomic_open(path, "wb", fsync=False) as fh:
        im.save(fh, format="PNG")
    return Path(path)


def draw_skeleton_rgb(rgb: np.ndarray, uv_px: np.ndarray, box: tuple[float, float, float, float] | None = None,
                      label: str | None = None) -> np.ndarray:
    """``rgb (H, W, 3)`` uint8 with the skeleton ``uv_px (21, 2)`` (pixels), the square ``box = (x, y, w, h)`` and
    a ``label`` drawn on it, at the same size: a video frame (PIL, no matplotlib: fast enough per frame)."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    _draw_hand(im, uv_px, box, label, 1.0)
    return np.asarray(im)


def _draw_hand(im, uv_px: np.ndarray, box: tuple[float, float, float, float] | None, label: str | None,
               s: float) -> None:
    """Draw on the PIL image ``im`` (the original scaled by ``s``) the skeleton (non-finite joints left out), the box
    and the label."""
    from matplotlib.colors import to_rgb
    from PIL import ImageDraw

    draw = ImageDraw.Draw(im)
    pts = (np.asarray(uv_px) + 0.5) * s  # pixel-centre coordinates → PIL corner coordinates
    lw = max(2, round(max(im.size) / 200))
    if box is not None:
        x, y, w, h = box
        corners = [(x + 0.5) * s, (y + 0.5) * s, (x + w + 0.5) * s, (y + h + 0.5) * s]  # pixel centres → PIL corners
        draw.rectangle(corners, outline=(255, 255, 255), width=1)

    def colour(j: int) -> tuple[int, int, int]:
        r, g, b = to_rgb(joint_colour(j))
        return round(255 * r), round(255 * g), round(255 * b)

    # unlabelled (NaN) joints and their bones are left out; numpy's stubs type all(axis) as "bool or array"
    known: np.ndarray = np.isfinite(pts).all(-1)  # type: ignore[assignment]
    for a, b in BONES:
        if known[a] and known[b]:
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=colour(b), width=lw)
    for j in np.flatnonzero(known):
        u, v = pts[j]
        draw.ellipse([u - lw, v - lw, u + lw, v + lw], fill=colour(int(j)))
    if label:
        draw.rectangle([0, 0, 8 + 6 * len(label), 14], fill=(0, 0, 0))
        draw.text((4, 2), label, fill=(255, 255, 255))
