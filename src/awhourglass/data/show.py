"""Dataset inspection: ``check`` (counts, splits, broken files) and ``show`` (a PNG grid of crops with joints)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from awhourglass.atomic import atomic_open
from awhourglass.config import ConfigError
from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset, no_samples
from awhourglass.data.sample import Sample
from awhourglass.skeleton import BONES, joint_colour


@dataclass
class CheckReport:
    """What ``awh data check`` prints."""

    info: dict[str, Any]
    checked: int = 0
    broken: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{k}: {v}" for k, v in self.info.items()]
        out.append(f"checked: {self.checked} samples, broken: {len(self.broken)}")
        out += [f"  broken: {b}" for b in self.broken]
        return out


def check_dataset(cfg: DatasetConfig, limit: int | None = None, progress: bool = True) -> CheckReport:
    """Index the dataset (collecting bad labels), then read and crop every sample (up to ``limit``)."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1 samples, got {limit}")
    cfg = replace(cfg, skip_bad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = build_dataset(cfg, allow_empty=True)  # samples all bad: listed below (broken, exit 1), not hidden
    if len(ds) == 0 and not ds.bad_count:
        raise DataError(cfg.root, no_samples(ds))
    report = CheckReport(info=ds.describe(), broken=list(ds.bad_files))
    n = len(ds) if limit is None else min(limit, len(ds))
    for i in tqdm(range(n), desc="checking", disable=not progress, unit="sample"):
        try:
            ds.load(i)
        except DataError as err:
            report.broken.append(str(err))
        report.checked += 1
    return report


def draw_sample(s: Sample, scale: int = 2) -> Image.Image:
    """The crop (and, when present, its Eq. 9 depth beside it) with bones and joints drawn, ``scale``× enlarged."""
    img = (s.image.permute(1, 2, 0).numpy() * 255).clip(0, 255).astype(np.uint8)
    size = img.shape[1] * scale
    tile = Image.fromarray(img).resize((size, size), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(tile)
    uv = (s.uv_px.numpy() + 0.5) * scale - 0.5  # pixel centres of the enlarged image
    # unlabelled joints (NaN, e.g. InterHand2.6M's invalid ones) are not drawn; numpy's stubs type all(axis) as
    # "bool or array"
    known: np.ndarray = np.isfinite(uv).all(-1)  # type: ignore[assignment]
    for a, b in BONES:
        if known[a] and known[b]:
            draw.line([tuple(uv[a]), tuple(uv[b])], fill=joint_colour(b), width=1)
    for j, (u, v) in enumerate(uv):
        if not known[j]:
            continue
        r = 2 if bool(s.vis[j]) else 1
        draw.ellipse([u - r, v - r, u + r, v + r], fill=joint_colour(j) if bool(s.vis[j]) else None,
                     outline=joint_colour(j))
    if s.depth is None:
        return tile
    d = (s.depth[0].numpy() * 255).clip(0, 255).astype(np.uint8)
    both = Image.new("RGB", (2 * size, size))
    both.paste(tile, (0, 0))
    both.paste(Image.fromarray(d).resize((size, size), Image.Resampling.NEAREST).convert("RGB"), (size, 0))
    return both


def write_grid(cfg: DatasetConfig, out: str | Path, n: int = 16, cols: int = 4, scale: int = 2) -> Path:
    """Write a PNG grid of ``n`` samples spread evenly over the dataset (atomically) and return its path."""
    ds = build_dataset(cfg)  # an empty dataset is refused there
    idx = np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int))
    tiles = [draw_sample(ds[int(i)], scale) for i in idx]
    w, h = max(t.width for t in tiles), max(t.height for t in tiles)
    rows = -(-len(tiles) // cols)
    grid = Image.new("RGB", (min(cols, len(tiles)) * w, rows * h), (32, 32, 32))
    for k, t in enumerate(tiles):
        grid.paste(t, ((k % cols) * w, (k // cols) * h))
    out = Path(out)
    with atomic_open(out, "wb") as fh:
        grid.save(fh, format="PNG")
    return out
