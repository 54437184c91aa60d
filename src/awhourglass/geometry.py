"""Camera geometry and the scale-invariant 2.5D hand representation (paper Eq. 7; Iqbal et al. 2018).

Pure functions over numpy arrays or torch tensors (returned as given), batch-first, units in names:
``xyz_m`` camera-space metres, ``uv_px`` pixels, ``K`` 3×3 intrinsics.

Conventions:
    * Pixels follow OpenCV: pixel ``i``'s centre is at coordinate ``i``; a W-wide image spans [-0.5, W-0.5].
    * The camera looks along +z; ``uv = (fx·x/z + cx, fy·y/z + cy)``.
    * 2.5D (C = 1 by default): root = palm centre ½(wrist + middle MCP), scale d = length of one bone
      (default wrist → middle MCP, a metacarpal). ``z_norm_j = C · (Z_j − Z_root) / d``.
    * Affine image maps (crop, resize, rotate) are 3×3 matrices ``A`` acting on ``(u, v, 1)``; the
      intrinsics of the new image are ``A @ K``.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from awhourglass.skeleton import DEFAULT_SCALE_BONE, NUM_JOINTS, check_joints, palm_centre

Array = Any  # numpy.ndarray | torch.Tensor


def _xp(x: Array) -> ModuleType:
    """The array namespace of ``x`` (numpy or torch); both expose the functions used here."""
    return torch if isinstance(x, torch.Tensor) else np


def _check_finite(x: Array, name: str) -> None:
    if not bool(_xp(x).isfinite(x).all()):
        raise ValueError(f"{name}: contains non-finite values (NaN or inf)")


def _check_shape(x: Array, tail: tuple[int, ...], name: str) -> None:
    shape = tuple(x.shape)
    if len(shape) < len(tail) or shape[len(shape) - len(tail) :] != tail:
        want = ", ".join(["..."] + [str(t) for t in tail])
        raise ValueError(f"{name}: expected shape ({want}), got {shape}")


def _finite_joints(x: Array, dim: int, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is finite ``(..., 21, dim)`` joints."""
    check_joints(x, name, dim=dim)
    _check_finite(x, name)


def check_intrinsics(K: Array, name: str = "K") -> None:
    """Raise ``ValueError`` unless ``K`` is a finite, invertible pinhole matrix ``(..., 3, 3)``."""
    if isinstance(K, np.ndarray) and K.shape == (3, 3):  # one matrix (every sample a reader crops): the same checks,
        k = K.tolist()  # on plain floats, without the array machinery's per-call cost
        if not all(math.isfinite(v) for row in k for v in row):
            raise ValueError(f"{name}: contains non-finite values (NaN or inf)")
        if abs(k[0][0]) < 1e-9 or abs(k[1][1]) < 1e-9:
            raise ValueError(f"{name}: singular intrinsics (fx or fy is zero)")
        det = (k[0][0] * (k[1][1] * k[2][2] - k[1][2] * k[2][1]) - k[0][1] * (k[1][0] * k[2][2] - k[1][2] * k[2][0])
               + k[0][2] * (k[1][0] * k[2][1] - k[1][1] * k[2][0]))
        if abs(det) < 1e-12:
            raise ValueError(f"{name}: singular intrinsics (determinant is zero)")
        return
    _check_shape(K, (3, 3), name)
    _check_finite(K, name)
    fx, fy = K[..., 0, 0], K[..., 1, 1]
    if bool((abs(fx) < 1e-9).any()) or bool((abs(fy) < 1e-9).any()):
        raise ValueError(f"{name}: singular intrinsics (fx or fy is zero)")
    det = _xp(K).linalg.det(K)
    if bool((abs(det) < 1e-12).any()):
        raise ValueError(f"{name}: singular intrinsics (determinant is zero)")


