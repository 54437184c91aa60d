"""Python API for your own photos: ``awhourglass.load(ckpt).predict(image)``.

One call does what ``awh predict`` does: read the image (any mode PIL reads: grayscale, palette, 16-bit,
RGBA, EXIF-rotated phone photos), crop the hand square (the given box, or the whole image padded to a
centred square), run the network, map the 2D joints back to the original pixels and lift the 2.5D output
to root-relative 3D:

- with the camera ``K`` (original-image pixels) **and** a scale-bone length (wrist → middle MCP, metres):
  metric millimetres, root (palm centre) at the origin;
- otherwise scale-normalized: root-relative, in units of the scale bone (its length is 1). Without ``K``
  a pinhole with focal length ``max(W, H)`` and the principal point at the image centre is assumed (a
  ~53° field of view); the prediction says so.

"Is there a hand?" can only be judged from the network's own confidence: each joint's heatmap is a
probability map (spatial softmax); its confidence is how concentrated it is, ``1 − spread / spread of a flat
map`` (:func:`heatmap_confidence`); the hand's confidence is the mean over joints and
``hand_detected = confidence >= threshold`` (:data:`DEFAULT_HAND_THRESHOLD`, docs/demo.md).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awhourglass import geometry
from awhourglass.config import from_dict
from awhourglass.errors import AwhError
from awhourglass.models.config import ModelConfig
from awhourglass.models.fused import FusedHourglass
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.skeleton import JOINT_NAMES, NUM_JOINTS

CHECKPOINT_FORMAT = "awhourglass-checkpoint"
PREDICTION_FORMAT = "awhourglass-prediction/1"
# Confidence below which "no hand" is reported. The latent heatmaps (trained through the soft-argmax only) are
# broad. On the demo's AWH model (docs/demo.md) the 5th-95th percentiles of the confidence were 0.10-0.21 on
# 150 target test crops, 0.00-0.05 on noise / flat / gradient images and 0.00-0.06 on hand-free corners of
# target images; 0.075 lies in the gap. Pass your own with ``threshold=`` for another model.
DEFAULT_HAND_THRESHOLD = 0.075
# Larger images are refused before decoding (PIL's decompression-bomb limit is about 179 M pixels).
DEFAULT_MAX_PIXELS = 150_000_000


class PredictError(AwhError):
    """An input that cannot be predicted on (not an image, too large, a bad box or camera)."""


def _plain(obj: Any) -> Any:
    """Checkpoint config values → plain Python (lists for tuples are fine for ``from_dict``)."""
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read an awhourglass checkpoint with the restricted unpickler (``weights_only=True``).

    Raises:
        AwhError: missing, unreadable, or not an awhourglass checkpoint holding model weights.
    """
    path = Path(path)
    if not path.is_file():
        raise AwhError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AwhError(f"{path} is not a readable checkpoint: {first}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise AwhError(f"{path} is not an awhourglass checkpoint (no format={CHECKPOINT_FORMAT!r} entry)")
    modules, config = ckpt.get("modules"), ckpt.get("config")
    if not isinstance(modules, dict) or "model" not in modules or not isinstance(config, dict):
        raise AwhError(f"{path} holds no model weights (needs 'config' and 'modules'['model'])")
    if list(ckpt.get("joint_names", JOINT_NAMES)) != list(JOINT_NAMES):
        raise AwhError(f"{path} uses another joint order: {ckpt.get('joint_names')}")
    return ckpt


def model_from_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> AWHourglassNet:
    """The network of a checkpoint (``config['model']`` + ``modules['model']``), in eval mode."""
    ckpt = read_checkpoint(path)
    model_cfg = from_dict(ModelConfig, {k: _plain(v) for k, v in (ckpt["config"].get("model") or {}).items()})
    model = AWHourglassNet(model_cfg)
    try:
        model.load_state_dict(ckpt["modules"]["model"])
    except RuntimeError as exc:
        raise AwhError(f"{path}: weights do not match the model config: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval()


def make_checkpoint(model: AWHourglassNet, extra_config: dict[str, Any] | None = None, step: int = 0) -> dict:
    """A minimal checkpoint dict readable by :func:`load` (the training runs write a superset of it)."""
    from awhourglass import __version__
    from awhourglass.config import to_dict

    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": 1,
        "awhourglass_version": __version__,
        "config": {**(extra_config or {}), "model": to_dict(model.cfg)},
        "joint_names": list(JOINT_NAMES),
        "phase": "done",
        "step": step,
        "global_step": step,
        "modules": {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}},
        "optimizers": {},
    }


