"""Feature similarity weighting (paper Eq. 5-6): a per-channel weight α from source/target feature similarity.

``u^i = Σ_{H×W} ẑ_s^i ⊙ ẑ_t^i`` with ẑ the normalized map of channel i; α_i = weight(u^i) scales channel i of
*both* domains before the critic. The open choices (normalization, pairing, weight map, gradient through α)
are :class:`awhourglass.models.config.SimilarityConfig` fields; docs/model.md discusses them.
"""

from __future__ import annotations

import torch

from awhourglass.models.config import SimilarityConfig


def normalize_channels(z: torch.Tensor, normalization: str = "l2", eps: float = 1e-6) -> torch.Tensor:
    """Per-channel map normalization of ``z (B, C, H, W)``: unit L2 norm (``"l2"``), or zero mean then unit L2
    norm (``"zscore"``), over H·W. A map whose norm is below ``eps`` becomes ~0 (no similarity)."""
    if normalization == "zscore":
        z = z - z.mean((2, 3), keepdim=True)
    elif normalization != "l2":
        raise ValueError(f"normalize_channels: unknown normalization {normalization!r} (l2 or zscore)")
    return z / z.flatten(2).norm(dim=-1).clamp_min(eps)[..., None, None]


def channel_similarity(z_src: torch.Tensor, z_tgt: torch.Tensor, cfg: SimilarityConfig | None = None) -> torch.Tensor:
    """Paper Eq. 5: the similarity ``u (C,)`` of source and target features ``(B_s, C, H, W)``, ``(B_t, C, H, W)``.

    Pairing: ``all_pairs`` = mean of u over every (source, target) pair; ``paired`` = mean over pairs (i, i)
    (needs B_s = B_t); ``batch_mean`` = u of the batch-mean maps.
    """
    cfg = cfg or SimilarityConfig()
    if z_src.dim() != 4 or z_src.shape[1:] != z_tgt.shape[1:]:
        raise ValueError(f"channel_similarity: features must be (B, C, H, W) with equal C, H, W; got "
                         f"{tuple(z_src.shape)} and {tuple(z_tgt.shape)}")
    if cfg.pairing == "batch_mean":
        zs = normalize_channels(z_src.mean(0, keepdim=True), cfg.normalization, cfg.eps)
        zt = normalize_channels(z_tgt.mean(0, keepdim=True), cfg.normalization, cfg.eps)
        return (zs * zt).sum((2, 3))[0]
    zs = normalize_channels(z_src, cfg.normalization, cfg.eps)
    zt = normalize_channels(z_tgt, cfg.normalization, cfg.eps)
    if cfg.pairing == "paired":
        if z_src.shape[0] != z_tgt.shape[0]:
            raise ValueError(f"channel_similarity: 'paired' needs equal batch halves, got {z_src.shape[0]} source "
                             f"and {z_tgt.shape[0]} target samples")
        return (zs * zt).sum((2, 3)).mean(0)
    if cfg.pairing == "all_pairs":
        # mean_{i,j} <ẑ_s,i, ẑ_t,j> = <mean_i ẑ_s,i, mean_j ẑ_t,j>: all B_s·B_t pairs at the cost of one.
        return (zs.mean(0) * zt.mean(0)).sum((1, 2))
    raise ValueError(f"channel_similarity: unknown pairing {cfg.pairing!r}")


def similarity_to_weight(u: torch.Tensor, weight: str = "relu") -> torch.Tensor:
    """Map similarities to channel weights: ``relu`` max(0, u), ``affine`` (1 + u)/2, ``identity`` u."""
    if weight == "relu":
        return u.clamp_min(0.0)
    if weight == "affine":
        return 0.5 * (1.0 + u)
    if weight == "identity":
        return u
    raise ValueError(f"similarity_to_weight: unknown weight map {weight!r} (relu, affine or identity)")


def channel_weights(z_src: torch.Tensor, z_tgt: torch.Tensor, cfg: SimilarityConfig | None = None) -> torch.Tensor:
    """α ``(C,)`` of paper Eq. 5-6 (detached unless ``cfg.detach`` is False)."""
    cfg = cfg or SimilarityConfig()
    if cfg.detach:
        z_src, z_tgt = z_src.detach(), z_tgt.detach()
    return similarity_to_weight(channel_similarity(z_src, z_tgt, cfg), cfg.weight)


def weight_features(z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``α × z``: scale channel i of ``z (B, C, H, W)`` by ``alpha (C,)``."""
    if alpha.shape != (z.shape[1],):
        raise ValueError(f"weight_features: alpha must be ({z.shape[1]},), got {tuple(alpha.shape)}")
    return z * alpha[None, :, None, None]
