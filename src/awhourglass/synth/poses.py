"""Hand articulations (gesture templates mixed with random poses) and global hand orientations.

Templates are given as a curl per finger (0 = straight, 1 = fully flexed) and a spread; they are
turned into joint angles, perturbed by Gaussian noise and clipped to the joint limits.
"""

from __future__ import annotations

import numpy as np

from awhourglass.synth.kinematics import ANGLE_LIMITS_RAD, axis_rotation, clip_angles

# name: (curl of thumb, index, middle, ring, little; spread)
GESTURES: dict[str, tuple[tuple[float, float, float, float, float], float]] = {
    "open": ((0.0, 0.0, 0.0, 0.0, 0.0), 1.0),
    "fist": ((1.0, 1.0, 1.0, 1.0, 1.0), 0.0),
    "point": ((0.9, 0.0, 1.0, 1.0, 1.0), 0.0),
    "pinch": ((0.45, 0.5, 0.15, 0.15, 0.15), 0.4),
    "ok": ((0.5, 0.55, 0.0, 0.0, 0.0), 0.6),
    "claw": ((0.5, 0.5, 0.5, 0.5, 0.5), 0.6),
    "thumbs_up": ((0.0, 1.0, 1.0, 1.0, 1.0), 0.0),
    "rock": ((1.0, 0.0, 1.0, 1.0, 0.0), 0.7),
    "call": ((0.0, 1.0, 1.0, 1.0, 0.0), 0.5),
    "count1": ((1.0, 0.0, 1.0, 1.0, 1.0), 0.3),
    "count2": ((1.0, 0.0, 0.0, 1.0, 1.0), 0.8),
    "count3": ((1.0, 0.0, 0.0, 0.0, 1.0), 0.6),
    "count4": ((1.0, 0.0, 0.0, 0.0, 0.0), 0.6),
    "count5": ((0.0, 0.0, 0.0, 0.0, 0.0), 0.8),
}
COUNTING = ("count1", "count2", "count3", "count4", "count5")
POSE_MODES = ("mixed", "counting", "random")

_FINGER_SPREAD_DEG = np.array([0.0, 12.0, 2.0, -8.0, -18.0])
_THUMB_STRAIGHT_DEG = np.array([15.0, -10.0, 0.0, 0.0])
_THUMB_FOLDED_DEG = np.array([10.0, 45.0, 45.0, 50.0])


def curl_to_angles(curl: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Finger curls ``(N, 5)`` in [0, 1] and spreads ``(N,)`` in [0, 1] → joint angles ``(N, 5, 4)`` radians."""
    curl = np.asarray(curl, dtype=np.float64)
    spread = np.asarray(spread, dtype=np.float64)
    deg = np.zeros((curl.shape[0], 5, 4))
    c = curl[:, 1:]
    deg[:, 1:, 0] = 85.0 * c
    deg[:, 1:, 1] = _FINGER_SPREAD_DEG[None, 1:] * spread[:, None] * (1.0 - c)
    deg[:, 1:, 2] = 100.0 * c
    deg[:, 1:, 3] = 70.0 * c
    t = curl[:, :1]
    deg[:, 0] = (1.0 - t) * _THUMB_STRAIGHT_DEG[None] + t * _THUMB_FOLDED_DEG[None]
    return np.deg2rad(deg)


def sample_articulation(
    rng: np.random.Generator, n: int, mode: str = "mixed", template_prob: float = 0.5
) -> np.ndarray:
    """Joint angles ``(N, 5, 4)`` radians, within the limits.

    Args:
        mode: ``"mixed"`` (any gesture with probability ``template_prob``, else random), ``"counting"``
            (counting 1–5 only) or ``"random"`` (random only).
    """
    if mode not in POSE_MODES:
        raise ValueError(f"pose mode must be one of {POSE_MODES}, got {mode!r}")
    names = COUNTING if mode == "counting" else tuple(GESTURES)
    pick = rng.integers(0, len(names), size=n)
    curl = np.array([GESTURES[names[i]][0] for i in pick]).reshape(n, 5)
    spread = np.array([GESTURES[names[i]][1] for i in pick]).reshape(n)
    templ = curl_to_angles(curl, spread) + np.deg2rad(7.0) * rng.standard_normal((n, 5, 4))

    # Random poses: one curl per finger, each joint near it, abduction anywhere in its range.
    lo, hi = ANGLE_LIMITS_RAD[..., 0], ANGLE_LIMITS_RAD[..., 1]
    frac = np.clip(rng.uniform(0, 1, (n, 5, 1)) + 0.2 * rng.standard_normal((n, 5, 4)), 0.0, 1.0)
    rand = lo + frac * (hi - lo)
    rand[:, 1:, 1] = rng.uniform(lo[1:, 1], hi[1:, 1], (n, 4))

    if mode == "counting":
        use_template = np.ones(n, dtype=bool)
    elif mode == "random":
        use_template = np.zeros(n, dtype=bool)
    else:
        use_template = rng.uniform(size=n) < template_prob
    return clip_angles(np.where(use_template[:, None, None], templ, rand))


def random_rotation(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniformly distributed rotations ``(N, 3, 3)`` (normalized Gaussian quaternions)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


# Hand-local → camera for a hand held up with its palm towards the camera, fingers up in the image
# (camera y points down): local y → −y_cam, local z (dorsal) → +z_cam, local x → −x_cam.
_PALM_TO_CAMERA = np.array([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])


def frontal_rotation(rng: np.random.Generator, n: int) -> np.ndarray:
    """STB-like orientations ``(N, 3, 3)``: palm (70 %) or back (30 %) towards the camera, roll ±45°,
    pitch ±30°, yaw ±40°."""
    roll = rng.uniform(-np.pi / 4, np.pi / 4, n)
    pitch = rng.uniform(-np.pi / 6, np.pi / 6, n)
    yaw = rng.uniform(-np.deg2rad(40), np.deg2rad(40), n) + np.pi * (rng.uniform(size=n) < 0.3)
    return axis_rotation(2, roll) @ axis_rotation(0, pitch) @ axis_rotation(1, yaw) @ _PALM_TO_CAMERA[None]
