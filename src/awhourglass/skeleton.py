"""The one canonical 21-joint hand of the package, and converters from the public datasets' orders.

Canonical order (the MANO/FreiHAND order; every array of joints inside the package uses it)::

    0  wrist
    1  thumb_cmc   2  thumb_mcp   3  thumb_ip    4  thumb_tip
    5  index_mcp   6  index_pip   7  index_dip   8  index_tip
    9  middle_mcp 10  middle_pip 11  middle_dip 12  middle_tip
   13  ring_mcp   14  ring_pip   15  ring_dip   16  ring_tip
   17  little_mcp 18  little_pip 19  little_dip 20  little_tip

Each finger runs base → tip. The thumb's four joints are named CMC, MCP, IP, tip; the datasets that
call them "MCP … tip" (STB, the Leap rows of MPD) are mapped base → tip onto the same slots.

Palm centre: none of the 21 joints. Where the package needs it (the root of the 2.5D
representation, paper Eq. 7) it is ``palm = ½ (wrist + middle_mcp)``, the usual convention for
RHD. STB gives the palm centre instead of the wrist; the inverse of the same convention derives
the wrist: ``wrist = 2·palm − middle_mcp``. So STB → canonical → STB is exact, and the palm of a
converted STB hand is exactly STB's own palm joint.

Handedness: the model is right-handed. A left hand is mirrored by negating camera-space x
(:func:`mirror_xyz`); the matching image operation (flip columns and K) is in
:mod:`awhourglass.geometry`. Joint order is unchanged by mirroring: thumb stays thumb.

All converters take numpy arrays or torch tensors with joints on axis -2, i.e. shape
``(..., J, D)`` with ``D`` = 2 (pixels) or 3 (metres / millimetres), and return the same type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

Array = TypeVar("Array", np.ndarray, "torch.Tensor")  # numpy.ndarray or torch.Tensor, returned as it came

NUM_JOINTS = 21
FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")
_THUMB_PARTS = ("cmc", "mcp", "ip", "tip")
_FINGER_PARTS = ("mcp", "pip", "dip", "tip")

JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{part}"
    for finger in FINGERS
    for part in (_THUMB_PARTS if finger == "thumb" else _FINGER_PARTS)
)

WRIST = 0
THUMB_CMC = 1
INDEX_MCP = 5
MIDDLE_MCP = 9
RING_MCP = 13
LITTLE_MCP = 17


def finger_joints(finger: str) -> tuple[int, int, int, int]:
    """Canonical indices of one finger's four joints, base → tip."""
    f = FINGERS.index(finger)
    start = 1 + 4 * f
    return (start, start + 1, start + 2, start + 3)


# Parent of each joint (wrist is the root, -1); each finger's base hangs from the wrist.
PARENTS: tuple[int, ...] = (-1,) + tuple(0 if (j - 1) % 4 == 0 else j - 1 for j in range(1, NUM_JOINTS))
# (parent, child) per bone: 5 metacarpals (wrist → finger base) then 15 phalanges.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))
# The bone whose length normalizes the 2.5D representation by default (wrist → middle MCP,
# a metacarpal: the paper finds metacarpals' 2D predictions the most stable).
DEFAULT_SCALE_BONE: tuple[int, int] = (WRIST, MIDDLE_MCP)
# The joints whose mean is the root of the 2.5D representation and of the paper's scoring (the palm centre).
PALM_CENTRE_JOINTS: tuple[int, int] = (WRIST, MIDDLE_MCP)
# The length assumed for the default scale bone when a user gives none (``awh predict`` without ``--bone``): an
# adult average of the wrist → middle-MCP joint-centre distance, with its spread (one standard deviation, both sexes
# pooled). It is an estimate, not a measurement from a dataset in this package: adult hand length (wrist crease to
# middle fingertip) averages roughly 170–195 mm (women–men), of which the middle finger from its MCP joint takes
# roughly 90–100 mm; the embedded generator's hands have this bone at 90 mm × U(0.85, 1.15) (mean 90, SD 7.8 mm).
# Every root-relative millimetre scales with it: a bone 10 % off makes the 3D 10 % too large or too small.
POPULATION_BONE_MM = 90.0
POPULATION_BONE_SD_MM = 8.0


# Figures: one colour per finger (thumb … little), the wrist black; every plot and overlay uses these.
FINGER_COLOURS: dict[str, str] = {"thumb": "#d62728", "index": "#ff7f0e", "middle": "#2ca02c", "ring": "#1f77b4",
                                  "little": "#9467bd"}


