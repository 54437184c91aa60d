"""Speed of the exported ONNX graph under onnxruntime (optional extra ``[onnx]``)."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from awhourglass.speed.model_speed import SpeedResult
from awhourglass.speed.timing import Clock, time_fn


@dataclass(frozen=True)
class OnnxSpeed:
    """onnxruntime figures for the exported network (FLOPs taken from the PyTorch count)."""

    available: bool
    reason: str
    version: str = ""
    throughput: SpeedResult | None = None
    latency: SpeedResult | None = None


def measure_onnx(
    model: nn.Module,
    size: int,
    batch: int,
    flops_per_image: float,
    peak_flops_per_s: float,
    *,
    threads: int,
    warmup: int = 2,
    repeats: int = 5,
    latency_min_time_s: float = 1.0,
    clock: Clock = "wall",
) -> OnnxSpeed:
    """Export ``model`` to a temporary ONNX file and time it in onnxruntime at ``batch`` and at batch 1."""
    try:
        import onnxruntime as ort

        from awhourglass.export import export_onnx
    except ImportError as exc:
        return OnnxSpeed(False, f"onnxruntime is not installed (pip install 'awhourglass[onnx]'): {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        try:
            export_onnx(model, path, size)
        except Exception as exc:  # export failures are reported, not fatal to the rest of the bench
            return OnnxSpeed(False, f"export failed: {type(exc).__name__}: {exc}", ort.__version__)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    results = []
    for b, min_time in ((batch, 0.0), (1, latency_min_time_s)):
        feed = {"image": torch.randn(b, 3, size, size, generator=gen).numpy()}
        timing = time_fn(
            functools.partial(session.run, None, feed), warmup=warmup, repeats=repeats, min_time_s=min_time, clock=clock
        )
        name = "onnxruntime inference" if b == batch else "onnxruntime latency (batch 1)"
        results.append(SpeedResult.from_timing(name, b, timing, round(flops_per_image * b), peak_flops_per_s))
    return OnnxSpeed(True, "", ort.__version__, results[0], results[1])
