"""ONNX export keeps the network's outputs."""

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from awhourglass.export import export_onnx, named_output_tensors


@dataclass
class _Out:
    heatmaps: list
    depth: torch.Tensor


class _Tiny(nn.Module):
    """Conv-BN-ReLU stages, a residual add, pooling/upsampling and a dataclass output."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 5, 1)

    def forward(self, x):
        f = self.stem(x)
        low = torch.relu(self.bn(self.conv(nn.functional.max_pool2d(f, 2))))
        f = f + nn.functional.interpolate(low, scale_factor=2.0, mode="nearest")
        h = self.head(f)
        return _Out(heatmaps=[h, h * 2], depth=h.mean(dim=(2, 3)))


def _tiny_with_stats() -> _Tiny:
    torch.manual_seed(0)
    m = _Tiny()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):  # non-trivial running statistics and affine terms
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    return m.eval()


def test_named_output_tensors_names_follow_fields_and_indices():
    out = _Out(heatmaps=[torch.zeros(1), torch.ones(1)], depth=torch.zeros(2))
    assert [n for n, _ in named_output_tensors(out)] == ["heatmaps_0", "heatmaps_1", "depth"]
    assert [n for n, _ in named_output_tensors([torch.zeros(1)])] == ["output_0"]
    assert [n for n, _ in named_output_tensors(torch.zeros(1))] == ["output"]


def test_onnx_export_matches_pytorch_within_1e_4(tmp_path):
    m = _tiny_with_stats().train()  # export must use eval-mode BatchNorm and restore the mode
    path = tmp_path / "sub" / "tiny.onnx"
    names = export_onnx(m, path, 32)
    assert m.training
    assert names == ["heatmaps_0", "heatmaps_1", "depth"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == names
    m.eval()
    for batch in (1, 4):  # the batch dimension is dynamic
        x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
        got = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            ref = m(x)
        for g, r in zip(got, [*ref.heatmaps, ref.depth], strict=True):
            np.testing.assert_allclose(g, r.numpy(), atol=1e-4, rtol=0)
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind


def test_export_rejects_bad_size(tmp_path):
    with pytest.raises(ValueError, match="positive"):
        export_onnx(_tiny_with_stats(), tmp_path / "x.onnx", 0)


def _write_checkpoint(path, model, cfg):
    import dataclasses

    from awhourglass import __version__
    from awhourglass.checkpoint import FORMAT, FORMAT_VERSION, atomic_save
    from awhourglass.skeleton import JOINT_NAMES

    atomic_save(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "awhourglass_version": __version__,
            "config": {"model": dataclasses.asdict(cfg)},
            "joint_names": list(JOINT_NAMES),
            "phase": "done",
            "step": 1,
            "modules": {"model": model.state_dict()},
        },
        path,
    )


def test_awh_export_writes_a_graph_that_matches_the_checkpoint(tmp_path, capsys):
    from awhourglass.cli import main
    from awhourglass.models import AWHourglassNet, ModelConfig

    cfg = ModelConfig(input_size=32, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=4)
    torch.manual_seed(0)
    model = AWHourglassNet(cfg)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    _write_checkpoint(tmp_path / "model.pt", model, cfg)
    out = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.pt"), "--onnx", str(out)]) == 0
    assert "uv_px, z_norm, stacks_1_heatmap" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    uv, z, heat = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        ref = model.eval()(x)
    np.testing.assert_allclose(uv, ref.uv_px.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(z, ref.z_norm.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(heat, ref.stacks[1].heatmap.numpy(), atol=1e-4, rtol=0)


def test_awh_export_rejects_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    from awhourglass.cli import main

    bad = tmp_path / "x.pt"
    torch.save({"hello": torch.zeros(1)}, bad)
    assert main(["export", str(bad), "--onnx", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("awh export: error:") and "not an awhourglass checkpoint" in err
    assert not (tmp_path / "x.onnx").exists()


def test_export_rejects_unknown_output_names(tmp_path):
    with pytest.raises(ValueError, match="not among the model's outputs"):
        export_onnx(_tiny_with_stats(), tmp_path / "x.onnx", 32, outputs=["nope"])


def test_awh_export_refuses_nan_weights_in_one_line(tmp_path, capsys):
    from awhourglass.cli import main
    from awhourglass.models import AWHourglassNet, ModelConfig

    cfg = ModelConfig(input_size=32, width=8, num_stacks=1, depth=2, depth_out_size=16, depth_width=4)
    model = AWHourglassNet(cfg)
    name, w = next(iter(model.named_parameters()))
    with torch.no_grad():
        w[(0,) * w.dim()] = float("nan")
    _write_checkpoint(tmp_path / "model.pt", model, cfg)
    out = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.pt"), "--onnx", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path / 'model.pt'}: weight modules.model.{name} is not finite" in err[0], err
    assert not out.exists()
