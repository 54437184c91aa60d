"""Rebuilding networks from checkpoints, and grafting a pretrained network onto a design with more layers."""

from __future__ import annotations

from dataclasses import replace

import torch

from awhourglass.checkpoint import atomic_save
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.models.load import graft_network, network_checkpoint, network_from_checkpoint


def _tiny() -> ModelConfig:
    return ModelConfig(input_size=32, stem_stride=2, width=8, depth=2, depth_out_size=16, depth_width=8)


def test_graft_copies_every_shared_tensor_and_names_the_fresh_ones(tmp_path):
    torch.manual_seed(3)
    source = AWHourglassNet(_tiny())
    with torch.no_grad():  # non-default values everywhere, buffers included, so a copy is visible
        for t in source.state_dict().values():
            if t.is_floating_point():
                t.add_(0.01 * torch.rand_like(t))
    cfg = replace(_tiny(), first_stack_design="fssc", fssc_convs=2)
    net, fresh = graft_network(source, cfg, seed=7)
    # FSSC adds the first stack's two conv-BN-ReLU layers and changes the remap's input from 42 maps to 8 channels
    expected = {k for k in net.state_dict() if k.startswith("extra.0.")} | {"remap_heads.0.weight"}
    assert set(fresh) == expected and len(expected) > 2
    theirs = source.state_dict()
    for k, v in net.state_dict().items():
        if k in expected:
            assert k not in theirs or theirs[k].shape != v.shape
        else:
            assert torch.equal(v, theirs[k]), k
    again, _ = graft_network(source, cfg, seed=7)  # the fresh tensors come from the seed
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))
    other, _ = graft_network(source, cfg, seed=8)
    assert not torch.equal(net.state_dict()["extra.0.0.0.weight"], other.state_dict()["extra.0.0.0.weight"])
    # a grafted network is a plain checkpoint: every command reads it back
    atomic_save(network_checkpoint(net), tmp_path / "g.pt")
    back = network_from_checkpoint(tmp_path / "g.pt")
    assert back.cfg.first_stack_design == "fssc"
    x = torch.rand(2, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.allclose(back(x).uv_px, net(x).uv_px)
