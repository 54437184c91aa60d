"""Measured dimensions of rendered hands (mm), from masks and depth: finger widths, palm thickness, size range.

The expectations are anatomical ranges for an adult hand (index/middle/ring fingers about 18–22 mm wide at
the base of the first phalanx and 14–16 mm near the tip; the palm 25–30 mm thick), not numbers from the
generator: every width here is counted in rendered pixels and converted with the pinhole model (z / f).
"""

import numpy as np
import pytest
import torch

from awhourglass.synth import kinematics as kin
from awhourglass.synth.render import render_capsules

# Long lens: at 0.5 m and f = 8000 px one pixel is 0.0625 mm (a 20 mm finger spans ~320 pixels, the window 75 mm).
DIST_M, FOCAL_PX, SIDE_PX = 0.5, 8000.0, 1201
DORSAL_VIEW = np.diag([1.0, -1.0, -1.0])  # camera looks at the back of the hand (local +z towards the lens)
PALMAR_VIEW = np.diag([1.0, 1.0, 1.0])  # camera looks at the palm


def _flat_hand(spread: bool = False) -> np.ndarray:
    """Body points ``(P, 3)`` of an open flat right hand at scale 1 and thickness 1: all angles 0, or with the
    fingers spread in the palm plane (MCP abduction only) so that no two fingers touch."""
    shape = kin.HandShape(kin.NOMINAL_BONE_LENGTH_M[None].copy(), np.ones(1), np.ones(1))
    angles = np.zeros((1, 5, 4))
    if spread:
        angles[0, 1:, 1] = np.deg2rad([15.0, 0.0, -12.0, -22.0])  # index … little; + = towards the thumb
    joints = kin.forward_kinematics(angles, shape)
    return kin.body_points(joints, shape.scale, np.array([[0.0, -1.0, 0.0]]))[0]


def _render(points: np.ndarray, view: np.ndarray, target: np.ndarray, side: int = SIDE_PX, dist: float = DIST_M):
    """Render the hand with the camera ``dist`` from ``target`` (a hand-local point) along the optical axis;
    ``target`` projects onto the central pixel centre. Returns depth (H, W) float64 (inf = none), K."""
    cam = (points - target) @ view.T + np.array([0.0, 0.0, dist])
    c = (side - 1) / 2
    K = np.array([[FOCAL_PX, 0, c], [0, FOCAL_PX, c], [0, 0, 1.0]])
    t = torch.as_tensor(cam[None], dtype=torch.float64)
    r = render_capsules(
        t[:, kin.CAPSULE_ENDS[:, 0]], t[:, kin.CAPSULE_ENDS[:, 1]],
        torch.as_tensor(kin.CAPSULE_RADIUS_M[None], dtype=torch.float64),
        torch.as_tensor(K[None]), side, side,
    )
    return r.depth_m[0].numpy(), K, cam


def _width_mm(points: np.ndarray, a: int, b: int, frac: float) -> float:
    """Width (mm) of the rendered hand across the segment ``a → b`` (body-point ids) at ``frac`` of it, seen from
    the back of the hand: hand pixels counted along the image perpendicular to the segment's projection."""
    target = points[a] + frac * (points[b] - points[a])
    depth, _, cam = _render(points, DORSAL_VIEW, target)
    hit = np.isfinite(depth)
    c = (SIDE_PX - 1) / 2
    ua, ub = cam[a, :2] / cam[a, 2], cam[b, :2] / cam[b, 2]
    axis = (ub - ua) / np.linalg.norm(ub - ua)
    normal = np.array([-axis[1], axis[0]])
    step = 0.05
    count = 0
    for sign in (1, -1):  # walk out from the centre pixel both ways while on the hand (nearest pixel)
        k = 0 if sign == 1 else 1
        while True:
            u, v = np.rint(c + sign * k * step * normal).astype(int)
            assert 0 <= u < SIDE_PX and 0 <= v < SIDE_PX, "finger wider than the measuring window"
            if not hit[v, u]:
                break
            count += 1
            k += 1
    assert hit[int(c), int(c)], "the measuring point is not on the hand"
    return 1000.0 * count * step * DIST_M / FOCAL_PX  # axis point at depth DIST_M: metres per pixel = z / f


