"""How real our renders look to a network trained on photographs: MediaPipe Hands on generated images.

The real-hands report (:mod:`~awhourglass.eval.realreport`) asks whether our networks see real hands; this asks the
converse without touching a real photograph, so that the generator can be judged and changed without tuning to
``../shared/realdev``: MediaPipe's landmark network (trained on photographs) runs on generated images of each domain,
scored against the generator's exact labels by the real-hands scores (:func:`~awhourglass.eval.realscore.summarize`,
:func:`~awhourglass.eval.realscore.per_joint`). Each image's crop is the training square around the tight box of its
joints, turned so that the wrist → middle-MCP direction points up, as MediaPipe's own tracker aligns the crops it
gives this network. Beside it, scored by the same code: the constant mean hand (the other images' joints in the
turned crop's coordinates, left hands mirrored to right ones, leave-one-out) and, when given, checkpoints on their
usual, unturned training square (a left hand mirrored in, as the real-hands report runs them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from awhourglass import geometry
from awhourglass.data.crop import box_square
from awhourglass.eval.cropnet import crop_square, predict_crops
from awhourglass.eval.mediapipe_landmarks import MP_INPUT_PX, MediaPipeLandmarks
from awhourglass.eval.realhands import reference_box
from awhourglass.eval.realreport import CheckpointModel, landmarks_in_frame, load_models, offsets_line, table_lines
from awhourglass.eval.realscore import leave_one_out_mean, per_joint, summarize
from awhourglass.geometry import CROP_MARGIN, MIN_CROP_PX
from awhourglass.skeleton import MIDDLE_MCP, WRIST
from awhourglass.synth.generate import LEFT, generate_batch

REALISM_FORMAT = "awhourglass-realism/1"
REALISM_SEED = 20_261_207  # the images of this measure: a seed of their own, drawn by no training stream or split
REALISM_IMAGE_PX = 256  # generated image width (source square, target 4:3)
DOMAINS = ("source", "target")
MEDIAPIPE_ROW = "MediaPipe landmarks (upright training square)"
CONSTANT_ROW = "constant mean hand (leave-one-out)"

Landmarks = Callable[[np.ndarray], np.ndarray]  # crop (S, S, 3) uint8 → (21, 2) joints in the crop's pixels


def upright_affine(uv_px: np.ndarray, labelled: np.ndarray, width: int, height: int, size: int,
                   crop_margin: float = CROP_MARGIN, min_crop_px: float = MIN_CROP_PX) -> np.ndarray:
    """Frame → crop pixels ``(3, 3)``: the training square around the labelled joints' tight box, turned about its
    centre so that the hand's wrist → middle-MCP direction points up in the ``size``² crop."""
    centre, side = box_square(reference_box(uv_px, labelled), width, height, crop_margin, min_crop_px)
    du, dv = np.asarray(uv_px[MIDDLE_MCP], np.float64) - np.asarray(uv_px[WRIST], np.float64)
    return geometry.crop_affine(centre, side, size, rotation_rad=math.atan2(du, -dv))


def _mirror(uv_px: np.ndarray, size: int, flip: bool) -> np.ndarray:
    """Mirror crop pixels ``(21, 2)`` left ↔ right about the ``size``² crop's centre column when ``flip``."""
    return np.column_stack([(size - 1) - uv_px[:, 0], uv_px[:, 1]]) if flip else uv_px


