"""The two domains' cameras and pose distributions (appearance lives in :mod:`awhourglass.synth.style`).

- ``source`` (RHD-like, synthetic): square images, focal length 0.9·size, principal point at the
  centre; any hand orientation (uniform rotations), left and right hands, all gesture templates
  mixed with random poses, palm centre 0.26–0.45 m from the camera.
- ``target`` (STB-like, real): the STB SK colour camera scaled to ``size`` pixels wide (4:3),
  left hands only, held up towards the camera (palm 70 %, back 30 %, limited roll/pitch/yaw),
  counting gestures or random poses (STB's Counting / Random sequences), palm 0.32–0.55 m away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from awhourglass.formats.stb import SK_COLOR_FXFYCXCY, SK_DEPTH_FXFYCXCY, STB_SIZE

DOMAINS = ("source", "target")
# The source's photographed scenes (RHD shows both hands of a person and hands holding things); the target (STB,
# one hand in front of a lab wall) has neither.
OTHER_HAND_SHARE, OCCLUDER_SHARE = 0.25, 0.2
# A face behind the hand (synth.faces), in both domains: RHD's people and STB's subjects show theirs.
FACE_SHARE = 0.3

# STB (datasets.md): SK colour and depth intrinsics at 640×480, colour → depth extrinsics.


def check_domain(domain: str) -> str:
    """Return ``domain`` or raise a ValueError naming the allowed ones."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}: expected one of {', '.join(DOMAINS)}")
    return domain


def scaled_intrinsics(fxfycxcy: tuple[float, float, float, float], scale: float) -> np.ndarray:
    """K (3, 3) of a camera whose image is resized by ``scale`` (pixel centres at integers: c' = (c+½)s − ½)."""
    fx, fy, cx, cy = fxfycxcy
    return np.array(
        [[fx * scale, 0.0, (cx + 0.5) * scale - 0.5], [0.0, fy * scale, (cy + 0.5) * scale - 0.5], [0.0, 0.0, 1.0]]
    )


@dataclass(frozen=True)
class DomainSpec:
    """Camera and pose distribution of one domain at one image size."""

    name: str
    width: int
    height: int
    K: np.ndarray  # (3, 3)
    K_depth: np.ndarray | None  # (3, 3) of the target's separate depth camera (STB SK depth)
    depth_range_m: tuple[float, float]
    centre_jitter: float  # max offset of the palm centre from the image centre, fraction of the width
    frontal: bool  # STB-like orientations instead of uniform rotations
    left_only: bool
    pose_mode: str
    other_hand_share: float = 0.0  # images with another hand beside the labelled one (synth.clutter)
    occluder_share: float = 0.0  # images with a ball or a stick in front of the hand (synth.clutter)
    face_share: float = 0.0  # images with a face behind the hand (synth.faces)


def domain_spec(domain: str, size: int) -> DomainSpec:
    """The :class:`DomainSpec` of ``domain`` at ``size`` pixels wide (source images are square)."""
    check_domain(domain)
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"image size must be an integer ≥ 16 pixels, got {size!r}")
    if domain == "source":
        c = (size - 1) / 2.0
        K = np.array([[0.9 * size, 0.0, c], [0.0, 0.9 * size, c], [0.0, 0.0, 1.0]])
        return DomainSpec("source", size, size, K, None, (0.26, 0.45), 0.12, False, False, "mixed",
                          OTHER_HAND_SHARE, OCCLUDER_SHARE, FACE_SHARE)
    height = round(size * STB_SIZE[1] / STB_SIZE[0])
    K = scaled_intrinsics(SK_COLOR_FXFYCXCY, size / STB_SIZE[0])
    K_depth = scaled_intrinsics(SK_DEPTH_FXFYCXCY, size / STB_SIZE[0])
    return DomainSpec("target", size, height, K, K_depth, (0.32, 0.55), 0.10, True, True, "mixed",
                      face_share=FACE_SHARE)
