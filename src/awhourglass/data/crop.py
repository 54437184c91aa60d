"""Crop a full-resolution hand record to the network input, with augmentation, carrying K, 3D and depth along.

The pipeline per sample (all maps are 3×3 affine on pixels, ``A @ K`` carries the intrinsics):

1. Rotation (augmentation): the camera rotates about its optical axis by θ. The pixel map is
   ``H = K R_z K⁻¹`` (exactly affine), the 3D joints become ``R_z X`` and K is unchanged, so K stays a
   valid pinhole and ``project(R_z X, K) = H · uv`` holds exactly, also for ``fx ≠ fy``.
2. Hand square from the (rotated) visible 2D joints: centre of their bounding box, side ``crop_margin`` ×
   its longer side, times the scale augmentation, centre shifted by the translation augmentation.
3. Crop + resize ``C`` (scale and translate only): ``K_crop = C K``.
4. Mirror (left hand → right convention, or a flip augmentation): image columns reversed,
   ``cx' = (S−1) − cx``, ``X' = −X`` (:func:`awhourglass.geometry.flip_horizontal`).
5. Warp RGB (bilinear) and depth / mask (nearest) with ``torch.nn.functional.grid_sample``; depth values
   are unchanged by all these maps (rotation about the optical axis and mirroring keep z).
6. Hand mask (given, or derived from depth + 2D joints), then Eq. 9 depth normalization on the crop.
7. Pixel-only augmentation of the RGB crop (:func:`pixel_augment`: colour, white balance, cut-out, blur,
   noise; :mod:`awhourglass.data.photometric`): no label changes.

With ``on_batch`` the sample leaves step 7 (and, for a pack's stored crop, the RGB part of step 5) to its batch:
:class:`PendingPixels`, finished by :mod:`awhourglass.data.pending` on the training device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from awhourglass.data.config import AugmentConfig
from awhourglass.data.depth import hand_mask_from_depth, normalize_depth_eq9
from awhourglass.data.photometric import add_noise, channel_gains, cut_out, gaussian_blur
from awhourglass.data.sample import SOURCE, Sample
from awhourglass.geometry import CROP_MARGIN, MIN_CROP_PX, apply_affine, check_intrinsics, crop_affine, flip_horizontal
from awhourglass.skeleton import mirror_xyz


@dataclass
class RawSample:
    """One full-resolution record as a reader returns it (canonical joint order, metres, as recorded).

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB. K: ``(3, 3)`` intrinsics of ``image``.
        uv_px: ``(21, 2)`` pixels in ``image`` (NaN allowed at joints whose ``vis`` is False). vis: ``(21,)`` bool.
        xyz_m: ``(21, 3)`` colour-camera metres (NaN rows at unlabelled joints), or None.
        depth_m: ``(H, W)`` metres aligned with ``image`` (0 = no reading), or None.
        mask: ``(H, W)`` bool hand pixels, or None (derive from depth).
        hand_side: ``left`` / ``right`` as recorded. source: file and frame, for messages.
        group: evaluation group (see :class:`~awhourglass.data.sample.Sample`), ``""`` for most datasets.
        scale_px: pixels of ``image`` per pixel of the recording: 1, but for a pack's resampled crop
            (:mod:`awhourglass.data.pack`); the smallest crop side (``min_crop_px``) is in recording pixels.
    """

    image: np.ndarray
    K: np.ndarray
    uv_px: np.ndarray
    vis: np.ndarray
    xyz_m: np.ndarray | None
    depth_m: np.ndarray | None
    mask: np.ndarray | None
    hand_side: str
    source: str
    group: str = ""
    scale_px: float = 1.0


@dataclass
class AugmentParams:
    """One draw of augmentation; the identity by default.

    Attributes:
        scale: crop side multiplier. rotation_rad: camera roll about the optical axis.
        shift: crop centre shift, fractions of the crop side. flip: horizontal flip.
        brightness, contrast, saturation: colour factors (1 = unchanged).
        gains_rgb: white-balance gain per colour channel (1 = unchanged).
        blur_sigma_px: Gaussian blur standard deviation in output-crop pixels (0 = none).
        noise_std: additive Gaussian pixel noise standard deviation, [0, 1] units (0 = none).
        cutout_frac: ``(u0, v0, w, h)`` rectangle as fractions of the crop side (``w`` or ``h`` 0 = none).
        cutout_rgb: the rectangle's fill colour in [0, 1], or None for uniform noise.
        pixel_seed: seed of the per-pixel random fields (the noise; the cut-out's noise fill uses ``+ 1``).
    """

    scale: float = 1.0
    rotation_rad: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)  # fractions of the crop side
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    gains_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    blur_sigma_px: float = 0.0
    noise_std: float = 0.0
    cutout_frac: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    cutout_rgb: tuple[float, float, float] | None = None
    pixel_seed: int = 0


def draw_augment(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw one :class:`AugmentParams` from ``cfg`` (identity when ``cfg.enabled`` is False).

    The geometric and colour factors are drawn first, in their historical order (a seed gives the same values
    as before the pixel-only augmentations existed); then a fixed number of draws for white balance, blur,
    noise and cut-out, made whatever their probabilities, so switching one of them on changes no other draw.
    """
    if not cfg.enabled:
        return AugmentParams()
    u = rng.uniform
    scale = float(u(cfg.scale[0], cfg.scale[1]))
    rotation_rad = math.radians(float(u(-cfg.rotation_deg, cfg.rotation_deg)))
    shift = (float(u(-cfg.translate, cfg.translate)), float(u(-cfg.translate, cfg.translate)))
    flip = bool(rng.random() < cfg.flip_prob)
    brightness = float(u(1 - cfg.brightness, 1 + cfg.brightness))
    contrast = float(u(1 - cfg.contrast, 1 + cfg.contrast))
    saturation = float(u(1 - cfg.saturation, 1 + cfg.saturation))
    # pixel-only augmentations: the same 17 draws whatever the settings, in this order
    gains = u(1 - cfg.hue, 1 + cfg.hue, size=3)
    blur_on, blur_sigma = rng.random() < cfg.blur_prob, float(u(0.0, cfg.blur_sigma_px))
    noise_on, noise_std = rng.random() < cfg.noise_prob, float(u(0.0, cfg.noise_std))
    cut_on = rng.random() < cfg.cutout_prob
    cut_w, cut_h = float(u(0.0, cfg.cutout_frac)), float(u(0.0, cfg.cutout_frac))
    cut_u0, cut_v0 = float(u(0.0, 1.0 - cut_w)), float(u(0.0, 1.0 - cut_h))
    cut_noise, cut_rgb = rng.random() < 0.5, rng.random(3)
    pixel_seed = int(rng.integers(0, 2**62))
    return AugmentParams(
        scale=scale,
        rotation_rad=rotation_rad,
        shift=shift,
        flip=flip,
        brightness=brightness,
        contrast=contrast,
        saturation=saturation,
        gains_rgb=(float(gains[0]), float(gains[1]), float(gains[2])) if cfg.hue > 0 else (1.0, 1.0, 1.0),
        blur_sigma_px=blur_sigma if blur_on else 0.0,
        noise_std=noise_std if noise_on else 0.0,
        cutout_frac=(cut_u0, cut_v0, cut_w, cut_h) if cut_on else (0.0, 0.0, 0.0, 0.0),
        cutout_rgb=(float(cut_rgb[0]), float(cut_rgb[1]), float(cut_rgb[2])) if cut_on and not cut_noise else None,
        pixel_seed=pixel_seed if noise_on or (cut_on and cut_noise) else 0,  # off: the identity's fields exactly
    )


def hand_square(uv_px: np.ndarray, vis: np.ndarray, crop_margin: float, min_crop_px: float):
    """Centre ``(2,)`` and side of the square around the visible joints with finite pixels (all finite joints if
    fewer than 2 are visible); unlabelled (NaN) joints never enter it. ``min_crop_px`` in ``uv_px``'s pixels.

    Raises:
        ValueError: fewer than 2 joints have finite pixels.
    """
    uv = np.asarray(uv_px, np.float64)
    finite = np.isfinite(uv).all(-1)
    seen = np.asarray(vis, bool) & finite
    pts = uv[seen] if seen.sum() >= 2 else uv[finite]
    if len(pts) < 2:
        raise ValueError(f"{int(finite.sum())} joint(s) with finite pixels, a hand square needs 2")
    return corner_square(pts.min(0), pts.max(0), crop_margin, min_crop_px)


def corner_square(lo: np.ndarray, hi: np.ndarray, crop_margin: float,
                  min_crop_px: float) -> tuple[np.ndarray, float]:
    """The crop square of a box with corners ``lo, hi (2,)``: centred on it, side ``crop_margin ×`` its longer side
    (at least ``min_crop_px``). Training, evaluation and prediction all crop this square."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return (lo + hi) / 2.0, max(crop_margin * float((hi - lo).max()), float(min_crop_px))


# Full frames without a box (``awh predict`` with no ``--bbox``): the whole image and grids of half-overlapping
# squares whose sides are these fractions of the image's longer side (a hand a quarter of the frame wide and up).
SEARCH_FRACTIONS = (1 / 2, 1 / 3, 1 / 4)


def search_squares(width: int, height: int,
                   fractions: tuple[float, ...] = SEARCH_FRACTIONS) -> list[tuple[np.ndarray, float]]:
    """Candidate crop squares ``[(centre (2,), side)]`` of a ``width × height`` image in which to look for a hand.

    First the whole image (a centred square, padded), then per fraction ``f`` the squares of side ``f·max(W, H)``
    on a grid with half a side's step (at least two per axis where they fit) that covers the image; pixel ``i``'s
    centre at ``i``.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    long = float(max(width, height))
    squares = [(np.array([(width - 1) / 2.0, (height - 1) / 2.0]), long)]
    for f in fractions:
        if not 0.0 < f < 1.0:
            raise ValueError(f"search fractions must lie in (0, 1), got {f!r}")
        side = f * long
        axes = []
        for extent in (width, height):
            lo, hi = side / 2.0 - 0.5, extent - side / 2.0 - 0.5  # centres of squares flush with the edges
            n = max(1, math.ceil((hi - lo) / (side / 2.0)) + 1) if hi > lo else 1
            axes.append(np.linspace(lo, hi, n) if n > 1 else np.array([(extent - 1) / 2.0]))
        squares += [(np.array([cx, cy]), side) for cy in axes[1] for cx in axes[0]]
    return squares


def optical_axis_rotation(theta_rad: float) -> np.ndarray:
    """3×3 rotation about the camera's z axis that turns the image by θ counter-clockwise as displayed."""
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class PendingPixels:
    """The pixel work a sample leaves to its batch (``augment.on_batch``), finished by
    :func:`awhourglass.data.pending.finish_batch`.

    Attributes:
        aug: the augmentation draw whose pixel-only part (:func:`pixel_augment`) is still to apply.
        out_size: side of the network crop.
        inv_px: ``(3, 3)`` float64 map from output-crop pixels to the stored image's pixels (after the ``pool``
            block average) when the sample's image is still the stored ``(3, H, W)`` uint8 picture (a pack's
            crop) to resample as :func:`crop_rgb` would; None when the image is already the network crop.
        pool: ``k`` of :func:`crop_rgb`'s ``k×k`` block average before resampling (1 = none).
        depth_inv_px: ``(3, 3)`` float64 map from output-crop pixels to the stored depth's pixels when the
            sample's ``depth`` and ``depth_mask`` are still the stored ``(1, H, W)`` metres and hand mask (a pack
            with masks), to warp (nearest) and normalize (Eq. 9) on the batch; None when they are finished.
    """

    aug: AugmentParams
    out_size: int
    inv_px: np.ndarray | None = None
    pool: int = 1
    depth_inv_px: np.ndarray | None = None


def mirror_affine(size: int) -> np.ndarray:
    """Pixel map of a left↔right flip of a ``size``-wide image: ``u' = (size − 1) − u``."""
    return np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


_last_grid: tuple | None = None  # (key, grid) of the last call: a sample's colour and depth share their grid


def grid_from_inverse(inv_px: torch.Tensor, height: int, width: int, out_size: int) -> torch.Tensor:
    """``grid_sample`` grids ``(B, S, S, 2)`` float32 for the maps ``inv_px (B, 3, 3)`` (output px → source px) from
    a ``height × width`` source: for each output pixel, its source position in normalized coordinates.

    Computed in float64 (one broadcast sum per axis), then rounded to float32 (float32 throughout on a device
    without float64). The one grid of the package: a sample's crop here, a batch's crops in
    :mod:`awhourglass.data.pending`.
    """
    dtype = torch.float32 if inv_px.device.type == "mps" else torch.float64
    inv = inv_px.to(dtype)
    x = torch.arange(out_size, dtype=dtype, device=inv.device)
    grid = torch.empty((inv.shape[0], out_size, out_size, 2), dtype=torch.float32, device=inv.device)
    for c, n in ((0, width), (1, height)):
        src = inv[:, c, 0, None, None] * x[None, None, :] + (inv[:, c, 1, None] * x[None, :] + inv[:, c, 2, None])[
            :, :, None]  # rows v, columns u
        grid[..., c] = 2.0 / max(n - 1, 1) * src - 1.0
    return grid


def sampling_grid(A: np.ndarray, height: int, width: int, out_size: int) -> torch.Tensor:
    """:func:`grid_from_inverse`'s ``(1, S, S, 2)`` grid for the pixel map ``A`` (source px → output px).

    The last grid is kept (callers do not modify it): the colour and the depth of a sample, warped by the same
    map from the same size, share it.
    """
    global _last_grid
    key = (np.asarray(A, np.float64).tobytes(), height, width, out_size)
    last = _last_grid  # one read of the pair: another thread may replace it meanwhile
    if last is not None and last[0] == key:
        return last[1]
    out = grid_from_inverse(torch.from_numpy(np.linalg.inv(A))[None], height, width, out_size)
    _last_grid = (key, out)
    return out


def pool_affine(A: np.ndarray, k: int) -> np.ndarray:
    """The pixel map ``A`` (source px → output px) re-expressed from the ``k×k`` block averages of the source
    (:func:`block_average`): block pixel ``j`` covers source pixels ``k·j … k·j + k − 1``, centre
    ``k·j + (k − 1)/2``."""
    return A if k == 1 else A @ np.array([[k, 0.0, (k - 1) / 2.0], [0.0, k, (k - 1) / 2.0], [0.0, 0.0, 1.0]])


def block_average(images: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, C, H, W)`` averaged over ``k×k`` blocks (edges replicated to whole blocks): antialiasing before a
    shrink by ``k`` or more."""
    h, w = images.shape[-2:]
    return F.avg_pool2d(F.pad(images, (0, (-w) % k, 0, (-h) % k), mode="replicate"), k)


def warp(image: torch.Tensor, A: np.ndarray, out_size: int, mode: str = "bilinear") -> torch.Tensor:
    """Warp ``(C, H, W)`` float by the pixel map ``A`` (source px → output px) into ``(C, S, S)``; zeros outside.

    Uses ``grid_sample(align_corners=True)``, where normalized −1 / +1 are the centres of the first /
    last pixel: the OpenCV pixel-centre convention of the package.
    """
    _, H, W = image.shape
    grid = sampling_grid(A, H, W, out_size)
    return F.grid_sample(image[None].float(), grid, mode=mode, padding_mode="zeros", align_corners=True)[0]


def downscale_factor(A: np.ndarray) -> int:
    """Integer pre-shrink of :func:`crop_rgb` for the pixel map ``A``: ⌊source pixels per output pixel⌋ when
    that is 2 or more, else 1 (bilinear point sampling is kept where it does not alias: ≥ 99 % of the
    embedded training crops shrink by less than 2×)."""
    a = np.asarray(A, np.float64)
    per_px = 1.0 / math.sqrt(abs(float(a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0])))  # 2×2 determinant, by hand (fast)
    per_px += 1e-9  # 1 / (1/6) is 5.999…: a 6× shrink is 6
    return int(per_px) if per_px >= 2.0 else 1


def crop_rgb(image: np.ndarray, A: np.ndarray, out_size: int) -> torch.Tensor:
    """The one image crop of training, evaluation and prediction: ``(H, W, 3)`` uint8 → ``(3, S, S)`` in [0, 1].

    ``A`` maps source pixels to output pixels. Where the map shrinks by ``k = ⌊scale⌋ ≥ 2`` the image is first
    averaged over ``k×k`` blocks (antialiasing, so a 4000-pixel photo looks like a training crop), then warped
    bilinearly (:func:`warp`); zeros outside the image. Large images are cut to the part the crop reads first.
    """
    A = np.asarray(A, np.float64)
    img = np.asarray(image)
    H, W = img.shape[:2]
    k = downscale_factor(A)
    if max(H, W) > 1024:  # read only the region the crop covers (memory), with a border for the interpolation
        corners = apply_affine(np.linalg.inv(A), np.array([[-1.0, -1.0], [out_size, -1.0], [-1.0, out_size],
                                                           [out_size, out_size]]))
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2 * k
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2 * k
        # start on the k-block grid of the whole image, so the blocks averaged are the same as without the cut
        x0, y0 = max(x0, 0) // k * k, max(y0, 0) // k * k
        x1, y1 = min(x1, W), min(y1, H)
        if x1 <= x0 or y1 <= y0:  # the crop lies outside the image
            return torch.zeros(3, out_size, out_size)
        img = img[y0:y1, x0:x1]
        A = A @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0
    if k > 1:
        t, A = block_average(t[None], k)[0], pool_affine(A, k)
    return warp(t, A, out_size, "bilinear").clamp(0.0, 1.0)


def colour_jitter(image: torch.Tensor, p: AugmentParams) -> torch.Tensor:
    """Brightness, contrast and saturation factors on ``(3, H, W)`` in [0, 1]."""
    if p.brightness == p.contrast == p.saturation == 1.0:
        return image
    img = image * p.brightness
    grey = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    img = grey.mean() + p.contrast * (img - grey.mean())
    grey = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    img = grey + p.saturation * (img - grey)
    return img.clamp(0.0, 1.0)


def pixel_augment(image: torch.Tensor, p: AugmentParams) -> torch.Tensor:
    """Every pixel-only augmentation of ``p`` on the ``(3, S, S)`` crop in [0, 1], in the order a camera sees
    them: colour jitter, white balance, cut-out (an occluder in the scene), blur (optics), noise (sensor).
    Returns ``image`` itself when ``p`` changes no pixel."""
    img = colour_jitter(image, p)
    img = channel_gains(img, p.gains_rgb)
    img = cut_out(img, p.cutout_frac, p.cutout_rgb, p.pixel_seed + 1)
    img = gaussian_blur(img, p.blur_sigma_px)
    return add_noise(img, p.noise_std, p.pixel_seed)


def make_sample(
    raw: RawSample,
    *,
    input_size: int,
    crop_margin: float = CROP_MARGIN,
    min_crop_px: float = MIN_CROP_PX,
    mirror: bool = False,
    aug: AugmentParams | None = None,
    depth_band_m: float = 0.08,
    domain: int = SOURCE,
    on_batch: bool = False,
    defer_crop: bool = False,
) -> Sample:
    """Crop, augment and normalize one :class:`RawSample` into a network-ready :class:`Sample`.

    Args:
        mirror: mirror the record (a left hand under ``mirror_left``); a flip augmentation toggles it.
        aug: augmentation draw (identity if None).
        depth_band_m: band of the depth-derived hand mask when the record has no mask.
        on_batch: leave the pixel-only augmentation to the batch (``Sample.pending``; labels and depth are
            finished here).
        defer_crop: with ``on_batch``, also leave the RGB resampling to the batch: the sample's image is then
            ``raw.image`` as ``(3, H, W)`` uint8 (a pack's stored crop; images over 1024 pixels are cropped here).
    """
    aug = aug or AugmentParams()
    K = np.asarray(raw.K, np.float64)
    check_intrinsics(K)  # a singular or non-finite K cannot be carried through the crop
    Rz = optical_axis_rotation(aug.rotation_rad)
    H_rot = K @ Rz @ np.linalg.inv(K)
    uv_rot = apply_affine(H_rot, np.asarray(raw.uv_px, np.float64))
    # square around the rotated hand (its smallest side in recording pixels, also for a pack's resampled crop)
    centre, side = hand_square(uv_rot, raw.vis, crop_margin, min_crop_px * raw.scale_px)
    side *= aug.scale
    C = crop_affine(centre + side * np.asarray(aug.shift), side, input_size)
    A = C @ H_rot
    K_crop = C @ K
    uv = apply_affine(C, uv_rot)
    xyz = None if raw.xyz_m is None else np.asarray(raw.xyz_m, np.float64) @ Rz.T
    mirrored = mirror != aug.flip
    if mirrored:
        A = mirror_affine(input_size) @ A
        uv, K_crop = flip_horizontal(uv, K_crop, input_size)
        xyz = None if xyz is None else mirror_xyz(xyz)

    pending = None
    if on_batch and defer_crop and max(np.shape(raw.image)[:2]) <= 1024:
        k = downscale_factor(A)
        img = torch.from_numpy(np.ascontiguousarray(raw.image)).permute(2, 0, 1)
        pending = PendingPixels(aug, input_size, np.linalg.inv(pool_affine(A, k)), k)
        if raw.depth_m is not None and raw.mask is not None and np.shape(raw.mask) == np.shape(raw.depth_m):
            pending.depth_inv_px = pending.inv_px if k == 1 else np.linalg.inv(A)
            return _sample(raw, img, K_crop, uv, xyz, domain, mirrored, pending,
                           torch.from_numpy(np.asarray(raw.depth_m, np.float32))[None],
                           torch.from_numpy(np.asarray(raw.mask, bool))[None])
    elif on_batch:
        img = crop_rgb(raw.image, A, input_size)
        pending = PendingPixels(aug, input_size)
    else:
        img = pixel_augment(crop_rgb(raw.image, A, input_size), aug)  # labels untouched: pixels only

    depth = depth_mask = None
    if raw.depth_m is not None:
        d = torch.from_numpy(np.asarray(raw.depth_m, np.float32))[None]
        if raw.mask is not None:
            m = torch.from_numpy(np.asarray(raw.mask, np.float32))[None]
            if m.shape == d.shape:  # one warp for both (nearest: each channel as if alone)
                dm = warp(torch.cat([d, m]), A, input_size, "nearest")
                d, m = dm[:1], dm[1:] > 0.5
            else:
                d, m = warp(d, A, input_size, "nearest"), warp(m, A, input_size, "nearest") > 0.5
        else:
            d = warp(d, A, input_size, "nearest")
            m = torch.from_numpy(hand_mask_from_depth(d[0].numpy(), uv, raw.vis, band_m=depth_band_m))[None]
        depth, used = normalize_depth_eq9(d, m)
        depth_mask = used if depth is not None else None
    return _sample(raw, img, K_crop, uv, xyz, domain, mirrored, pending, depth, depth_mask)


def _sample(raw: RawSample, img: torch.Tensor, K_crop: np.ndarray, uv: np.ndarray, xyz: np.ndarray | None,
            domain: int, mirrored: bool, pending: PendingPixels | None, depth: torch.Tensor | None,
            depth_mask: torch.Tensor | None) -> Sample:
    return Sample(
        image=img.contiguous(),
        K=torch.from_numpy(K_crop.astype(np.float32)),
        uv_px=torch.from_numpy(uv.astype(np.float32)),
        vis=torch.from_numpy(np.asarray(raw.vis, bool).copy()),
        xyz_m=None if xyz is None else torch.from_numpy(xyz.astype(np.float32)),
        depth=depth,
        depth_mask=depth_mask,
        hand_side=raw.hand_side,
        domain=domain,
        source=raw.source,
        mirrored=mirrored,
        group=raw.group,
        pending=pending,
    )


# --- a box on a photo ----------------------------------------------------------------------------------


def box_square(bbox: tuple[float, float, float, float] | None, width: int, height: int, crop_margin: float,
               min_crop_px: float) -> tuple[np.ndarray, float]:
    """Centre ``(2,)`` and side of the crop square, as training crops (:func:`hand_square`).

    ``bbox = (x, y, w, h)``: the hand's box in the package's pixel coordinates (pixel ``i``'s centre at ``i``,
    the coordinates of the joints), e.g. the box of its 2D joints; the square is centred on it with side
    ``crop_margin × max(w, h)`` (at least ``min_crop_px``), the margin the network was trained with. ``None``:
    the whole image, padded to a centred square (no margin).
    """
    if bbox is None:
        return np.array([(width - 1) / 2.0, (height - 1) / 2.0]), float(max(width, height))
    x, y, w, h = (float(v) for v in bbox)
    return corner_square(np.array([x, y]), np.array([x + w, y + h]), crop_margin, min_crop_px)
