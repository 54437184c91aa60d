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
# Finger radii (metres) at the base of the first phalanx and at the finger tip (adult hand): a finger is
# about 20 mm wide at its base and 15 mm at the tip, the thumb thicker; each phalanx is two capsules whose
# radii follow the taper, so the finger narrows smoothly instead of in three steps.
FINGER_BASE_RADIUS_M = np.array([0.0115, 0.0100, 0.0105, 0.0099, 0.0090])
FINGER_TIP_RADIUS_M = np.array([0.0085, 0.0077, 0.0079, 0.0076, 0.0070])
# The palm: a rounded slab about 27 mm thick (capsule radius 13.5 mm), 75–85 mm wide at the knuckles.
PALM_RADIUS_M = 0.0135
# Fixed points of the palm (hand-local, metres): heel (two), mid-palm (two), carpal row (four, where the
# metacarpals of the index..little fingers start), thenar eminence (two, on the palmar side).
_PALM_POINTS_M = np.array(
    [
        [-0.017, 0.018, -0.003],  # heel, thumb side
        [0.021, 0.018, -0.003],  # heel, little side
        [-0.020, 0.050, -0.002],  # mid-palm, thumb side
        [0.025, 0.048, -0.002],  # mid-palm, little side
        [-0.014, 0.022, 0.000],  # carpal row: index, middle, ring, little
        [-0.003, 0.024, 0.001],
        [0.008, 0.023, 0.000],
        [0.018, 0.020, -0.001],
        [-0.012, 0.024, -0.010],  # thenar: near the wrist, towards the thumb's metacarpal (palmar)
        [-0.026, 0.046, -0.008],
    ]
)
_HEEL_RADIUS_M = 0.016
_THENAR_RADIUS_M = 0.0150
_WEB_RADIUS_M = 0.0062  # the skin between adjacent fingers, up to a third of the first phalanx
_THUMB_WEB_RADIUS_M = 0.0080
WEB_FRACTION = 0.33
FOREARM_LENGTH_M = 0.30  # long enough to leave the frame at the domains' distances
FOREARM_RADIUS_M = 0.026  # at the wrist; the forearm widens to FOREARM_ELBOW_RADIUS_M
FOREARM_ELBOW_RADIUS_M = 0.033
# Per-hand thickness factor on every radius (slender to stocky hands).
THICKNESS_RANGE = (0.9, 1.12)

# Nominal length of each canonical bone (skeleton.BONES order: 5 × [base bone, 3 phalanges]).
NOMINAL_BONE_LENGTH_M = np.concatenate(
    [np.concatenate([[np.linalg.norm(_WRIST_TO_BASE[f])], _PHALANX_M[f]]) for f in range(5)]
)
# Per-hand bone lengths: one global scale (small to large adult hands) times a per-bone factor.
HAND_SCALE_RANGE = (0.75, 1.15)  # child (≈ 8 years) to large adult hands
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
    """Per-hand bone lengths ``bone_length_m (N, 20)`` in skeleton.BONES order, ``scale (N,)`` the global size
    factor, ``thickness (N,)`` the extra factor on every body radius (radii are nominal × scale × thickness)."""

    bone_length_m: np.ndarray
    scale: np.ndarray
    thickness: np.ndarray | None = None

    def radius_factor(self) -> np.ndarray:
        """``(N,)`` factor on the nominal radii: scale × thickness."""
        return self.scale * (1.0 if self.thickness is None else self.thickness)


def sample_shape(rng: np.random.Generator, n: int) -> HandShape:
    """Draw ``n`` hand shapes: a global size in HAND_SCALE_RANGE times per-bone jitter in BONE_JITTER_RANGE, and a
    thickness in THICKNESS_RANGE."""
    scale = rng.uniform(*HAND_SCALE_RANGE, size=n)
    jitter = rng.uniform(*BONE_JITTER_RANGE, size=(n, len(BONES)))
    thickness = rng.uniform(*THICKNESS_RANGE, size=n)
    return HandShape(NOMINAL_BONE_LENGTH_M[None] * scale[:, None] * jitter, scale, thickness)


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
    frames = phalanx_frames(angles_rad)
    joints = np.zeros((n, NUM_JOINTS, 3))
    for f in range(5):
        base_dir = _WRIST_TO_BASE[f] / np.linalg.norm(_WRIST_TO_BASE[f])
        joints[:, 1 + 4 * f] = base_dir[None] * lengths[:, f, 0:1]
        for k in range(3):
            joints[:, 2 + 4 * f + k] = joints[:, 1 + 4 * f + k] + frames[:, f, k, :, 1] * lengths[:, f, 1 + k : 2 + k]
    return joints