@pytest.fixture(scope="module")
def flat_hand():
    return _flat_hand()


@pytest.fixture(scope="module")
def spread_hand():
    return _flat_hand(spread=True)


def _finger_point(points, finger, frac):
    """(a, b, t): the phalanx segment holding ``frac`` of the way from the first phalanx's base to the tip."""
    base = 1 + 4 * finger
    lengths = np.linalg.norm(points[base + 1 : base + 4] - points[base : base + 3], axis=1)
    s = frac * lengths.sum()
    for k in range(3):
        if s <= lengths[k] or k == 2:
            return base + k, base + k + 1, s / lengths[k]
        s -= lengths[k]
    raise AssertionError


@pytest.fixture(scope="module")
def widths(spread_hand):
    """Diameters (mm) near the base (25 % of the finger, little 30 %; thumb: middle of its proximal phalanx,
    joints 2 → 3, clear of the thenar eminence) and near the tip (95 % of the finger)."""
    out = {}
    for f in range(5):
        if f == 0:
            base = _width_mm(spread_hand, 2, 3, 0.5)
        else:
            # 25 % of the finger; the little finger at 30 %: its first phalanx is short and the ring–little web
            # (a third of the first phalanx) still joins the two fingers at 25 %.
            base = _width_mm(spread_hand, *_finger_point(spread_hand, f, 0.30 if f == 4 else 0.25))
        tip = _width_mm(spread_hand, *_finger_point(spread_hand, f, 0.95))
        out[f] = (base, tip)
    return out


def test_finger_width_near_the_base(widths):
    radius = {f: w[0] / 2 for f, w in widths.items()}
    for f in (1, 2, 3):  # index, middle, ring
        assert 9.0 <= radius[f] <= 11.0, (f, radius[f])
    assert 8.0 <= radius[4] <= 10.0, radius[4]  # the little finger is the thinnest
    assert radius[4] < min(radius[1], radius[2], radius[3])
    assert 9.0 <= radius[0] <= 11.5, radius[0]
    assert radius[0] > radius[1], "the thumb must be thicker than the index finger"


def test_finger_width_near_the_tip(widths):
    # "About 7–8 mm": the pixel resolution (0.0625 mm per pixel, ±1 pixel per width) plus 0.1 mm.
    for f in (1, 2, 3, 4):
        base, tip = widths[f]
        assert 7.0 - 0.1 <= tip / 2 <= 8.0 + 0.1, (f, tip / 2)
        assert tip < base - 2.0, "fingers must taper towards the tip"
    assert widths[0][1] > widths[1][1], "the thumb tip is thicker than the index finger tip"


def _thickness_mm(points, x, y):
    """Palm thickness (mm) along the local z line through (x, y): two cameras facing each other at ±DIST_M."""
    target = np.array([x, y, 0.5 * (points[0, 2] + points[9, 2])])
    d_back, _, _ = _render(points, DORSAL_VIEW, target, side=3)
    d_front, _, _ = _render(points, PALMAR_VIEW, target, side=3)
    assert np.isfinite(d_back[1, 1]) and np.isfinite(d_front[1, 1])
    return 1000.0 * (2 * DIST_M - d_back[1, 1] - d_front[1, 1])


def test_palm_thickness(flat_hand):
    centre = 0.5 * (flat_hand[0] + flat_hand[9])  # palm centre = ½(wrist + middle MCP)
    at_centre = _thickness_mm(flat_hand, centre[0], centre[1])
    assert 25.0 <= at_centre <= 31.0, at_centre
    # The palm from just thumb-side of the middle metacarpal to the little one, 50–80 % of the way from the wrist
    # to the knuckles (the thenar eminence and the heel, thicker by design, are left out).
    xs = np.linspace(flat_hand[9, 0] - 0.004, flat_hand[17, 0] - 0.004, 4)
    ys = np.linspace(0.5, 0.8, 4) * flat_hand[9, 1]
    grid = np.array([[_thickness_mm(flat_hand, x, y) for x in xs] for y in ys])
    assert 25.0 <= np.median(grid) <= 30.0, grid
    assert grid.min() >= 21.0 and grid.max() <= 33.0, grid  # grooves between capsules, no lumps


