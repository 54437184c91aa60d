"""A batched, vectorized capsule ray caster with a per-pixel z-buffer (torch, CPU).

Every body part is a capsule (a segment ``p0 → p1`` swept by a sphere of radius ``r``), in camera
coordinates (metres, +z forward). One ray per pixel centre (pixel ``u`` at coordinate ``u``, OpenCV
convention) through the pinhole ``K``; depth is the z of the first hit, so the depth map is metric
z-depth, not ray length.

Cost is bounded by tiling: the image is cut into ``tile × tile`` blocks, each capsule's conservative
screen bounding box selects the blocks it can touch, and only those (block, capsule) pairs are
intersected. The z-buffer is a ``scatter_reduce(amin)``, which is order-independent, so results are
deterministic; ties between capsules (they share joint spheres) go to the lowest capsule index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NEAR_M = 0.02
_INF = float("inf")


@dataclass
class Render:
    """Ray-cast result: ``depth_m (B, H, W)`` (inf = no surface), ``capsule (B, H, W)`` index of the visible
    capsule (−1 = none), ``normal (B, H, W, 3)`` unit camera-space surface normals (0 where none), ``axis_t
    (B, H, W)`` position of the hit along its capsule's axis, 0 at ``p0`` to 1 at ``p1`` (0 where none)."""

    depth_m: torch.Tensor
    capsule: torch.Tensor
    normal: torch.Tensor
    axis_t: torch.Tensor


def ray_capsule_depth(
    x: torch.Tensor, y: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, radius: torch.Tensor
) -> torch.Tensor:
    """z-depth of the first hit of rays ``d = (x, y, 1)`` from the origin with capsules (inf = miss).

    ``x, y`` and the capsule fields ``p0[..., k], p1[..., k], radius`` broadcast together;
    ``p0, p1`` have a trailing axis of 3. Because ``d_z = 1`` the ray parameter is the z-depth.
    """
    dd = x * x + y * y + 1.0

    def sphere(c: torch.Tensor) -> torch.Tensor:
        b = x * c[..., 0] + y * c[..., 1] + c[..., 2]
        cc = (c * c).sum(-1) - radius * radius
        disc = b * b - dd * cc
        t = (b - torch.sqrt(disc.clamp_min(0.0))) / dd
        return torch.where((disc >= 0) & (t > NEAR_M), t, _INF)

    axis = p1 - p0
    length = torch.linalg.vector_norm(axis, dim=-1)
    u = axis / length.clamp_min(1e-9)[..., None]
    du = x * u[..., 0] + y * u[..., 1] + u[..., 2]
    pu = (p0 * u).sum(-1)
    dp0 = x * p0[..., 0] + y * p0[..., 1] + p0[..., 2]
    a = dd - du * du
    bh = du * pu - dp0
    cc = (p0 * p0).sum(-1) - pu * pu - radius * radius
    disc = bh * bh - a * cc
    t = (-bh - torch.sqrt(disc.clamp_min(0.0))) / a.clamp_min(1e-12)
    s = t * du - pu
    ok = (disc >= 0) & (a > 1e-12) & (s >= 0) & (s <= length) & (t > NEAR_M)
    cyl = torch.where(ok, t, _INF)
    return torch.minimum(cyl, torch.minimum(sphere(p0), sphere(p1)))


def _pixel_bounds(c: torch.Tensor, r: torch.Tensor, f: torch.Tensor, cc: torch.Tensor, axis: int) -> tuple:
    """Conservative pixel interval of a sphere's projection along image axis 0 (u) or 1 (v)."""
    z = c[..., 2]
    near, far = (z - r).clamp_min(1e-6), z + r
    lo_n, lo_f = (c[..., axis] - r) / near, (c[..., axis] - r) / far
    hi_n, hi_f = (c[..., axis] + r) / near, (c[..., axis] + r) / far
    lo = f * torch.minimum(lo_n, lo_f) + cc
    hi = f * torch.maximum(hi_n, hi_f) + cc
    behind = (z - r) <= NEAR_M  # reaches the camera plane: may cover anything
    return torch.where(behind, -_INF, lo), torch.where(behind, _INF, hi)


