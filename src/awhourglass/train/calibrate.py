"""The ``hand_detected`` threshold of a trained network, calibrated on held-out data and stored in its checkpoint.

``awh predict`` reports a hand when the network's heatmap confidence (the mean over joints of
:func:`~awhourglass.models.head.heatmap_confidence`) reaches a threshold. The confidence scale differs from one
network to another, so each run calibrates its own: at the end of training, the final network scores

- **hand crops** held out of the training data (:func:`split_holdout`: the last :data:`HOLDOUT_FRACTION` of each
  file dataset read from the config, at most :data:`HOLDOUT_MAX` samples, never trained on; for an endless generated
  stream, :data:`HOLDOUT_STREAM` positions at its far end, which no run reaches), and
- **hand-free crops** (:func:`hand_free_images`: uniform noise, flat colours, smooth gradients, and the quadrant
  farthest from the hand of generated cluttered target-domain frames),

and the threshold is the one that best separates the two (:func:`best_threshold`: the highest balanced accuracy,
the mean of the rates of hands found and of hand-free crops rejected). The checkpoint's ``hand_threshold`` records
it with both rates and the sample counts (:func:`awhourglass.checkpoint.hand_threshold_entry` reads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from awhourglass.data.sample import Sample, Samples, collate
from awhourglass.models.head import heatmap_confidence
from awhourglass.synth.generate import generate_batch

HOLDOUT_FRACTION = 0.05
HOLDOUT_MAX = 256
HOLDOUT_STREAM = 128  # of an endless stream (fresh renders cost time at the end of every run)
HOLDOUT_MIN_DATASET = 40  # smaller datasets keep every sample for training (and no threshold is calibrated)
FREE_IMAGES = 128
FREE_SEED_OFFSET = 7_000_003  # not the run seed itself: the demo's confidence check draws its own with that seed


class IndexView(Sequence):
    """Positions ``start ≤ i < stop`` of an indexable dataset, as a dataset of their own.

    It reads as the dataset does: a package reader's ``(index, seed)`` keys (seeded augmentation) and its skipped
    bad samples pass through (a reader that skips a bad file reads the next position of the whole dataset).
    """

    def __init__(self, dataset: Samples, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= len(dataset):
            raise ValueError(f"IndexView [{start}, {stop}) outside a dataset of {len(dataset)}")
        self.dataset, self.start, self.stop = dataset, int(start), int(stop)
        self.fresh = getattr(dataset, "fresh", False)  # an endless stream stays one (StepBatches reads it)
        self.takes_seed = getattr(dataset, "takes_seed", False)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key: int | tuple[int, int] | tuple[int, int, bool]) -> Sample:  # type: ignore[override]
        rest: tuple[int | bool, ...]
        if isinstance(key, (int, np.integer)):
            i, rest = int(key), ()
        else:
            i, rest = int(key[0]), tuple(key[1:])
        if not 0 <= i < len(self):
            raise IndexError(f"position {i} outside a view of {len(self)}")
        return self.dataset[(self.start + i, *rest)] if rest else self.dataset[self.start + i]

    def take_skipped(self) -> list[str]:
        """The underlying reader's skipped bad samples (none for other datasets)."""
        take = getattr(self.dataset, "take_skipped", None)
        return take() if take is not None else []


def split_holdout(dataset: Samples) -> tuple[Samples, Samples | None]:
    """``(training part, held-out part or None)`` of a dataset (see the module docstring)."""
    n_all = len(dataset)
    if getattr(dataset, "fresh", False):  # an endless stream: training never reaches its last positions
        return dataset, IndexView(dataset, n_all - HOLDOUT_STREAM, n_all)
    n = min(HOLDOUT_MAX, int(n_all * HOLDOUT_FRACTION))
    if n_all < HOLDOUT_MIN_DATASET or n < 1:
        return dataset, None
    return IndexView(dataset, 0, n_all - n), IndexView(dataset, n_all - n, n_all)


