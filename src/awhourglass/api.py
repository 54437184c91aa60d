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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from awhourglass import geometry
from awhourglass.checkpoint import crop_entry, load_checkpoint
from awhourglass.data.crop import box_square, crop_rgb, parse_bbox, parse_bone_mm, parse_intrinsics
from awhourglass.data.io import DEFAULT_MAX_PIXELS, load_image
from awhourglass.errors import PredictError
from awhourglass.geometry import CROP_MARGIN, MIN_CROP_PX
from awhourglass.models.fused import FusedHourglass
from awhourglass.models.head import DEFAULT_HAND_THRESHOLD, heatmap_confidence
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.models.load import network_from_dict
from awhourglass.skeleton import JOINT_NAMES

PREDICTION_FORMAT = "awhourglass-prediction/1"


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
        bbox: ``(x, y, w, h)`` of the square crop used (margin included), in original pixels (pixel ``i``'s centre at
            ``i``); ``bbox_source`` ``"user"`` or
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

    @property
    def label(self) -> str:
        """The overlay's caption: hand or not, and the confidence."""
        return f"{'hand' if self.hand_detected else 'no hand?'} conf {self.confidence:.2f}"

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
                 max_pixels: int = DEFAULT_MAX_PIXELS, margin: float = CROP_MARGIN,
                 min_side_px: float = MIN_CROP_PX, fast: bool = True) -> None:
        self.model = model.eval()
        # fast: a BN-folded snapshot runs predict (faster at batch 1 on a CPU, same outputs; models/fused.py);
        # False runs the model's own forward. Rebuild the estimator if the model's weights change afterwards.
        self.fast = FusedHourglass(self.model) if fast else None
        if not math.isfinite(float(threshold)):  # a NaN would also end up as a non-JSON literal in the output
            raise PredictError(f"threshold must be a finite confidence, got {threshold!r}")
        self.threshold = float(threshold)
        self.margin, self.min_side_px = float(margin), float(min_side_px)  # the training crop (checkpoint)
        self.max_pixels = int(max_pixels)

    @property
    def input_size(self) -> int:
        return self.model.cfg.input_size

    def _network(self, image: torch.Tensor) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """``image (3, S, S)`` in [0, 1] → last-stack heatmaps ``(1, 21, h, w)`` (CPU), ``uv_px (21, 2)``,
        ``z_norm (21,)``."""
        x = image[None].to(self.model.mean.device)
        if self.fast is not None:
            out = self.fast(x)
            heat = out.heatmap.cpu()
        else:
            out = self.model(x)
            heat = out.stacks[-1].heatmap.cpu()
        return heat, out.uv_px[0].cpu().double().numpy(), out.z_norm[0].cpu().double().numpy()

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
            bbox: ``(x, y, w, h)``: the hand's box in original pixels (pixel ``i``'s centre at ``i``, e.g. the box
                of its joints; the crop square adds the margin the network was trained with, recorded in its
                checkpoint); ``None`` = the whole image (centred square, padded), for a hand filling the picture.
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
        if bone_mm is not None:
            bone_mm = parse_bone_mm(bone_mm)
        Kmat = parse_intrinsics(K) if K is not None else assumed_intrinsics(W, H)
        if K is None:
            notes.append("no K given: focal length max(W, H) and the image centre assumed")
        S = self.input_size
        # the training crop: the box's square with the recorded margin, antialiased when it shrinks
        centre, side = box_square(box, W, H, self.margin, self.min_side_px)
        A = geometry.crop_affine(centre, side, S)  # original pixels → crop pixels
        x = crop_rgb(rgb, A, S)
        K_crop = A @ Kmat
        if left_hand:  # the network is right-handed: mirror in, and mirror the outputs back below
            _, K_crop = geometry.flip_horizontal(np.zeros((1, 2)), K_crop, S)
            notes.append("left hand: mirrored for the right-handed model and mirrored back")
        heat, uv_crop, z_norm = self._network(x.flip(-1) if left_hand else x)
        joint_conf = heatmap_confidence(heat)[0].numpy().astype(np.float64)
        xyz_b, ok = geometry.lift_root_relative(uv_crop, z_norm, K_crop, bone=self.model.cfg.scale_bone)
        heatmaps = heat[0].numpy()
        if left_hand:
            uv_crop = uv_crop.copy()
            uv_crop[:, 0] = (S - 1) - uv_crop[:, 0]
            heatmaps = heatmaps[:, :, ::-1].copy()
            xyz_b = xyz_b * np.array([-1.0, 1.0, 1.0])
        uv_orig = geometry.apply_affine(np.linalg.inv(A), uv_crop)
        metric = bone_mm is not None and K is not None
        if bone_mm is not None and K is None:
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
            bbox=(float(centre[0] - side / 2.0), float(centre[1] - side / 2.0), float(side), float(side)),
            bbox_source="whole_image" if box is None else "user",
            K=Kmat,
            K_assumed=K is None,
            bone_mm=None if bone_mm is None else float(bone_mm),
            root_depth_ok=bool(ok),
            image_size=(W, H),
            notes=notes,
            crop=np.ascontiguousarray((x.permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy()),
            crop_uv_px=uv_crop,
            heatmaps=heatmaps,
            rgb=rgb,
        )


def assumed_intrinsics(width: int, height: int) -> np.ndarray:
    """The camera assumed when none is given: focal length ``max(W, H)``, principal point at the centre."""
    f = float(max(width, height))
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def load(checkpoint: str | os.PathLike, device: str | torch.device = "cpu",
         threshold: float = DEFAULT_HAND_THRESHOLD) -> HandPoseEstimator:
    """Load a trained checkpoint (``model.pt`` of ``awh train`` / ``awh demo``) for prediction."""
    ckpt = load_checkpoint(checkpoint)
    margin, min_side = crop_entry(ckpt, checkpoint)
    return HandPoseEstimator(network_from_dict(ckpt, checkpoint).to(device), threshold=threshold, margin=margin,
                             min_side_px=min_side)


