"""What a photograph shows besides the labelled hand: another hand, and something in front of the hand.

Both are capsules ray-cast with the labelled hand (:func:`~awhourglass.synth.render.render_capsules`), so depth,
masks and joint visibility stay exact: a joint behind an occluder or the other hand is not visible, their pixels
are not in the hand's mask, and the depth image shows them where they are.

- **The other hand** (``DomainSpec.other_hand_share`` of the images): another image's hand and forearm of the same
  batch, as rendered there (pose, side, orientation, size), moved so that its palm lies 0.3–0.6 image widths from
  the labelled palm on the image, 0.8–1.6 times as far from the camera (mostly behind, sometimes in front).
- **An occluder** (``DomainSpec.occluder_share``): a ball (radius 15–35 mm) or a stick (60–200 mm long, radius
  5–20 mm) 40–120 mm in front of a random joint, on the camera ray through it.

Their random draws come from their own stream (:func:`extras_rng`), so the labelled hands, their looks and their
labels are the same with or without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from awhourglass.geometry import backproject, project
from awhourglass.skeleton import MIDDLE_MCP, NUM_JOINTS, WRIST
from awhourglass.synth import kinematics as kin

EXTRAS_KEY = 0x5EEDC1A7  # spawn key of the extras' stream (far above the indices of spawned children)
PARKED_M = np.array([50.0, 50.0, 1.0])  # a capsule parked here is outside every image: no tile meets it
OTHER_DEPTH_RATIO = (0.8, 1.6)
OTHER_OFFSET_WIDTHS = (0.3, 0.6)
OCCLUDER_IN_FRONT_M = (0.04, 0.12)
BALL_SHARE = 0.5


def keyed_rng(seed: int | np.random.SeedSequence, key: int) -> np.random.Generator:
    """A random stream of its own for ``generate_batch``'s ``seed``, told apart by ``key`` (a spawn key far above
    the indices of spawned children): independent of the hands' stream and of other keys' streams."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, key)))


def extras_rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """The extras' random stream for ``generate_batch``'s ``seed``: independent of the stream of the hands."""
    return keyed_rng(seed, EXTRAS_KEY)


@dataclass
class Extras:
    """Capsules of the scene's extras, appended to the hand's ``P`` capsules.

    Attributes:
        p0, p1: ``(B, P + 1, 3)`` metres, camera frame: the other hand's ``P`` capsules (``kinematics.CAPSULE_ENDS``
            order), then the occluder; parked (:data:`PARKED_M`) in images without them.
        radius: ``(B, P + 1)`` metres.
    """

    p0: np.ndarray
    p1: np.ndarray
    radius: np.ndarray


def palm_centre(points: np.ndarray) -> np.ndarray:
    """Palm centre ``(B, 3)`` of hands' points ``(B, ≥ 21, 3)``: half-way from the wrist to the middle MCP."""
    return 0.5 * (points[:, WRIST] + points[:, MIDDLE_MCP])


def other_hands(rng: np.random.Generator, points: np.ndarray, radius: np.ndarray, K: np.ndarray, width: int,
                share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Another hand beside each labelled one (module docstring).

    Args:
        points: ``(B, NUM_BODY_POINTS, 3)`` the batch's body points, camera frame (left hands mirrored).
        radius: ``(B, P)`` the batch's capsule radii. K: ``(3, 3)``. width: image width in pixels.

    Returns:
        ``p0, p1 (B, P, 3)``, ``radius (B, P)`` and ``chosen (B,)``.
    """
    n = len(points)
    chosen = rng.uniform(size=n) < share
    j = (np.arange(n) + 1 + rng.integers(0, max(1, n - 1), n)) % n if n > 1 else np.zeros(n, int)
    angle = rng.uniform(0, 2 * np.pi, n)
    offset_px = rng.uniform(*OTHER_OFFSET_WIDTHS, n) * width
    palm = palm_centre(points)
    z = palm[:, 2] * rng.uniform(*OTHER_DEPTH_RATIO, n)
    uv = project(palm, K) + offset_px[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    moved = points[j] - palm_centre(points[j])[:, None] + backproject(uv, z, K)[:, None]
    moved = np.where(chosen[:, None, None], moved, PARKED_M)
    p0, p1 = moved[:, kin.CAPSULE_ENDS[:, 0]], moved[:, kin.CAPSULE_ENDS[:, 1]]
    return p0, p1, np.where(chosen[:, None], radius[j], 1e-3), chosen


def occluders(rng: np.random.Generator, joints: np.ndarray,
              share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A ball or a stick in front of a random joint of each hand (module docstring).

    Args:
        joints: ``(B, 21, 3)`` camera frame, metres.

    Returns:
        ``p0, p1 (B, 3)``, ``radius (B,)`` and ``chosen (B,)``.
    """
    n = len(joints)
    chosen = rng.uniform(size=n) < share
    k = rng.integers(0, NUM_JOINTS, n)
    joint = joints[np.arange(n), k]
    z = np.maximum(joint[:, 2] - rng.uniform(*OCCLUDER_IN_FRONT_M, n), 0.1)
    centre = joint * (z / joint[:, 2])[:, None]
    ball = rng.uniform(size=n) < BALL_SHARE
    length = np.where(ball, 0.0, rng.uniform(0.06, 0.2, n))
    r = np.where(ball, rng.uniform(0.015, 0.035, n), rng.uniform(0.005, 0.02, n))
    d = rng.standard_normal((n, 3)) * np.array([1.0, 1.0, 0.3])  # sticks lie mostly across the view
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    half = 0.5 * length[:, None] * d
    p0 = np.where(chosen[:, None], centre - half, PARKED_M)
    p1 = np.where(chosen[:, None], centre + half, PARKED_M)
    return p0, p1, np.where(chosen, r, 1e-3), chosen


def scene_extras(rng: np.random.Generator, points: np.ndarray, radius: np.ndarray, K: np.ndarray, width: int,
                 other_share: float, occluder_share: float) -> Extras:
    """The other hands and the occluders of a batch (:func:`other_hands`, :func:`occluders`), as one capsule set."""
    hp0, hp1, hr, _ = other_hands(rng, points, radius, K, width, other_share)
    op0, op1, orad, _ = occluders(rng, points[:, :NUM_JOINTS], occluder_share)
    return Extras(np.concatenate([hp0, op0[:, None]], 1), np.concatenate([hp1, op1[:, None]], 1),
                  np.concatenate([hr, orad[:, None]], 1))
