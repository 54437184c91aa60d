"""The default network keeps its convolution weights channels-last (NHWC): faster oneDNN convolutions on CPU."""

import copy

import torch
from torch import nn

from awhourglass.models import AWHourglassNet, ModelConfig

TINY = ModelConfig(input_size=32, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=4)


def test_conv_weights_are_channels_last_and_outputs_match_nchw():
    torch.manual_seed(0)
    model = AWHourglassNet(TINY).eval()
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    nchw = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    assert not any(
        m.weight.is_contiguous(memory_format=torch.channels_last)
        for m in nchw.modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)
    )
    x = torch.rand(2, 3, 32, 32)  # an NCHW input: the NHWC weights decide the layout of every conv
    uv = torch.rand(2, 21, 2) * 31
    with torch.no_grad():
        a, b = model(x, depth_uv_px=uv), nchw(x, depth_uv_px=uv)
    torch.testing.assert_close(a.uv_px, b.uv_px, atol=1e-4, rtol=0)
    torch.testing.assert_close(a.z_norm, b.z_norm, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.depth_pred, b.depth_pred, atol=1e-5, rtol=0)


def test_layout_survives_a_state_dict_round_trip():
    torch.manual_seed(0)
    src = AWHourglassNet(TINY)
    dst = AWHourglassNet(TINY)
    dst.load_state_dict({k: v.contiguous() for k, v in src.state_dict().items()})  # e.g. an NCHW checkpoint
    w = dst.stem[0][0].weight
    assert w.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(w, src.stem[0][0].weight)
