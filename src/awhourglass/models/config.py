"""Typed configs of the network (:class:`ModelConfig`) and of the training method (:class:`MethodConfig`).

Both load from YAML / dicts with :func:`awhourglass.config.from_dict` (unknown keys rejected).
Every choice the paper leaves open is a field here; docs/model.md explains each default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from awhourglass.config import ConfigError
from awhourglass.skeleton import DEFAULT_SCALE_BONE

MethodName = Literal["source_only", "oracle", "joint", "wh", "dann", "awh"]
IntermediateTerm = Literal["src_2d", "src_3d", "tgt_2d"]


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


@dataclass
class MethodConfig:
    """Which method trains the network, and the weights of paper Eq. 11.

    Attributes:
        name: ``source_only`` (source 2.5D + depth reg only), ``oracle`` (target 3D used), ``joint``
            (wo/AWH: half/half, no critic), ``wh`` (α ≡ 1, Shen et al. 2018), ``dann`` (gradient reversal),
            ``awh`` (the method).
        lambda_wd: weight of L_wd for the feature extractor.
        lambda_res: weight of the pose terms L_2.5D^s + L_2D^t.
        lambda_reg: weight of the depth regularizer L_reg^s + L_reg^t.
        lambda_alpha: weight of the depth term inside Eq. 8.
        lambda_gp: gradient-penalty weight of the critic (WGAN-GP: 10).
        lambda_dann: weight of the domain-classification loss (``dann``).
        lambda_intermediate: weight of the intermediate-supervision terms.
        intermediate: terms supervised at every stack but the last (paper Table 1: ``src_2d`` = R2D,
            ``src_3d`` = R3D, ``tgt_2d`` = S2D; empty = wo/IL, the paper's final choice).
        critic_at: which stacks' features go to the critic / domain classifier.
        critic_steps: critic updates per generator update.
        critic_lr, critic_betas: Adam settings of the critic (WGAN-GP).
        critic_width: channels of the critic.
        similarity: the Eq. 5 options.
        oracle_with_source: the oracle also trains on the source half (False: target only).
        target_3d: also supervise the target's 3D labels (the paper's fully supervised MPD scenario,
            e.g. "RHD+MPD+w/AWH"); always on for the ``oracle``, off for the weakly supervised setting.
    """

    name: MethodName = "awh"
    lambda_wd: float = 0.1
    lambda_res: float = 1.0
    lambda_reg: float = 1.0
    lambda_alpha: float = 10.0
    lambda_gp: float = 10.0
    lambda_dann: float = 0.1
    lambda_intermediate: float = 1.0
    intermediate: tuple[IntermediateTerm, ...] = ()
    critic_at: Literal["first", "last", "all"] = "last"
    critic_steps: int = 5
    critic_lr: float = 1e-4
    critic_betas: tuple[float, float] = (0.0, 0.9)
    critic_width: int = 64
    similarity: SimilarityConfig = field(default_factory=SimilarityConfig)
    oracle_with_source: bool = True
    target_3d: bool = False

    @property
    def uses_target_3d(self) -> bool:
        """Whether the target's 3D labels are supervised (oracle, or a fully supervised target)."""
        return self.name == "oracle" or self.target_3d

    def __post_init__(self) -> None:
        bad = sorted(set(self.intermediate) - {"src_2d", "src_3d", "tgt_2d"})
        if bad:
            raise ConfigError(f"MethodConfig.intermediate: unknown term(s) {bad}; allowed src_2d, src_3d, tgt_2d")
        if self.critic_steps < 1:
            raise ConfigError(f"MethodConfig.critic_steps must be >= 1, got {self.critic_steps}")

    @property
    def uses_critic(self) -> bool:
        """True for the Wasserstein methods (``wh``, ``awh``), which need separate critic steps."""
        return self.name in ("wh", "awh")

    @property
    def uses_domain_classifier(self) -> bool:
        """True for ``dann``, whose classifier trains in the generator step through gradient reversal."""
        return self.name == "dann"

    @property
    def uses_target(self) -> bool:
        """False only for ``source_only``."""
        return self.name != "source_only"

    def critic_stacks(self, num_stacks: int) -> list[int]:
        """Indices of the stacks whose features the critic / domain classifier sees."""
        return {"first": [0], "last": [num_stacks - 1], "all": list(range(num_stacks))}[self.critic_at]