def project(xyz_m: Array, K: Array, *, validate: bool = True) -> Array:
    """Project camera-space points ``(..., J, 3)`` [m] with ``K (..., 3, 3)`` to pixels ``(..., J, 2)``."""
    if validate:
        _check_shape(xyz_m, (3,), "xyz_m")
        _check_finite(xyz_m, "xyz_m")
        check_intrinsics(K)
        if bool((xyz_m[..., 2] <= 0).any()):
            raise ValueError("xyz_m: points must lie in front of the camera (z > 0 metres)")
    h = xyz_m @ K.swapaxes(-1, -2)
    return h[..., :2] / h[..., 2:3]


def normalized_coords(uv_px: Array, K: Array) -> Array:
    """Pixels ``(..., J, 2)`` → normalized camera coordinates ``K⁻¹ (u, v, 1)`` as ``(..., J, 2)``."""
    xp = _xp(uv_px)
    fx, fy = K[..., 0, 0][..., None], K[..., 1, 1][..., None]
    cx, cy = K[..., 0, 2][..., None], K[..., 1, 2][..., None]
    s = K[..., 0, 1][..., None]
    y = (uv_px[..., 1] - cy) / fy
    x = (uv_px[..., 0] - cx - s * y) / fx
    return xp.stack([x, y], -1)


def backproject(uv_px: Array, depth_m: Array, K: Array) -> Array:
    """Pixels ``(..., J, 2)`` with depths ``(..., J)`` [m] → camera-space points ``(..., J, 3)`` [m]."""
    xy = normalized_coords(uv_px, K)
    z = depth_m[..., None]
    if isinstance(xy, np.ndarray):
        return np.concatenate([xy * z, z], axis=-1)
    return torch.cat([xy * z, z], dim=-1)


def root_and_scale(
    xyz_m: Array, bone: tuple[int, int] = DEFAULT_SCALE_BONE, *, validate: bool = True
) -> tuple[Array, Array]:
    """Root (palm centre) ``(..., 3)`` [m] and scale-bone length ``(...)`` [m] of canonical joints.

    Raises:
        ValueError: wrong shape, non-finite joints, or a zero-length scale bone.
    """
    if validate:
        _finite_joints(xyz_m, 3, "xyz_m")
    root = palm_centre(xyz_m)
    diff = xyz_m[..., bone[0], :] - xyz_m[..., bone[1], :]
    length = (diff * diff).sum(-1) ** 0.5
    if validate and bool((length < 1e-9).any()):
        raise ValueError(f"xyz_m: zero-length scale bone {bone} (joints coincide)")
    return root, length


def normalize_pose(
    xyz_m: Array, bone: tuple[int, int] = DEFAULT_SCALE_BONE, C: float = 1.0
) -> tuple[Array, Array, Array]:
    """Paper Eq. 7: ``P^n = C/d · (P − P_root)`` for canonical joints ``(..., 21, 3)`` [m].

    Returns:
        ``(xyz_norm (..., 21, 3), root_m (..., 3), bone_m (...))``; dimensionless, bone length = C.
    """
    root, length = root_and_scale(xyz_m, bone)
    return C * (xyz_m - root[..., None, :]) / length[..., None, None], root, length


def denormalize_pose(xyz_norm: Array, root_m: Array, bone_m: Array, C: float = 1.0) -> Array:
    """Inverse of :func:`normalize_pose`: ``P = d/C · P^n + P_root``, metres ``(..., 21, 3)``."""
    return xyz_norm * (bone_m[..., None, None] / C) + root_m[..., None, :]


def encode_25d(
    xyz_m: Array, K: Array, bone: tuple[int, int] = DEFAULT_SCALE_BONE, C: float = 1.0
) -> tuple[Array, Array]:
    """Camera-space joints ``(..., 21, 3)`` [m] → 2.5D: ``uv_px (..., 21, 2)`` and ``z_norm (..., 21)``.

    ``z_norm_j = C · (Z_j − Z_root) / d`` with root = palm centre and d the scale-bone length.
    """
    _finite_joints(xyz_m, 3, "xyz_m")
    return project(xyz_m, K), encode_z_norm(xyz_m, bone, C)


