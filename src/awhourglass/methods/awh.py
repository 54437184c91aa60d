"""AWH, the paper's method: WH with the features weighted channel by channel by their cross-domain similarity
(Eq. 5), with the intermediate-supervision options of its Table 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from awhourglass.methods.wh import WH
from awhourglass.models.similarity import channel_weights, weight_features

if TYPE_CHECKING:
    from awhourglass.methods.config import MethodConfig

# paper Table 1's names of the intermediate-supervision terms
TABLE1_TERMS = {"src_2d": "R2D", "src_3d": "R3D", "tgt_2d": "S2D"}


class AWH(WH):
    """The critic sees α-weighted features (Eq. 5), α computed per batch from both domains' features."""

    name = "awh"
    label = "AWH"

    def label_of(self, cfg: MethodConfig) -> str:
        if not cfg.intermediate:
            return f"{self.label} (wo/IL)"
        return f"{self.label} w/IL ({'+'.join(TABLE1_TERMS[t] for t in cfg.intermediate)})"

    def weigh(self, feats_src: list[torch.Tensor], feats_tgt: list[torch.Tensor], cfg: MethodConfig):
        out_s, out_t, alphas = [], [], []
        for fs, ft in zip(feats_src, feats_tgt, strict=True):
            alpha = channel_weights(fs, ft, cfg.similarity)
            out_s.append(weight_features(fs, alpha))
            out_t.append(weight_features(ft, alpha))
            alphas.append(alpha)
        return out_s, out_t, alphas