def test_palm_edge_on_extent(flat_hand):
    """Seen edge-on (camera on the little-finger side, looking along −x), the palm's dorsal–palmar extent."""
    view = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])  # local z → image u, y → up, −x forward
    centre = 0.5 * (flat_hand[0] + flat_hand[9])
    # Look at the middle of the palm's little-finger half so the thumb and thenar lie behind it.
    depth, _, _ = _render(flat_hand, view, centre)
    c = (SIDE_PX - 1) // 2
    row = np.isfinite(depth[c])
    extent_mm = 1000.0 * row.sum() * DIST_M / FOCAL_PX  # the row through the palm centre, at depth ≈ DIST_M
    # The extent covers everything along the line of sight (thenar included), so it is at least the
    # palm's thickness and at most palm + thenar.
    assert 25.0 <= extent_mm <= 45.0, extent_mm


def test_hand_sizes_cover_children_and_adults():
    rng = np.random.default_rng(0)
    shape = kin.sample_shape(rng, 4000)
    j = kin.forward_kinematics(np.zeros((4000, 5, 4)), shape)
    middle_mm = 1000 * np.linalg.norm(j[:, 12] - j[:, 9], axis=1)  # middle MCP → tip (straight finger)
    hand_mm = 1000 * np.linalg.norm(j[:, 12] - j[:, 0], axis=1)  # wrist → middle tip
    # Middle-finger length (MCP → tip): children of about 8 years ≈ 65–75 mm, adults 80–105 mm.
    assert middle_mm.min() < 72 and middle_mm.max() > 100, (middle_mm.min(), middle_mm.max())
    # Hand length (wrist crease → middle tip): ≈ 135 mm for an 8-year-old to ≈ 205 mm for a large adult man.
    assert hand_mm.min() < 145 and hand_mm.max() > 200 and hand_mm.max() < 230, (hand_mm.min(), hand_mm.max())
    # Both ends are populated, not just reachable: a fifth of hands child-sized, some large.
    assert np.mean(hand_mm < 160) > 0.15 and np.mean(hand_mm > 190) > 0.05


def test_thickness_varies_and_scales_radii(flat_hand):
    rng = np.random.default_rng(1)
    shape = kin.sample_shape(rng, 2000)
    assert shape.thickness is not None
    assert shape.thickness.std() > 0.03 and np.ptp(shape.thickness) > 0.15
    np.testing.assert_allclose(shape.radius_factor(), shape.scale * shape.thickness)
    # A measured width follows the factor: render the same flat hand with radii × 1.1.
    a, b, t = _finger_point(flat_hand, 2, 0.25)
    target = flat_hand[a] + t * (flat_hand[b] - flat_hand[a])
    widths = []
    for factor in (1.0, 1.1):
        cam = (flat_hand - target) @ DORSAL_VIEW.T + np.array([0.0, 0.0, DIST_M])
        c = (SIDE_PX - 1) / 2
        K = np.array([[FOCAL_PX, 0, c], [0, FOCAL_PX, c], [0, 0, 1.0]])
        tt = torch.as_tensor(cam[None], dtype=torch.float64)
        r = render_capsules(tt[:, kin.CAPSULE_ENDS[:, 0]], tt[:, kin.CAPSULE_ENDS[:, 1]],
                            torch.as_tensor(kin.CAPSULE_RADIUS_M[None] * factor, dtype=torch.float64),
                            torch.as_tensor(K[None]), SIDE_PX, SIDE_PX)
        widths.append(np.isfinite(r.depth_m[0].numpy()[int(c)]).sum())  # the middle finger is near-vertical
    assert widths[1] / widths[0] == pytest.approx(1.1, abs=0.01)
