"""Python API for your own photos: ``awhourglass.load(ckpt).predict(image)``.

One call does what ``awh predict`` does: read the image (any mode PIL reads: grayscale, palette, 16-bit,
RGBA, EXIF-rotated phone photos), crop the hand square, run the network, map the 2D joints back to the original
pixels and lift the 2.5D output to 3D.

**The crop.** With a box (the hand's box, e.g. of its joints) the network sees the training crop around it: the
square with the margin recorded in the checkpoint. Without one, the hand is found: the network runs on the whole
image and on grids of half-overlapping squares (:func:`~awhourglass.data.crop.search_squares`: sides 1/2, 1/3 and
1/4 of the longer side); each of the :data:`REFINE_STARTS` most confident squares (that do not mostly overlap a
more confident one) gives coarse joints, the training crop around those joints is predicted again, and so on until
the crop moves less than IoU :data:`REFINE_STABLE_IOU` or after :data:`REFINE_MAX_PASSES` passes; the last crop of
the most confident of these tracks is the answer (the JSON's ``refinement`` lists its passes).

**3D, and what it rests on.** The network gives 2.5D (pixels + scale-normalized root-relative depth); the lift
(:func:`~awhourglass.geometry.lift_camera`) needs the camera ``K`` of the original image and, for
millimetres, the scale-bone length (wrist → middle MCP):

- ``xyz_norm``: root-relative (palm centre at the origin), in scale-bone units; rests on ``K``.
- ``xyz``: the same in millimetres; rests on ``K`` and the bone length.
- ``xyz_cam``: camera-space millimetres, with the closed-form root depth (paper Eq. 7 inverted); rests on both.

Without ``K`` a pinhole with focal length ``max(W, H)`` and the principal point at the image centre is assumed
(a 53.1° field of view across the longer side, ``2·atan(1/2)``); without a bone length the population mean
:data:`~awhourglass.skeleton.POPULATION_BONE_MM` (SD :data:`~awhourglass.skeleton.POPULATION_BONE_SD_MM`) is
assumed. The JSON says, for every figure, which of these it rests on and whether each was given or assumed.

"Is there a hand?" can only be judged from the network's own confidence: each joint's heatmap is a
probability map (spatial softmax); its confidence is how concentrated it is, ``1 − spread / spread of a flat
map`` (:func:`heatmap_confidence`); the hand's confidence is the mean over joints and
``hand_detected = confidence >= threshold``: the threshold calibrated when the model was trained (stored in its
checkpoint, :mod:`awhourglass.train.calibrate`), else :data:`DEFAULT_HAND_THRESHOLD`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from awhourglass import geometry
from awhourglass.checkpoint import crop_entry, hand_threshold_entry, load_checkpoint
from awhourglass.data.crop import box_square, corner_square, crop_rgb, search_squares
from awhourglass.data.io import DEFAULT_MAX_PIXELS, load_image
from awhourglass.errors import PredictError
from awhourglass.geometry import CROP_MARGIN, MIN_CROP_PX
from awhourglass.models.fused import FusedHourglass
from awhourglass.models.head import DEFAULT_HAND_THRESHOLD, heatmap_confidence
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.models.load import network_from_dict
from awhourglass.skeleton import JOINT_NAMES, POPULATION_BONE_MM, POPULATION_BONE_SD_MM

PREDICTION_FORMAT = "awhourglass-prediction/2"
REFINE_MAX_PASSES = 4
REFINE_STABLE_IOU = 0.9
REFINE_STARTS = 3  # windows refined in parallel; the most confident refined crop wins
# Re-crops around found joints are this much wider than the training crop: joints predicted on a hand the network sees
# imperfectly huddle (their box is too small), and a crop cut to them cuts the fingertips off, so that the next box
# is smaller still. Chosen on generated full frames, never on real photographs (docs/demo.md, "Full frames").
REFINE_MARGIN_SCALE = 1.15
FOV_DEG = math.degrees(2.0 * math.atan(0.5))  # of the assumed camera across the image's longer side


# --- a user's input: box, bone length, camera (the CLI parses its flags with these) ---------------------------


def box_numbers(bbox: Any) -> tuple[float, float, float, float]:
    """``(x, y, w, h)``: four finite numbers with a positive width and height (whatever the image)."""
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise PredictError(f"bbox: expected 4 numbers x,y,w,h, got {bbox!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise PredictError(f"bbox: width and height must be positive finite pixels, got {bbox!r}")
    return x, y, w, h


def parse_bone_mm(bone_mm: Any) -> float:
    """The scale bone's length in millimetres: a positive finite number."""
    try:
        value = float(bone_mm)
    except (TypeError, ValueError):
        raise PredictError(f"bone length must be positive millimetres, got {bone_mm!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise PredictError(f"bone length must be positive millimetres, got {bone_mm!r}")
    return value


def parse_bbox(bbox: Any, width: int, height: int) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` in original pixels (x, y = top-left corner); must overlap the image and be positive."""
    x, y, w, h = box_numbers(bbox)
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


def round_rows(a: np.ndarray, digits: int) -> list[list[float]]:
    """A 2-D array as JSON rows of floats rounded to ``digits``."""
    return [[round(float(v), digits) for v in row] for row in a]


@dataclass
class Prediction:
    """One hand's prediction on one image.

    Attributes:
        uv_px: ``(21, 2)`` joints in the original image's pixels (pixel i's centre at i).
        xyz: ``(21, 3)`` root-relative 3D in millimetres (root = palm centre at the origin), with ``bone_mm``.
        xyz_norm: ``(21, 3)`` root-relative 3D in scale-bone units (the wrist → middle MCP bone has length 1).
        xyz_cam: ``(21, 3)`` camera-space 3D in millimetres (closed-form root depth), with ``K`` and ``bone_mm``.
        confidence, joint_confidence: mean and per-joint heatmap concentration (:func:`heatmap_confidence`).
        hand_detected: ``confidence >= threshold``; threshold_source: where the threshold came from.
        bbox: ``(x, y, w, h)`` of the square crop used (margin included), in original pixels (pixel ``i``'s centre at
            ``i``); ``bbox_source`` ``"user"``, ``"refined"`` (found, ``refinement`` says how) or ``"whole_image"``.
        K: the intrinsics used; ``K_assumed`` when they were not given.
        bone_mm: the scale-bone length used; ``bone_assumed`` when it was not given (the population mean).
        root_depth_ok: the closed-form root depth had a real solution (else the nearest value was used).
        image_size: ``(W, H)``; notes: what was done to the input.
        crop, crop_uv_px, heatmaps: the network input ``(S, S, 3)`` uint8, its joints and last-stack
            heatmaps ``(21, h, w)``; rgb: the image as read (for figures; not in :meth:`to_dict`).
    """

    uv_px: np.ndarray
    xyz: np.ndarray
    xyz_norm: np.ndarray
    xyz_cam: np.ndarray
    confidence: float
    joint_confidence: np.ndarray
    hand_detected: bool
    threshold: float
    threshold_source: str
    bbox: tuple[float, float, float, float]
    bbox_source: str
    refinement: dict[str, Any] | None
    K: np.ndarray
    K_assumed: bool
    bone_mm: float
    bone_assumed: bool
    root_depth_ok: bool
    image_size: tuple[int, int]
    notes: list[str]
    crop: np.ndarray
    crop_uv_px: np.ndarray
    heatmaps: np.ndarray
    rgb: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))

    @property
    def metric(self) -> bool:
        """The millimetres rest on given values only (``K`` and the bone length both given)."""
        return not (self.K_assumed or self.bone_assumed)

    @property
    def label(self) -> str:
        """The overlay's caption: hand or not, and the confidence."""
        return f"{'hand' if self.hand_detected else 'no hand?'} conf {self.confidence:.2f}"

    def assumptions(self) -> dict[str, str]:
        """``K`` and ``bone_mm``: how each was obtained (given, or what was assumed)."""
        return {
            "K": "given" if not self.K_assumed else
                 f"assumed: focal length max(W, H) px, principal point at the image centre ({FOV_DEG:.1f} deg "
                 "field of view across the longer side)",
            "bone_mm": "given" if not self.bone_assumed else
                       f"assumed: population mean {POPULATION_BONE_MM:g} mm (SD {POPULATION_BONE_SD_MM:g} mm) of the "
                       "wrist to middle-MCP bone",
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``awh predict`` (``awhourglass-prediction/2``, docs/demo.md)."""
        k_tag = "K assumed" if self.K_assumed else "K given"
        b_tag = "bone_mm assumed" if self.bone_assumed else "bone_mm given"
        return {
            "format": PREDICTION_FORMAT,
            "joint_order": "canonical21",
            "joint_names": list(JOINT_NAMES),
            "image_size": list(self.image_size),
            "hand_detected": bool(self.hand_detected),
            "confidence": round(float(self.confidence), 4),
            "hand_threshold": self.threshold,
            "hand_threshold_source": self.threshold_source,
            "joint_confidence": [round(float(c), 4) for c in self.joint_confidence],
            "bbox": [round(float(v), 2) for v in self.bbox],
            "bbox_source": self.bbox_source,
            "refinement": self.refinement,
            "uv_px": round_rows(self.uv_px, 2),
            "xyz_root_relative_mm": round_rows(self.xyz, 3),
            "xyz_camera_mm": round_rows(self.xyz_cam, 3),
            "xyz_scale_normalized": round_rows(self.xyz_norm, 4),
            "root": "palm centre (mean of wrist and middle MCP); the origin of xyz_root_relative_mm and "
                    "xyz_scale_normalized (scale-bone units: wrist to middle MCP = 1)",
            "rests_on": {
                "uv_px": ["the image"],
                "xyz_scale_normalized": [k_tag],
                "xyz_root_relative_mm": [k_tag, b_tag],
                "xyz_camera_mm": [k_tag, b_tag, "closed-form root depth"],
            },
            "assumptions": self.assumptions(),
            "metric": bool(self.metric),
            "K": round_rows(self.K, 3),
            "K_assumed": bool(self.K_assumed),
            "bone_mm": round(float(self.bone_mm), 3),
            "bone_assumed": bool(self.bone_assumed),
            "root_depth_ok": bool(self.root_depth_ok),
            "notes": list(self.notes),
        }


@dataclass
class _Pass:
    """One network pass on one crop square: joints in the crop's and the original image's pixels."""

    centre: np.ndarray
    side: float
    A: np.ndarray  # original pixels → crop pixels
    x: torch.Tensor  # (3, S, S) the crop as the network saw it (before mirroring a left hand)
    heat: np.ndarray  # (21, h, w) last-stack heatmaps in the crop's orientation
    uv_net: np.ndarray  # (21, 2) the network's joints in its (possibly mirrored) input
    uv_crop: np.ndarray  # (21, 2) joints in the crop's pixels
    uv_orig: np.ndarray  # (21, 2) joints in the original pixels
    z_norm: np.ndarray  # (21,)
    joint_conf: np.ndarray  # (21,)

    @property
    def confidence(self) -> float:
        return float(self.joint_conf.mean())

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        h = self.side / 2.0
        return float(self.centre[0] - h), float(self.centre[1] - h), float(self.side), float(self.side)


class HandPoseEstimator:
    """A loaded network that predicts one right hand per image (see module docstring)."""

    def __init__(self, model: AWHourglassNet, threshold: float = DEFAULT_HAND_THRESHOLD,
                 max_pixels: int = DEFAULT_MAX_PIXELS, crop_margin: float = CROP_MARGIN,
                 min_crop_px: float = MIN_CROP_PX, fast: bool = True, threshold_source: str = "default") -> None:
        self.model = model.eval()
        # fast: a BN-folded snapshot runs predict (faster at batch 1 on a CPU, same outputs; models/fused.py);
        # False runs the model's own forward. Rebuild the estimator if the model's weights change afterwards.
        self.fast = FusedHourglass(self.model) if fast else None
        if not math.isfinite(float(threshold)):  # a NaN would also end up as a non-JSON literal in the output
            raise PredictError(f"threshold must be a finite confidence, got {threshold!r}")
        self.threshold = float(threshold)
        self.threshold_source = threshold_source
        self.crop_margin, self.min_crop_px = float(crop_margin), float(min_crop_px)  # the training crop (checkpoint)
        self.max_pixels = int(max_pixels)

    @property
    def input_size(self) -> int:
        return self.model.cfg.input_size

    def _network(self, x: torch.Tensor) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """``x (B, 3, S, S)`` in [0, 1] → last-stack heatmaps ``(B, 21, h, w)`` (CPU), ``uv_px (B, 21, 2)``,
        ``z_norm (B, 21)`` (float64)."""
        x = x.to(self.model.mean.device)
        if self.fast is not None:
            out = self.fast(x)
            heat = out.heatmap.cpu()
        else:
            out = self.model(x)
            heat = out.stacks[-1].heatmap.cpu()
        return heat, out.uv_px.cpu().double().numpy(), out.z_norm.cpu().double().numpy()

    def _passes(self, rgb: np.ndarray, squares: list[tuple[np.ndarray, float]], left: bool,
                chunk: int = 64) -> list[_Pass]:
        """Run the network on the crop squares ``[(centre (2,), side)]`` of ``rgb`` (batched)."""
        S = self.input_size
        out: list[_Pass] = []
        for i in range(0, len(squares), chunk):
            part = squares[i: i + chunk]
            maps = [geometry.crop_affine(c, s, S) for c, s in part]
            xs = torch.stack([crop_rgb(rgb, A, S) for A in maps])
            heat, uv_net, z = self._network(xs.flip(-1) if left else xs)
            conf = heatmap_confidence(heat).numpy().astype(np.float64)
            for k, ((c, s), A) in enumerate(zip(part, maps, strict=True)):
                hm, uv_crop = heat[k].numpy(), uv_net[k]
                if left:  # the network saw the mirrored crop: mirror its joints and heatmaps back
                    uv_crop = uv_crop.copy()
                    uv_crop[:, 0] = (S - 1) - uv_crop[:, 0]
                    hm = hm[:, :, ::-1].copy()
                out.append(_Pass(np.asarray(c, np.float64), float(s), A, xs[k], hm, uv_net[k], uv_crop,
                                 geometry.apply_affine(np.linalg.inv(A), uv_crop), z[k], conf[k]))
        return out

    def _refine(self, rgb: np.ndarray, left: bool, max_passes: int) -> tuple[_Pass, dict[str, Any]]:
        """No box: search the frame, then re-crop around the joints until the crop is stable (module docstring)."""
        H, W = rgb.shape[:2]
        windows = search_squares(W, H)
        ranked = sorted(self._passes(rgb, windows, left), key=lambda p: -p.confidence)
        starts: list[_Pass] = []
        for p in ranked:  # the most confident windows that do not mostly overlap a more confident one
            if all(geometry.square_iou(p.centre, p.side, q.centre, q.side) < 0.5 for q in starts):
                starts.append(p)
            if len(starts) == REFINE_STARTS:
                break
        tracks = [self._track(rgb, left, start, max_passes) for start in starts]
        # the windows' confidences are not comparable with a crop around the joints; the refined crops' are
        best = max(range(len(tracks)), key=lambda k: tracks[k][0][-1].confidence)
        passes, stable = tracks[best]
        report = {
            "windows_searched": len(windows),
            "starts": len(starts),
            "passes": len(passes),
            "stable": stable,
            "pass_boxes": [[round(v, 2) for v in p.bbox] for p in passes],
            "pass_confidences": [round(p.confidence, 4) for p in passes],
        }
        return passes[-1], report

    def _track(self, rgb: np.ndarray, left: bool, start: _Pass, max_passes: int) -> tuple[list[_Pass], bool]:
        """Re-crop around the last pass's joints until the crop moves less than :data:`REFINE_STABLE_IOU`."""
        passes = [start]
        while len(passes) < max_passes:
            last = passes[-1]
            centre, side = corner_square(last.uv_orig.min(0), last.uv_orig.max(0),
                                         self.crop_margin * REFINE_MARGIN_SCALE, self.min_crop_px)
            if len(passes) > 1 and geometry.square_iou(centre, side, last.centre, last.side) >= REFINE_STABLE_IOU:
                return passes, True
            passes += self._passes(rgb, [(centre, side)], left)
        return passes, False

    @torch.no_grad()
    def predict(
        self,
        image: str | os.PathLike | np.ndarray | Any,
        bbox: Any = None,
        K: Any = None,
        bone_mm: float | None = None,
        left_hand: bool = False,
        refine: bool = True,
        max_passes: int = REFINE_MAX_PASSES,
    ) -> Prediction:
        """Predict the hand in ``image``.

        Args:
            image: a path, a PIL image or an array (see :func:`load_image`).
            bbox: ``(x, y, w, h)``: the hand's box in original pixels (pixel ``i``'s centre at ``i``, e.g. the box
                of its joints; the crop square adds the margin the network was trained with, recorded in its
                checkpoint); ``None`` = find the hand (``refine``) or use the whole image.
            K: intrinsics of ``image`` (``fx, fy, cx, cy`` or 3×3), pixels; ``None`` = assumed (see module).
            bone_mm: length of the wrist → middle-MCP bone in millimetres; ``None`` = the population mean
                (:data:`~awhourglass.skeleton.POPULATION_BONE_MM`, assumed).
            left_hand: the model is right-handed; a left hand is mirrored in, and its output mirrored back.
            refine: without ``bbox``, search the frame and re-crop around the joints (module docstring); False
                crops the whole image (padded to a centred square), for a hand that fills the picture.
            max_passes: at most this many network passes after the search (the search's best window included).
        """
        loaded = load_image(image, self.max_pixels)
        rgb, notes = loaded.rgb, list(loaded.notes)
        H, W = rgb.shape[:2]
        box = None if bbox is None else parse_bbox(bbox, W, H)
        if bone_mm is not None:
            bone_mm = parse_bone_mm(bone_mm)
        if int(max_passes) < 1:
            raise PredictError(f"max_passes must be at least 1, got {max_passes!r}")
        Kmat = parse_intrinsics(K) if K is not None else assumed_intrinsics(W, H)
        refinement = None
        if box is not None:
            chosen = self._passes(rgb, [box_square(box, W, H, self.crop_margin, self.min_crop_px)], left_hand)[0]
            source = "user"
        elif refine:
            chosen, refinement = self._refine(rgb, left_hand, int(max_passes))
            source = "refined"
            notes.append(f"no bbox given: the hand was searched for in {refinement['windows_searched']} squares "
                         f"and re-cropped around its joints ({refinement['passes']} passes, "
                         f"{'stable' if refinement['stable'] else 'not yet stable'})")
        else:
            chosen = self._passes(rgb, [box_square(None, W, H, self.crop_margin, self.min_crop_px)], left_hand)[0]
            source = "whole_image"
            notes.append("no bbox given: the whole image was used (padded to a centred square)")
        S = self.input_size
        K_net = chosen.A @ Kmat
        if left_hand:  # the network is right-handed: it saw the mirrored crop, lift there and mirror the 3D back
            _, K_net = geometry.flip_horizontal(np.zeros((1, 2)), K_net, S)
            notes.append("left hand: mirrored for the right-handed model and mirrored back")
        mirror = np.array([-1.0, 1.0, 1.0]) if left_hand else np.ones(3)
        bone = self.model.cfg.scale_bone
        cam_bones, ok = geometry.lift_camera(chosen.uv_net, chosen.z_norm, K_net, bone=bone)  # one root-depth solve
        xyz_norm = geometry.root_relative(cam_bones, bone)
        bone_used = POPULATION_BONE_MM if bone_mm is None else float(bone_mm)
        xyz_cam = cam_bones * bone_used  # camera space is linear in the bone length
        conf = chosen.confidence
        xyz_norm, xyz_cam = xyz_norm * mirror, xyz_cam * mirror
        if not all(np.isfinite(a).all() for a in (chosen.uv_orig, xyz_norm, xyz_cam)):
            raise PredictError("the network produced non-finite output (a damaged checkpoint?)")
        return Prediction(
            uv_px=chosen.uv_orig,
            xyz=xyz_norm * bone_used,
            xyz_norm=xyz_norm,
            xyz_cam=xyz_cam,
            confidence=conf,
            joint_confidence=chosen.joint_conf,
            hand_detected=conf >= self.threshold,
            threshold=self.threshold,
            threshold_source=self.threshold_source,
            bbox=chosen.bbox,
            bbox_source=source,
            refinement=refinement,
            K=Kmat,
            K_assumed=K is None,
            bone_mm=bone_used,
            bone_assumed=bone_mm is None,
            root_depth_ok=bool(ok),
            image_size=(W, H),
            notes=notes,
            crop=np.ascontiguousarray((chosen.x.permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy()),
            crop_uv_px=chosen.uv_crop,
            heatmaps=chosen.heat,
            rgb=rgb,
        )


def assumed_intrinsics(width: int, height: int) -> np.ndarray:
    """The camera assumed when none is given: focal length ``max(W, H)``, principal point at the centre."""
    f = float(max(width, height))
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def load(checkpoint: str | os.PathLike, device: str | torch.device = "cpu",
         threshold: float | None = None) -> HandPoseEstimator:
    """Load a trained checkpoint (``model.pt`` of ``awh train`` / ``awh demo``) for prediction.

    ``threshold``: the confidence above which a hand is reported; ``None`` = the one calibrated when the model was
    trained (its checkpoint's ``hand_threshold``), else :data:`DEFAULT_HAND_THRESHOLD`.
    """
    ckpt = load_checkpoint(checkpoint)
    crop_margin, min_crop_px = crop_entry(ckpt, checkpoint, "target")  # a user's photograph is the real domain
    if threshold is not None:
        value, source = float(threshold), "given"
    else:
        calibrated = hand_threshold_entry(ckpt, checkpoint)
        value, source = (DEFAULT_HAND_THRESHOLD, "default") if calibrated is None else \
            (calibrated["threshold"], "calibrated at training (checkpoint)")
    return HandPoseEstimator(network_from_dict(ckpt, checkpoint).to(device), threshold=value,
                             crop_margin=crop_margin, min_crop_px=min_crop_px, threshold_source=source)