def render_capsules(
    p0: torch.Tensor, p1: torch.Tensor, radius: torch.Tensor, K: torch.Tensor, height: int, width: int, tile: int = 8,
    smooth_ends: torch.Tensor | None = None,
) -> Render:
    """Ray-cast ``B`` scenes of ``P`` capsules each.

    Args:
        p0, p1: ``(B, P, 3)`` capsule end centres, camera frame, metres.
        radius: ``(B, P)`` metres.
        K: ``(B, 3, 3)`` pinhole intrinsics in pixels.
        height, width: image size in pixels.
        tile: block size of the culling grid.
        smooth_ends: ``(P, 2)`` bool: the ``p0`` / ``p1`` end continues into another capsule of a chain (a tapered
            finger made of several capsules), so its cap gets the radial normals of the capsule's side, not a
            sphere's: shading runs on across the junction instead of ringing it. Geometry, depth and masks are
            unchanged (shading normals only).
    """
    b, p, _ = p0.shape
    if p1.shape != p0.shape or radius.shape != (b, p) or K.shape != (b, 3, 3):
        raise ValueError(
            f"render_capsules: expected p0, p1 (B, P, 3), radius (B, P), K (B, 3, 3); got "
            f"{tuple(p0.shape)}, {tuple(p1.shape)}, {tuple(radius.shape)}, {tuple(K.shape)}"
        )
    fx, fy, cx, cy = (K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 2, None], K[:, 1, 2, None])
    ty_n, tx_n = -(-height // tile), -(-width // tile)
    hp, wp = ty_n * tile, tx_n * tile

    u_lo0, u_hi0 = _pixel_bounds(p0, radius, fx, cx, 0)
    u_lo1, u_hi1 = _pixel_bounds(p1, radius, fx, cx, 0)
    v_lo0, v_hi0 = _pixel_bounds(p0, radius, fy, cy, 1)
    v_lo1, v_hi1 = _pixel_bounds(p1, radius, fy, cy, 1)
    u_lo, u_hi = torch.minimum(u_lo0, u_lo1), torch.maximum(u_hi0, u_hi1).clamp(max=width - 1)
    v_lo, v_hi = torch.minimum(v_lo0, v_lo1), torch.maximum(v_hi0, v_hi1).clamp(max=height - 1)
    u_lo, v_lo = u_lo.clamp(min=0), v_lo.clamp(min=0)
    # Tile k holds pixel centres [k·tile, (k+1)·tile − 1]; it overlaps [lo, hi] unless it ends before or starts after.
    tx = torch.arange(tx_n, dtype=p0.dtype)
    ty = torch.arange(ty_n, dtype=p0.dtype)
    ox = (tx * tile + tile - 1 >= u_lo[..., None]) & (tx * tile <= u_hi[..., None])  # (B, P, TX)
    oy = (ty * tile + tile - 1 >= v_lo[..., None]) & (ty * tile <= v_hi[..., None])  # (B, P, TY)
    pairs = torch.nonzero(oy[..., :, None] & ox[..., None, :])  # (N, 4): b, p, ty, tx
    bi, pi, tyi, txi = pairs.unbind(1)

    off = torch.arange(tile)
    u = (txi[:, None, None] * tile + off[None, None, :]).expand(-1, tile, tile).reshape(-1, tile * tile)
    v = (tyi[:, None, None] * tile + off[None, :, None]).expand(-1, tile, tile).reshape(-1, tile * tile)
    x = (u.to(p0.dtype) - cx[bi]) / fx[bi]
    y = (v.to(p0.dtype) - cy[bi]) / fy[bi]
    t = ray_capsule_depth(x, y, p0[bi, pi][:, None, :], p1[bi, pi][:, None, :], radius[bi, pi][:, None])

    flat = (bi[:, None] * (hp * wp) + v * wp + u).reshape(-1)
    t = t.reshape(-1)
    zbuf = torch.full((b * hp * wp,), _INF, dtype=p0.dtype).scatter_reduce(0, flat, t, "amin")
    hit = torch.isfinite(t) & (t == zbuf[flat])
    cand = torch.where(hit, pi[:, None].expand(-1, tile * tile).reshape(-1), p)
    win = torch.full((b * hp * wp,), p, dtype=torch.long).scatter_reduce(0, flat, cand, "amin")

    depth = zbuf.view(b, hp, wp)[:, :height, :width].contiguous()
    capsule = win.view(b, hp, wp)[:, :height, :width].contiguous()
    capsule = torch.where(capsule == p, -1, capsule)
    return Render(depth, capsule, *_normals(depth, capsule, p0, p1, K, smooth_ends))


def _normals(depth: torch.Tensor, capsule: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, K: torch.Tensor,
             smooth_ends: torch.Tensor | None = None):
    """Surface normals ``(B, H, W, 3)`` of the visible capsules (hit point minus the closest axis point) and the
    position ``(B, H, W)`` of that axis point along the capsule, in [0, 1]."""
    b, h, w = depth.shape
    bi, vi, ui = torch.nonzero(capsule >= 0, as_tuple=True)  # only pixels with a surface
    ci = capsule[bi, vi, ui]
    a, e = p0[bi, ci], p1[bi, ci]
    z = depth[bi, vi, ui]
    x = (ui.to(depth.dtype) - K[bi, 0, 2]) / K[bi, 0, 0] * z
    y = (vi.to(depth.dtype) - K[bi, 1, 2]) / K[bi, 1, 1] * z
    pt = torch.stack([x, y, z], -1)
    ax = e - a
    s_line = ((pt - a) * ax).sum(-1) / (ax * ax).sum(-1).clamp_min(1e-12)
    s = s_line.clamp(0.0, 1.0)
    s_normal = s
    if smooth_ends is not None:  # chain junctions: project onto the axis line, not its end point
        lo = torch.where(smooth_ends[ci, 0], -_INF, 0.0).to(s_line.dtype)
        hi = torch.where(smooth_ends[ci, 1], _INF, 1.0).to(s_line.dtype)
        s_normal = torch.clamp(s_line, lo, hi)
    n = pt - (a + s_normal[:, None] * ax)
    n = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True).clamp_min(1e-9)
    out = torch.zeros(b, h, w, 3, dtype=depth.dtype)
    out[bi, vi, ui] = n
    t = torch.zeros(b, h, w, dtype=depth.dtype)
    t[bi, vi, ui] = s
    return out, t


def first_hit_depth(points: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """z of the first surface on the camera ray through each point ``(B, J, 3)`` → ``(B, J)`` (exact, no pixels)."""
    x = (points[..., 0] / points[..., 2])[..., None]
    y = (points[..., 1] / points[..., 2])[..., None]
    t = ray_capsule_depth(x, y, p0[:, None], p1[:, None], radius[:, None])  # (B, J, P)
    return t.min(-1).values
