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

# Finger shapes in degrees [MCP flexion, MCP abduction, PIP, DIP] and thumb shapes [CMC abduction (palmar), CMC
# opposition, MCP, IP]: the handshapes of the one-handed manual alphabet (ASL), many of them fists that differ in
# where the thumb lies, and fingers hooked at PIP/DIP with a straight MCP, which one curl per finger cannot make.
_STRAIGHT, _FIST, _HOOK = (0.0, 0.0, 0.0, 0.0), (85.0, 0.0, 100.0, 70.0), (10.0, 0.0, 95.0, 65.0)
_ROUND_C, _ROUND_O, _TUCK = (30.0, 0.0, 40.0, 25.0), (50.0, 0.0, 65.0, 40.0), (70.0, 0.0, 95.0, 60.0)
_CLAW_E = (45.0, 0.0, 105.0, 75.0)
_THUMB = {
    "side": (-15.0, 10.0, 10.0, 10.0),  # A: along the side of the index finger
    "across": (15.0, 50.0, 35.0, 30.0),  # S: across the front of the curled fingers
    "under": (10.0, 45.0, 40.0, 40.0),  # E, M, N: under the fingertips
    "between": (20.0, 35.0, 25.0, 15.0),  # T, K: between index and middle
    "palm": (5.0, 50.0, 40.0, 25.0),  # B: folded onto the palm
    "round": (10.0, -5.0, 55.0, 55.0),  # C, O, D, F: opposed to the fingertips
    "out": (20.0, -25.0, 0.0, 0.0),  # L, Y: spread away from the hand
}
# letter: (thumb, index, middle, ring, little, spread in [0, 1] of the straight fingers)
ASL_LETTERS: dict[str, tuple[str, tuple[tuple[float, ...], ...], float]] = {
    "A": ("side", (_FIST, _FIST, _FIST, _FIST), 0.0),
    "B": ("palm", (_STRAIGHT, _STRAIGHT, _STRAIGHT, _STRAIGHT), 0.0),
    "C": ("round", (_ROUND_C, _ROUND_C, _ROUND_C, _ROUND_C), 0.0),
    "D": ("round", (_STRAIGHT, _ROUND_O, _ROUND_O, _ROUND_O), 0.0),
    "E": ("under", (_CLAW_E, _CLAW_E, _CLAW_E, _CLAW_E), 0.0),
    "F": ("round", (_ROUND_O, _STRAIGHT, _STRAIGHT, _STRAIGHT), 0.8),
    "I": ("across", (_FIST, _FIST, _FIST, _STRAIGHT), 0.0),
    "K": ("between", (_STRAIGHT, _STRAIGHT, _FIST, _FIST), 1.0),
    "L": ("out", (_STRAIGHT, _FIST, _FIST, _FIST), 0.0),
    "M": ("under", (_TUCK, _TUCK, _TUCK, _FIST), 0.0),
    "N": ("under", (_TUCK, _TUCK, _FIST, _FIST), 0.0),
    "O": ("round", (_ROUND_O, _ROUND_O, _ROUND_O, _ROUND_O), 0.0),
    "S": ("across", (_FIST, _FIST, _FIST, _FIST), 0.0),
    "T": ("between", (_TUCK, _FIST, _FIST, _FIST), 0.0),
    "U": ("across", (_STRAIGHT, _STRAIGHT, _FIST, _FIST), 0.0),
    "V": ("across", (_STRAIGHT, _STRAIGHT, _FIST, _FIST), 1.0),
    "W": ("across", (_STRAIGHT, _STRAIGHT, _STRAIGHT, _FIST), 1.0),
    "X": ("across", (_HOOK, _FIST, _FIST, _FIST), 0.0),
    "Y": ("out", (_FIST, _FIST, _FIST, _STRAIGHT), 1.0),
}
POSE_MODES = ("mixed", "counting", "random")
LETTER_SHARE = 0.5  # of the templates of the "mixed" mode
HELD_UP_SHARE = 0.35  # of the source's orientations

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


def letter_angles(letter: str) -> np.ndarray:
    """Joint angles ``(5, 4)`` radians of the manual-alphabet handshape ``letter`` (a key of ASL_LETTERS)."""
    thumb, fingers, spread = ASL_LETTERS[letter]
    deg = np.array([_THUMB[thumb], *fingers], dtype=np.float64)
    deg[1:, 1] = _FINGER_SPREAD_DEG[1:] * spread * (deg[1:, 0] < 20.0)
    return np.deg2rad(deg)


_LETTER_ANGLES = np.stack([letter_angles(k) for k in ASL_LETTERS])


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
    templ = curl_to_angles(curl, spread)
    if mode == "mixed":  # half of the templates are letters of the manual alphabet
        letter = _LETTER_ANGLES[rng.integers(0, len(_LETTER_ANGLES), size=n)]
        templ = np.where((rng.uniform(size=n) < LETTER_SHARE)[:, None, None], letter, templ)
    templ = templ + np.deg2rad(7.0) * rng.standard_normal((n, 5, 4))

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


def held_up_rotation(rng: np.random.Generator, n: int, back_prob: float, roll_deg: float, pitch_deg: float,
                     yaw_deg: float) -> np.ndarray:
    """Orientations ``(N, 3, 3)`` of a hand held up towards the camera: palm towards it, or the back with
    probability ``back_prob``; roll, pitch and yaw uniform within ± the given degrees."""
    roll = rng.uniform(-np.deg2rad(roll_deg), np.deg2rad(roll_deg), n)
    pitch = rng.uniform(-np.deg2rad(pitch_deg), np.deg2rad(pitch_deg), n)
    yaw = rng.uniform(-np.deg2rad(yaw_deg), np.deg2rad(yaw_deg), n) + np.pi * (rng.uniform(size=n) < back_prob)
    return axis_rotation(2, roll) @ axis_rotation(0, pitch) @ axis_rotation(1, yaw) @ _PALM_TO_CAMERA[None]


def frontal_rotation(rng: np.random.Generator, n: int) -> np.ndarray:
    """STB-like orientations ``(N, 3, 3)``: palm (70 %) or back (30 %) towards the camera, roll ±45°,
    pitch ±30°, yaw ±40°."""
    return held_up_rotation(rng, n, 0.3, 45.0, 30.0, 40.0)


def source_rotation(rng: np.random.Generator, n: int) -> np.ndarray:
    """RHD-like orientations ``(N, 3, 3)``: uniform rotations, and with probability HELD_UP_SHARE a hand held up
    towards the camera (palm or back alike, roll ±70°, pitch ±45°, yaw ±60°), as hands are most often
    photographed and as they sign."""
    up = rng.uniform(size=n) < HELD_UP_SHARE
    return np.where(up[:, None, None], held_up_rotation(rng, n, 0.5, 70.0, 45.0, 60.0), random_rotation(rng, n))
