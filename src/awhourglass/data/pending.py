"""Pixel work a loader worker leaves to the batch (``augment.on_batch``), done on the training device.

A worker that reads a pack with ``on_batch`` crops the labels and the depth (they need the sample's geometry) and
hands over the stored crop with its resampling map and the augmentation draw
(:class:`~awhourglass.data.crop.PendingPixels`); a worker reading files hands over the finished crop and the
draw. :func:`finish_batch` then does, for the whole batch on its device, exactly what
:func:`~awhourglass.data.crop.crop_rgb` and :func:`~awhourglass.data.crop.pixel_augment` do per sample: the same
grid in float64 rounded to float32, ``grid_sample`` with ``align_corners=True``, the same pixel operations in the
same order. On a CPU the result equals the per-sample path; on another device the seeded noise fields are drawn by
that device's generator (other fields, the same distribution).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from awhourglass.data.crop import PendingPixels, block_average, grid_from_inverse, pixel_augment
from awhourglass.data.depth import normalize_depth_eq9
from awhourglass.data.sample import Batch, Sample


def resample(images_u8: torch.Tensor, pending: list[PendingPixels]) -> torch.Tensor:
    """The network crops ``(B, 3, S, S)`` in [0, 1] of stored pictures ``(B, 3, H, W)`` uint8, each by its
    ``pending`` map (with its block average first where ``pool > 1``), zeros outside."""
    t = images_u8.float() / 255.0
    size = pending[0].out_size
    maps: list[np.ndarray] = []
    for p in pending:
        assert p.inv_px is not None  # resample is for pending crops only
        maps.append(p.inv_px)
    inv = torch.from_numpy(np.stack(maps)).to(t.device)
    if all(p.pool == 1 for p in pending):
        return _sample(t, inv, size)
    rows = []
    for i, p in enumerate(pending):
        x = t[i:i + 1]
        if p.pool > 1:
            x = block_average(x, p.pool)
        rows.append(_sample(x, inv[i:i + 1], size))
    return torch.cat(rows)


def _sample(images: torch.Tensor, inv: torch.Tensor, size: int) -> torch.Tensor:
    grids = grid_from_inverse(inv, images.shape[-2], images.shape[-1], size)
    return F.grid_sample(images, grids, mode="bilinear", padding_mode="zeros", align_corners=True).clamp(0.0, 1.0)


def warp_depth(depth_m: torch.Tensor, mask: torch.Tensor, has_depth: torch.Tensor,
               pending: list[PendingPixels | None]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stored depth ``(B, 1, H, W)`` metres and hand masks → the crops' Eq. 9 depth labels, as
    :func:`~awhourglass.data.crop.make_sample` makes them: one nearest warp of depth and mask by the row's
    ``depth_inv_px`` (rows without one have no depth), then Eq. 9 per crop.

    Returns:
        ``(depth, depth_mask, has_depth)`` of the network crops: NaN depth and no mask where a crop has no hand
        pixel with a reading (``has_depth`` False), as :func:`~awhourglass.data.sample.collate` marks them.
    """
    size = next(p.out_size for p in pending if p is not None)
    eye = np.eye(3)
    inv = np.stack([p.depth_inv_px if p is not None and p.depth_inv_px is not None else eye for p in pending])
    grids = grid_from_inverse(torch.from_numpy(inv).to(depth_m.device), depth_m.shape[-2], depth_m.shape[-1], size)
    dm = F.grid_sample(torch.cat([depth_m, mask.to(depth_m.dtype)], 1), grids, mode="nearest",
                       padding_mode="zeros", align_corners=True)
    d, m = dm[:, :1], dm[:, 1:] > 0.5
    rows = has_depth.to(d.device).view(-1, 1, 1, 1)
    out, used = normalize_depth_eq9(d, m & rows)
    used = used & rows
    has = used.flatten(1).any(1)
    if out is None:
        out = torch.zeros_like(d)
    keep = has.view(-1, 1, 1, 1)
    return torch.where(keep, out, torch.full_like(out, float("nan"))), used & keep, has


def _crop_pending(p: PendingPixels | None) -> bool:
    return p is not None and p.inv_px is not None


def _depth_pending(p: PendingPixels | None) -> bool:
    return p is not None and p.depth_inv_px is not None


def _stackable(samples: list[Sample]) -> bool:
    crops = [_crop_pending(s.pending) for s in samples]
    depths = [_depth_pending(s.pending) for s in samples]
    if any(crops) and (not all(crops) or len({tuple(s.image.shape) for s in samples}) > 1):
        return False
    if any(depths):
        finished = [s.depth is not None and not d for s, d in zip(samples, depths, strict=True)]
        shapes = {tuple(s.depth.shape) for s in samples if s.depth is not None}
        return not any(finished) and len(shapes) == 1
    return True


def _settle(s: Sample) -> Sample:
    p = s.pending
    if not (_crop_pending(p) or _depth_pending(p)):
        return s
    image, depth, mask = s.image, s.depth, s.depth_mask
    if _crop_pending(p):
        image = resample(image[None], [p])[0]
    if _depth_pending(p):
        assert depth is not None and mask is not None  # a pending depth warp has its stored depth and mask
        d, m, has = warp_depth(depth[None], mask[None], torch.ones(1, dtype=torch.bool), [p])
        depth, mask = (d[0], m[0]) if bool(has[0]) else (None, None)
    return dataclasses.replace(s, image=image, depth=depth, depth_mask=mask,
                               pending=dataclasses.replace(p, inv_px=None, pool=1, depth_inv_px=None))


def settle_crops(samples: list[Sample]) -> list[Sample]:
    """Samples that can be stacked: where stored pictures or depth (a pack's, pending) meet finished crops or
    depth labels, or pictures of another size (a pack beside files in one batch), the pack's rows are finished
    here; their pixel-only augmentation stays pending."""
    return samples if _stackable(samples) else [_settle(s) for s in samples]


def finish_batch(batch: Batch) -> Batch:
    """``batch`` with its pending pixel work done on the batch's device (itself when nothing is pending)."""
    if not batch.pending:
        return batch
    image, pending = batch.image, batch.pending
    crops = [_crop_pending(p) for p in pending]
    if any(crops):
        if not all(crops):
            raise ValueError("finish_batch: stored pictures beside finished crops (collate them after settle_crops)")
        image = resample(image, pending)
    rows = [img if p is None else pixel_augment(img, p.aug) for img, p in zip(image, pending, strict=True)]
    out = dataclasses.replace(batch, image=torch.stack(rows), pending=[])
    if any(_depth_pending(p) for p in pending):
        out.depth, out.depth_mask, out.has_depth = warp_depth(batch.depth, batch.depth_mask, batch.has_depth, pending)
    return out


__all__ = ["finish_batch", "resample", "settle_crops", "warp_depth"]
