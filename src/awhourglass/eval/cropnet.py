"""One hand square of a frame through the network and back to frame pixels (what ``api.predict`` does with a box).

The square (centre, side) is cropped to the network's input with :func:`awhourglass.data.crop.crop_rgb`; the
network is right-handed, so a left hand's crop is mirrored in and its joints mirrored back. When the side is not
known both are run and the mirroring with the higher network confidence (mean of
:func:`~awhourglass.models.head.heatmap_confidence`) is kept: the choice never looks at a reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from awhourglass import geometry
from awhourglass.data.crop import crop_rgb
from awhourglass.models.head import heatmap_confidence
from awhourglass.models.hourglass import AWHourglassNet

# x (B, 3, S, S) in [0, 1] → last-stack heatmaps (B, 21, h, w) (spatial softmax), joints uv (B, 21, 2) input px
Network = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
SIDES = ("left", "right", "unknown")


def model_network(model: AWHourglassNet) -> Network:
    """The :data:`Network` of a pose network (eval mode, no gradients, on the model's device)."""
    model = model.eval()

    @torch.no_grad()
    def run(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(x.to(model.mean.device))
        return out.stacks[-1].heatmap.cpu(), out.uv_px.cpu()

    return run


@dataclass
class SquarePrediction:
    """The network's joints on one square of a frame.

    Attributes:
        uv_px: ``(21, 2)`` joints in frame pixels. confidence: mean heatmap confidence of the kept pass.
        mirrored: whether the kept pass saw the mirrored crop (a left hand). confidences: ``{"right": c, "left": c}``
            of the passes run.
    """

    uv_px: np.ndarray
    confidence: float
    mirrored: bool
    confidences: dict[str, float]


def predict_square(rgb: np.ndarray, centre_px: np.ndarray, side_px: float, network: Network, input_size: int,
                   side: str = "unknown") -> SquarePrediction:
    """Run ``network`` on the square ``(centre_px (2,), side_px)`` of ``rgb (H, W, 3)`` uint8.

    Args:
        side: ``"right"`` (as cropped), ``"left"`` (mirrored in, joints mirrored back) or ``"unknown"`` (both; the
            more confident is kept).
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    S = int(input_size)
    A = geometry.crop_affine(centre_px, float(side_px), S)
    x = crop_rgb(rgb, A, S)
    flips = {"right": [False], "left": [True], "unknown": [False, True]}[side]
    heat, uv_net = network(torch.stack([x.flip(-1) if f else x for f in flips]))
    conf = heatmap_confidence(heat).double().mean(-1).numpy()
    uv_np = uv_net.double().numpy()
    k = int(np.argmax(conf))
    uv_crop = uv_np[k].copy()
    if flips[k]:  # the network saw the mirrored crop
        uv_crop[:, 0] = (S - 1) - uv_crop[:, 0]
    uv = geometry.apply_affine(np.linalg.inv(A), uv_crop)
    named = {("left" if f else "right"): float(c) for f, c in zip(flips, conf, strict=True)}
    return SquarePrediction(uv, float(conf[k]), bool(flips[k]), named)
