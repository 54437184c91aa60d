"""The product's hand search on the real ASL video (``awh eval CKPT --realdev DIR --search``).

Per frame (every ``every``-th): ``awhourglass.load(ckpt).predict(frame)`` with no box (the API searches the frame
and re-crops around the joints); the found box is the tight box of the returned joints, compared by IoU with the
reference box (the tight box of MediaPipe's landmarks, :func:`~awhourglass.eval.realhands.reference_box`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from awhourglass.api import load
from awhourglass.eval.realhands import iter_set, reference_box
from awhourglass.eval.realscore import box_iou

IOU_HIT = 0.5


def search_ious(checkpoint: str | os.PathLike, realdev_dir: str | os.PathLike, every: int = 1,
                name: str | None = None) -> dict[str, Any]:
    """IoU of the searched box with the reference box on the ASL video: per frame, median, mean, % ≥ 0.5."""
    est = load(checkpoint)
    ious, frames = [], []
    for hand in iter_set(realdev_dir, "asl_video", every):
        pred = est.predict(hand.rgb)
        lo, hi = pred.uv_px.min(0), pred.uv_px.max(0)
        found = (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
        ious.append(box_iou(found, reference_box(hand.uv_px, hand.labelled)))
        frames.append(hand.source)
    a = np.asarray(ious)
    return {"checkpoint": name or str(checkpoint), "set": "asl_video", "frames": len(a),
            "median_iou": float(np.median(a)), "mean_iou": float(a.mean()),
            "pct_iou_ge_50": float(100.0 * np.mean(a >= IOU_HIT)),
            "per_frame": [{"source": s, "iou": round(float(v), 4)} for s, v in zip(frames, a, strict=True)]}
