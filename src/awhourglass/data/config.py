"""Typed dataset and loader configs (load with :func:`awhourglass.config.from_dict` / ``load_yaml``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args, get_type_hints

from awhourglass.config import ConfigError
from awhourglass.data.sample import SOURCE, TARGET
from awhourglass.geometry import CROP_MARGIN, MIN_CROP_PX

# The one table of dataset formats: name → (reader module, reader class, default domain; None: the reader's own, a
# pack's is that of the format it packed). DatasetConfig.format, build_dataset and `awh data --format` read it.
READERS: dict[str, tuple[str, str, int | None]] = {
    "rhd": ("awhourglass.data.rhd", "RHDDataset", SOURCE),
    "stb": ("awhourglass.data.stb", "STBDataset", TARGET),
    "freihand": ("awhourglass.data.freihand", "FreiHANDDataset", TARGET),
    "mpd": ("awhourglass.data.mpd", "MPDDataset", TARGET),
    "mmpose-rhd": ("awhourglass.data.mmpose", "MMPoseRHDDataset", SOURCE),
    "mmpose-freihand": ("awhourglass.data.mmpose", "MMPoseFreiHANDDataset", TARGET),
    "interhand": ("awhourglass.data.interhand", "InterHandDataset", TARGET),
    "pack": ("awhourglass.data.pack", "PackDataset", None),
}
FORMATS = tuple(READERS)
# READERS' names as a type, for DatasetConfig.format (a type checker cannot read the table; a test keeps them equal)
DatasetFormat = Literal["rhd", "stb", "freihand", "mpd", "mmpose-rhd", "mmpose-freihand", "interhand", "pack"]


@dataclass
class AugmentConfig:
    """Random crop/colour augmentation, drawn per sample from a seeded generator.

    Attributes:
        enabled: apply any augmentation at all (training sets); off for evaluation.
        scale: crop side multiplier drawn uniformly from ``[lo, hi]``.
        rotation_deg: in-plane rotation drawn uniformly from ``[-r, r]`` degrees, implemented as a rotation
            of the camera about its optical axis (K stays a pinhole, 3D joints rotate with the image).
        translate: crop centre shift, uniform in ``[-f, f]`` × crop side on each axis.
        brightness, contrast, saturation: colour factors drawn uniformly from ``[1 − x, 1 + x]``.
        flip_prob: probability of a horizontal flip (mirrors image, K, 2D, 3D and depth). A flip turns a
            right hand into a left one, so it requires ``mirror_left: false`` (see docs/datasets.md).
        hue: white-balance jitter: each colour channel is multiplied by its own gain drawn uniformly from
            ``[1 − hue, 1 + hue]`` (0 = off).
        blur_prob, blur_sigma_px: with probability ``blur_prob`` the crop is blurred by a Gaussian whose standard
            deviation, in output-crop pixels, is drawn uniformly from ``[0, blur_sigma_px]``.
        noise_prob, noise_std: with probability ``noise_prob`` Gaussian noise is added to every pixel and
            channel, its standard deviation drawn uniformly from ``[0, noise_std]`` (pixel values in [0, 1]).
        cutout_prob, cutout_frac: with probability ``cutout_prob`` a rectangle whose width and height are each
            drawn uniformly from ``[0, cutout_frac]`` × the crop side, placed uniformly inside the crop, is
            filled with a random colour or (half the time) uniform noise.

        on_batch: leave the pixel work to the batch (``awhourglass.data.pending``): a loader worker crops the
            labels and the depth and hands over the pixel-only augmentation draw (and, reading a pack, the
            packed crop with its resampling map) instead of the finished pixels; training finishes the batch
            on its device (the GPU where there is one). Same result as ``false`` (tested), but a worker then
            does a fraction of the work. Readers and packs only; the generated stream ignores it.

    The last four groups change pixels only (no label moves); all are off by default. ``__post_init__`` checks
    every range when the config loads (a one-line :class:`~awhourglass.config.ConfigError` naming the key), so a
    bad value never reaches a loader worker.
    """

    enabled: bool = False
    scale: tuple[float, float] = (0.9, 1.1)
    rotation_deg: float = 30.0
    translate: float = 0.05
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    flip_prob: float = 0.0
    hue: float = 0.0
    blur_prob: float = 0.0
    blur_sigma_px: float = 1.0
    noise_prob: float = 0.0
    noise_std: float = 0.03
    cutout_prob: float = 0.0
    cutout_frac: float = 0.3
    on_batch: bool = False

    def __post_init__(self) -> None:
        ranges = {  # key: (lo, hi) inclusive; the colour factors are drawn from [1 - x, 1 + x], so x <= 1
            "rotation_deg": (0.0, 180.0), "translate": (0.0, 1.0), "brightness": (0.0, 1.0), "contrast": (0.0, 1.0),
            "saturation": (0.0, 1.0),
            "flip_prob": (0.0, 1.0), "hue": (0.0, 0.5), "blur_prob": (0.0, 1.0), "blur_sigma_px": (0.0, 10.0),
            "noise_prob": (0.0, 1.0), "noise_std": (0.0, 0.5), "cutout_prob": (0.0, 1.0), "cutout_frac": (0.0, 1.0),
        }
        for name, (lo, hi) in ranges.items():
            _check_range(f"AugmentConfig.{name}", getattr(self, name), lo, hi)
        lo, hi = self.scale
        if not (_finite(lo) and _finite(hi) and 0 < lo <= hi):
            raise ConfigError(f"AugmentConfig.scale must be [lo, hi] with 0 < lo <= hi, got {list(self.scale)}")


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _check_range(where: str, value: object, lo: float, hi: float = math.inf) -> None:
    """A one-line :class:`ConfigError` naming ``where`` unless ``lo <= value <= hi`` (NaN fails too)."""
    if not (isinstance(value, (int, float)) and lo <= value <= hi):
        bound = f"lie in [{lo:g}, {hi:g}]" if math.isfinite(hi) else f"be a finite number >= {lo:g}"
        raise ConfigError(f"{where} must {bound}, got {value!r}")


@dataclass
class DatasetConfig:
    """One dataset on disk.

    Attributes:
        format: on-disk layout: ``rhd``, ``stb``, ``freihand``, ``mpd``, ``mmpose-rhd`` or ``mmpose-freihand``
            (MMPose's COCO-style JSONs; ``root`` is that file, :mod:`awhourglass.data.mmpose`), ``interhand``
            (InterHand2.6M, :mod:`awhourglass.data.interhand`), ``pack`` (a dataset stored by ``awh data pack``;
            ``root`` is the pack's folder, :mod:`awhourglass.data.pack`). The table :data:`READERS` lists them.
        root: dataset folder (RHD: the folder holding ``training/`` and ``anno_training.pickle``; STB: the
            folder holding ``labels/`` and the sequence folders; FreiHAND: holding ``training_K.json``;
            MPD: holding ``annotated_frames/`` and ``calibrations/``; InterHand2.6M: holding ``annotations/`` and
            ``images/``).
        split: ``train`` or ``test``/``eval`` (RHD: training/evaluation; STB: B2–B6 / B1 unless
            ``sequences`` is given; FreiHAND: training/evaluation; MPD: see ``mpd_test_sequences``; InterHand2.6M:
            train / test, ``eval`` = its val split); ``all`` takes everything.
        input_size: side of the square network input crop, pixels. In a training config leave it out: it is
            ``model.input_size`` (given, it must equal that). A config used alone (``awh data``, evaluation, a
            reader built in code) must give it: :meth:`require_input_size`.
        labels: ``3d`` keeps the 3D joints; ``2d`` hides them (``xyz_m`` None), the weakly supervised target.
        with_depth: load depth images where the dataset has them (RHD, STB).
        mirror_left: mirror left hands to the right-hand convention (STB is all left hands, RHD mixed).
        crop_margin: crop side = ``crop_margin`` × the longer side of the visible joints' bounding box (files
            written before the rename say ``crop_scale``: read as this).
        min_crop_px: smallest crop side in original pixels.
        augment: random augmentation options.
        skip_bad: skip unreadable samples with a warning count instead of raising.
        max_samples: keep only the first N samples (quick runs); None = all.
        sequences: STB/MPD sequence names to use, overriding the split; empty = by split.
        stb_depth_frame: ``depth``: SK depth PNGs are in the depth camera's pixel grid and are registered
            to the colour camera with the calibration; ``color``: already registered; ``auto``: what
            ``intrinsics.json``'s ``depth_png_registered_to_color`` says, else ``depth`` (published STB).
        depth_band_m: STB hand mask: depth within this band around the median depth at visible joints.
        rhd_hand: ``auto`` picks the hand with the larger mask area (ties: more visible joints).
        freihand_versions: which of FreiHAND's 4 background versions to use (0 = green screen).
        seed: base seed of the per-sample augmentation generator.
        images: ``mmpose-*``: the folder the JSON's ``file_name`` paths are relative to (default: the JSON's
            folder, then its parent); ``interhand``: replaces ``images/{split}`` under the root.
    """

    format: DatasetFormat
    root: str
    split: Literal["train", "test", "eval", "all"] = "train"
    input_size: int | None = None
    labels: Literal["3d", "2d"] = "3d"
    with_depth: bool = True
    mirror_left: bool = True
    crop_margin: float = CROP_MARGIN
    min_crop_px: float = MIN_CROP_PX
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    skip_bad: bool = False
    max_samples: int | None = None
    sequences: tuple[str, ...] = ()
    stb_depth_frame: Literal["auto", "depth", "color"] = "auto"
    depth_band_m: float = 0.08
    rhd_hand: Literal["auto", "left", "right"] = "auto"
    freihand_versions: tuple[int, ...] = (0, 1, 2, 3)
    seed: int = 0
    images: str | None = None
    # old key → field, read by from_dict (YAML files, checkpoints' configs and packs written before the rename)
    RENAMED: ClassVar[dict[str, str]] = {"crop_scale": "crop_margin"}

    def __post_init__(self) -> None:
        # checked here too, not only by from_dict: the CLI builds the config directly from flags
        hints = get_type_hints(type(self))
        for name in ("format", "split", "labels", "stb_depth_frame", "rhd_hand"):
            allowed = get_args(hints[name])  # the Literal's values
            if getattr(self, name) not in allowed:
                raise ConfigError(f"DatasetConfig.{name} must be one of {', '.join(allowed)}, got "
                                  f"{getattr(self, name)!r}")
        if self.input_size is not None and self.input_size <= 0:
            raise ConfigError(f"DatasetConfig.input_size must be positive pixels, got {self.input_size}")
        if not (_finite(self.crop_margin) and self.crop_margin > 0):
            raise ConfigError(f"DatasetConfig.crop_margin must be a finite number > 0, got {self.crop_margin!r}")
        _check_range("DatasetConfig.min_crop_px", self.min_crop_px, 0.0)
        if not (_finite(self.depth_band_m) and self.depth_band_m > 0):
            raise ConfigError(f"DatasetConfig.depth_band_m must be a finite number > 0 (metres), got "
                              f"{self.depth_band_m!r}")
        if self.max_samples is not None and self.max_samples < 1:
            raise ConfigError(f"DatasetConfig.max_samples must be >= 1 or null (all), got {self.max_samples}")
        if not self.freihand_versions or any(v not in range(4) for v in self.freihand_versions):
            raise ConfigError(f"DatasetConfig.freihand_versions must be one or more of 0, 1, 2, 3, got "
                              f"{list(self.freihand_versions)}")
        if self.augment.flip_prob > 0 and self.mirror_left:
            raise ConfigError(
                "DatasetConfig: augment.flip_prob > 0 needs mirror_left: false (a flip shows a right-handed "
                "model a left hand; with mirror_left the model is right-handed only)"
            )

    def require_input_size(self) -> int:
        """``input_size``; a one-line :class:`ConfigError` when it is not set (a training config sets it from
        the model's, every other user gives it)."""
        if self.input_size is None:
            raise ConfigError(f"DatasetConfig.input_size is not set for {self.format} {self.root}: give the network "
                              "input size in pixels")
        return self.input_size
