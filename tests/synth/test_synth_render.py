import math

import numpy as np
import pytest
import torch

from awhourglass.synth import kinematics as kin
from awhourglass.synth.generate import VIS_RADII, generate_batch
from awhourglass.synth.render import first_hit_depth, ray_capsule_depth, render_capsules


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_ray_capsule_depth_by_hand():
    # Sphere of radius 0.1 at z = 1 on the optical axis: the central ray meets it at z = 0.9.
    c = _t([[0.0, 0.0, 1.0]])
    r = _t([0.1])
    assert ray_capsule_depth(_t([0.0]), _t([0.0]), c, c, r).item() == pytest.approx(0.9)
    # Ray through x/z = 0.05: |t·d − c|² = r² with d = (0.05, 0, 1) → t = (1 − √(1 − 1.0025·0.99)) / 1.0025.
    t = (1 - math.sqrt(1 - 1.0025 * 0.99)) / 1.0025
    assert ray_capsule_depth(_t([0.05]), _t([0.0]), c, c, r).item() == pytest.approx(t, rel=1e-9)
    # A miss.
    assert math.isinf(ray_capsule_depth(_t([0.2]), _t([0.0]), c, c, r).item())
    # Horizontal capsule x ∈ [−0.2, 0.2] at z = 1, r = 0.05: body hit at z = 0.95 wherever the ray meets
    # the cylinder; the ray at x/z = 0.2 meets the side of the end cap.
    p0, p1, r = _t([[-0.2, 0.0, 1.0]]), _t([[0.2, 0.0, 1.0]]), _t([0.05])
    assert ray_capsule_depth(_t([0.1]), _t([0.0]), p0, p1, r).item() == pytest.approx(0.95)
    # Ray y/z = 0.03 against the cylinder (axis along x): (0.03 t)² + (t − 1)² = 0.05².
    a, b, cc = 1 + 0.03**2, -2.0, 1 - 0.05**2
    t = (-b - math.sqrt(b * b - 4 * a * cc)) / (2 * a)
    assert ray_capsule_depth(_t([0.0]), _t([0.03]), p0, p1, r).item() == pytest.approx(t, rel=1e-9)


def _dense_reference(p0, p1, radius, K, h, w):
    vv, uu = torch.meshgrid(torch.arange(h, dtype=p0.dtype), torch.arange(w, dtype=p0.dtype), indexing="ij")
    x = ((uu - K[0, 0, 2]) / K[0, 0, 0]).reshape(-1, 1)
    y = ((vv - K[0, 1, 2]) / K[0, 1, 1]).reshape(-1, 1)
    t = ray_capsule_depth(x, y, p0[0][None], p1[0][None], radius[0][None])  # (H·W, P)
    depth, idx = t.min(1)
    return depth.view(h, w), torch.where(torch.isfinite(depth), idx, -1).view(h, w)