# --- images ------------------------------------------------------------------------------------------------


@dataclass
class LoadedImage:
    """An RGB image as ``(H, W, 3)`` uint8 plus what was done to read it."""

    rgb: np.ndarray
    notes: list[str] = field(default_factory=list)


def load_image(image: str | os.PathLike | np.ndarray | Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image path, a PIL image or an array into RGB uint8 ``(H, W, 3)``.

    Arrays: ``(H, W)``, ``(H, W, 1|3|4)``, uint8 or float in [0, 1]. Grayscale is replicated to RGB, alpha
    dropped, 16-bit and float images scaled to their maximum, EXIF orientation applied.

    Raises:
        PredictError: not an image, empty, larger than ``max_pixels``, or an unusable array.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    notes: list[str] = []
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.exists():
            raise PredictError(f"{path}: no such file")
        if path.is_dir():
            raise PredictError(f"{path}: is a folder, not an image")
        try:
            with warnings.catch_warnings(), Image.open(path) as im:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                _check_size(im.size, max_pixels, str(path))
                im.load()
                return _from_pil(im, notes, ImageOps)
        except UnidentifiedImageError:
            raise PredictError(f"{path}: not an image file PIL can read") from None
        except Image.DecompressionBombError as exc:
            raise PredictError(f"{path}: image too large ({exc})") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise PredictError(f"{path}: cannot decode the image ({exc})") from None
    if hasattr(image, "mode") and hasattr(image, "size") and hasattr(image, "convert"):  # a PIL image
        _check_size(image.size, max_pixels, "image")
        return _from_pil(image, notes, ImageOps)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        notes.append("grayscale image: replicated to RGB")
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise PredictError(f"image array: expected (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    _check_size((arr.shape[1], arr.shape[0]), max_pixels, "image")
    if arr.shape[-1] == 4:
        notes.append("alpha channel dropped")
        arr = arr[..., :3]
    if arr.dtype != np.uint8:
        f = arr.astype(np.float64)
        if not np.isfinite(f).all():
            raise PredictError("image array: contains NaN or infinity")
        if f.max() > 1.0:
            raise PredictError("image array: float images must be in [0, 1] (or pass uint8)")
        arr = np.round(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)
    return LoadedImage(np.ascontiguousarray(arr), notes)


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise PredictError(f"{name}: empty image ({w}x{h})")
    if w * h > max_pixels:
        raise PredictError(
            f"{name}: image too large ({w}x{h} = {w * h / 1e6:.0f} M pixels; the limit is {max_pixels / 1e6:.0f} M): "
            "downscale it first"
        )


def _from_pil(im: Any, notes: list[str], ImageOps: Any) -> LoadedImage:
    transposed = ImageOps.exif_transpose(im)
    if transposed is not None and transposed.size != im.size:
        notes.append("EXIF orientation applied (pixel coordinates refer to the upright image)")
    im = transposed if transposed is not None else im
    mode = im.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.size and a.max() > 0 else 1.0
        a = np.round(np.clip(a / top, 0, 1) * 255).astype(np.uint8)
        notes.append(f"{mode} image scaled to 8 bits and replicated to RGB")
        return LoadedImage(np.repeat(a[..., None], 3, axis=-1), notes)
    if mode in ("L", "LA", "1"):
        notes.append("grayscale image: replicated to RGB")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        notes.append("alpha channel dropped")
    elif mode not in ("RGB",):
        notes.append(f"{mode} image converted to RGB")
    return LoadedImage(np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8)), notes)


