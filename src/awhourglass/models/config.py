"""Typed configs of the network (:class:`ModelConfig`) and of the feature similarity of Eq. 5
(:class:`SimilarityConfig`); the training method's config lives with training (``train.config.MethodConfig``).

Both load from YAML / dicts with :func:`awhourglass.config.from_dict` (unknown keys rejected).
Every choice the paper leaves open is a field here; docs/model.md explains each default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from awhourglass.config import ConfigError
from awhourglass.skeleton import DEFAULT_SCALE_BONE, NUM_JOINTS


@dataclass
class ModelConfig:
    """The stacked hourglass with latent 2.5D heads and the depth-regularizer decoder.

    Attributes:
        input_size: side of the square input crop in pixels.
        stem_stride: 1, 2 or 4; heatmaps are ``input_size / stem_stride`` pixels wide.
        width: channels inside the hourglasses.
        num_stacks: number of stacked hourglasses (paper: 2).
        depth: number of 2× poolings in each hourglass; the bottleneck is ``heatmap / 2**depth`` wide.
        feature_point: which features of each stack are exposed as ``z`` for adaptation:
            ``"bottleneck"`` (innermost, lowest resolution) or ``"output"`` (the hourglass output
            at heatmap resolution, the input of the 2.5D head).
        first_stack_design: ``"fss"`` (Iqbal et al.: the 2.5D heatmaps of a stack are re-injected into the
            next one) or ``"fssc"`` (paper Fig. 3: ``fssc_convs`` extra 3×3 convs before the intermediate
            heatmaps, and those conv features, not the heatmaps, go to the next stack).
        fssc_convs: number of extra convs for ``"fssc"``.
        domain_bn: separate batch-norm statistics and affine parameters per domain (off = paper-faithful).
        depth_out_size: side of the depth-regularizer image (``4·2^k`` and dividing ``input_size``).
        depth_width: channels of the depth decoder.
        scale_bone: the bone of Eq. 7 (normalization and root-depth recovery).
    """

    input_size: int = 64
    stem_stride: Literal[1, 2, 4] = 2
    width: int = 64
    num_stacks: int = 2
    depth: int = 3
    feature_point: Literal["bottleneck", "output"] = "bottleneck"
    first_stack_design: Literal["fss", "fssc"] = "fss"
    fssc_convs: int = 2
    domain_bn: bool = False
    depth_out_size: int = 32
    depth_width: int = 32
    scale_bone: tuple[int, int] = DEFAULT_SCALE_BONE

    def __post_init__(self) -> None:
        if self.stem_stride not in (1, 2, 4):
            raise ConfigError(f"ModelConfig.stem_stride: expected 1, 2 or 4, got {self.stem_stride}")
        if self.input_size <= 0 or self.input_size % self.stem_stride:
            raise ConfigError(f"ModelConfig.input_size {self.input_size} must be a positive multiple of stem_stride")
        hm = self.input_size // self.stem_stride
        if self.depth < 1 or hm % (2**self.depth):
            raise ConfigError(
                f"ModelConfig.depth {self.depth}: heatmap size {hm} must be divisible by 2**depth = {2**self.depth}"
            )
        if self.num_stacks < 1 or self.width < 1 or self.depth_width < 1 or self.fssc_convs < 0:
            raise ConfigError("ModelConfig: num_stacks, width and depth_width must be >= 1, fssc_convs >= 0")
        size, ok = self.depth_out_size, self.depth_out_size >= 4
        while ok and size > 4:
            ok, size = size % 2 == 0, size // 2
        if not ok or size != 4 or self.input_size % self.depth_out_size:
            raise ConfigError(
                f"ModelConfig.depth_out_size {self.depth_out_size}: must be 4·2^k and divide "
                f"input_size {self.input_size}"
            )
        a, b = self.scale_bone
        if a == b or not (0 <= a < NUM_JOINTS and 0 <= b < NUM_JOINTS):
            raise ConfigError(f"ModelConfig.scale_bone must be two different joints in 0..{NUM_JOINTS - 1}, "
                              f"got {list(self.scale_bone)}")

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.stem_stride


@dataclass
class SimilarityConfig:
    """Open choices of the feature-similarity weighting (paper Eq. 5, method-notes item 6).

    Attributes:
        normalization: per-channel map normalization before the product: ``"l2"`` (unit L2 norm, so the
            sum is a cosine in [-1, 1]) or ``"zscore"`` (zero mean, unit norm: a Pearson correlation).
        pairing: how source and target samples meet: ``"all_pairs"`` (mean similarity over every
            source-target pair), ``"paired"`` (sample i with sample i, then averaged) or ``"batch_mean"``
            (similarity of the batch-mean maps).
        weight: similarity → weight: ``"relu"`` (max(0, s)), ``"affine"`` ((1 + s)/2) or ``"identity"``.
        detach: stop gradients through α (default; otherwise the encoder can lower the Wasserstein
            estimate by making channels dissimilar).
        eps: floor of the map norm.
    """

    normalization: Literal["l2", "zscore"] = "l2"
    pairing: Literal["all_pairs", "paired", "batch_mean"] = "all_pairs"
    weight: Literal["relu", "affine", "identity"] = "relu"
    detach: bool = True
    eps: float = 1e-6

    def __post_init__(self) -> None:
        if not (isinstance(self.eps, int | float) and math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"SimilarityConfig.eps must be a finite number > 0, got {self.eps!r}")