def test_tiled_renderer_equals_dense_ray_casting():
    g = torch.Generator().manual_seed(0)
    p = 12
    p0 = torch.rand(1, p, 3, generator=g, dtype=torch.float64) * torch.tensor([0.4, 0.4, 0.5]) + torch.tensor(
        [-0.2, -0.2, 0.4]
    )
    p1 = p0 + (torch.rand(1, p, 3, generator=g, dtype=torch.float64) - 0.5) * 0.2
    radius = torch.rand(1, p, generator=g, dtype=torch.float64) * 0.03 + 0.01
    K = torch.tensor([[[40.0, 0.0, 19.5], [0.0, 40.0, 14.5], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    out = render_capsules(p0, p1, radius, K, 30, 40, tile=8)
    depth, idx = _dense_reference(p0, p1, radius, K, 30, 40)
    assert torch.equal(torch.isfinite(out.depth_m[0]), torch.isfinite(depth))
    hit = torch.isfinite(depth)
    assert hit.float().mean() > 0.1
    torch.testing.assert_close(out.depth_m[0][hit], depth[hit])
    # Same capsule wherever the nearest hit is unique (ties only at shared spheres).
    assert (out.capsule[0] == idx).float().mean() > 0.99
    n = out.normal[0][hit]
    torch.testing.assert_close(torch.linalg.vector_norm(n, dim=-1), torch.ones(len(n), dtype=n.dtype))
    vv, uu = torch.meshgrid(torch.arange(30.0, dtype=n.dtype), torch.arange(40.0, dtype=n.dtype), indexing="ij")
    ray = torch.stack([(uu - 19.5) / 40.0, (vv - 14.5) / 40.0, torch.ones_like(uu)], -1)[hit]
    assert ((n * ray).sum(-1) < 0).all()  # visible surfaces face the camera


def test_occlusion_and_first_hit():
    # Two spheres on the optical axis: the near one hides the far one.
    p = _t([[[0.0, 0.0, 0.5], [0.0, 0.0, 0.8]]])
    r = _t([[0.02, 0.05]])
    K = _t([[[100.0, 0.0, 7.5], [0.0, 100.0, 7.5], [0.0, 0.0, 1.0]]])
    out = render_capsules(p, p, r, K, 16, 16)
    assert out.depth_m[0, 7:9, 7:9].max() < 0.5 and out.capsule[0, 7, 7] == 0
    assert out.capsule[0, 7, 2] == 1  # off the small sphere, the big one shows
    first = first_hit_depth(p, p, p, r)
    assert first[0, 1].item() == pytest.approx(0.48)  # the far centre's ray first meets the near sphere


def test_render_rejects_bad_shapes():
    with pytest.raises(ValueError, match="radius"):
        render_capsules(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3), torch.zeros(1, 2), torch.eye(3)[None], 8, 8)


@pytest.mark.parametrize("domain", ["source", "target"])
def test_visible_joints_land_on_the_rendered_hand(domain):
    b = generate_batch(24, domain, 11, 64, gap=0.0)
    h, w = b["mask"].shape[1:]
    u = np.clip(np.round(b["uv_px"][..., 0]).astype(int), 0, w - 1)
    v = np.clip(np.round(b["uv_px"][..., 1]).astype(int), 0, h - 1)
    n = np.arange(len(u))[:, None]
    # Projecting the joints with the returned K gives the returned uv.
    xyz = b["xyz_m"].astype(np.float64)
    proj = np.einsum("nij,nkj->nki", b["K"].astype(np.float64), xyz)
    np.testing.assert_allclose(proj[..., :2] / proj[..., 2:], b["uv_px"], atol=1e-3)
    vis = b["vis"]
    assert vis.mean() > 0.4
    mask = b["mask"][n, v, u]
    hand = np.where(np.arange(21) == 0, mask >= 1, mask >= 2)  # the wrist sits where the forearm starts
    assert hand[vis].mean() > 0.97
    radius = kin.joint_radius_m(np.ones(1))[0] * 1.15  # largest hand scale
    depth = b["depth_m"][n, v, u]
    near = np.abs(depth - xyz[..., 2]) <= VIS_RADII * radius + 0.004
    assert near[vis].mean() > 0.95
    # Invisible joints inside the image are mostly hidden behind something nearer.
    hidden = ~vis & (b["uv_px"][..., 0] > 0) & (b["uv_px"][..., 0] < w - 1)
    hidden &= (b["uv_px"][..., 1] > 0) & (b["uv_px"][..., 1] < h - 1)
    assert (depth[hidden] < xyz[..., 2][hidden] - radius[np.nonzero(hidden)[1]]).mean() > 0.9


def test_gap_grades_the_target_artefacts():
    holes, noise = [], []
    clean = generate_batch(8, "target", 2, 48, gap=0.25)  # the same scenes at every gap > 0
    for gap in (0.25, 0.5, 1.0):
        b = generate_batch(8, "target", 2, 48, gap=gap)
        holes.append((b["depth_m"] == 0).mean())
        noise.append(np.abs(b["rgb"].astype(float) - clean["rgb"]).mean())
    assert holes[0] < holes[1] < holes[2]
    assert noise[0] == 0 and noise[0] < noise[1] < noise[2]
    zero_gap = generate_batch(8, "target", 2, 48, gap=0.0)
    assert (zero_gap["depth_m"] == 0).mean() == 0  # no sensor artefacts at gap 0
    source = generate_batch(8, "source", 2, 48)
    assert (source["depth_m"] == 0).mean() == 0


def _dist_to_segment(p, a, b):
    ab = b - a
    s = np.clip(((p - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    return np.linalg.norm(p - (a + s[..., None] * ab), axis=-1)


def test_hits_lie_on_the_capsule_surface_and_are_the_first():
    rng = np.random.default_rng(1)
    n = 4000
    a = rng.uniform([-0.1, -0.1, 0.3], [0.1, 0.1, 0.6], (n, 3))
    b = a + rng.normal(0, 0.05, (n, 3))
    r = rng.uniform(0.005, 0.03, n)
    mid = (a + b) / 2  # aim the rays near the capsules
    x, y = mid[:, 0] / mid[:, 2] + rng.normal(0, 0.06, n), mid[:, 1] / mid[:, 2] + rng.normal(0, 0.06, n)
    t = ray_capsule_depth(*map(_t, (x, y, a, b, r))).numpy()
    hit = np.isfinite(t)
    assert 0.05 < hit.mean() < 0.95
    d = np.stack([x, y, np.ones(n)], -1)
    on = _dist_to_segment(t[hit, None] * d[hit], a[hit], b[hit])
    np.testing.assert_allclose(on, r[hit], atol=1e-9)  # on the surface
    before = _dist_to_segment((t[hit, None] - 1e-4) * d[hit], a[hit], b[hit])
    assert np.all(before > r[hit] - 1e-9)  # outside just before: the first hit
    # Misses: no point along the ray comes within r of the segment (sampled densely).
    ts = np.linspace(0.2, 0.9, 1500)
    miss = np.nonzero(~hit)[0][:300]
    closest = np.min(_dist_to_segment(ts[None, :, None] * d[miss, None], a[miss, None], b[miss, None]), axis=1)
    assert np.all(closest > r[miss] - 1e-3)


def test_smooth_chain_ends_shade_a_junction_with_radial_normals():
    # Two collinear capsules along x meet at the origin's column; the wider one's cap bulges past the junction.
    # As a chain end, that cap is shaded with normals perpendicular to the axis (no x component); as a free end,
    # its normals tilt along the axis like a sphere's. Depth and capsule ids do not change.
    p0 = torch.tensor([[[-0.03, 0.0, 0.3], [0.0, 0.0, 0.3]]])
    p1 = torch.tensor([[[0.0, 0.0, 0.3], [0.03, 0.0, 0.3]]])
    radius = torch.tensor([[0.010, 0.008]])
    K = torch.tensor([[[1500.0, 0.0, 63.5], [0.0, 1500.0, 63.5], [0.0, 0.0, 1.0]]])
    capped = render_capsules(p0, p1, radius, K, 128, 128)
    smooth = render_capsules(p0, p1, radius, K, 128, 128, smooth_ends=torch.tensor([[False, True], [True, False]]))
    assert torch.equal(capped.depth_m, smooth.depth_m) and torch.equal(capped.capsule, smooth.capsule)
    cap = (capped.capsule == 0) & (capped.axis_t == 1.0)  # wide capsule's pixels beyond its axis end
    assert cap.sum() > 20
    assert capped.normal[cap][:, 0].max() > 0.3
    assert smooth.normal[cap][:, 0].abs().max() < 1e-5
    body = (capped.capsule == 0) & (capped.axis_t < 1.0)  # the side of the capsule is shaded alike
    assert torch.allclose(capped.normal[body], smooth.normal[body])
