"""Export a network to ONNX for deployment (optional extra ``[onnx]``: onnx, onnxruntime, onnxscript)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from awhourglass.atomic import atomic_path
from awhourglass.errors import AwhError

if TYPE_CHECKING:
    pass


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

    def __init__(self, model: nn.Module, keep: list[int]) -> None:
        super().__init__()
        self.model = model
        self.keep = keep

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        flat = named_output_tensors(self.model(image))
        return tuple(flat[i][1] for i in self.keep)


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
    outputs: Sequence[str] | None = None,
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
        outputs: names (see :func:`named_output_tensors`) of the outputs to keep, in this order; None keeps all.

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
            available = [n for n, _ in named_output_tensors(model(example))]
        names = list(outputs) if outputs is not None else available
        unknown = [n for n in names if n not in available]
        if unknown or not names:
            raise ValueError(f"outputs {unknown or names} not among the model's outputs {available}")
        wrapper = _TupleOutputs(model, [available.index(n) for n in names]).eval()
        dynamic = {"image": {0: torch.export.Dim("batch", min=1)}} if dynamic_batch else None
        with atomic_path(path, suffix=".onnx") as tmp:
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
            program.save(str(tmp), external_data=False)
    finally:
        model.train(was_training)
    return names


DEPLOY_OUTPUTS = ("uv_px", "z_norm")


def export_checkpoint(ckpt_path: str | Path, onnx_path: str | Path) -> list[str]:
    """Export the pose network of ``ckpt_path`` to ONNX at its configured input size.

    The graph returns what deployment needs: ``uv_px (B, 21, 2)`` joint pixels in the input crop and ``z_norm
    (B, 21)`` normalized root-relative depths (decode to metres with :func:`awhourglass.geometry.decode_25d`,
    given the crop's K and a bone length), plus the last stack's ``heatmap`` as a confidence map.

    Returns:
        The output names.
    """
    from awhourglass.checkpoint import CheckpointError
    from awhourglass.models.load import network_from_checkpoint

    model = network_from_checkpoint(ckpt_path)
    bad = [name for name, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:  # an ONNX graph of NaN weights would deploy silently and predict nothing
        raise CheckpointError(f"checkpoint {ckpt_path}: weights {bad[:3]}{' …' if len(bad) > 3 else ''} are not "
                              "finite (NaN or inf); nothing exported")
    heatmap = f"stacks_{model.cfg.num_stacks - 1}_heatmap"
    return export_onnx(model, onnx_path, model.cfg.input_size, outputs=[*DEPLOY_OUTPUTS, heatmap])