def encode_z_norm(xyz_m: Array, bone: tuple[int, int] = DEFAULT_SCALE_BONE, C: float = 1.0, *,
                  validate: bool = True) -> Array:
    """Eq. 7, the depth half of the 2.5D encoding: ``C · (Z_j − Z_root) / d``; ``(..., 21, 3)`` → ``(..., 21)``."""
    root, length = root_and_scale(xyz_m, bone, validate=validate)
    return C * (xyz_m[..., 2] - root[..., None, 2]) / length[..., None]


def solve_root_depth(
    uv_px: Array,
    z_norm: Array,
    K: Array,
    bone: tuple[int, int] = DEFAULT_SCALE_BONE,
    C: float = 1.0,
) -> tuple[Array, Array]:
    """Closed-form normalized root depth Ẑ_root from 2.5D (Iqbal et al. 2018, corrected; method-notes item 3).

    Solves ``‖P_n − P_m‖ = C`` for the root depth, with ``P_j = (Ẑ_root + z_norm_j) · (x̄_j, ȳ_j, 1)``
    in normalized camera coordinates ``x̄ = K⁻¹ (u, v, 1)``.

    Returns:
        ``(z_root_norm (...), ok (...))``: the larger root of the quadratic; where the discriminant
        is negative (bone nearly along the viewing ray, or inconsistent inputs) the vertex ``−b/2a``
        is used, the closest real answer, and ``ok`` is False.
    """
    xp = _xp(uv_px)
    xy = normalized_coords(uv_px, K)
    n, m = bone
    xn, yn = xy[..., n, 0], xy[..., n, 1]
    xm, ym = xy[..., m, 0], xy[..., m, 1]
    zn, zm = z_norm[..., n], z_norm[..., m]
    a = (xn - xm) ** 2 + (yn - ym) ** 2
    b = 2.0 * (zn * (xn**2 + yn**2 - xn * xm - yn * ym) + zm * (xm**2 + ym**2 - xn * xm - yn * ym))
    c = (xn * zn - xm * zm) ** 2 + (yn * zn - ym * zm) ** 2 + (zn - zm) ** 2 - C**2
    disc = b * b - 4.0 * a * c
    ok = disc >= 0
    a_safe = xp.where(a > 1e-12, a, xp.full_like(a, 1e-12))
    zero = xp.zeros_like(disc)
    root = (-b + xp.sqrt(xp.where(ok, disc, zero))) / (2.0 * a_safe)
    return root, ok


def decode_25d(
    uv_px: Array,
    z_norm: Array,
    K: Array,
    bone_m: Array,
    z_root_m: Array | None = None,
    bone: tuple[int, int] = DEFAULT_SCALE_BONE,
    C: float = 1.0,
    *,
    validate: bool = True,
) -> Array:
    """2.5D → metric camera-space joints ``(..., 21, 3)`` [m].

    Args:
        uv_px: ``(..., 21, 2)`` pixel locations.
        z_norm: ``(..., 21)`` normalized root-relative depths (Eq. 7).
        K: ``(..., 3, 3)`` intrinsics of the image the pixels refer to.
        bone_m: ``(...)`` scale-bone length in metres (the "global hand scale").
        z_root_m: ``(...)`` metric root depth; ``None`` recovers it in closed form
            (:func:`solve_root_depth`). The paper's evaluation passes the ground truth.
        bone: the scale bone (must match the encoding).
        C: the normalized bone length (must match the encoding).
        validate: check shapes, finiteness, K and bone length (off inside training loops).
    """
    if validate:
        _finite_joints(uv_px, 2, "uv_px")
        _check_shape(z_norm, (NUM_JOINTS,), "z_norm")
        _check_finite(z_norm, "z_norm")
        check_intrinsics(K)
        if not bool((bone_m > 0).all()):
            raise ValueError("bone_m: the scale-bone length must be positive (metres)")
    if z_root_m is None:
        z_root_norm, _ = solve_root_depth(uv_px, z_norm, K, bone, C)
        z_root_m = z_root_norm * bone_m / C
    depth = z_root_m[..., None] + z_norm * (bone_m[..., None] / C)
    return backproject(uv_px, depth, K)