def joint_colour(j: int) -> str:
    """Hex colour of canonical joint ``j`` in figures: its finger's colour, black for the wrist."""
    return "#000000" if j == WRIST else FINGER_COLOURS[FINGERS[(j - 1) // 4]]


def check_joints(joints: Array, name: str, *, n: int = NUM_JOINTS, dim: int | None = None,
                 batched: bool = False) -> None:
    """Raise ``ValueError`` unless ``joints`` is ``(..., n, dim)`` (``(N, n, dim)`` when ``batched``).

    The package's one joint-shape check (numpy or torch; ``dim=None`` accepts any coordinate count).
    """
    shape = tuple(joints.shape)
    lead = "N" if batched else "..."
    ok = (len(shape) == 3 if batched else len(shape) >= 2) and shape[-2] == n and dim in (None, shape[-1])
    if not ok:
        raise ValueError(f"{name}: expected joints of shape ({lead}, {n}, {'D' if dim is None else dim}), got {shape}")


def _take(joints: Array, index: np.ndarray) -> Array:
    """``joints[..., index, :]`` for numpy or torch, as a new array."""
    if isinstance(joints, np.ndarray):
        return joints[..., index, :].copy()
    import torch

    return joints[..., torch.as_tensor(index, device=joints.device), :]


def _concat(first: Array, second: Array, axis: int) -> Array:
    """``first`` and ``second`` joined along ``axis`` (numpy or torch)."""
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second], axis=axis)
    import torch

    return torch.cat([first, second], dim=axis)


def palm_centre(joints: Array) -> Array:
    """Palm centre ½(wrist + middle MCP) of canonical joints ``(..., 21, D)`` → ``(..., D)``."""
    check_joints(joints, "palm_centre")
    a, b = PALM_CENTRE_JOINTS
    centre: Array = 0.5 * (joints[..., a, :] + joints[..., b, :])
    return centre


def mirror_xyz(xyz: Array) -> Array:
    """Mirror camera-space joints ``(..., J, 3)`` across the camera's y–z plane (x → −x).

    Turns a left hand into a right hand (and back); joint order is unchanged.
    """
    if tuple(xyz.shape)[-1] != 3:
        raise ValueError(f"mirror_xyz: expected (..., J, 3) camera-space joints, got shape {tuple(xyz.shape)}")
    out = xyz.copy() if isinstance(xyz, np.ndarray) else xyz.clone()
    out[..., 0] = -out[..., 0]
    return out


# --- RHD: 42 joints, left hand 0–20 then right hand 21–41; per hand 0 wrist, then per finger
# (thumb, index, middle, ring, little) from tip to base.
RHD_FROM_CANONICAL = np.array(
    [0] + [1 + 4 * f + (3 - k) for f in range(5) for k in range(4)], dtype=np.int64
)  # RHD per-hand index of each canonical joint
RHD_HANDS = ("left", "right")


def rhd_to_canonical(joints42: Array, hand: str) -> Array:
    """One hand of RHD's 42 joints ``(..., 42, D)`` → canonical ``(..., 21, D)``.

    Args:
        joints42: RHD annotation rows (``xyz`` in metres or ``uv_vis`` columns), left hand first.
        hand: ``"left"`` (rows 0–20) or ``"right"`` (rows 21–41). No mirroring happens here.
    """
    check_joints(joints42, "rhd_to_canonical", n=42)
    if hand not in RHD_HANDS:
        raise ValueError(f"rhd_to_canonical: hand must be 'left' or 'right', got {hand!r}")
    offset = 21 * RHD_HANDS.index(hand)
    return _take(joints42, RHD_FROM_CANONICAL + offset)


def rhd_hand_to_canonical(joints21: Array) -> Array:
    """One hand in RHD's own order ``(..., 21, D)`` (wrist, then each finger tip → MCP; MMPose's RHD files) →
    canonical ``(..., 21, D)``."""
    check_joints(joints21, "rhd_hand_to_canonical")
    return _take(joints21, RHD_FROM_CANONICAL)


def canonical_to_rhd_hand(joints: Array) -> Array:
    """Inverse of :func:`rhd_hand_to_canonical`."""
    check_joints(joints, "canonical_to_rhd_hand")
    return _take(joints, np.argsort(RHD_FROM_CANONICAL))


def canonical_to_rhd(left: Array, right: Array) -> Array:
    """Two canonical hands ``(..., 21, D)`` → RHD's 42-row layout ``(..., 42, D)``."""
    check_joints(left, "canonical_to_rhd(left)")
    check_joints(right, "canonical_to_rhd(right)")
    inverse = np.argsort(RHD_FROM_CANONICAL)
    return _concat(_take(left, inverse), _take(right, inverse), axis=-2)


