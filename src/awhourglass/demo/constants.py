"""The constant mean hands of the demo and the benchmark: fitted on the first training labels of each domain's
phase-2 stream, scored on a test split by the methods' protocol under their report labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from awhourglass.data.sample import Sample, collate
from awhourglass.demo.pretrained import ADAPT_STREAM_OFFSET, stream_data
from awhourglass.eval.baselines import fit_constant, score_constant
from awhourglass.eval.results import EvalResult
from awhourglass.models.config import ModelConfig

CONSTANT_LABELS = {"source": "constant: mean hand of the source labels",
                   "target": "constant: mean hand of the target labels (oracle's yardstick)"}


def constant_hands(model: ModelConfig, seed: int, n: int, image_size: int, gap: float) -> dict[str, dict]:
    """Constant mean hands of the first ``n`` training labels of each domain's phase-2 stream of ``seed``
    (the target's 3D labels are read here only to make the oracle's yardstick)."""
    out = {}
    streams = stream_data(model, seed + ADAPT_STREAM_OFFSET, image_size, gap, target_3d=True)
    for name, stream in zip(("source", "target"), streams, strict=True):
        xyz, uv = [], []
        for s in [stream[i] for i in range(n)]:
            assert s.xyz_m is not None  # both streams keep their 3D labels here (target_3d)
            xyz.append(s.xyz_m.double().numpy())
            uv.append(s.uv_px.double().numpy())
        out[name] = fit_constant(np.stack(xyz), np.stack(uv), model.scale_bone)
    return out


def score_constants(constants: dict[str, dict], test: Sequence[Sample], model: ModelConfig) -> dict[str, EvalResult]:
    """Each constant hand scored on ``test`` by the methods' protocol, under its report label."""
    b = collate(list(test))
    gt, uv, vis = b.xyz_m.double().numpy(), b.uv_px.double().numpy(), b.vis.numpy()
    return {CONSTANT_LABELS[k]: score_constant(c, gt, uv, vis, model.scale_bone) for k, c in constants.items()}