def parse_bbox(bbox: Any, width: int, height: int) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` in original pixels (x, y = top-left corner); must overlap the image and be positive."""
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise PredictError(f"bbox: expected 4 numbers x,y,w,h, got {bbox!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise PredictError(f"bbox: width and height must be positive finite pixels, got {bbox!r}")
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise PredictError(f"bbox {bbox!r} lies outside the {width}x{height} image")
    return x, y, w, h


def parse_intrinsics(K: Any) -> np.ndarray:
    """``fx, fy, cx, cy`` (4 numbers) or a 3×3 matrix → ``K (3, 3)``; focal lengths must be positive."""
    a = np.asarray(K, dtype=np.float64) if not isinstance(K, str) else None
    if a is None:
        raise PredictError(f"K: expected fx,fy,cx,cy, got {K!r}")
    if a.shape == (4,):
        fx, fy, cx, cy = a
        a = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if a.shape != (3, 3) or not np.isfinite(a).all():
        raise PredictError(f"K: expected fx,fy,cx,cy or a finite 3x3 matrix, got shape {a.shape}")
    if a[0, 0] <= 0 or a[1, 1] <= 0:
        raise PredictError(f"K: focal lengths must be positive pixels, got fx={a[0, 0]}, fy={a[1, 1]}")
    return a


def crop_box(bbox: tuple[float, float, float, float] | None, width: int, height: int) -> tuple[int, int, int]:
    """Integer square ``(x0, y0, side)`` (corner coordinates) around ``bbox`` or the whole image, centred.

    The square covers the box's longer side; the whole-image square is ``max(W, H)`` (padded with black).
    """
    if bbox is None:
        x, y, w, h = 0.0, 0.0, float(width), float(height)
    else:
        x, y, w, h = bbox
    side = max(1, round(max(w, h)))
    cx, cy = x + w / 2.0, y + h / 2.0
    return round(cx - side / 2.0), round(cy - side / 2.0), side


def crop_resize(rgb: np.ndarray, x0: int, y0: int, side: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Square crop (black outside the image) resized to ``size``; returns ``(crop (size, size, 3) uint8, A)``.

    ``A`` maps original pixels to crop pixels (pixel-centre convention), as :func:`geometry.crop_affine`:
    crop pixel ``i`` covers original ``[x0 + i·side/size, x0 + (i+1)·side/size)`` in corner coordinates.
    """
    from PIL import Image

    H, W = rgb.shape[:2]
    # Only the part of the square inside the image is decoded/resized; the rest is black padding.
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + side, W), min(y0 + side, H)
    canvas = np.zeros((side, side, 3), np.uint8) if side <= 4096 else None
    if canvas is not None:
        canvas[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = rgb[iy0:iy1, ix0:ix1]
        out = np.asarray(Image.fromarray(canvas).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0))
    else:  # a huge square: resize the inside part alone, then paste it at its scaled place
        s = size / side
        inner = Image.fromarray(np.ascontiguousarray(rgb[iy0:iy1, ix0:ix1]))
        px0, py0 = round((ix0 - x0) * s), round((iy0 - y0) * s)
        pw, ph = max(1, round((ix1 - ix0) * s)), max(1, round((iy1 - iy0) * s))
        small = np.asarray(inner.resize((pw, ph), Image.Resampling.BILINEAR, reducing_gap=3.0))
        out = np.zeros((size, size, 3), np.uint8)
        out[py0:py0 + ph, px0:px0 + pw] = small[: size - py0, : size - px0]
    centre = (x0 - 0.5 + side / 2.0, y0 - 0.5 + side / 2.0)
    return np.ascontiguousarray(out), geometry.crop_affine(centre, float(side), size)


# --- prediction ----------------------------------------------------------------------------------------------


def heatmap_confidence(heatmap: torch.Tensor) -> torch.Tensor:
    """Per-joint confidence ``(B, J)`` in [0, 1] from the spread of each heatmap.

    ``heatmap (B, J, h, w)`` must be a spatial softmax (each map sums to 1). The spread is the standard
    deviation of the map around its mean, ``sqrt(var_u + var_v)`` in heatmap pixels; the confidence is
    ``1 − spread / spread_uniform`` clipped to [0, 1], where ``spread_uniform = sqrt((w² − 1)/12 + (h² − 1)/12)``
    is that of a flat map: 1 = all mass on one pixel, 0 = as spread as a flat map (or more).
    """
    h, w = heatmap.shape[-2:]
    xs = torch.arange(w, dtype=heatmap.dtype, device=heatmap.device)
    ys = torch.arange(h, dtype=heatmap.dtype, device=heatmap.device)
    pu, pv = heatmap.sum(2), heatmap.sum(3)  # marginals over columns (u) and rows (v)
    mu, mv = (pu * xs).sum(-1), (pv * ys).sum(-1)
    var = (pu * (xs - mu[..., None]) ** 2).sum(-1) + (pv * (ys - mv[..., None]) ** 2).sum(-1)
    flat = math.sqrt((w * w - 1) / 12.0 + (h * h - 1) / 12.0)
    return (1.0 - var.clamp_min(0).sqrt() / flat).clamp(0.0, 1.0)


@dataclass
class Prediction:
    """One hand's prediction on one image.

    Attributes:
        uv_px: ``(21, 2)`` joints in the original image's pixels (pixel i's centre at i).
        xyz: ``(21, 3)`` root-relative 3D (root = palm centre at the origin), millimetres when ``metric``,
            else in scale-bone units (the wrist → middle MCP bone has length 1).
        metric: whether ``xyz`` is in millimetres (needs ``K`` and the bone length).
        confidence, joint_confidence: mean and per-joint heatmap concentration (:func:`heatmap_confidence`).
        hand_detected: ``confidence >= threshold``.
        bbox: ``(x, y, w, h)`` of the square crop used, in original pixels; ``bbox_source`` ``"user"`` or
            ``"whole_image"``.
        K: the intrinsics used; ``K_assumed`` when they were not given.
        root_depth_ok: the closed-form root depth had a real solution (else the nearest value was used).
        image_size: ``(W, H)``; notes: what was done to the input.
        crop, crop_uv_px, heatmaps: the network input ``(S, S, 3)`` uint8, its joints and last-stack
            heatmaps ``(21, h, w)``; rgb: the image as read (for figures; not in :meth:`to_dict`).
    """

    uv_px: np.ndarray
    xyz: np.ndarray
    metric: bool
    confidence: float
    joint_confidence: np.ndarray
    hand_detected: bool
    threshold: float
    bbox: tuple[float, float, float, float]
    bbox_source: str
    K: np.ndarray
    K_assumed: bool
    bone_mm: float | None
    root_depth_ok: bool
    image_size: tuple[int, int]
    notes: list[str]
    crop: np.ndarray
    crop_uv_px: np.ndarray
    heatmaps: np.ndarray
    rgb: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``awh predict`` (``awhourglass-prediction/1``, docs/demo.md)."""
        r = lambda a, d: [[round(float(v), d) for v in row] for row in a]  # noqa: E731
        units = "mm" if self.metric else "scale-bone units (wrist to middle MCP = 1)"
        return {
            "format": PREDICTION_FORMAT,
            "joint_order": "canonical21",
            "joint_names": list(JOINT_NAMES),
            "image_size": list(self.image_size),
            "hand_detected": bool(self.hand_detected),
            "confidence": round(float(self.confidence), 4),
            "hand_threshold": self.threshold,
            "joint_confidence": [round(float(c), 4) for c in self.joint_confidence],
            "bbox": [round(float(v), 2) for v in self.bbox],
            "bbox_source": self.bbox_source,
            "uv_px": r(self.uv_px, 2),
            "xyz_root_relative": r(self.xyz, 3 if self.metric else 4),
            "xyz_units": units,
            "metric": bool(self.metric),
            "root": "palm centre (mean of wrist and middle MCP), at the origin",
            "K": r(self.K, 3),
            "K_assumed": bool(self.K_assumed),
            "bone_mm": self.bone_mm,
            "root_depth_ok": bool(self.root_depth_ok),
            "notes": list(self.notes),
        }


class HandPoseEstimator:
    """A loaded network that predicts one right hand per image (see module docstring)."""

    def __init__(self, model: AWHourglassNet, threshold: float = DEFAULT_HAND_THRESHOLD,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.model = model.eval()
        # A BN-folded snapshot runs predict (faster at batch 1 on a CPU, same outputs; models/fused.py), unless
        # a subclass changed forward. Rebuild the estimator if the model's weights change afterwards.
        self.fast = FusedHourglass(self.model) if type(model).forward is AWHourglassNet.forward else None
        self.threshold = float(threshold)
        self.max_pixels = int(max_pixels)

    @property
    def input_size(self) -> int:
        return self.model.cfg.input_size

    @torch.no_grad()
    def predict(
        self,
        image: str | os.PathLike | np.ndarray | Any,
        bbox: Any = None,
        K: Any = None,
        bone_mm: float | None = None,
        left_hand: bool = False,
    ) -> Prediction:
        """Predict the hand in ``image``.

        Args:
            image: a path, a PIL image or an array (see :func:`load_image`).
            bbox: ``(x, y, w, h)`` hand box in original pixels; ``None`` = the whole image (centred square,
                padded), which works when the hand fills most of the picture.
            K: intrinsics of ``image`` (``fx, fy, cx, cy`` or 3×3), pixels; ``None`` = assumed (see module).
            bone_mm: length of the wrist → middle-MCP bone in millimetres (adults: roughly 80–100 mm).
            left_hand: the model is right-handed; a left hand is mirrored in, and its output mirrored back.
        """
        loaded = load_image(image, self.max_pixels)
        rgb, notes = loaded.rgb, list(loaded.notes)
        H, W = rgb.shape[:2]
        box = None if bbox is None else parse_bbox(bbox, W, H)
        if box is None:
            notes.append("no bbox given: the whole image was used (padded to a centred square)")
        x0, y0, side = crop_box(box, W, H)
        S = self.input_size
        crop, A = crop_resize(rgb, x0, y0, side, S)
        if bone_mm is not None and (not math.isfinite(float(bone_mm)) or float(bone_mm) <= 0):
            raise PredictError(f"bone length must be positive millimetres, got {bone_mm!r}")
        K_assumed = K is None
        Kmat = parse_intrinsics(K) if K is not None else np.array(
            [[max(W, H), 0.0, (W - 1) / 2.0], [0.0, max(W, H), (H - 1) / 2.0], [0.0, 0.0, 1.0]])
        if K_assumed:
            notes.append("no K given: focal length max(W, H) and the image centre assumed")
        K_crop = A @ Kmat
        net_in = crop
        if left_hand:
            net_in = crop[:, ::-1]
            _, K_crop = geometry.flip_horizontal(np.zeros((1, 2)), K_crop, S)
            notes.append("left hand: mirrored for the right-handed model and mirrored back")
        x = torch.from_numpy(np.array(net_in, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0)[None]
        x = x.to(self.model.mean.device)
        if self.fast is not None:
            out = self.fast(x)
            heat = out.heatmap.cpu()
        else:
            out = self.model(x)
            heat = out.stacks[-1].heatmap.cpu()
        joint_conf = heatmap_confidence(heat)[0].numpy().astype(np.float64)
        uv_crop = out.uv_px[0].cpu().double().numpy()
        z_norm = out.z_norm[0].cpu().double().numpy()
        heatmaps = heat[0].numpy()
        # Root-relative 3D in scale-bone units: decode with bone 1 and the closed-form root depth.
        bone_bones = np.ones(())
        xyz_b = geometry.decode_25d(uv_crop, z_norm, K_crop, bone_bones, bone=self.model.cfg.scale_bone,
                                    validate=False)
        _, ok = geometry.solve_root_depth(uv_crop, z_norm, K_crop, bone=self.model.cfg.scale_bone)
        root = 0.5 * (xyz_b[0] + xyz_b[9])
        xyz_b = xyz_b - root
        if left_hand:
            uv_crop = uv_crop.copy()
            uv_crop[:, 0] = (S - 1) - uv_crop[:, 0]
            heatmaps = heatmaps[:, :, ::-1].copy()
            xyz_b = xyz_b * np.array([-1.0, 1.0, 1.0])
        uv_orig = geometry.apply_affine(np.linalg.inv(A), uv_crop)
        metric = bone_mm is not None and not K_assumed
        if bone_mm is not None and K_assumed:
            notes.append("bone length given without K: 3D left scale-normalized (metric needs both)")
        xyz = xyz_b * float(bone_mm) if metric else xyz_b
        conf = float(joint_conf.mean())
        if not np.isfinite(uv_orig).all() or not np.isfinite(xyz).all():
            raise PredictError("the network produced non-finite output (a damaged checkpoint?)")
        return Prediction(
            uv_px=uv_orig,
            xyz=xyz,
            metric=metric,
            confidence=conf,
            joint_confidence=joint_conf,
            hand_detected=conf >= self.threshold,
            threshold=self.threshold,
            bbox=(float(x0), float(y0), float(side), float(side)),
            bbox_source="whole_image" if box is None else "user",
            K=Kmat,
            K_assumed=K_assumed,
            bone_mm=None if bone_mm is None else float(bone_mm),
            root_depth_ok=bool(ok),
            image_size=(W, H),
            notes=notes,
            crop=crop,
            crop_uv_px=uv_crop,
            heatmaps=heatmaps,
            rgb=rgb,
        )


def load(checkpoint: str | os.PathLike, device: str | torch.device = "cpu",
         threshold: float = DEFAULT_HAND_THRESHOLD) -> HandPoseEstimator:
    """Load a trained checkpoint (``model.pt`` of ``awh train`` / ``awh demo``) for prediction."""
    return HandPoseEstimator(model_from_checkpoint(checkpoint, device), threshold=threshold)


def draw_overlay(pred: Prediction, path: str | os.PathLike, max_side: int = 1024) -> Path:
    """PNG of the image (downscaled to ``max_side``, small ones magnified) with the skeleton, the crop square and
    the confidence."""
    from matplotlib.colors import to_rgb
    from PIL import Image, ImageDraw

    from awhourglass.eval.plots import joint_colour
    from awhourglass.skeleton import BONES

    rgb = pred.rgb
    H, W = rgb.shape[:2]
    s = min(1.0, max_side / max(W, H))
    if max(W, H) < 256:  # small images are magnified (nearest) so the skeleton stays readable
        s = float(256 // max(W, H) or 1)
    im = Image.fromarray(rgb)
    if s < 1.0:
        im = im.resize((max(1, round(W * s)), max(1, round(H * s))), Image.Resampling.BILINEAR, reducing_gap=3.0)
    elif s > 1.0:
        im = im.resize((round(W * s), round(H * s)), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(im)
    pts = (pred.uv_px + 0.5) * s  # pixel-centre coordinates → PIL corner coordinates
    lw = max(2, round(max(im.size) / 200))
    x, y, w, h = pred.bbox
    draw.rectangle([x * s, y * s, (x + w) * s, (y + h) * s], outline=(255, 255, 255), width=1)

    def colour(name: str) -> tuple[int, int, int]:
        return tuple(round(255 * c) for c in to_rgb(name))

    for a, b in BONES:
        draw.line([tuple(pts[a]), tuple(pts[b])], fill=colour(joint_colour(b)), width=lw)
    for j in range(NUM_JOINTS):
        u, v = pts[j]
        draw.ellipse([u - lw, v - lw, u + lw, v + lw], fill=colour(joint_colour(j)))
    label = f"{'hand' if pred.hand_detected else 'no hand?'} conf {pred.confidence:.2f}"
    draw.rectangle([0, 0, 8 + 6 * len(label), 14], fill=(0, 0, 0))
    draw.text((4, 2), label, fill=(255, 255, 255))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    im.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