def lift_camera(
    uv_px: Array,
    z_norm: Array,
    K: Array,
    bone: tuple[int, int] = DEFAULT_SCALE_BONE,
    C: float = 1.0,
) -> tuple[Array, Array]:
    """The network's 2.5D output → camera-space 3D in scale-bone units, with the closed-form root depth.

    Camera space is linear in the bone length: multiply by the bone length in metres (mm) for metres (mm).

    Args:
        uv_px: ``(..., 21, 2)`` joints in the pixels of the image ``K`` describes. z_norm: ``(..., 21)`` (Eq. 7).
        K: ``(..., 3, 3)``. bone, C: as in the encoding.

    Returns:
        ``(xyz (..., 21, 3), ok (...))``: the joints for a scale bone of length 1 (whatever ``C``), and whether the
        root depth had a real solution (:func:`solve_root_depth`).
    """
    z_root, ok = solve_root_depth(uv_px, z_norm, K, bone, C)
    one = z_root * 0 + 1.0  # a bone of length 1 in the shape (and array type) of the root depth
    return decode_25d(uv_px, z_norm, K, one, z_root_m=z_root / C, bone=bone, C=C, validate=False), ok


def lift_root_relative(
    uv_px: Array,
    z_norm: Array,
    K: Array,
    bone: tuple[int, int] = DEFAULT_SCALE_BONE,
    C: float = 1.0,
) -> tuple[Array, Array]:
    """The network's 2.5D output → root-relative 3D in scale-bone units, with the closed-form root depth.

    Args:
        uv_px: ``(..., 21, 2)`` joints in the pixels of the image ``K`` describes. z_norm: ``(..., 21)`` (Eq. 7).
        K: ``(..., 3, 3)``. bone, C: as in the encoding.

    Returns:
        ``(xyz (..., 21, 3), ok (...))``: joints relative to the palm centre, in units of the scale bone (its
        length is 1 whatever ``C``: multiply by the bone length in mm for millimetres), and whether the root
        depth had a real solution (:func:`solve_root_depth`).
    """
    xyz, ok = lift_camera(uv_px, z_norm, K, bone, C)
    return root_relative(xyz, bone), ok


