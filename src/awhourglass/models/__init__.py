"""The AW Hourglass network, its latent 2.5D head, feature-similarity weighting, critic and depth decoder."""

from awhourglass.models.config import ModelConfig, SimilarityConfig
from awhourglass.models.critic import FeatureCritic, dann_lambda, grad_reverse
from awhourglass.models.depth import DepthDecoder, masked_avg_pool
from awhourglass.models.fused import FusedHourglass, InferenceOutput
from awhourglass.models.head import heatmap_weighted_depth, latent_25d, soft_argmax, spatial_softmax
from awhourglass.models.hourglass import AWHourglassNet, DomainBatchNorm2d, HourglassOutput, StackOutput
from awhourglass.models.similarity import channel_similarity, channel_weights, normalize_channels, weight_features

__all__ = [
    "AWHourglassNet",
    "DepthDecoder",
    "DomainBatchNorm2d",
    "FeatureCritic",
    "FusedHourglass",
    "HourglassOutput",
    "InferenceOutput",
    "ModelConfig",
    "SimilarityConfig",
    "StackOutput",
    "channel_similarity",
    "channel_weights",
    "dann_lambda",
    "grad_reverse",
    "heatmap_weighted_depth",
    "latent_25d",
    "masked_avg_pool",
    "normalize_channels",
    "soft_argmax",
    "spatial_softmax",
    "weight_features",
]
