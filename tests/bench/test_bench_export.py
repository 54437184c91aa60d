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