# --- InterHand2.6M: 42 joints, right hand 0–20 then left hand 21–41; per hand each finger (thumb, index,
# middle, ring, little) from tip to base (thumb: tip, IP, MCP, CMC), then the wrist last (row 20).
INTERHAND_FROM_CANONICAL = np.array(
    [20] + [4 * f + (3 - k) for f in range(5) for k in range(4)], dtype=np.int64
)  # InterHand per-hand index of each canonical joint
INTERHAND_HANDS = ("right", "left")


def interhand_to_canonical(joints42: Array, hand: str) -> Array:
    """One hand of InterHand2.6M's 42 joints ``(..., 42, D)`` → canonical ``(..., 21, D)``.

    Args:
        joints42: rows of ``world_coord`` / ``joint_valid`` (any columns), right hand first.
        hand: ``"right"`` (rows 0–20) or ``"left"`` (rows 21–41). No mirroring happens here.
    """
    check_joints(joints42, "interhand_to_canonical", n=42)
    if hand not in INTERHAND_HANDS:
        raise ValueError(f"interhand_to_canonical: hand must be 'right' or 'left', got {hand!r}")
    return _take(joints42, INTERHAND_FROM_CANONICAL + 21 * INTERHAND_HANDS.index(hand))


def canonical_to_interhand(right: Array, left: Array) -> Array:
    """Two canonical hands ``(..., 21, D)`` → InterHand2.6M's 42-row layout ``(..., 42, D)`` (right first)."""
    check_joints(right, "canonical_to_interhand(right)")
    check_joints(left, "canonical_to_interhand(left)")
    inverse = np.argsort(INTERHAND_FROM_CANONICAL)
    return _concat(_take(right, inverse), _take(left, inverse), axis=-2)


# --- STB: 0 palm centre, then little, ring, middle, index, thumb, each base (MCP) → tip.
# Index of the STB row holding each canonical joint (the wrist row 0 is derived, see module doc).
STB_FROM_CANONICAL = np.array([0] + [1 + 4 * (4 - f) + k for f in range(5) for k in range(4)], dtype=np.int64)


def stb_to_canonical(joints: Array) -> Array:
    """STB's 21 rows ``(..., 21, D)`` (palm first, little → thumb) → canonical ``(..., 21, D)``.

    The wrist is derived as ``2·palm − middle_mcp`` (the inverse of the palm convention).
    """
    check_joints(joints, "stb_to_canonical")
    out = _take(joints, STB_FROM_CANONICAL)
    out[..., WRIST, :] = 2.0 * joints[..., 0, :] - out[..., MIDDLE_MCP, :]
    return out


def canonical_to_stb(joints: Array) -> Array:
    """Canonical ``(..., 21, D)`` → STB's order ``(..., 21, D)``, row 0 = palm centre."""
    check_joints(joints, "canonical_to_stb")
    out = _take(joints, np.argsort(STB_FROM_CANONICAL))
    out[..., 0, :] = palm_centre(joints)
    return out


# --- FreiHAND: the canonical order itself.
def freihand_to_canonical(joints: Array) -> Array:
    """FreiHAND ``(..., 21, D)`` → canonical (the same order; returns a copy)."""
    check_joints(joints, "freihand_to_canonical")
    return _take(joints, np.arange(NUM_JOINTS))


def canonical_to_freihand(joints: Array) -> Array:
    """Canonical ``(..., 21, D)`` → FreiHAND (the same order; returns a copy)."""
    check_joints(joints, "canonical_to_freihand")
    return _take(joints, np.arange(NUM_JOINTS))


# --- MPD (Leap Motion rows): 22 rows per hand, row 0 palm centre, row 1 wrist, then thumb, index,
# middle, ring, little, each base → tip. This layout is the least certain of the four datasets
# (see docs/datasets.md); the palm row is dropped on the way in and recomputed on the way out.
MPD_FROM_CANONICAL = np.arange(1, 22, dtype=np.int64)


def mpd_to_canonical(rows: Array) -> Array:
    """MPD's 22 Leap rows ``(..., 22, D)`` (palm, wrist, fingers base → tip) → canonical ``(..., 21, D)``."""
    check_joints(rows, "mpd_to_canonical", n=22)
    return _take(rows, MPD_FROM_CANONICAL)


def canonical_to_mpd(joints: Array) -> Array:
    """Canonical ``(..., 21, D)`` → MPD's 22 rows, row 0 = palm centre ½(wrist + middle MCP)."""
    check_joints(joints, "canonical_to_mpd")
    palm = palm_centre(joints)[..., None, :]
    return _concat(palm, _take(joints, np.arange(NUM_JOINTS)), axis=-2)