def phalanx_frames(angles_rad: np.ndarray) -> np.ndarray:
    """Hand-local frames ``(N, 5, 3, 3, 3)`` of each finger's three phalanges (columns: lateral x, along the bone
    y, dorsal z) for angles ``(N, 5, 4)`` radians of a right hand."""
    angles_rad = np.asarray(angles_rad, dtype=np.float64)
    out = np.zeros((angles_rad.shape[0], 5, 3, 3, 3))
    for f in range(5):
        a = angles_rad[:, f]
        # First joint: two degrees of freedom (thumb CMC: abduction, opposition; MCP: abduction, flexion).
        if f == 0:
            r = _REST_FRAMES[0][None] @ axis_rotation(2, a[:, 0]) @ axis_rotation(0, -a[:, 1])
        else:
            r = _REST_FRAMES[f][None] @ axis_rotation(2, a[:, 1]) @ axis_rotation(0, -a[:, 0])
        for k in range(3):
            if k > 0:  # then two hinges about the bone's own lateral axis (parameters 2 and 3)
                r = r @ axis_rotation(0, -a[:, 1 + k])
            out[:, f, k] = r
    return out


# --- Capsule body. Points: the 21 joints, then the palm points (21–30), the forearm's middle and end (31, 32),
# the middle of each of the 15 phalanges (33–47) and the web points on the first phalanges (48–51).
HEEL_A, HEEL_B, MID_A, MID_B = 21, 22, 23, 24
CARPAL = (25, 26, 27, 28)  # start of the index..little metacarpals
THENAR_A, THENAR_B = 29, 30
FOREARM_MID, FOREARM_END = 31, 32
PHALANX_MID0 = 33  # + 3·finger + phalanx
WEB0 = 48  # + finger − 1 for index..little
NUM_BODY_POINTS = 52
PART_PALM, PART_ARM = 0, -1  # part 0 = palm; 1 + 3·finger + phalanx for phalanges; -1 = forearm (person)


def _finger_radius(f: int, t: float) -> float:
    """Nominal radius of finger ``f`` at fraction ``t`` of its length from the first phalanx's base to the tip."""
    return float(FINGER_BASE_RADIUS_M[f] + t * (FINGER_TIP_RADIUS_M[f] - FINGER_BASE_RADIUS_M[f]))


def _capsule_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs, radius, part = [], [], []

    def add(a: int, b: int, r: float, p: int) -> None:
        pairs.append((a, b))
        radius.append(r)
        part.append(p)

    for f in range(5):
        base = 1 + 4 * f
        # Phalanges: two capsules each, radii tapering along the finger (nominal phalanx lengths as weights).
        cum = np.concatenate([[0.0], np.cumsum(_PHALANX_M[f])]) / _PHALANX_M[f].sum()
        for k in range(3):
            mid = PHALANX_MID0 + 3 * f + k
            t0, t1 = cum[k], cum[k + 1]
            add(base + k, mid, _finger_radius(f, t0 + 0.25 * (t1 - t0)), 1 + 3 * f + k)
            add(mid, base + k + 1, _finger_radius(f, t0 + 0.75 * (t1 - t0)), 1 + 3 * f + k)
    # Wrist → thumb base and the thenar eminence (the thumb's metacarpal is its first 'phalanx', as in RHD).
    add(0, 1, 0.8 * FINGER_BASE_RADIUS_M[0] + 0.2 * PALM_RADIUS_M, PART_PALM)
    add(THENAR_A, THENAR_B, _THENAR_RADIUS_M, PART_PALM)
    add(THENAR_B, 2, 0.9 * _THENAR_RADIUS_M, PART_PALM)
    # Palm slab: the four metacarpals, the knuckle row, the mid-palm and the heel.
    for i, c in enumerate(CARPAL):
        add(c, 5 + 4 * i, PALM_RADIUS_M, PART_PALM)
    for a, b in ((5, 9), (9, 13), (13, 17)):
        add(a, b, PALM_RADIUS_M * 0.92, PART_PALM)
    add(MID_A, MID_B, PALM_RADIUS_M, PART_PALM)
    add(HEEL_A, HEEL_B, _HEEL_RADIUS_M, PART_PALM)
    add(0, CARPAL[1], _HEEL_RADIUS_M, PART_PALM)
    # Webbing between the fingers and between thumb and index finger.
    for i in range(3):
        add(WEB0 + i, WEB0 + i + 1, _WEB_RADIUS_M, PART_PALM)
    add(2, WEB0, _THUMB_WEB_RADIUS_M, PART_PALM)
    # Forearm, widening from the wrist to the elbow.
    add(0, FOREARM_MID, FOREARM_RADIUS_M, PART_ARM)
    add(FOREARM_MID, FOREARM_END, 0.5 * (FOREARM_RADIUS_M + FOREARM_ELBOW_RADIUS_M), PART_ARM)
    return np.array(pairs, dtype=np.int64), np.array(radius), np.array(part, dtype=np.int64)