def root_relative(xyz: Array, bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> Array:
    """Joints ``(..., 21, 3)`` minus their root (the palm centre, as :func:`root_and_scale`), unvalidated."""
    return xyz - root_and_scale(xyz, bone, validate=False)[0][..., None, :]


def rodrigues(rvec: ArrayLike) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` of a Rodrigues (axis × angle, radians) vector ``(3,)``."""
    r = np.asarray(rvec, np.float64)
    theta = float(np.linalg.norm(r))
    if theta < 1e-12:
        return np.eye(3)
    k = r / theta
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    R: np.ndarray = np.eye(3) + np.sin(theta) * Kx + (1 - np.cos(theta)) * Kx @ Kx
    return R


# --- Affine image maps (crop, resize, rotation) that carry K along -------------------------------------------

# The hand crop's defaults: the square's side is CROP_MARGIN × the longer side of the hand's box, at least
# MIN_CROP_PX original pixels (data.config.DatasetConfig; checkpoints record the values a network was trained with).
CROP_MARGIN = 1.5
MIN_CROP_PX = 16.0


def crop_affine(center_px: ArrayLike, side_px: float, out_size: int, rotation_rad: float = 0.0) -> np.ndarray:
    """3×3 map from original-image pixels to a square crop resized to ``out_size``.

    The crop is the square of side ``side_px`` centred on ``center_px = (u, v)``, optionally rotated
    by ``rotation_rad`` (counter-clockwise in the image as displayed) about its centre. The crop's
    centre lands on the output's centre ``((out_size − 1)/2, (out_size − 1)/2)``.
    """
    if not side_px > 0 or not math.isfinite(side_px):
        raise ValueError(f"crop_affine: side_px must be a positive finite number of pixels, got {side_px}")
    if out_size <= 0:
        raise ValueError(f"crop_affine: out_size must be a positive number of pixels, got {out_size}")
    s = out_size / side_px
    c, sn = math.cos(rotation_rad), math.sin(rotation_rad)
    # Image y points down, so a visually counter-clockwise turn is the matrix [[c, s], [-s, c]].
    rot = np.array([[c, sn], [-sn, c]])
    half = (out_size - 1) / 2.0
    A = np.eye(3)
    A[:2, :2] = s * rot
    A[:2, 2] = np.array([half, half]) - s * rot @ np.asarray(center_px, dtype=np.float64)
    return A


def apply_affine(A: Array, uv_px: Array) -> Array:
    """Apply ``A (..., 3, 3)`` to pixels ``(..., J, 2)``."""
    lin = A[..., None, :2, :2]
    t = A[..., None, :2, 2]
    return (lin @ uv_px[..., None])[..., 0] + t


def invert_affine(A: Array) -> Array:
    """Inverse of an affine image map ``(..., 3, 3)``."""
    return _xp(A).linalg.inv(A)


def transform_intrinsics(A: Array, K: Array) -> Array:
    """Intrinsics of the transformed image: ``A @ K`` (``(..., 3, 3)``)."""
    return A @ K


def flip_horizontal(uv_px: Array, K: Array, width_px: int) -> tuple[Array, Array]:
    """Mirror pixels ``(..., J, 2)`` and ``K`` for an image flipped left↔right (W columns).

    Pairs with :func:`awhourglass.skeleton.mirror_xyz`: ``project(mirror_xyz(X), K') == flipped uv``.
    """
    uv = uv_px.copy() if isinstance(uv_px, np.ndarray) else uv_px.clone()
    uv[..., 0] = (width_px - 1) - uv[..., 0]
    Kf = K.copy() if isinstance(K, np.ndarray) else K.clone()
    Kf[..., 0, 2] = (width_px - 1) - Kf[..., 0, 2]
    Kf[..., 0, 1] = -Kf[..., 0, 1]
    return uv, Kf


def heatmap_to_input_px(uv_hm: Array, stride: float) -> Array:
    """Heatmap pixel coordinates → network-input pixel coordinates for a heatmap ``stride`` times smaller.

    Heatmap pixel ``i`` covers input pixels ``[i·stride, (i+1)·stride)``, so its centre maps to
    ``(i + 0.5)·stride − 0.5``.
    """
    return (uv_hm + 0.5) * stride - 0.5


def input_to_heatmap_px(uv_px: Array, stride: float) -> Array:
    """Inverse of :func:`heatmap_to_input_px`."""
    return (uv_px + 0.5) / stride - 0.5


def square_iou(centre_a: ArrayLike, side_a: float, centre_b: ArrayLike, side_b: float) -> float:
    """Intersection over union of two axis-aligned squares given by centre ``(2,)`` and side (pixels)."""
    ca, cb = np.asarray(centre_a, np.float64), np.asarray(centre_b, np.float64)
    lo = np.maximum(ca - side_a / 2.0, cb - side_b / 2.0)
    hi = np.minimum(ca + side_a / 2.0, cb + side_b / 2.0)
    inter = float(np.prod(np.clip(hi - lo, 0.0, None)))
    union = side_a**2 + side_b**2 - inter
    return inter / union if union > 0 else 0.0
