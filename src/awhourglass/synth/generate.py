"""In-memory generation of labelled hand images of either domain, and its throughput probe.

``generate_batch(n, domain, seed, size)`` returns numpy arrays (see :func:`generate_batch`); the
same seed and arguments give identical arrays. The writers in :mod:`awhourglass.synth.writers`
put these arrays on disk in the RHD and STB formats.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from awhourglass.formats.stb import sk_extrinsics
from awhourglass.skeleton import NUM_JOINTS
from awhourglass.synth import clutter
from awhourglass.synth import kinematics as kin
from awhourglass.synth.domains import DomainSpec, check_domain, domain_spec
from awhourglass.synth.faces import faces_rng
from awhourglass.synth.poses import frontal_rotation, sample_articulation, source_rotation
from awhourglass.synth.render import first_hit_depth, render_capsules
from awhourglass.synth.style import appearance, depth_image

DEFAULT_GAP = 0.5
LEFT, RIGHT = 0, 1
# Mask ids as RHD: 0 background, 1 person (our forearm), 2–17 left-hand parts, 18–33 right-hand parts.
MASK_PERSON, MASK_LEFT0, MASK_RIGHT0 = 1, 2, 18
VIS_RADII = 1.5


# Rendering runs on one torch thread: its ops are memory-bound (a second thread gains little) and on a
# shared machine OpenMP barriers stall whenever the other core is busy (measured: 10× slower small batches).
RENDER_THREADS = 1


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    if n < 1:
        raise ValueError(f"threads must be a positive integer or None, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check(n: int, gap: float) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"number of images must be a positive integer, got {n!r}")
    if not 0.0 <= float(gap) <= 1.0:
        raise ValueError(f"gap must be in [0, 1], got {gap!r}")


def _place(rng: np.random.Generator, spec: DomainSpec, points_local: np.ndarray, scale: np.ndarray, n: int):
    """Rotate hand-local points about the palm centre and put the palm at a random depth near the image centre."""
    if spec.frontal:
        rot = frontal_rotation(rng, n)
    else:
        rot = source_rotation(rng, n)
        # An arm pointing at the lens hides the hand and rarely appears in RHD: turn such hands around.
        arm_z = (rot @ points_local[:, kin.FOREARM_END, :, None])[:, 2, 0] / (kin.FOREARM_LENGTH_M * scale)
        rot = np.where((arm_z < -0.3)[:, None, None], np.diag([1.0, -1.0, -1.0])[None] @ rot, rot)
    palm = clutter.palm_centre(points_local)
    z = rng.uniform(*spec.depth_range_m, n)
    u = (spec.width - 1) / 2 + spec.centre_jitter * spec.width * rng.uniform(-1, 1, n)
    v = (spec.height - 1) / 2 + spec.centre_jitter * spec.width * rng.uniform(-1, 1, n)
    K = spec.K
    centre = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=1)
    return np.einsum("nij,nkj->nki", rot, points_local - palm[:, None]) + centre[:, None], rot


def generate_batch(
    n: int,
    domain: str,
    seed: int | np.random.SeedSequence,
    size: int = 64,
    gap: float = DEFAULT_GAP,
    pose_mode: str | None = None,
    sensor_depth: bool = False,
    threads: int | None = RENDER_THREADS,
    distance_scale: float = 1.0,
    centre_jitter: float | None = None,
    other_hand_share: float | None = None,
    occluder_share: float | None = None,
    face_share: float | None = None,
) -> dict[str, np.ndarray]:
    """Render ``n`` labelled hand images of ``domain`` ('source' RHD-like or 'target' STB-like).

    Args:
        seed: an int or a SeedSequence; equal seeds give identical outputs.
        size: image width in pixels (source images are square, target images 4:3).
        gap: target harshness in [0, 1] (ignored by the source).
        pose_mode: 'mixed', 'counting' or 'random' articulations (default: the domain's).
        sensor_depth: target only: also render ``sensor_depth_m (N, H, W)``, the depth image as the STB
            SK depth camera sees it (its own intrinsics and pose, not registered to the colour image).
        threads: torch threads while rendering; torch's (process-wide) setting is restored afterwards.
            None leaves it alone (e.g. when another thread of the process is training).
        distance_scale, centre_jitter: full frames with a small, off-centre hand (tests of the hand search of
            ``awh predict``): the domain's palm distances times ``distance_scale``, and the palm centre up to
            ``centre_jitter`` of the width from the image centre (default: the domain's).
        other_hand_share, occluder_share: the share of images with another hand or an occluder
            (:mod:`~awhourglass.synth.clutter`; default: the domain's). The labelled hands are the same at any share.
        face_share: the share of images with a face behind the hand (:mod:`~awhourglass.synth.faces`; default: the
            domain's); every pixel outside the faces is the same at any share.

    Returns:
        ``rgb (N, H, W, 3) uint8``; ``depth_m (N, H, W) float32`` (registered to the RGB image, 0 = no
        reading); ``mask (N, H, W) uint8`` with RHD part ids; ``xyz_m (N, 21, 3) float32`` canonical
        joints of the rendered hand in the camera frame (left hands are left, not mirrored); ``uv_px
        (N, 21, 2) float32``; ``vis (N, 21) bool`` (in the image and not occluded); ``K (N, 3, 3)
        float32``; ``side (N,) int8`` (0 left, 1 right); ``bone_length_m (N, 20)`` and ``angles_rad
        (N, 5, 4)`` of the hand model; ``background_photo (N,) int16``: index into
        :data:`~awhourglass.synth.photos.PHOTOS` of the photograph behind the hand (−1: a plain background).
    """
    _check(n, gap)
    spec = domain_spec(check_domain(domain), size)
    if not distance_scale > 0 or (centre_jitter is not None and not 0.0 <= centre_jitter <= 0.5):
        raise ValueError(f"distance_scale must be positive and centre_jitter in [0, 0.5], got {distance_scale!r}, "
                         f"{centre_jitter!r}")
    lo, hi = spec.depth_range_m
    other = spec.other_hand_share if other_hand_share is None else float(other_hand_share)
    occluder = spec.occluder_share if occluder_share is None else float(occluder_share)
    face = spec.face_share if face_share is None else float(face_share)
    if not (0.0 <= other <= 1.0 and 0.0 <= occluder <= 1.0 and 0.0 <= face <= 1.0):
        raise ValueError(f"other_hand_share, occluder_share and face_share must be in [0, 1], got {other!r}, "
                         f"{occluder!r}, {face!r}")
    spec = dataclasses.replace(spec, depth_range_m=(lo * distance_scale, hi * distance_scale),
                               centre_jitter=spec.centre_jitter if centre_jitter is None else float(centre_jitter),
                               other_hand_share=other, occluder_share=occluder, face_share=face)
    rngs = np.random.default_rng(seed), clutter.extras_rng(seed), faces_rng(seed)
    if threads is None:
        return _generate(n, spec, rngs, gap, pose_mode, sensor_depth)
    with _torch_threads(threads):
        return _generate(n, spec, rngs, gap, pose_mode, sensor_depth)


def _generate(n: int, spec: DomainSpec, rngs: tuple[np.random.Generator, ...], gap: float,
              pose_mode: str | None, sensor_depth: bool) -> dict[str, np.ndarray]:
    # the hands' stream, the other hands' and occluders' (clutter.extras_rng), the faces' (faces.faces_rng)
    rng, extras_rng, face_rng = rngs
    shape = kin.sample_shape(rng, n)
    angles = sample_articulation(rng, n, pose_mode or spec.pose_mode)
    local = kin.body_points(kin.forward_kinematics(angles, shape), shape.scale, kin.sample_forearm_dir(rng, n))
    pts, rot = _place(rng, spec, local, shape.scale, n)
    side = np.full(n, LEFT, dtype=np.int8) if spec.left_only else rng.integers(0, 2, n).astype(np.int8)
    pts[..., 0] = np.where(side[:, None] == LEFT, -pts[..., 0], pts[..., 0])  # mirror: a left hand
    # Out of the back of the hand and of each fingertip (where the nail is), in the camera frame.
    dorsal = rot[:, :, 2].copy()
    nail_dir = np.einsum("nij,nfj->nfi", rot, kin.phalanx_frames(angles)[:, :, 2, :, 2])
    dorsal[:, 0] = np.where(side == LEFT, -dorsal[:, 0], dorsal[:, 0])
    nail_dir[..., 0] = np.where(side[:, None] == LEFT, -nail_dir[..., 0], nail_dir[..., 0])

    K = np.repeat(spec.K[None], n, axis=0)
    tp = torch.as_tensor(pts, dtype=torch.float32)
    p0, p1 = tp[:, kin.CAPSULE_ENDS[:, 0]], tp[:, kin.CAPSULE_ENDS[:, 1]]
    radius_np = kin.CAPSULE_RADIUS_M[None] * shape.radius_factor()[:, None]
    radius = torch.as_tensor(radius_np, dtype=torch.float32)
    smooth = kin.CAPSULE_SMOOTH_ENDS
    n_caps = len(kin.CAPSULE_ENDS)
    has_extras = spec.other_hand_share > 0 or spec.occluder_share > 0
    if has_extras:  # capsules ≥ n_caps: not the labelled hand
        ex = clutter.scene_extras(extras_rng, pts, radius_np, spec.K, spec.width, spec.other_hand_share,
                                  spec.occluder_share)
        p0 = torch.cat([p0, torch.as_tensor(ex.p0, dtype=torch.float32)], 1)
        p1 = torch.cat([p1, torch.as_tensor(ex.p1, dtype=torch.float32)], 1)
        radius = torch.cat([radius, torch.as_tensor(ex.radius, dtype=torch.float32)], 1)
        smooth = np.concatenate([smooth, smooth, np.zeros((1, 2), bool)])
    out = render_capsules(p0, p1, radius, torch.as_tensor(K, dtype=torch.float32), spec.height, spec.width,
                          smooth_ends=torch.as_tensor(smooth))

    joints = pts[:, :NUM_JOINTS]
    uv = joints[..., :2] / joints[..., 2:] * np.array([spec.K[0, 0], spec.K[1, 1]]) + spec.K[:2, 2]
    inside = (uv[..., 0] >= -0.5) & (uv[..., 0] <= spec.width - 0.5) & (uv[..., 1] >= -0.5)
    inside &= uv[..., 1] <= spec.height - 0.5
    first = first_hit_depth(tp[:, :NUM_JOINTS], p0, p1, radius).double().numpy()
    # Visible: the first surface on the joint's ray lies within VIS_RADII body-sphere radii of the joint
    # (a bent knuckle seen from above is visible; a joint behind another finger or its own finger is not).
    vis = inside & (first >= joints[..., 2] - VIS_RADII * kin.joint_radius_m(shape.radius_factor()))

    hit = out.capsule >= 0
    own, occluder = hit & (out.capsule < n_caps), out.capsule >= 2 * n_caps
    # the other hand's capsules as the hand's; the occluder reads as capsule 0 until appearance paints it over
    capsule = torch.where(hit, out.capsule % n_caps, out.capsule)
    part = torch.as_tensor(kin.CAPSULE_PART)[capsule.clamp_min(0)]
    is_arm = hit & ~occluder & (part == kin.PART_ARM)
    base = torch.as_tensor(np.where(side == LEFT, MASK_LEFT0, MASK_RIGHT0))[:, None, None]
    # the other hand is a person's (RHD's id 1, as our forearm); an occluder is background
    mask = torch.where(own & ~is_arm, base + part, torch.where(hit & ~occluder, MASK_PERSON, 0)).to(torch.uint8).numpy()

    target = spec.name == "target"
    rgb, photo = appearance(rng, target, gap, hit, is_arm, out.normal, out.depth_m, out.axis_t, capsule, dorsal,
                            nail_dir, extras=(~own & hit, occluder, extras_rng) if has_extras else None,
                            faces=(face_rng, spec.face_share))
    depth = depth_image(rng, target, gap, out.depth_m)
    extra = {}
    if sensor_depth and target:
        extra["sensor_depth_m"] = _sensor_depth(rng, spec, tp, radius, gap)
    return {
        **extra,
        "rgb": rgb,
        "depth_m": depth,
        "mask": mask,
        "xyz_m": joints.astype(np.float32),
        "uv_px": uv.astype(np.float32),
        "vis": vis,
        "K": K.astype(np.float32),
        "side": side,
        "bone_length_m": shape.bone_length_m,
        "angles_rad": angles,
        "background_photo": photo.astype(np.int16),
    }


def _sensor_depth(rng: np.random.Generator, spec: DomainSpec, pts: torch.Tensor, radius: torch.Tensor, gap: float):
    """Depth ``(N, H, W)`` seen by the STB SK depth camera: X_depth = R·X_colour + t, depth intrinsics."""
    rot, t_m = sk_extrinsics()
    assert spec.K_depth is not None  # a target domain's spec has its depth camera
    pd = pts @ torch.as_tensor(rot.T, dtype=torch.float32) + torch.as_tensor(t_m, dtype=torch.float32)
    n = pts.shape[0]
    K = torch.as_tensor(np.repeat(spec.K_depth[None], n, axis=0), dtype=torch.float32)
    out = render_capsules(
        pd[:, kin.CAPSULE_ENDS[:, 0]], pd[:, kin.CAPSULE_ENDS[:, 1]], radius, K, spec.height, spec.width
    )
    return depth_image(rng, True, gap, out.depth_m)


def bench_throughput(size: int = 64, n: int = 256, domain: str = "source", batch: int = 64) -> float:
    """In-memory generation speed in images per second (rendering and styling, no file writing)."""
    _check(n, DEFAULT_GAP)
    generate_batch(min(batch, n), domain, 0, size)  # warm-up
    start = time.perf_counter()
    done, i = 0, 1
    while done < n:
        k = min(batch, n - done)
        generate_batch(k, domain, i, size)
        done, i = done + k, i + 1
    return n / (time.perf_counter() - start)
