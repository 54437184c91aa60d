"""Appearance of the two domains: backgrounds, skin, lighting, camera artefacts, depth-sensor artefacts.

``source`` (RHD-like clean render): a photograph (:mod:`awhourglass.synth.photos`) or a plain wall behind
the hand, out of focus; skin tones from very light to fairly dark with blotch and grain texture, lighter
palms and palmar creases, sleeves; a key light near the camera with wrap diffuse, screen-space occlusion and
a weak specular lobe on smoothed shading normals; an anti-aliased silhouette; no camera artefacts; exact
depth over a far background plane.

Both looks put a face behind some hands (:mod:`awhourglass.synth.faces`).

``target`` (real look), graded by ``gap`` in [0, 1] (0 = the source look, 1 = the harshest): the same
scenes with pasted clutter (random ellipses and rectangles, some skin-coloured and finger- or arm-shaped),
any skin tone, the light anywhere in front, and a camera: white balance, tone curve, vignetting, defocus,
motion blur, signal-dependent noise, JPEG; depth over a near wall with noise growing with z², dropped pixels
at depth edges and blob-shaped holes (0 = no reading, as the RealSense writes).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from awhourglass.synth import kinematics as kin
from awhourglass.synth.faces import paint_faces
from awhourglass.synth.photos import photo_backgrounds

_LIGHT_DIR = np.array([0.25, -0.45, -1.0])  # towards the light, camera frame (from the camera, above left)


@dataclass(frozen=True)
class Shading:
    """How strongly light models the skin (both looks).

    Attributes:
        ambient: range of the ambient share of the light (the rest comes from the key light).
        wrap: how far diffuse light wraps round the terminator (0 = Lambert, larger = softer, flatter skin).
        occ_ambient, occ_direct: how much screen-space occlusion darkens the ambient and the key light.
        crease: how much the palmar flexion creases darken the skin.
    """

    ambient: tuple[float, float] = (0.35, 0.55)
    wrap: float = 0.6
    occ_ambient: float = 0.4
    occ_direct: float = 0.25
    crease: float = 0.12


SHADING = Shading()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)


def value_noise(rng: np.random.Generator, b: int, c: int, h: int, w: int, cells: int) -> torch.Tensor:
    """Smooth noise ``(B, C, H, W)`` in [0, 1]: a ``cells``-wide random grid, bilinearly upsampled."""
    ch = max(2, round(cells * h / w))
    grid = _t(rng.uniform(size=(b, c, ch, cells)))
    return F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)


def _ramp(rng: np.random.Generator, b: int, h: int, w: int) -> torch.Tensor:
    ang = _t(rng.uniform(0, 2 * np.pi, b))
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    r = xx[None] * torch.cos(ang)[:, None, None] + yy[None] * torch.sin(ang)[:, None, None]
    return ((r + 1.5) / 3.0).clamp(0, 1)  # (B, H, W)


def clean_background(rng: np.random.Generator, b: int, h: int, w: int) -> torch.Tensor:
    """Source backgrounds ``(B, H, W, 3)``: one colour (50 %) or a linear gradient between two colours."""
    c1 = _t(rng.uniform(0.1, 0.9, (b, 3)))
    c2 = torch.where(_t(rng.uniform(size=(b, 1))) < 0.5, c1, _t(rng.uniform(0.1, 0.9, (b, 3))))
    r = _ramp(rng, b, h, w)[..., None]
    return c1[:, None, None] * (1 - r) + c2[:, None, None] * r


def paste_shapes(rng: np.random.Generator, img: torch.Tensor, n_shapes: int = 12) -> torch.Tensor:
    """Paint ``n_shapes`` random ellipses and rectangles on ``(B, H, W, 3)`` images, ~30 % of them skin-coloured and
    finger- or arm-shaped (distractors), with a little relief shading."""
    b, h, w, _ = img.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    cu, cv = _t(rng.uniform(0, w, (n_shapes, b))), _t(rng.uniform(0, h, (n_shapes, b)))
    skin = rng.uniform(size=(n_shapes, b)) < 0.3
    ax = _t(rng.uniform(0.04, 0.35, (n_shapes, b)) * w)
    ay = ax * _t(np.where(skin, rng.uniform(0.15, 0.35, (n_shapes, b)), rng.uniform(0.3, 1.0, (n_shapes, b))))
    ang = _t(rng.uniform(0, np.pi, (n_shapes, b)))
    rect = _t(rng.uniform(size=(n_shapes, b)) < 0.4)
    col_np = np.where(
        skin[..., None],
        skin_tone_albedo(rng.uniform(0, 1, n_shapes * b)).reshape(n_shapes, b, 3)
        * rng.uniform(0.7, 1.1, (n_shapes, b, 1)),
        rng.uniform(0, 1, (n_shapes, b, 3)),
    )
    col = _t(np.clip(col_np, 0, 1))
    for k in range(n_shapes):
        dx, dy = xx[None] - cu[k, :, None, None], yy[None] - cv[k, :, None, None]
        c, s = torch.cos(ang[k])[:, None, None], torch.sin(ang[k])[:, None, None]
        x1, y1 = (c * dx + s * dy) / ax[k, :, None, None], (-s * dx + c * dy) / ay[k, :, None, None]
        ell = x1 * x1 + y1 * y1 <= 1.0
        box = (x1.abs() <= 1.0) & (y1.abs() <= 1.0)
        inside = torch.where(rect[k, :, None, None] > 0, box, ell)
        shade = 1.0 - 0.25 * (x1 * x1 + y1 * y1).clamp(max=1.0)  # a little relief
        img = torch.where(inside[..., None], col[k, :, None, None, :] * shade[..., None], img)
    return img


def _gaussian_blur(img: torch.Tensor, sigma: np.ndarray) -> torch.Tensor:
    """Blur ``(B, H, W, 3)`` with one Gaussian sigma (pixels) per image; sigma 0 leaves the image unchanged."""
    b, h, w, _ = img.shape
    radius = max(1, int(np.ceil(3 * float(sigma.max()))))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    s = _t(np.maximum(sigma, 1e-3))[:, None]
    k = torch.exp(-0.5 * (x[None] / s) ** 2)
    k = k / k.sum(1, keepdim=True)  # (B, K); sigma ≈ 0 gives a delta
    k = k.repeat_interleave(3, 0)  # one per channel
    z = img.permute(0, 3, 1, 2).reshape(1, b * 3, h, w)
    z = F.pad(z, (radius, radius, radius, radius), mode="replicate")
    z = F.conv2d(z, k[:, None, None, :], groups=b * 3)
    z = F.conv2d(z, k[:, None, :, None], groups=b * 3)
    return z.reshape(b, 3, h, w).permute(0, 2, 3, 1)


def _jpeg(rgb: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """JPEG-compress and decode each ``(H, W, 3)`` uint8 image at its quality (≥ 100 = untouched)."""
    out = rgb.copy()
    for i, q in enumerate(quality):
        if q >= 100:
            continue
        buf = io.BytesIO()
        Image.fromarray(rgb[i]).save(buf, format="JPEG", quality=int(q))
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


# Skin albedo anchors from very light to very dark skin (linear interpolation between neighbours).
SKIN_ANCHORS = np.array(
    [
        [0.96, 0.82, 0.77],
        [0.91, 0.72, 0.65],
        [0.81, 0.61, 0.51],
        [0.65, 0.46, 0.35],
        [0.47, 0.31, 0.23],
        [0.30, 0.19, 0.14],
    ]
)
_PALMAR = np.array([0.88, 0.66, 0.58])  # palms and finger pads are lighter and pinker than the back of the hand
SOURCE_TONES = (0.0, 0.85)  # the source's (RHD-like) tone range; the target widens it to (0, 1) with the gap


def skin_tone_albedo(tone: np.ndarray) -> np.ndarray:
    """RGB albedo ``(B, 3)`` at ``tone`` in [0, 1] along :data:`SKIN_ANCHORS` (0 lightest, 1 darkest)."""
    x = np.clip(np.asarray(tone, np.float64), 0, 1) * (len(SKIN_ANCHORS) - 1)
    i = np.minimum(np.floor(x).astype(int), len(SKIN_ANCHORS) - 2)
    f = (x - i)[:, None]
    return SKIN_ANCHORS[i] * (1 - f) + SKIN_ANCHORS[i + 1] * f


def _box_blur(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over a ``k × k`` window of ``(B, C, H, W)`` (replicate padding)."""
    p = k // 2
    return F.avg_pool2d(F.pad(x, (p, p, p, p), mode="replicate"), k, stride=1)


