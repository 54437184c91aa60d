"""The demo's data: renders cropped by the data pipeline, and the on-disk test splits.

Training images are rendered in memory straight into :class:`Sample` crops (:mod:`awhourglass.demo.stream`:
several times faster than writing PNGs and reading them back). The test splits are written to disk in their
dataset formats (source: RHD ``evaluation``; target: STB ``B1Counting``/``B1Random``) and read back with the
dataset readers, so the reported numbers come through the same path as ``awh eval`` on those folders.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from awhourglass.data.config import AugmentConfig
from awhourglass.data.crop import AugmentParams, RawSample, draw_augment, make_sample
from awhourglass.data.sample import TARGET, Sample
from awhourglass.synth.generate import LEFT, MASK_LEFT0


def check_render_augment(augment: AugmentConfig | None, who: str) -> None:
    """Renders mirror left hands to right ones themselves, so their augmentation must not flip.

    Raises:
        ValueError: ``augment`` is enabled with ``flip_prob > 0``.
    """
    if augment is not None and augment.enabled and augment.flip_prob > 0:
        raise ValueError(f"{who}: augment.flip_prob must be 0 (left hands are mirrored to right ones)")


def samples_from_batch(b: dict[str, np.ndarray], domain: int, input_size: int, name: str, start: int,
                       labels_3d: bool, augment: AugmentConfig | None = None,
                       augment_seed: int = 0) -> list[Sample]:
    """Crop a rendered batch ``b`` (:func:`awhourglass.synth.generate.generate_batch`) into samples.

    Args:
        domain: ``SOURCE`` or ``TARGET``; the target is cropped as the STB reader does (mask from depth), the
            source with the hand-part mask as the RHD reader. Both label every joint (``vis`` all True), hidden
            ones too: the generator knows where each projects, and every score (the target test split, the real
            photographs) counts them, so a network that never learns them guesses them (hidden fingertips drawn
            as if stretched out, measured in docs/synth.md).
        input_size: crop side, pixels. name, start: sample ``i`` is ``{name}/{start + i}``.
        labels_3d: keep ``xyz_m`` (False: the weakly labelled target).
        augment: augmentation options (None: none, the crops of before augmentation existed). Sample ``i``'s
            draw comes from ``default_rng([augment_seed, domain, start + i])``, so it depends only on its
            position. Left hands are mirrored, so ``augment.flip_prob`` must be 0.
        augment_seed: the stream's augmentation seed.
    """
    check_render_augment(augment, "samples_from_batch")
    out = []
    for i in range(b["rgb"].shape[0]):
        side = "left" if int(b["side"][i]) == LEFT else "right"
        vis = np.ones(21, bool)  # every joint labelled (docstring), the renderer's visibility notwithstanding
        mask = None if domain == TARGET else b["mask"][i] >= MASK_LEFT0  # target: from depth in the crop
        raw = RawSample(image=b["rgb"][i], K=b["K"][i].astype(np.float64), uv_px=b["uv_px"][i].astype(np.float64),
                        vis=vis, xyz_m=b["xyz_m"][i].astype(np.float64), depth_m=b["depth_m"][i], mask=mask,
                        hand_side=side, source=f"{name}/{start + i}")
        aug = (AugmentParams() if augment is None
               else draw_augment(np.random.default_rng([augment_seed, domain, start + i]), augment))
        s = make_sample(raw, input_size=input_size, mirror=side == "left", aug=aug, domain=domain)
        out.append(s if labels_3d else replace(s, xyz_m=None))
    return out


def write_test_sets(root: Path, seed: int, image_size: int, n_source: int, n_target: int, gap: float,
                    progress: bool = True) -> tuple[Path, Path]:
    """Write the source evaluation split (RHD format) and the target B1 test split (STB format) under ``root``."""
    from awhourglass.synth.dataset import SynthConfig, write_dataset

    src, tgt = root / "rhd", root / "stb"
    write_dataset(SynthConfig(domain="source", n=n_source, out=str(src), seed=seed, size=image_size,
                              split="evaluation", gap=gap), progress=progress)
    write_dataset(SynthConfig(domain="target", n=n_target, out=str(tgt), seed=seed, size=image_size,
                              split="evaluation", gap=gap), progress=progress)
    return src, tgt


def read_split(root: Path, fmt: str, split: str, input_size: int) -> list[Sample]:
    """All samples of a split through the dataset reader (no augmentation, 3D labels, depth)."""
    from awhourglass.eval.run import load_dataset

    ds = load_dataset(str(root), fmt, split, input_size)
    return [ds[i] for i in range(len(ds))]