def score_renders(batch: Mapping[str, np.ndarray], landmarks: Landmarks | str, size: int = MP_INPUT_PX,
                  models: list[CheckpointModel] | None = None) -> dict[str, Any]:
    """Scores on one :func:`~awhourglass.synth.generate.generate_batch` output: ``{"images", "rows": {method:
    summarize(...) or a reason}, "per_joint": {method: per_joint(...)}}``.

    Args:
        landmarks: the photo-trained landmark network on ``size``² upright crops, or why it did not run.
        models: checkpoints, each on its training square (a left hand mirrored in, as the real-hands report runs them).
    """
    uv = np.asarray(batch["uv_px"], np.float64)
    n, height, width = batch["rgb"].shape[:3]
    lab = np.ones(uv.shape[:2], bool)
    maps = [upright_affine(uv[i], lab[i], width, height, size) for i in range(n)]
    preds: dict[str, np.ndarray | str] = {}
    if isinstance(landmarks, str):
        preds[MEDIAPIPE_ROW] = f"not run: {landmarks}"
    else:
        preds[MEDIAPIPE_ROW] = np.stack([landmarks_in_frame(landmarks, batch["rgb"][i], A, size)
                                         for i, A in enumerate(maps)])
    # the mean hand of the others in this image's upright crop, left hands mirrored to right ones and back
    left = np.asarray(batch["side"]) == LEFT
    in_crop = np.stack([_mirror(geometry.apply_affine(A, uv[i]), size, left[i]) for i, A in enumerate(maps)])
    mean = leave_one_out_mean(in_crop, lab)
    preds[CONSTANT_ROW] = np.stack([geometry.apply_affine(np.linalg.inv(A), _mirror(mean[i], size, left[i]))
                                    for i, A in enumerate(maps)])
    for m in models or []:
        crops = []
        for i in range(n):
            c, s = box_square(reference_box(uv[i], lab[i]), width, height, m.crop_margin, m.min_crop_px)
            crops.append(crop_square(batch["rgb"][i], c, s, m.input_size, "left" if left[i] else "right"))
        preds[m.name] = np.stack([p.uv_px for p in predict_crops(crops, m.network)])
    return {"images": n,
            "rows": {k: (v if isinstance(v, str) else summarize(v, uv, lab)) for k, v in preds.items()},
            "per_joint": {k: per_joint(v, uv, lab) for k, v in preds.items() if not isinstance(v, str)}}


def realism_report(n: int, checkpoints: Mapping[str, str | os.PathLike[str]] | None = None,
                   seed: int = REALISM_SEED, image_px: int = REALISM_IMAGE_PX,
                   landmarks: Landmarks | str | None = None) -> dict[str, Any]:
    """MediaPipe (or the given ``landmarks``) on ``n`` generated images per domain beside the constant hand and the
    ``checkpoints`` (display name → path): ``{"format", "seed", "image_px", "mediapipe", "domains": {domain:
    score_renders(...)}}``."""
    if n < 2:
        raise ValueError(f"the realism measure needs at least 2 images per domain (leave-one-out), got {n}")
    models = load_models(checkpoints or {}, "cpu")
    mp = MediaPipeLandmarks.open() if landmarks is None else landmarks
    try:
        described = (mp if isinstance(mp, str) else
                     f"mediapipe {mp.version} {mp.model}" if isinstance(mp, MediaPipeLandmarks) else "given landmarks")
        doc: dict[str, Any] = {"format": REALISM_FORMAT, "seed": int(seed), "image_px": int(image_px),
                               "mediapipe": described, "domains": {}}
        for d in DOMAINS:
            doc["domains"][d] = score_renders(generate_batch(n, d, seed=seed, size=image_px), mp, MP_INPUT_PX, models)
    finally:
        if landmarks is None and isinstance(mp, MediaPipeLandmarks):
            mp.close()
    return doc


def realism_markdown(doc: Mapping[str, Any]) -> str:
    """One table per domain (the real-hands report's columns) and each method's largest mean offsets."""
    lines = [f"# MediaPipe on our renders (seed {doc['seed']}, {doc['mediapipe']})", ""]
    for d, s in doc["domains"].items():
        lines += [f"## {d} ({s['images']} generated images)", "", *table_lines(s["rows"]), ""]
        lines += [f"- {offsets_line(m, pj)}" for m, pj in s["per_joint"].items()] + [""]
    return "\n".join(lines)
