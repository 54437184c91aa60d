"""The stacked hourglass: shapes for every variant, bad input, metric decoding, domain BN, overfitting."""

from __future__ import annotations

import pytest
import torch

from awhourglass.config import ConfigError, from_dict
from awhourglass.geometry import project
from awhourglass.models import AWHourglassNet, ModelConfig


def tiny(**kw) -> ModelConfig:
    base = {"input_size": 32, "stem_stride": 2, "width": 8, "depth": 2, "depth_out_size": 16, "depth_width": 8}
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize(
    ("kw", "hm", "feat"),
    [
        ({}, 16, (8, 4, 4)),
        ({"stem_stride": 4}, 8, (8, 2, 2)),
        ({"stem_stride": 1, "input_size": 16, "depth_out_size": 16}, 16, (8, 4, 4)),
        ({"feature_point": "output"}, 16, (8, 16, 16)),
        ({"first_stack_design": "fssc"}, 16, (8, 4, 4)),
        ({"num_stacks": 1}, 16, (8, 4, 4)),
        ({"num_stacks": 3, "depth": 3}, 16, (8, 2, 2)),
        ({"domain_bn": True}, 16, (8, 4, 4)),
    ],
)
def test_output_shapes(kw, hm, feat):
    cfg = tiny(**kw)
    model = AWHourglassNet(cfg)
    s = cfg.input_size
    out = model(torch.rand(2, 3, s, s), domain=torch.tensor([0, 1]), depth_uv_px=torch.rand(2, 21, 2) * s)
    assert len(out.stacks) == cfg.num_stacks
    for st in out.stacks:
        assert st.heatmap.shape == st.depthmap.shape == (2, 21, hm, hm)
        assert st.uv_px.shape == (2, 21, 2) and st.z_norm.shape == (2, 21)
        assert st.features.shape == (2, *feat)
    assert out.uv_px is out.stacks[-1].uv_px
    assert out.depth_pred.shape == (2, 1, 16, 16)
    assert out.xyz_m is None
    # soft-argmax stays inside the crop: [-0.5, S − 0.5]
    assert bool((out.uv_px >= -0.5).all() and (out.uv_px <= s - 0.5).all())


def test_default_config_is_64_input_32_heatmaps():
    cfg = ModelConfig()
    assert (cfg.input_size, cfg.heatmap_size, cfg.num_stacks) == (64, 32, 2)
    model = AWHourglassNet(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))
    assert out.stacks[0].heatmap.shape == (1, 21, 32, 32)


@pytest.mark.parametrize("shape", [(2, 3, 31, 32), (2, 1, 32, 32), (3, 32, 32), (2, 4, 32, 32)])
def test_bad_image_shape_is_a_clear_error(shape):
    model = AWHourglassNet(tiny())
    with pytest.raises(ValueError, match=r"expected shape \(B, 3, 32, 32\)"):
        model(torch.rand(*shape))


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth"):
        ModelConfig(input_size=64, stem_stride=2, depth=6)
    with pytest.raises(ValueError, match="depth_out_size"):
        ModelConfig(depth_out_size=24)
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(ModelConfig, {"widht": 3})
    assert from_dict(ModelConfig, {"width": 16, "scale_bone": [0, 9]}).width == 16


def test_metric_output_reprojects_to_predicted_pixels():
    model = AWHourglassNet(tiny()).eval()
    K = torch.tensor([[[60.0, 0.0, 15.5], [0.0, 60.0, 15.5], [0.0, 0.0, 1.0]]]).repeat(2, 1, 1)
    bone = torch.tensor([0.09, 0.08])
    z_root = torch.tensor([0.5, 0.6])
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32), K=K, bone_m=bone, z_root_m=z_root)
    assert out.xyz_m.shape == (2, 21, 3)
    assert torch.allclose(project(out.xyz_m, K), out.uv_px, atol=1e-3)
    # depth relative to the given root follows z_norm · bone
    assert torch.allclose(out.xyz_m[..., 2] - z_root[:, None], out.z_norm * bone[:, None], atol=1e-5)


def test_domain_bn_normalizes_each_domain_with_its_own_statistics():
    torch.manual_seed(0)
    model = AWHourglassNet(tiny(domain_bn=True)).train()
    x = torch.rand(4, 3, 32, 32)
    x[2:] = x[2:] * 0.3 + 0.5  # a different "domain"
    dom = torch.tensor([0, 0, 1, 1])
    mixed = model(x, domain=dom)
    alone_src = model(x[:2], domain=dom[:2])
    alone_tgt = model(x[2:], domain=dom[2:])
    assert torch.allclose(mixed.uv_px[:2], alone_src.uv_px, atol=1e-4)
    assert torch.allclose(mixed.uv_px[2:], alone_tgt.uv_px, atol=1e-4)
    # plain BN mixes the statistics: the same rows differ between the mixed and the separate batches
    torch.manual_seed(0)
    plain = AWHourglassNet(tiny()).train()
    assert not torch.allclose(plain(x).uv_px[:2], plain(x[:2]).uv_px, atol=1e-4)
    model.copy_domain_bn(0, 1)
    bn = model.stem[0][1]
    assert torch.equal(bn.bns[0].running_mean, bn.bns[1].running_mean)


def test_the_domain_is_an_argument_not_state_left_on_the_layers():
    """Each BN gets the domain from its caller: nothing is stored on the modules between forwards, so an
    exception inside a forward, or two forwards interleaved (threads), cannot leave a stale domain behind."""
    torch.manual_seed(0)
    model = AWHourglassNet(tiny(domain_bn=True)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)  # the two domains' statistics differ
    x = torch.rand(2, 3, 32, 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attrs = {id(m): dict(vars(m)) for m in model.modules()}
    with torch.no_grad():
        as_source = model(x, domain=torch.tensor([0, 0])).uv_px
        with pytest.raises(ValueError):
            model(x, domain=torch.tensor([0]))  # a failed call
        default = model(x).uv_px  # no domain: the target's statistics (the default)
        as_target = model(x, domain=torch.tensor([1, 1])).uv_px
    assert torch.equal(default, as_target) and not torch.allclose(as_source, as_target, atol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(vars(m).keys() == attrs[id(m)].keys() for m in model.modules())


def test_overfits_eight_samples_to_under_two_pixels():
    torch.manual_seed(0)
    model = AWHourglassNet(tiny(width=32))
    g = torch.Generator().manual_seed(1)
    images = torch.rand(8, 3, 32, 32, generator=g)
    uv = torch.rand(8, 21, 2, generator=g) * 24 + 4
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    err = float("inf")
    for step in range(400):
        out = model(images)
        loss = sum((st.uv_px - uv).abs().mean() for st in out.stacks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 19:
            model.eval()
            with torch.no_grad():
                err = (model(images).uv_px - uv).norm(dim=-1).mean().item()
            model.train()
            if err < 2.0:
                break
    assert err < 2.0, f"mean 2D error {err:.2f} px after {step + 1} steps"
