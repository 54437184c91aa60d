"""Photographs as backgrounds: natural images that installed pip packages ship inside their wheels.

Nothing is downloaded: the files are read from the installed packages' folders (located with
``importlib.util.find_spec``, without importing them). Each entry records its licence as its package
documents it (docs/synth.md lists them); only photographs with a stated free licence are used.

Grayscale photographs (textures, a street scene) are tinted with a random colour when drawn. Every draw
is a random crop (a random part of the photo at a random zoom), a random horizontal flip and a colour
shift (per-channel gains, brightness, contrast, saturation), resized to the rendered image.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MAX_SIDE_PX = 512  # photos are kept at most this large in memory (a 128² render never needs more)


@dataclass(frozen=True)
class PhotoSource:
    """One photograph: the package that ships it, its path inside the package, and its licence."""

    package: str
    path: str
    licence: str


PHOTOS: tuple[PhotoSource, ...] = (
    PhotoSource("skimage", "data/astronaut.png", "public domain (NASA), per scikit-image's data docs"),
    PhotoSource("skimage", "data/chelsea.png", "CC0 (Stefan van der Walt), per scikit-image's data docs"),
    PhotoSource("skimage", "data/coffee.png", "CC0 (Rachel Michetti), per scikit-image's data docs"),
    PhotoSource("skimage", "data/rocket.jpg", "public domain (SpaceX), per scikit-image's data docs"),
    PhotoSource("skimage", "data/camera.png", "CC0 (Lav Varshney), per scikit-image's data docs"),
    PhotoSource("skimage", "data/brick.png", "CC0 (CC0Textures), per scikit-image's data docs"),
    PhotoSource("skimage", "data/grass.png", "CC0 (DeviantArt linolafett), per scikit-image's data docs"),
    PhotoSource("skimage", "data/gravel.png", "CC0 (CC0Textures), per scikit-image's data docs"),
    PhotoSource("skimage", "data/coins.png", "no known copyright restrictions (Brooklyn Museum), per scikit-image"),
    PhotoSource("sklearn", "datasets/images/china.jpg", "CC BY 2.0, danielbuechele on Flickr (sklearn README.txt)"),
    PhotoSource("sklearn", "datasets/images/flower.jpg", "CC BY 2.0, vultilion on Flickr (sklearn README.txt)"),
    PhotoSource("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "public domain (US Navy), matplotlib"),
)


class NoPhotosError(RuntimeError):
    """None of the background photographs could be found in the installed packages."""


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def photo_path(src: PhotoSource) -> Path | None:
    """Where ``src`` lies in the installed package, or None when the package or the file is missing."""
    root = _package_dir(src.package)
    if root is None:
        return None
    p = root / src.path
    return p if p.is_file() else None


@lru_cache(maxsize=1)
def load_photos() -> tuple[tuple[torch.Tensor, bool], ...]:
    """The available photographs as ``(3, H, W)`` float tensors in [0, 1] (longer side ≤ MAX_SIDE_PX) and
    whether each is grayscale; cached per process.

    Raises:
        NoPhotosError: none of :data:`PHOTOS` is installed.
    """
    out = []
    for src in PHOTOS:
        p = photo_path(src)
        if p is None:
            continue
        with Image.open(p) as im:
            gray = im.mode in ("L", "I;16", "I", "1")
            rgb = im.convert("RGB")
            scale = MAX_SIDE_PX / max(rgb.size)
            if scale < 1:
                rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BILINEAR)
            a = np.asarray(rgb, dtype=np.float32) / 255.0
        out.append((torch.from_numpy(a.copy()).permute(2, 0, 1).contiguous(), gray))
    if not out:
        raise NoPhotosError("no background photographs found: install scikit-image (a dependency of awhourglass)")
    return tuple(out)


@lru_cache(maxsize=1)
def loaded_ids() -> tuple[int, ...]:
    """The :data:`PHOTOS` index of each photograph :func:`load_photos` returns (missing files are skipped there)."""
    return tuple(i for i, src in enumerate(PHOTOS) if photo_path(src) is not None)


def photo_backgrounds(rng: np.random.Generator, b: int, h: int, w: int) -> tuple[torch.Tensor, np.ndarray]:
    """``b`` backgrounds ``(B, H, W, 3)`` in [0, 1] cut from the photographs, and the :data:`PHOTOS` index of each
    ``(B,)``.

    Each is a random crop with the aspect ``w/h`` covering 25–100 % of the photo's shorter side, flipped with
    probability ½, colour-shifted; grayscale photos get a random tint. The draws do not depend on ``h, w``.
    """
    photos = load_photos()
    idx = rng.integers(0, len(photos), b)
    frac, px, py = rng.uniform(0.25, 1.0, b), rng.uniform(0, 1, b), rng.uniform(0, 1, b)
    flip = rng.uniform(size=b) < 0.5
    gains = rng.uniform(0.8, 1.2, (b, 3))
    tint = rng.uniform(0.6, 1.0, (b, 3))
    bright, contrast, sat = rng.uniform(0.7, 1.25, b), rng.uniform(0.7, 1.2, b), rng.uniform(0.5, 1.3, b)
    out = torch.empty(b, 3, h, w)
    for i in range(b):
        img, gray = photos[int(idx[i])]
        ph, pw = img.shape[1:]
        side = frac[i] * min(ph, pw * h / w)  # crop height; its width keeps the render's aspect
        ch, cw = max(2, round(side)), max(2, round(side * w / h))
        cw, ch = min(cw, pw), min(ch, ph)
        y0, x0 = round(py[i] * (ph - ch)), round(px[i] * (pw - cw))
        crop = img[:, y0 : y0 + ch, x0 : x0 + cw]
        if flip[i]:
            crop = crop.flip(-1)
        crop = F.interpolate(crop[None], size=(h, w), mode="bilinear", align_corners=False,
                             antialias=(ch > h or cw > w))[0]
        if gray:
            crop = crop * torch.as_tensor(tint[i], dtype=torch.float32)[:, None, None] / float(tint[i].max())
        out[i] = crop
    g = torch.as_tensor(gains * bright[:, None], dtype=torch.float32)[:, :, None, None]
    out = out * g
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = mean + torch.as_tensor(contrast, dtype=torch.float32)[:, None, None, None] * (out - mean)
    lum = out.mean(dim=1, keepdim=True)
    out = lum + torch.as_tensor(sat, dtype=torch.float32)[:, None, None, None] * (out - lum)
    return out.clamp(0, 1).permute(0, 2, 3, 1).contiguous(), np.asarray(loaded_ids())[idx]


__all__ = ["PHOTOS", "NoPhotosError", "PhotoSource", "load_photos", "loaded_ids", "photo_backgrounds", "photo_path"]
