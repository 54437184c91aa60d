"""A kinematic right hand: 21 canonical joints from bone lengths and joint angles, plus its capsule body.

Hand-local frame (metres, right hand): origin at the wrist, +y from the wrist towards the middle
finger, +z out of the back of the hand (dorsal), +x = y × z, so the thumb lies on the −x side.
A left hand is the mirror image (x → −x), applied in camera space by the caller.

Pose parameters ``angles_rad: (N, 5, 4)``, one row per finger (thumb, index, middle, ring, little):

- fingers: MCP flexion, MCP abduction (+ = towards the thumb), PIP flexion, DIP flexion;
- thumb: CMC abduction (away from the palm), CMC opposition (across the palm), MCP flexion, IP flexion.

Flexion turns a bone about its own lateral axis towards the palm side, so each finger curls in one
plane; limits are in :data:`ANGLE_LIMITS_DEG` (typical active ranges of motion of adult hands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from awhourglass.skeleton import BONES, NUM_JOINTS

# Nominal adult joint layout (hand-local, metres): wrist, thumb CMC and the four finger MCPs.
_WRIST_TO_BASE = np.array(
    [
        [-0.022, 0.028, -0.012],  # thumb CMC
        [-0.025, 0.086, 0.002],  # index MCP
        [-0.004, 0.090, 0.004],  # middle MCP
        [0.015, 0.084, 0.002],  # ring MCP
        [0.031, 0.074, -0.002],  # little MCP
    ]
)
# Phalanx lengths base → tip (thumb: metacarpal, proximal, distal; fingers: proximal, middle, distal).
_PHALANX_M = np.array(
    [
        [0.042, 0.032, 0.027],
        [0.041, 0.024, 0.019],
        [0.045, 0.028, 0.020],
        [0.042, 0.027, 0.020],
        [0.033, 0.020, 0.018],
    ]
)
# Capsule radii of each finger's three phalanges and of the five wrist → base bones (metres).
_PHALANX_RADIUS_M = np.array(
    [
        [0.0125, 0.0105, 0.0092],
        [0.0095, 0.0085, 0.0076],
        [0.0100, 0.0090, 0.0080],
        [0.0095, 0.0085, 0.0076],
        [0.0085, 0.0076, 0.0068],
    ]
)
_METACARPAL_RADIUS_M = np.array([0.0140, 0.0130, 0.0130, 0.0125, 0.0120])
# Fixed points of the palm (hand-local, metres): two ends of the heel capsule, two of the mid-palm capsule.
_PALM_POINTS_M = np.array(
    [[-0.016, 0.020, -0.003], [0.022, 0.020, -0.003], [-0.019, 0.052, -0.002], [0.024, 0.050, -0.002]]
)
_HEEL_RADIUS_M = 0.016
_MID_PALM_RADIUS_M = 0.015
_KNUCKLE_RADIUS_M = 0.012  # capsule along the MCP row, fills the palm between the fingers
FOREARM_LENGTH_M = 0.22
FOREARM_RADIUS_M = 0.023

# Nominal length of each canonical bone (skeleton.BONES order: 5 × [base bone, 3 phalanges]).
NOMINAL_BONE_LENGTH_M = np.concatenate(
    [np.concatenate([[np.linalg.norm(_WRIST_TO_BASE[f])], _PHALANX_M[f]]) for f in range(5)]
)
# Per-hand bone lengths: one global scale (small to large adult hands) times a per-bone factor.
HAND_SCALE_RANGE = (0.85, 1.15)
BONE_JITTER_RANGE = (0.93, 1.07)
BONE_LENGTH_FACTOR_RANGE = (HAND_SCALE_RANGE[0] * BONE_JITTER_RANGE[0], HAND_SCALE_RANGE[1] * BONE_JITTER_RANGE[1])

ANGLE_NAMES = (
    ("cmc_abduction", "cmc_opposition", "mcp_flexion", "ip_flexion"),
    ("mcp_flexion", "mcp_abduction", "pip_flexion", "dip_flexion"),
)
# (finger, parameter, [min, max]) in degrees.
ANGLE_LIMITS_DEG = np.array(
    [
        [[-15, 50], [-25, 55], [-5, 60], [-15, 80]],
        [[-15, 90], [-20, 20], [0, 110], [0, 80]],
        [[-15, 90], [-15, 15], [0, 110], [0, 80]],
        [[-15, 90], [-15, 15], [0, 110], [0, 80]],
        [[-15, 90], [-25, 20], [0, 110], [0, 80]],
    ],
    dtype=np.float64,
)
ANGLE_LIMITS_RAD = np.deg2rad(ANGLE_LIMITS_DEG)
_SPLAY_RAD = np.deg2rad([0.0, -6.0, 0.0, 5.0, 11.0])  # rest direction of each finger in the palm plane


def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` about local axis 0/1/2 by ``angle`` (radians, right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((*np.shape(angle), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def _frame(y: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """Orthonormal frame (columns x, y, z) with y along ``y`` and z close to ``z_hint``."""
    y = y / np.linalg.norm(y)
    z = z_hint - (z_hint @ y) * y
    z = z / np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1)


# Rest frames of each finger's first bone: fingers lie in the palm plane (z dorsal); the thumb is
# turned so that its pad faces the palm and its flexion curls it across the palm.
_REST_FRAMES = np.stack(
    [_frame(np.array([-0.60, 0.75, -0.25]), np.array([-1.0, 0.0, 0.35]))]
    + [_frame(np.array([np.sin(a), np.cos(a), 0.0]), np.array([0.0, 0.0, 1.0])) for a in _SPLAY_RAD[1:]]
)


@dataclass(frozen=True)
class HandShape:
    """Per-hand bone lengths: ``bone_length_m (N, 20)`` in skeleton.BONES order, ``scale (N,)`` global factor."""

    bone_length_m: np.ndarray
    scale: np.ndarray


def sample_shape(rng: np.random.Generator, n: int) -> HandShape:
    """Draw ``n`` hand shapes: a global size in HAND_SCALE_RANGE times per-bone jitter in BONE_JITTER_RANGE."""
    scale = rng.uniform(*HAND_SCALE_RANGE, size=n)
    jitter = rng.uniform(*BONE_JITTER_RANGE, size=(n, len(BONES)))
    return HandShape(NOMINAL_BONE_LENGTH_M[None] * scale[:, None] * jitter, scale)


def clip_angles(angles_rad: np.ndarray) -> np.ndarray:
    """Clip ``(N, 5, 4)`` angles to ANGLE_LIMITS_RAD."""
    return np.clip(angles_rad, ANGLE_LIMITS_RAD[..., 0], ANGLE_LIMITS_RAD[..., 1])


def forward_kinematics(angles_rad: np.ndarray, shape: HandShape) -> np.ndarray:
    """Hand-local canonical joints ``(N, 21, 3)`` metres of a right hand from angles ``(N, 5, 4)``."""
    angles_rad = np.asarray(angles_rad, dtype=np.float64)
    n = angles_rad.shape[0]
    if angles_rad.shape != (n, 5, 4) or shape.bone_length_m.shape != (n, len(BONES)):
        raise ValueError(
            f"forward_kinematics: expected angles (N, 5, 4) and bone lengths (N, 20); got "
            f"{angles_rad.shape} and {shape.bone_length_m.shape}"
        )
    lengths = shape.bone_length_m.reshape(n, 5, 4)
    joints = np.zeros((n, NUM_JOINTS, 3))
    for f in range(5):
        a = angles_rad[:, f]
        base_dir = _WRIST_TO_BASE[f] / np.linalg.norm(_WRIST_TO_BASE[f])
        joints[:, 1 + 4 * f] = base_dir[None] * lengths[:, f, 0:1]
        # First joint: two degrees of freedom (thumb CMC: abduction, opposition; MCP: abduction, flexion).
        if f == 0:
            r = _REST_FRAMES[0][None] @ axis_rotation(2, a[:, 0]) @ axis_rotation(0, -a[:, 1])
        else:
            r = _REST_FRAMES[f][None] @ axis_rotation(2, a[:, 1]) @ axis_rotation(0, -a[:, 0])
        for k in range(3):
            if k > 0:  # then two hinges about the bone's own lateral axis (parameters 2 and 3)
                r = r @ axis_rotation(0, -a[:, 1 + k])
            joints[:, 2 + 4 * f + k] = joints[:, 1 + 4 * f + k] + r[:, :, 1] * lengths[:, f, 1 + k : 2 + k]
    return joints


# --- Capsule body. Points = 21 joints, then the palm points (21–24) and the forearm end (25).
HEEL_A, HEEL_B, MID_A, MID_B, FOREARM_END = 21, 22, 23, 24, 25
PART_PALM, PART_ARM = 0, -1  # part 0 = palm; 1 + 3·finger + phalanx for phalanges; -1 = forearm (person)


def _capsule_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs, radius, part = [], [], []
    for f in range(5):
        base = 1 + 4 * f
        pairs.append((0, base))
        radius.append(_METACARPAL_RADIUS_M[f])
        part.append(PART_PALM)
        for k in range(3):
            pairs.append((base + k, base + k + 1))
            radius.append(_PHALANX_RADIUS_M[f, k])
            part.append(1 + 3 * f + k)
    pairs += [(5, 17), (HEEL_A, HEEL_B), (MID_A, MID_B), (0, FOREARM_END)]
    radius += [_KNUCKLE_RADIUS_M, _HEEL_RADIUS_M, _MID_PALM_RADIUS_M, FOREARM_RADIUS_M]
    part += [PART_PALM, PART_PALM, PART_PALM, PART_ARM]
    return np.array(pairs, dtype=np.int64), np.array(radius), np.array(part, dtype=np.int64)


CAPSULE_ENDS, CAPSULE_RADIUS_M, CAPSULE_PART = _capsule_table()
NUM_PARTS = 16  # palm + 15 phalanges, as RHD's 16 mask ids per hand


def joint_radius_m(scale: np.ndarray) -> np.ndarray:
    """Radius ``(N, 21)`` of the body sphere centred on each joint (largest capsule ending there)."""
    r = np.zeros(NUM_JOINTS)
    for (a, b), rad in zip(CAPSULE_ENDS, CAPSULE_RADIUS_M, strict=True):
        for j in (a, b):
            if j < NUM_JOINTS:
                r[j] = max(r[j], rad)
    return r[None] * np.asarray(scale)[:, None]


def body_points(joints_local: np.ndarray, scale: np.ndarray, forearm_dir: np.ndarray) -> np.ndarray:
    """Joints plus the body's extra points ``(N, 26, 3)`` in the hand-local frame.

    Args:
        joints_local: ``(N, 21, 3)`` from :func:`forward_kinematics`.
        scale: ``(N,)`` global hand scale (sizes the palm heel and forearm).
        forearm_dir: ``(N, 3)`` unit direction from the wrist towards the elbow.
    """
    s = np.asarray(scale)[:, None]
    palm = _PALM_POINTS_M[None] * s[:, :, None]
    forearm = (forearm_dir * FOREARM_LENGTH_M * s)[:, None]
    return np.concatenate([joints_local, palm, forearm], axis=1)


def sample_forearm_dir(rng: np.random.Generator, n: int) -> np.ndarray:
    """Direction ``(N, 3)`` wrist → elbow: straight back (−y) with wrist flexion ±40° and deviation ±20°."""
    flex = rng.uniform(-np.deg2rad(40), np.deg2rad(40), n)
    dev = rng.uniform(-np.deg2rad(20), np.deg2rad(20), n)
    return axis_rotation(0, flex) @ axis_rotation(2, dev) @ np.array([0.0, -1.0, 0.0])
