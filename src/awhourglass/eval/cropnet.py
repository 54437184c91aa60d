"""One hand square of a frame through the network and back to frame pixels (what ``api.predict`` does with a box).

The square (centre, side) is cropped to the network's input with :func:`awhourglass.data.crop.crop_rgb`; the
network is right-handed, so a left hand's crop is mirrored in and its joints mirrored back. When the side is not
known both are run and the mirroring with the higher network confidence (mean of
:func:`~awhourglass.models.head.heatmap_confidence`) is kept: the choice never looks at a reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from awhourglass import geometry
from awhourglass.data.crop import crop_rgb
from awhourglass.models.head import heatmap_confidence
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.skeleton import NUM_JOINTS

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


@dataclass
class SquareCrop:
    """One square of a frame cropped to the network's input: ``x (3, S, S)`` in [0, 1], ``A (3, 3)`` frame → input
    pixels, and the hand's ``side`` (:data:`SIDES`)."""

    x: torch.Tensor
    A: np.ndarray
    side: str


_FLIPS = {"right": (False,), "left": (True,), "unknown": (False, True)}


def crop_square(rgb: np.ndarray, centre_px: np.ndarray, side_px: float, input_size: int,
                side: str = "unknown") -> SquareCrop:
    """Crop the square ``(centre_px (2,), side_px)`` of ``rgb (H, W, 3)`` uint8 to ``input_size``² pixels."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    A = geometry.crop_affine(centre_px, float(side_px), int(input_size))
    return SquareCrop(crop_rgb(rgb, A, int(input_size)), A, side)


def predict_crops(crops: Sequence[SquareCrop], network: Network, batch_size: int = 64) -> list[SquarePrediction]:
    """Run ``network`` on every crop (and its mirror where the side asks for it) in batches of ``batch_size``
    passes, each crop's joints back in its frame's pixels."""
    passes = [(i, f) for i, c in enumerate(crops) for f in _FLIPS[c.side]]
    conf, uv = np.zeros(len(passes)), np.zeros((len(passes), NUM_JOINTS, 2))
    for lo in range(0, len(passes), batch_size):
        chunk = passes[lo:lo + batch_size]
        heat, uv_net = network(torch.stack([crops[i].x.flip(-1) if f else crops[i].x for i, f in chunk]))
        conf[lo:lo + len(chunk)] = heatmap_confidence(heat).double().mean(-1).numpy()
        uv[lo:lo + len(chunk)] = uv_net.double().numpy()
    out, k = [], 0
    for c in crops:
        flips = _FLIPS[c.side]
        best = k + int(np.argmax(conf[k:k + len(flips)]))
        uv_crop = uv[best].copy()
        if passes[best][1]:  # the network saw the mirrored crop
            uv_crop[:, 0] = (c.x.shape[-1] - 1) - uv_crop[:, 0]
        named = {("left" if f else "right"): float(conf[k + j]) for j, f in enumerate(flips)}
        out.append(SquarePrediction(geometry.apply_affine(np.linalg.inv(c.A), uv_crop), float(conf[best]),
                                    bool(passes[best][1]), named))
        k += len(flips)
    return out


def predict_square(rgb: np.ndarray, centre_px: np.ndarray, side_px: float, network: Network, input_size: int,
                   side: str = "unknown") -> SquarePrediction:
    """Run ``network`` on the square ``(centre_px (2,), side_px)`` of ``rgb (H, W, 3)`` uint8.

    Args:
        side: ``"right"`` (as cropped), ``"left"`` (mirrored in, joints mirrored back) or ``"unknown"`` (both; the
            more confident is kept).
    """
    return predict_crops([crop_square(rgb, centre_px, side_px, input_size, side)], network)[0]
