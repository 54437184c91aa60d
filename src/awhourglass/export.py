"""Export a network to ONNX for deployment (optional extra ``[onnx]``: onnx, onnxruntime, onnxscript)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from awhourglass import geometry
from awhourglass.atomic import atomic_path
from awhourglass.errors import AwhError

if TYPE_CHECKING:
    from awhourglass.models.hourglass import AWHourglassNet


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


class LiftedPose(nn.Module):
    """The pose network followed by the lift of its 2.5D output to 3D millimetres, as one graph.

    ``forward(image (B, 3, S, S), K (B, 3, 3), bone_mm (B,))`` returns ``(uv_px (B, 21, 2), z_norm (B, 21),
    heatmap (B, 21, h, w), xyz_mm (B, 21, 3), xyz_cam_mm (B, 21, 3), root_depth_ok (B,))``:

    * ``K``: intrinsics of the network's input crop [px]; ``bone_mm``: the scale-bone length [mm].
    * ``xyz_mm``: root-relative (palm centre at the origin), ``geometry.lift_root_relative(...) × bone_mm``,
      what :meth:`awhourglass.api.HandPoseEstimator.predict` reports with K and a bone length.
    * ``xyz_cam_mm``: camera space with the closed-form root depth, ``geometry.lift_camera(...) × bone_mm``
      (= ``geometry.decode_25d(..., bone_m=bone_mm/1000)`` × 1000); ``root_depth_ok``: whether that depth had a
      real solution (bool). Both come from one ``lift_camera``.

    The lift runs in float64 (cast back to float32 at the end), like ``predict``'s numpy lift: the closed-form
    root depth cancels digits (a 1 m root from a few-pixel bone), which float32 would lose. The 2.5D
    encoding's C is geometry's default 1 (``ModelConfig`` has none; training and ``predict`` use the same).
    """

    def __init__(self, model: AWHourglassNet) -> None:
        super().__init__()
        self.model = model
        a, b = model.cfg.scale_bone
        self.bone = (int(a), int(b))

    def forward(self, image: torch.Tensor, K: torch.Tensor, bone_mm: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b = image.shape[0]
        if K.dim() != 3 or K.shape[0] != b or K.shape[1] != 3 or K.shape[2] != 3:
            raise ValueError(f"K: expected shape ({b}, 3, 3) (one crop intrinsics per image), got {tuple(K.shape)}")
        if bone_mm.dim() != 1 or bone_mm.shape[0] != b:
            raise ValueError(f"bone_mm: expected shape ({b},) (one bone length per image), got "
                             f"{tuple(bone_mm.shape)}")
        out = self.model(image)
        uv, z = out.uv_px.double(), out.z_norm.double()
        K64, bone64 = K.double(), bone_mm.double()
        cam_bones, ok = geometry.lift_camera(uv, z, K64, bone=self.bone)  # one root-depth solve for both outputs
        scale = bone64[:, None, None]  # camera space is linear in the bone length
        xyz_mm = (geometry.root_relative(cam_bones, self.bone) * scale).float()
        return out.uv_px, out.z_norm, out.stacks[-1].heatmap, xyz_mm, (cam_bones * scale).float(), ok


def _write_program(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, input_names: list[str],
                   output_names: list[str], dynamic: Any, opset: int) -> None:
    """``torch.onnx.export`` (dynamo) of ``module`` to ``path``, atomically (a failure leaves no file)."""
    with atomic_path(path, suffix=".onnx") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                example,
                dynamo=True,
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=dynamic,
                opset_version=opset,
                verbose=False,
            )
        assert program is not None  # the dynamo exporter returns its program
        program.save(str(tmp), external_data=False)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise AwhError("ONNX export needs the optional extra: pip install 'awhourglass[onnx]'") from exc


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
    _require_onnx()
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
        _write_program(wrapper, (example,), path, ["image"], names, dynamic, opset)
    finally:
        model.train(was_training)
    return names


DEPLOY_OUTPUTS = ("uv_px", "z_norm")
LIFT_INPUTS = ("image", "K", "bone_mm")
LIFT_OUTPUTS = ("xyz_mm", "xyz_cam_mm", "root_depth_ok")


def export_lifted(model: AWHourglassNet, path: str | Path, *, dynamic_batch: bool = True, opset: int = 18) -> list[str]:
    """Write the pose network ``model`` with the lift to 3D (:class:`LiftedPose`) as one ONNX graph.

    Inputs ``image (B, 3, S, S)`` float32 RGB in [0, 1] (S = ``model.cfg.input_size``), ``K (B, 3, 3)`` float32
    crop intrinsics [px], ``bone_mm (B,)`` float32 scale-bone length [mm]; B is shared and dynamic unless
    ``dynamic_batch`` is False. Written atomically; the model's mode is restored afterwards.

    Returns:
        The output names: ``uv_px``, ``z_norm``, ``stacks_<last>_heatmap``, then :data:`LIFT_OUTPUTS`.
    """
    _require_onnx()
    s = model.cfg.input_size
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [*DEPLOY_OUTPUTS, f"stacks_{model.cfg.num_stacks - 1}_heatmap", *LIFT_OUTPUTS]
    # an example of two different rows, so that nothing batch-dependent is traced as a constant
    K = torch.tensor([[300.0, 0.0, (s - 1) / 2], [0.0, 300.0, (s - 1) / 2], [0.0, 0.0, 1.0]]).repeat(2, 1, 1)
    example = (torch.zeros(2, 3, s, s), K, torch.tensor([80.0, 90.0]))
    # one Dim object for the three inputs: the graph's batch is one symbol, shared by every input
    batch = torch.export.Dim("batch", min=1)
    dynamic = {"image": {0: batch}, "K": {0: batch}, "bone_mm": {0: batch}} if dynamic_batch else None
    was_training = model.training
    model.eval()
    try:
        _write_program(LiftedPose(model).eval(), example, path, list(LIFT_INPUTS), names, dynamic, opset)
    finally:
        model.train(was_training)
    return names


def export_checkpoint(ckpt_path: str | Path, onnx_path: str | Path, *, lift: bool = False) -> list[str]:
    """Export the pose network of ``ckpt_path`` to ONNX at its configured input size.

    The graph returns what deployment needs: ``uv_px (B, 21, 2)`` joint pixels in the input crop and ``z_norm
    (B, 21)`` normalized root-relative depths (decode to metres with :func:`awhourglass.geometry.decode_25d`,
    given the crop's K and a bone length), plus the last stack's ``heatmap`` as a confidence map.

    With ``lift`` the graph also takes ``K (B, 3, 3)`` (crop intrinsics, px) and ``bone_mm (B,)`` (scale bone,
    mm) and does that decoding itself: it adds ``xyz_mm``, ``xyz_cam_mm`` (B, 21, 3) and ``root_depth_ok (B,)``
    (see :class:`LiftedPose`), so a deployment needs no Python post-processing.

    Returns:
        The output names.
    """
    from awhourglass.models.load import network_from_checkpoint

    # the reader refuses non-finite weights: an ONNX graph of NaN weights would deploy silently and predict nothing
    model = network_from_checkpoint(ckpt_path)
    if lift:
        return export_lifted(model, onnx_path)
    heatmap = f"stacks_{model.cfg.num_stacks - 1}_heatmap"
    return export_onnx(model, onnx_path, model.cfg.input_size, outputs=[*DEPLOY_OUTPUTS, heatmap])
