"""Export a network to ONNX for deployment (optional extra ``[onnx]``: onnx, onnxruntime, onnxscript)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from awhourglass.errors import AwhError


def named_output_tensors(out: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Flatten a model output into ``(name, tensor)`` pairs in a fixed order.

    Dataclass fields and dict keys give the names; list/tuple items get ``_<index>``. A bare tensor
    is called ``output``, a bare list ``output_<index>``. Non-tensor leaves (None, numbers) are dropped.
    """
    if isinstance(out, torch.Tensor):
        return [(prefix or "output", out)]
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        items = [(f.name, getattr(out, f.name)) for f in dataclasses.fields(out)]
    elif isinstance(out, dict):
        items = [(str(k), v) for k, v in out.items()]
    elif isinstance(out, (list, tuple)):
        prefix = prefix or "output"
        items = [(str(i), v) for i, v in enumerate(out)]
    else:
        return []
    pairs: list[tuple[str, torch.Tensor]] = []
    for key, value in items:
        pairs.extend(named_output_tensors(value, f"{prefix}_{key}" if prefix else key))
    return pairs


class _TupleOutputs(nn.Module):
    """Wraps a model so that it returns a flat tuple of tensors (what ONNX graphs can return)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t for _, t in named_output_tensors(self.model(image)))


def _size_hw(input_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    h, w = (int(v) for v in input_size)
    if h < 1 or w < 1:
        raise ValueError(f"input_size must be positive, got {input_size}")
    return h, w


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_size: int | tuple[int, int],
    *,
    dynamic_batch: bool = True,
    opset: int = 18,
) -> list[str]:
    """Write ``model`` (eval mode) as an ONNX graph taking ``image: (B, 3, H, W)`` float32.

    The file is written to a temporary name and renamed into place, so a failed export never
    leaves a half-written ``path``. BatchNorm runs with its running statistics (eval mode); the
    model's mode is restored afterwards.

    Args:
        model: the network; its output may be a tensor, tuple/list, dict or dataclass of tensors.
        path: destination ``.onnx`` file.
        input_size: H (= W) or (H, W) in pixels.
        dynamic_batch: let the batch dimension vary at run time.
        opset: ONNX opset version.

    Returns:
        The graph's output names, in order (see :func:`named_output_tensors`).

    Raises:
        AwhError: when the ``onnx``/``onnxscript`` packages are missing.
    """
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise AwhError("ONNX export needs the optional extra: pip install 'awhourglass[onnx]'") from exc
    h, w = _size_hw(input_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        example = torch.zeros(2, 3, h, w)
        with torch.no_grad():
            names = [n for n, _ in named_output_tensors(model(example))]
        wrapper = _TupleOutputs(model).eval()
        dynamic = {"image": {0: torch.export.Dim("batch", min=1)}} if dynamic_batch else None
        fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
        os.close(fd)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(
                    wrapper,
                    (example,),
                    dynamo=True,
                    input_names=["image"],
                    output_names=names,
                    dynamic_shapes=dynamic,
                    opset_version=opset,
                    verbose=False,
                )
            program.save(tmp, external_data=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    finally:
        model.train(was_training)
    return names