CAPSULE_ENDS, CAPSULE_RADIUS_M, CAPSULE_PART = _capsule_table()


def _smooth_ends() -> np.ndarray:
    """``(P, 2)`` bool: capsule ends that continue into the next capsule of a finger or the forearm (every phalanx
    end but the finger tip, the forearm's middle and wrist): shaded without a cap (render.render_capsules)."""
    tips = {4 + 4 * f for f in range(5)}
    chain = (CAPSULE_PART > 0) | (CAPSULE_PART == PART_ARM)
    out = np.zeros((len(CAPSULE_ENDS), 2), bool)
    for i, (a, b) in enumerate(CAPSULE_ENDS):
        if chain[i]:
            out[i] = (a not in tips, b not in tips)
    return out


CAPSULE_SMOOTH_ENDS = _smooth_ends()
NUM_PARTS = 16  # palm + 15 phalanges, as RHD's 16 mask ids per hand


def joint_radius_m(scale: np.ndarray) -> np.ndarray:
    """Radius ``(N, 21)`` of the body at each joint (the largest capsule ending there) for radius factors
    ``scale (N,)`` (:meth:`HandShape.radius_factor`)."""
    r = np.zeros(NUM_JOINTS)
    for (a, b), rad in zip(CAPSULE_ENDS, CAPSULE_RADIUS_M, strict=True):
        for j in (a, b):
            if j < NUM_JOINTS:
                r[j] = max(r[j], rad)
    return r[None] * np.asarray(scale)[:, None]


def body_points(joints_local: np.ndarray, scale: np.ndarray, forearm_dir: np.ndarray) -> np.ndarray:
    """Joints plus the body's extra points ``(N, NUM_BODY_POINTS, 3)`` in the hand-local frame.

    Args:
        joints_local: ``(N, 21, 3)`` from :func:`forward_kinematics`.
        scale: ``(N,)`` global hand scale (sizes the palm and forearm).
        forearm_dir: ``(N, 3)`` unit direction from the wrist towards the elbow.
    """
    s = np.asarray(scale)[:, None]
    palm = _PALM_POINTS_M[None] * s[:, :, None]
    forearm = forearm_dir[:, None] * (FOREARM_LENGTH_M * s)[:, :, None] * np.array([0.5, 1.0])[None, :, None]
    a = joints_local[:, [1 + 4 * f + k for f in range(5) for k in range(3)]]
    b = joints_local[:, [2 + 4 * f + k for f in range(5) for k in range(3)]]
    mids = 0.5 * (a + b)
    mcp, pip = joints_local[:, [5, 9, 13, 17]], joints_local[:, [6, 10, 14, 18]]
    web = mcp + WEB_FRACTION * (pip - mcp)
    return np.concatenate([joints_local, palm, forearm, mids, web], axis=1)


def sample_forearm_dir(rng: np.random.Generator, n: int) -> np.ndarray:
    """Direction ``(N, 3)`` wrist → elbow: straight back (−y) with wrist flexion ±40° and deviation ±20°."""
    flex = rng.uniform(-np.deg2rad(40), np.deg2rad(40), n)
    dev = rng.uniform(-np.deg2rad(20), np.deg2rad(20), n)
    return axis_rotation(0, flex) @ axis_rotation(2, dev) @ np.array([0.0, -1.0, 0.0])