def ambient_occlusion(depth_m: torch.Tensor, width: int) -> torch.Tensor:
    """Screen-space occlusion ``(B, H, W)`` in [0, 1]: how far a body pixel lies behind the mean depth of its
    neighbourhood (creases between fingers, a finger under another), from the z-buffer ``(B, H, W)``."""
    finite = torch.isfinite(depth_m)
    far = torch.where(finite, depth_m, torch.zeros_like(depth_m)).amax(dim=(1, 2), keepdim=True) + 0.03
    d = torch.where(finite, depth_m, far)[:, None]
    k = max(3, (width // 24) | 1)
    occ = ((d - _box_blur(d, k)) / 0.010).clamp(0, 1)[:, 0]
    return torch.where(finite, occ, torch.zeros_like(occ))


def smooth_normals(normal: torch.Tensor, depth_m: torch.Tensor, width: int, band_m: float = 0.008) -> torch.Tensor:
    """Shading normals ``(B, H, W, 3)``: the mean of the normals in a window over the same continuous surface
    (neighbours within ``band_m`` in depth), renormalized. Skin over bones and tendons is smooth where the capsules
    that stand for them meet in creases and caps; depth, masks and labels never use these normals."""
    _, h, w, _ = normal.shape
    k = max(3, (width // 40) | 1)
    p = k // 2
    finite = torch.isfinite(depth_m)
    d = torch.where(finite, depth_m, torch.full_like(depth_m, 1e3))
    dp = F.pad(d[:, None], (p, p, p, p), value=1e3)[:, 0]
    npad = F.pad(normal.permute(0, 3, 1, 2), (p, p, p, p)).permute(0, 2, 3, 1)
    n = torch.zeros_like(normal)
    for dy in range(k):
        for dx in range(k):
            near = ((dp[:, dy : dy + h, dx : dx + w] - d).abs() <= band_m)[..., None]
            n += torch.where(near, npad[:, dy : dy + h, dx : dx + w], 0.0)
    n = n * torch.rsqrt((n * n).sum(-1, keepdim=True).clamp_min(1e-18))
    return torch.where(finite[..., None], n, normal)


def _antialias(hit: torch.Tensor, body: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Blend the body over the background with a soft 3×3 coverage at its silhouette (one ray per pixel leaves a
    hard, aliased edge that no camera produces); body colour outside the silhouette is its neighbours' mean."""
    m = hit[:, None].float()
    cover = _box_blur(m, 3)
    filled = _box_blur(body.permute(0, 3, 1, 2) * m, 3) / cover.clamp_min(1e-6)
    body_c = torch.where(m > 0, body.permute(0, 3, 1, 2), filled)
    alpha = torch.where(m > 0, 0.5 + 0.5 * cover, 0.5 * cover)
    out = alpha * body_c + (1 - alpha) * bg.permute(0, 3, 1, 2)
    return out.permute(0, 2, 3, 1)


def _motion_blur(img: torch.Tensor, length_px: np.ndarray, angle: np.ndarray) -> torch.Tensor:
    """Blur ``(B, H, W, 3)`` along a line of ``length_px`` at ``angle`` per image (length < 1: unchanged)."""
    b, h, w, _ = img.shape
    r = max(1, int(np.ceil(float(length_px.max()) / 2)))
    ax = torch.arange(-r, r + 1, dtype=torch.float32)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = _t(np.cos(angle))[:, None, None], _t(np.sin(angle))[:, None, None]
    along, across = xx[None] * c + yy[None] * s, -xx[None] * s + yy[None] * c
    half = _t(np.maximum(length_px, 1.0) / 2)[:, None, None]
    k = ((along.abs() <= half) & (across.abs() <= 0.5)).float()
    k = k / k.sum(dim=(1, 2), keepdim=True)
    k = k.repeat_interleave(3, 0)[:, None]
    z = F.pad(img.permute(0, 3, 1, 2).reshape(1, b * 3, h, w), (r, r, r, r), mode="replicate")
    return F.conv2d(z, k, groups=b * 3).reshape(b, 3, h, w).permute(0, 2, 3, 1)


_NAIL = np.array([0.93, 0.80, 0.78])  # albedo a nail blends halfway towards


def _nails(nail_dir: np.ndarray, normal: torch.Tensor, axis_t: torch.Tensor, part: torch.Tensor,
           joint_at_p0: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` in [0, 1]: how much of a nail each pixel shows: the outer half of each distal phalanx (short
    of the very tip), where the surface faces out of the back of that phalanx.

    Args:
        part: the visible capsule's part (``kinematics.CAPSULE_PART``: 1 + 3·finger + phalanx on the fingers).
        joint_at_p0: the visible capsule is its phalanx's inner half (it starts at the joint).
    """
    phalanx = part - 1
    distal = (part > 0) & (phalanx % 3 == 2)
    along = torch.where(joint_at_p0, 0.5 * axis_t, 0.5 + 0.5 * axis_t)  # along the phalanx, 0 at its joint
    on_tip = distal & (along > 0.45) & (along < 0.97)
    finger = (phalanx // 3).clamp(0, 4)
    d = _t(nail_dir)[torch.arange(part.shape[0])[:, None, None], finger]
    facing = (normal * d).sum(-1)
    return ((facing - 0.35) / 0.25).clamp(0, 1) * on_tip.float()


def appearance(
    rng: np.random.Generator,
    target: bool,
    gap: float,
    hit: torch.Tensor,
    is_arm: torch.Tensor,
    normal: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    axis_t: torch.Tensor | None = None,
    capsule: torch.Tensor | None = None,
    dorsal: np.ndarray | None = None,
    nail_dir: np.ndarray | None = None,
    extras: tuple[torch.Tensor, torch.Tensor, np.random.Generator] | None = None,
    faces: tuple[np.random.Generator, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """RGB images ``(B, H, W, 3)`` uint8 of rendered hands in the source look or the target look at ``gap``, and
    the background photograph of each ``(B,)`` (index into :data:`~awhourglass.synth.photos.PHOTOS`, −1 = none).

    Args:
        hit: ``(B, H, W)`` bool, a body surface is visible; is_arm: the visible surface is the forearm.
        normal: ``(B, H, W, 3)`` camera-space unit normals.
        depth_m: ``(B, H, W)`` z-buffer (inf = none): soft self-shadowing (screen-space occlusion).
        axis_t, capsule: position along and index of the visible capsule (creases at the finger joints, sleeves).
        dorsal: ``(B, 3)`` camera-space direction out of the back of the hand (lighter palms).
        nail_dir: ``(B, 5, 3)`` camera-space direction out of the back of each finger's distal phalanx (nails).
        extras: ``(other, occluder, rng)`` where the scene has more than the labelled hand
            (:mod:`~awhourglass.synth.clutter`): ``(B, H, W)`` bool pixels of those capsules (the other hand, shaded
            as skin without nails) and of the occluder among them (painted in a colour of its own, drawn from
            ``rng``, the extras' stream, so that the rest of the image is the same as without them).
        faces: ``(rng, share)``: a face behind the hand on ``share`` of the images (:mod:`~awhourglass.synth.faces`),
            drawn from ``rng``, the faces' own stream.
    """
    b, h, w = hit.shape
    g = float(gap) if target else 0.0
    if depth_m is not None:
        normal = smooth_normals(normal, depth_m, w)
    # Background: a photograph (75 % of images), else a plain wall (one colour or a gradient with faint texture),
    # as hands are often photographed in front of one.
    plain = clean_background(rng, b, h, w) * (0.92 + 0.16 * value_noise(rng, b, 1, h, w, 5).permute(0, 2, 3, 1))
    photo, photo_idx = photo_backgrounds(rng, b, h, w)
    use_photo = rng.uniform(size=b) < 0.75
    bg = torch.where(_t(use_photo)[:, None, None, None] > 0, photo, plain)
    photo_idx = np.where(use_photo, photo_idx, -1)
    if faces is not None and faces[1] > 0:
        bg, _ = paint_faces(faces[0], bg, faces[1], skin_tone_albedo)
    # Skin: the source's tone range, widened to every tone as the gap grows; a little redness jitter.
    lo, hi = SOURCE_TONES
    tone = rng.uniform(lo, hi, b)
    tone = tone + g * (rng.uniform(0, 1, b) - tone)
    red = rng.uniform(-1, 1, b)
    base = skin_tone_albedo(tone) * (1 + 0.05 * red[:, None] * np.array([1.0, -0.3, -0.6]))
    albedo = _t(base)[:, None, None, :]
    blotch = value_noise(rng, b, 1, h, w, 6).permute(0, 2, 3, 1)
    grain = value_noise(rng, b, 1, h, w, max(4, w // 3)).permute(0, 2, 3, 1)
    albedo = albedo * (1 + _t(rng.uniform(0.08, 0.18, b))[:, None, None, None] * (blotch - 0.5)
                       + 0.06 * (grain - 0.5))
    if dorsal is not None:  # palmar skin: lighter, more so on dark skin
        palmar = (-(normal * _t(dorsal)[:, None, None, :]).sum(-1, keepdim=True)).clamp(0, 1)
        mix = palmar * _t(0.15 + 0.5 * tone)[:, None, None, None]
        albedo = albedo * (1 - mix) + _t(_PALMAR)[None, None, None] * _t(base.mean(1) / _PALMAR.mean())[
            :, None, None, None].clamp(max=1.0) ** 0.5 * mix
    if capsule is not None:  # the visible capsule's part, and whether it is its phalanx's inner half
        part = torch.as_tensor(kin.CAPSULE_PART)[capsule.clamp_min(0)]
        joint_at_p0 = torch.as_tensor(kin.CAPSULE_ENDS[:, 0] < kin.NUM_JOINTS)[capsule.clamp_min(0)]
    if axis_t is not None and capsule is not None and dorsal is not None:  # flexion creases, palmar side only
        from_joint = torch.where(joint_at_p0, axis_t, 1 - axis_t)
        crease = torch.exp(-((from_joint / 0.08) ** 2)) * ((part > 0) & hit).float() * palmar[..., 0]
        albedo = albedo * (1 - SHADING.crease * crease[..., None])
    nail = torch.zeros_like(hit, dtype=torch.float32)
    if nail_dir is not None and axis_t is not None and capsule is not None:
        nail = _nails(nail_dir, normal, axis_t, part, joint_at_p0)
        if extras is not None:  # the other hand's fingers point elsewhere than nail_dir says
            nail = nail * (~extras[0]).float()
        albedo = albedo + 0.5 * nail[..., None] * (_t(_NAIL) - albedo)
    # Sleeves (source 30 %, target up to 60 %): from a random point of the forearm to the elbow.
    sleeve_col = _t(rng.uniform(0.05, 0.9, (b, 3)))[:, None, None, :]
    sleeve_from = _t(rng.uniform(0.05, 0.8, b))[:, None, None]
    wear = _t(rng.uniform(size=b) < 0.3 + 0.3 * g)[:, None, None] > 0
    if axis_t is not None and capsule is not None:
        elbow_half = torch.as_tensor(kin.CAPSULE_ENDS[:, 1] == kin.FOREARM_END)[capsule.clamp_min(0)]
        arm_pos = torch.where(elbow_half, 0.5 + 0.5 * axis_t, 0.5 * axis_t)
        sleeved = is_arm & wear & (arm_pos >= sleeve_from)
    else:
        sleeved = is_arm & wear
    cloth = sleeve_col * (0.85 + 0.3 * grain)
    albedo = torch.where(sleeved[..., None], cloth, albedo)
    if extras is not None:  # an object in front: its own colour, a little texture, plastic shine
        obj_col = _t(extras[2].uniform(0.05, 0.95, (b, 3)))[:, None, None, :] * (0.9 + 0.2 * grain)
        albedo = torch.where(extras[1][..., None], obj_col, albedo)
    gloss = 0.2 * nail + (0.1 * extras[1].float() if extras is not None else 0.0)  # nails and objects shine
    # Light: a key light (source: near the camera; target: anywhere in front, graded), wrap diffuse for skin's
    # soft terminator, a coloured ambient darkened by the occlusion, a weak specular lobe.
    light = _LIGHT_DIR[None] + rng.uniform(-0.5, 0.5, (b, 3)) * np.array([1.0, 1.0, 0.2])
    light = light + g * rng.uniform(-1.2, 1.2, (b, 3)) * np.array([1.0, 1.0, 0.4])
    light = _t(light / np.linalg.norm(light, axis=1, keepdims=True))
    warm = rng.uniform(-1, 1, b)
    light_col = _t(1 + 0.08 * (1 + g) * warm[:, None] * np.array([1.0, 0.0, -1.0]))[:, None, None, :]
    ambient = _t(rng.uniform(*SHADING.ambient, b) + g * rng.uniform(-0.1, 0.1, b))[:, None, None, None]
    gain = _t(1.0 + g * rng.uniform(-0.4, 0.3, b))[:, None, None, None]
    ndl = (normal * light[:, None, None, :]).sum(-1, keepdim=True)
    # light wraps round the terminator: skin scatters under its surface
    wrap = ((ndl + SHADING.wrap) / (1 + SHADING.wrap)).clamp_min(0.0)
    occ = ambient_occlusion(depth_m, w)[..., None] if depth_m is not None else torch.zeros_like(wrap)
    half = light + torch.tensor([0.0, 0.0, -1.0])
    half = half / torch.linalg.vector_norm(half, dim=-1, keepdim=True)
    shine = _t(rng.uniform(0.02, 0.10, b))[:, None, None, None] + gloss[..., None]
    spec = (normal * half[:, None, None, :]).sum(-1, keepdim=True).clamp_min(0.0) ** 16
    shade = (ambient * (1 - SHADING.occ_ambient * occ)
             + (1 - ambient) * wrap * light_col * (1 - SHADING.occ_direct * occ))
    scatter = 0.12 * (1 - wrap) * _t(np.array([1.0, 0.35, 0.25]))  # shadowed skin turns redder, not grey
    body = (albedo * (shade + scatter) + shine * spec * (1 - occ)) * gain
    dof = rng.uniform(0.0, 1.0, b) ** 0.7 * (1.5 + 1.5 * g) * w / 128  # the background is out of focus
    bg = _gaussian_blur(bg, dof) * (0.6 + 0.4 * gain)
    if target and g > 0:
        bg = bg + g * (paste_shapes(rng, bg, n_shapes=6) - bg)
    img = _antialias(hit, body, bg)
    if target and g > 0:
        # The camera: white balance, exposure and tone curve, vignetting, defocus, motion blur, noise, JPEG.
        img = img * _t(1.0 + g * rng.uniform(-0.15, 0.15, (b, 3)))[:, None, None, :]
        gamma = _t(1.0 + g * rng.uniform(-0.25, 0.25, b))[:, None, None, None]
        img = img.clamp(0, 1) ** gamma
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        img = img * (1 - 0.3 * g * (xx * xx + yy * yy) / 2)[None, :, :, None]
        img = _gaussian_blur(img, g * rng.uniform(0.0, 1.0, b) * w / 128)
        moving = rng.uniform(size=b) < 0.5
        img = _motion_blur(img, np.where(moving, g * rng.uniform(0, 5, b) * w / 128, 0.0), rng.uniform(0, np.pi, b))
        shot, read = g * rng.uniform(0.0005, 0.004, b), g * rng.uniform(0.003, 0.02, b)
        sd = torch.sqrt(_t(shot)[:, None, None, None] * img.clamp_min(0) + _t(read**2)[:, None, None, None])
        img = img + sd * _t(rng.standard_normal((b, h, w, 3)))
    rgb = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    if target and g > 0:
        rgb = _jpeg(rgb, np.round(95 - 60 * g * rng.uniform(0.5, 1.0, b)))
    return rgb, photo_idx


def depth_image(rng: np.random.Generator, target: bool, gap: float, depth_m: torch.Tensor) -> np.ndarray:
    """Metric depth ``(B, H, W)`` float32 with a background plane (and, for the target, sensor artefacts).

    Args:
        depth_m: rendered z-depth ``(B, H, W)``, inf where no body surface.
    """
    b, h, w = depth_m.shape
    g = float(gap) if target else 0.0
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    if target:
        z0, slope = _t(rng.uniform(0.6, 1.1, b)), _t(rng.uniform(-0.1, 0.1, (b, 2)))
    else:
        z0, slope = _t(rng.uniform(1.5, 4.0, b)), _t(rng.uniform(-0.3, 0.3, (b, 2)))
    plane = z0[:, None, None] + slope[:, 0, None, None] * xx + slope[:, 1, None, None] * yy
    d = torch.where(torch.isfinite(depth_m), depth_m, plane)
    if target and g > 0:
        d = d + _t(g * rng.standard_normal((b, h, w))) * (0.0015 + 0.002 * (d / 0.5) ** 2)
        # Dropped pixels: at depth edges (flying pixels are discarded by the sensor) and in blobs.
        pad = F.pad(d[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
        jump = torch.maximum((pad[:, 1:-1, 2:] - pad[:, 1:-1, :-2]).abs(), (pad[:, 2:, 1:-1] - pad[:, :-2, 1:-1]).abs())
        drop = (jump > 0.02) & (_t(rng.uniform(size=(b, h, w))) < 0.8 * g)
        blobs = value_noise(rng, b, 1, h, w, 8)[:, 0] > 1.0 - 0.12 * g
        d = torch.where(drop | blobs, 0.0, d)
    return d.numpy().astype(np.float32)