def hand_free_images(n: int, size: int, seed: int, image_size: int = 128, gap: float = 0.5) -> torch.Tensor:
    """``(n, 3, size, size)`` images in [0, 1] without a hand: noise, flat colours, gradients, cluttered background
    (the quadrant of a generated target frame farthest from its hand), in turn."""
    rng = np.random.default_rng(seed)
    renders = generate_batch(max(1, n // 4), "target", np.random.SeedSequence([seed, 99]), image_size, gap)
    out = np.empty((n, 3, size, size), np.float32)
    ramp = np.linspace(0, 1, size)
    for i in range(n):
        kind = i % 4
        if kind == 0:
            img = rng.random((3, size, size))
        elif kind == 1:
            img = np.broadcast_to(rng.random((3, 1, 1)), (3, size, size))
        elif kind == 2:
            img = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, 1 - ramp) / 2,
                            np.full((size, size), rng.random())])
        else:
            k = (i // 4) % renders["rgb"].shape[0]
            rgb, c = renders["rgb"][k], renders["uv_px"][k].mean(0)
            H, W = rgb.shape[:2]
            x0, y0 = (0 if c[0] > W / 2 else W - W // 2), (0 if c[1] > H / 2 else H - H // 2)
            quad = Image.fromarray(rgb[y0:y0 + H // 2, x0:x0 + W // 2]).resize((size, size), Image.Resampling.BILINEAR)
            img = np.asarray(quad, np.float64).transpose(2, 0, 1) / 255.0
        out[i] = img
    return torch.from_numpy(out)


def best_threshold(hand: np.ndarray, free: np.ndarray) -> dict[str, Any]:
    """The confidence threshold that best separates hand crops from hand-free crops.

    Candidates are the midpoints between consecutive distinct scores (and just below / above all of them); the
    one with the highest balanced accuracy ``(P(hand ≥ t) + P(free < t)) / 2`` wins, the lowest on a tie.

    Returns:
        ``threshold``, ``hand_rate`` (hands at or above it), ``free_rate`` (hand-free crops at or above it),
        ``balanced_accuracy``, ``n_hand``, ``n_free``.
    """
    hand, free = np.asarray(hand, np.float64).ravel(), np.asarray(free, np.float64).ravel()
    if hand.size == 0 or free.size == 0 or not (np.isfinite(hand).all() and np.isfinite(free).all()):
        raise ValueError("best_threshold needs finite scores of at least one hand and one hand-free crop")
    scores = np.unique(np.concatenate([hand, free]))
    cands = np.concatenate([[scores[0] - 1e-6], (scores[:-1] + scores[1:]) / 2.0, [scores[-1] + 1e-6]])
    tpr = (hand[None, :] >= cands[:, None]).mean(1)
    fpr = (free[None, :] >= cands[:, None]).mean(1)
    k = int(np.argmax((tpr + 1.0 - fpr) / 2.0))
    return {"threshold": float(np.clip(cands[k], 0.0, 1.0)), "hand_rate": float(tpr[k]), "free_rate": float(fpr[k]),
            "balanced_accuracy": float((tpr[k] + 1.0 - fpr[k]) / 2.0), "n_hand": int(hand.size),
            "n_free": int(free.size)}


@torch.no_grad()
def confidences(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """``(N,)`` hand confidence of each image ``(N, 3, S, S)`` (the network in eval mode, its mode restored)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        out = [heatmap_confidence(model(images[i:i + batch_size].to(device)).stacks[-1].heatmap).mean(-1).cpu()
               for i in range(0, images.shape[0], batch_size)]
    finally:
        model.train(was)
    return torch.cat(out).double().numpy()


def calibrate_hand_threshold(model: torch.nn.Module, held_out: Samples, seed: int,
                             n_free: int = FREE_IMAGES) -> dict[str, Any]:
    """The checkpoint's ``hand_threshold`` entry: :func:`best_threshold` of ``model`` on the held-out hand crops
    and ``n_free`` hand-free crops of the same input size."""
    hands = collate([held_out[i] for i in range(len(held_out))]).image
    free = hand_free_images(n_free, hands.shape[-1], seed + FREE_SEED_OFFSET)
    entry = best_threshold(confidences(model, hands), confidences(model, free))
    entry["method"] = ("highest balanced accuracy: held-out training hand crops vs hand-free crops (noise, flat, "
                       "gradients, cluttered background)")
    return entry


__all__ = ["IndexView", "best_threshold", "calibrate_hand_threshold", "confidences",
           "hand_free_images", "split_holdout"]
