"""The fused inference path equals the eager network in eval mode, for every variant."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.models.fused import FusedHourglass, bn_scale_shift


def tiny(**kw) -> ModelConfig:
    base = {"input_size": 32, "stem_stride": 2, "width": 8, "depth": 2, "depth_out_size": 16, "depth_width": 8}
    base.update(kw)
    return ModelConfig(**base)


def trained_like(cfg: ModelConfig, seed: int = 0) -> AWHourglassNet:
    """A network whose BNs have non-trivial running statistics and affine parameters (as after training):
    with the defaults (mean 0, var 1, γ 1, β 0) a fold that ignored BN would pass unnoticed."""
    torch.manual_seed(seed)
    net = AWHourglassNet(cfg)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.2, 0.2)
    return net


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"stem_stride": 4},
        {"stem_stride": 1, "input_size": 16, "depth_out_size": 16},
        {"first_stack_design": "fssc"},
        {"first_stack_design": "fssc", "fssc_convs": 0},
        {"num_stacks": 1},
        {"num_stacks": 3, "depth": 3},
        {"domain_bn": True},
    ],
)
def test_fused_equals_eager_eval(kw):
    cfg = tiny(**kw)
    net = trained_like(cfg)
    if cfg.domain_bn:  # the two domains differ, so taking the wrong one's statistics would show
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.add_(torch.rand_like(m.running_mean))
    net.train()  # the fused path reads running statistics whatever the mode
    fused = FusedHourglass(net)
    x = torch.rand(3, 3, cfg.input_size, cfg.input_size)
    out = fused(x)
    net.eval()
    with torch.no_grad():
        ref = net(x)
    assert torch.allclose(out.uv_px, ref.uv_px, atol=1e-4, rtol=0)
    assert torch.allclose(out.z_norm, ref.z_norm, atol=1e-5, rtol=1e-4)
    assert torch.allclose(out.heatmap, ref.stacks[-1].heatmap, atol=1e-6, rtol=1e-4)
    # and the comparison is not vacuous: the outputs depend on the image
    assert (fused(x.flip(0)).uv_px - out.uv_px).abs().max() > 1e-3


def test_fused_default_network_batch_1_channels_last_input():
    net = trained_like(ModelConfig()).eval()
    fused = FusedHourglass(net)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        out = fused(inp)
        assert out.heatmap.shape == (1, 21, 32, 32)
        assert torch.allclose(out.uv_px, ref.uv_px, atol=1e-4, rtol=0)
        assert torch.allclose(out.z_norm, ref.z_norm, atol=1e-5, rtol=1e-4)


def test_bn_scale_shift_matches_batchnorm_eval():
    torch.manual_seed(1)
    bn = nn.BatchNorm2d(5, eps=1e-3)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.1, 3)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    s, t = bn_scale_shift(bn)
    # by hand: γ (x − μ) / sqrt(σ² + ε) + β
    mu, var, g, b = bn.running_mean, bn.running_var, bn.weight, bn.bias
    x = torch.randn(2, 5, 3, 3)
    by_hand = g[:, None, None] * (x - mu[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-3) + b[:, None, None]
    assert torch.allclose(x * s[:, None, None] + t[:, None, None], by_hand, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(bn(x), by_hand, atol=1e-5)


def test_bn_without_running_stats_is_rejected():
    with pytest.raises(TypeError, match="running statistics"):
        bn_scale_shift(nn.BatchNorm2d(4, track_running_stats=False))


def test_fused_is_a_snapshot_and_checks_input():
    cfg = tiny()
    net = trained_like(cfg).eval()
    fused = FusedHourglass(net)
    x = torch.rand(2, 3, 32, 32)
    before = fused(x).uv_px.clone()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
    assert torch.equal(fused(x).uv_px, before)
    with pytest.raises(ValueError, match="expected shape"):
        fused(torch.rand(2, 3, 31, 32))


def _moved(out, ref) -> bool:
    return bool((out.uv_px - ref.uv_px).abs().max() + (out.z_norm - ref.z_norm).abs().max() > 1e-6)


@pytest.mark.parametrize("kw", [{}, {"first_stack_design": "fssc"}, {"domain_bn": True}])
def test_fused_reads_every_weight_the_eager_network_reads(kw):
    """Drift guard: the two forwards share their wiring (``run_stacks``), but the fused blocks re-express each
    block's layers, so every parameter and buffer that moves the eager last-stack output must move the fused
    output too (a layer added to a block but not to its fused copy, or a weight the fold forgets, fails here
    even where the two outputs happen to agree)."""
    cfg = tiny(**kw)
    net = trained_like(cfg).eval()
    x = torch.rand(2, 3, cfg.input_size, cfg.input_size)
    with torch.no_grad():
        ref, fused_ref = net(x), FusedHourglass(net)(x)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        checked = 0
        for name, value in state.items():
            if not value.is_floating_point():
                continue
            bumped = dict(state)
            bumped[name] = value + 0.05 * (1.0 + value.abs()) * torch.sign(torch.rand_like(value) - 0.5)
            net.load_state_dict(bumped)
            eager = net(x)
            fused = FusedHourglass(net)(x)
            eager_moved = _moved(eager, ref)
            fused_moved = _moved(fused, fused_ref)
            assert eager_moved == fused_moved, name
            checked += int(eager_moved)
        net.load_state_dict(state)
    assert checked > 20  # the pose-path weights were exercised, not skipped


def test_fused_follows_the_shared_wiring(monkeypatch):
    """The fused snapshot is wired by the network's own ``run_stacks``: a change there reaches both forwards."""
    from awhourglass.models import fused as fused_mod
    from awhourglass.models import hourglass

    cfg = tiny()
    net = trained_like(cfg).eval()
    x = torch.rand(2, 3, cfg.input_size, cfg.input_size)
    real = hourglass.run_stacks

    def last_stack_doubled(parts, x, domain=None):
        *first, (f, b, heads) = real(parts, x, domain)
        yield from first
        yield f, b, 2.0 * heads

    monkeypatch.setattr(hourglass, "run_stacks", last_stack_doubled)
    monkeypatch.setattr(fused_mod, "run_stacks", last_stack_doubled)
    with torch.no_grad():
        eager, fast = net(x), FusedHourglass(net)(x)
    monkeypatch.setattr(hourglass, "run_stacks", real)
    monkeypatch.setattr(fused_mod, "run_stacks", real)
    with torch.no_grad():
        plain = net(x)
    assert (eager.z_norm - plain.z_norm).abs().max() > 1e-3  # the patch changed the output
    torch.testing.assert_close(fast.uv_px, eager.uv_px, atol=1e-4, rtol=0)
    torch.testing.assert_close(fast.z_norm, eager.z_norm, atol=1e-5, rtol=0)
