"""Step functions: every method runs, signs and freezing are right, the real domain's 3D is never read."""

from __future__ import annotations

import math

import pytest
import torch

from awhourglass.config import ConfigError, from_dict
from awhourglass.models import AWHourglassNet, ModelConfig, SimilarityConfig
from awhourglass.train.config import MethodConfig
from awhourglass.train.steps import (
    concat_batches,
    critic_features,
    critic_losses,
    generator_losses,
    make_adversary,
)

SIZE = 32
METHODS = ["source_only", "oracle", "joint", "wh", "dann", "awh"]


def tiny_model(**kw) -> AWHourglassNet:
    torch.manual_seed(0)
    cfg = ModelConfig(input_size=SIZE, stem_stride=2, width=8, depth=2, depth_out_size=16, depth_width=8, **kw)
    return AWHourglassNet(cfg)


def halves(make_batch, n=4, tgt_3d=False):
    return make_batch(n, SIZE, 0, seed=1), make_batch(n, SIZE, 1, has_3d=tgt_3d, seed=2)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_gives_finite_losses_with_nan_target_3d(make_batch, name):
    model = tiny_model()
    mcfg = MethodConfig(name=name)
    adv = make_adversary(model.cfg, mcfg)
    src, tgt = halves(make_batch, tgt_3d=(name == "oracle"))
    losses = generator_losses(model, adv, src, tgt, mcfg, progress=0.5)
    assert all(torch.isfinite(v).all() for v in losses.values()), losses
    losses["total"].backward()
    for p in model.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()
    if name in ("wh", "awh"):
        assert "wd" in losses
    if name == "dann":
        assert math.isclose(losses["dann_lambda"].item(), 2 / (1 + math.exp(-5)) - 1, rel_tol=1e-6)


@pytest.mark.parametrize("name", ["joint", "wh", "awh", "dann", "source_only"])
def test_target_3d_labels_never_read_except_by_oracle(make_batch, name):
    model = tiny_model()
    mcfg = MethodConfig(name=name)
    adv = make_adversary(model.cfg, mcfg)
    src, tgt = halves(make_batch, tgt_3d=True)
    torch.manual_seed(3)
    with_3d = generator_losses(model, adv, src, tgt, mcfg)
    tgt.xyz_m = torch.full_like(tgt.xyz_m, float("nan"))
    torch.manual_seed(3)
    without = generator_losses(model, adv, src, tgt, mcfg)
    assert torch.allclose(with_3d["total"], without["total"])
    assert with_3d["tgt_z"].detach().item() == 0.0


@pytest.mark.parametrize("mcfg", [MethodConfig(name="oracle"), MethodConfig(name="awh", target_3d=True)])
def test_fully_supervised_target_uses_target_3d(make_batch, mcfg):
    model = tiny_model()
    adv = make_adversary(model.cfg, mcfg)
    src, tgt = halves(make_batch, tgt_3d=True)
    torch.manual_seed(3)
    a = generator_losses(model, adv, src, tgt, mcfg)
    assert a["tgt_z"].detach().item() > 0
    tgt.xyz_m = tgt.xyz_m.clone()
    tgt.xyz_m[..., 2] *= 1.3  # a different relative depth pattern
    tgt.xyz_m[:, 5, 2] += 0.02
    torch.manual_seed(3)
    b = generator_losses(model, adv, src, tgt, mcfg)
    assert not torch.allclose(a["tgt_z"], b["tgt_z"])


def test_source_only_ignores_target_batch(make_batch):
    model = tiny_model()
    src, _ = halves(make_batch)
    losses = generator_losses(model, None, src, None, MethodConfig(name="source_only"))
    assert losses["tgt_2d"].item() == 0.0 and losses["src_2d"].item() > 0


def test_mismatched_halves_is_a_clear_error(make_batch):
    model = tiny_model()
    mcfg = MethodConfig(name="awh")
    adv = make_adversary(model.cfg, mcfg)
    src = make_batch(4, SIZE, 0)
    tgt = make_batch(3, SIZE, 1, has_3d=False)
    with pytest.raises(ValueError, match="mismatched batch halves"):
        generator_losses(model, adv, src, tgt, mcfg)
    with pytest.raises(ValueError, match="target"):
        generator_losses(model, adv, src, None, mcfg)
    with pytest.raises(ValueError, match="domain"):
        generator_losses(model, adv, src, make_batch(4, SIZE, 0, seed=5), mcfg)
    fs = [torch.zeros(4, 8, 2, 2)]
    ft = [torch.zeros(3, 8, 2, 2)]
    with pytest.raises(ValueError, match="mismatched batch halves"):
        critic_losses(fs, ft, adv, mcfg)


def _grads(module):
    return {n: p.grad for n, p in module.named_parameters()}


@pytest.mark.parametrize("name", ["awh", "wh"])
def test_gradient_coverage_generator_and_critic_steps(make_batch, name):
    model = tiny_model()
    mcfg = MethodConfig(name=name, critic_at="all")
    critic = make_adversary(model.cfg, mcfg)
    src, tgt = halves(make_batch)
    # Generator step: every network parameter gets a finite non-zero gradient, the critic none.
    generator_losses(model, critic, src, tgt, mcfg)["total"].backward()
    for n, g in _grads(model).items():
        assert g is not None, n
        assert torch.isfinite(g).all() and g.abs().sum() > 0, n
    assert all(g is None for g in _grads(critic).values())
    assert all(p.requires_grad for p in critic.parameters())  # unfrozen again
    # Critic step: only critic parameters.
    model.zero_grad(set_to_none=True)
    fs, ft = critic_features(model, src, tgt)
    c = critic_losses(fs, ft, critic, mcfg)
    c["total"].backward()
    assert all(g is None for g in _grads(model).values())
    for n, g in _grads(critic).items():
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, n


def test_dann_trains_classifier_and_reverses_feature_gradient(make_batch):
    model = tiny_model()
    mcfg = MethodConfig(name="dann", lambda_dann=1.0)
    clf = make_adversary(model.cfg, mcfg)
    src, tgt = halves(make_batch)
    losses, out = generator_losses(model, clf, src, tgt, mcfg, progress=1.0, return_outputs=True)
    feats = out.stacks[-1].features
    (g_total,) = torch.autograd.grad(losses["domain"], feats, retain_graph=True)
    # The same loss without reversal, through the classifier directly:
    logits = clf([feats])[0]
    labels = torch.cat([torch.zeros(4), torch.ones(4)])
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    (g_plain,) = torch.autograd.grad(plain, feats, retain_graph=True)
    lam = 2 / (1 + math.exp(-10)) - 1
    assert torch.allclose(g_total, -lam * g_plain, atol=1e-7)
    losses["total"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in clf.parameters())


@pytest.mark.parametrize("pairing", ["paired", "batch_mean"])
def test_awh_reduces_to_wh_when_alpha_is_one(make_batch, pairing):
    # Identical halves give identical features, hence cosine 1 and α ≡ 1 in every channel.
    model = tiny_model()
    src, _ = halves(make_batch)
    tgt = make_batch(4, SIZE, 1, has_3d=False, seed=1)
    awh = MethodConfig(name="awh", critic_at="all", similarity=SimilarityConfig(pairing=pairing))
    wh = MethodConfig(name="wh", critic_at="all")
    critic = make_adversary(model.cfg, awh)
    la = generator_losses(model, critic, src, tgt, awh)
    lw = generator_losses(model, critic, src, tgt, wh)
    assert torch.allclose(la["alpha_mean"], torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(la["wd"], lw["wd"], atol=1e-6)
    assert torch.allclose(la["total"], lw["total"], atol=1e-6)
    fs, ft = critic_features(model, src, tgt)
    torch.manual_seed(7)
    ca = critic_losses(fs, ft, critic, awh)
    torch.manual_seed(7)
    cw = critic_losses(fs, ft, critic, wh)
    for k in ("wd", "gp", "total"):
        assert torch.allclose(ca[k], cw[k], atol=1e-6), k


def test_critic_sign_maximises_the_estimate(make_batch):
    # The critic's objective is −L_wd + λ·GP and the generator's adds +λ_wd·L_wd.
    model = tiny_model()
    mcfg = MethodConfig(name="wh", lambda_gp=0.0)
    critic = make_adversary(model.cfg, mcfg)
    src, tgt = halves(make_batch)
    fs, ft = critic_features(model, src, tgt)
    c = critic_losses(fs, ft, critic, mcfg)
    assert torch.allclose(c["total"], -c["wd"])
    g = generator_losses(model, critic, src, tgt, mcfg)
    base = generator_losses(model, critic, src, tgt, MethodConfig(name="joint"))
    assert torch.allclose(g["total"] - base["total"], mcfg.lambda_wd * g["wd"], atol=1e-5)


@pytest.mark.parametrize("terms", [(), ("src_2d",), ("src_3d",), ("tgt_2d",), ("src_2d", "src_3d", "tgt_2d")])
@pytest.mark.parametrize("design", ["fss", "fssc"])
def test_intermediate_supervision_variants(make_batch, terms, design):
    model = tiny_model(first_stack_design=design)
    mcfg = MethodConfig(name="joint", intermediate=terms)
    src, tgt = halves(make_batch)
    batch = concat_batches(src, tgt)
    out = model(batch.image, domain=batch.domain, depth_uv_px=batch.uv_px)
    losses, src_pose, tgt_pose = mcfg.method.task_terms(out, batch, mcfg)
    assert (losses["intermediate"].item() > 0) == bool(terms)
    assert torch.isfinite(src_pose) and torch.isfinite(tgt_pose)


@pytest.mark.parametrize("critic_at", ["first", "last", "all"])
def test_critic_attachment_points(make_batch, critic_at):
    model = tiny_model(num_stacks=3)
    mcfg = MethodConfig(name="awh", critic_at=critic_at)
    critic = make_adversary(model.cfg, mcfg)
    assert len(critic.nets) == {"first": 1, "last": 1, "all": 3}[critic_at]
    src, tgt = halves(make_batch)
    losses = generator_losses(model, critic, src, tgt, mcfg)
    losses["total"].backward()
    first_hg = next(model.hourglasses[0].parameters())
    assert first_hg.grad is not None
    fs, ft = critic_features(model, src, tgt)
    assert torch.isfinite(critic_losses(fs, ft, critic, mcfg)["total"])


def test_domain_bn_step_runs_and_trains_both_domains(make_batch):
    model = tiny_model(domain_bn=True)
    mcfg = MethodConfig(name="awh")
    critic = make_adversary(model.cfg, mcfg)
    src, tgt = halves(make_batch)
    generator_losses(model, critic, src, tgt, mcfg)["total"].backward()
    bn = model.stem[0][1]
    assert bn.bns[0].weight.grad.abs().sum() > 0 and bn.bns[1].weight.grad.abs().sum() > 0


def test_oracle_without_source_ignores_source_half(make_batch):
    model = tiny_model()
    src, tgt = halves(make_batch, tgt_3d=True)
    losses = generator_losses(model, None, src, tgt, MethodConfig(name="oracle", oracle_with_source=False))
    assert losses["src_2d"].item() == 0.0 and losses["src_reg"].item() == 0.0
    assert losses["tgt_z"].item() > 0.0


def test_method_config_from_yaml_data():
    cfg = from_dict(MethodConfig, {"name": "awh", "intermediate": ["src_2d", "tgt_2d"], "critic_at": "all",
                                   "similarity": {"pairing": "paired", "weight": "affine"}})
    assert cfg.intermediate == ("src_2d", "tgt_2d") and cfg.similarity.weight == "affine"
    assert cfg.uses_critic and cfg.critic_stacks(2) == [0, 1]
    with pytest.raises(ConfigError, match=r"must be one of .*awh.*got .adda."):
        from_dict(MethodConfig, {"name": "adda"})
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(MethodConfig, {"similarity": {"pairng": "paired"}})


@pytest.mark.parametrize("low", ["bf16", "fp16"])
def test_autocast_step_is_finite_close_to_fp32_and_keeps_the_head_and_losses_in_fp32(make_batch, low):
    """One AWH generator step and one critic step in bf16 (or fp16) against fp32 from the same weights. bf16
    keeps 8 bits of mantissa (relative rounding 2^-8 ≈ 0.4 % per operation), fp16 11: the losses must agree
    within 5 % relative, the 2D joints within 0.5 px, and every output the losses read must be fp32."""
    from awhourglass.train.steps import SharedForward

    src, tgt = halves(make_batch)
    method = MethodConfig(name="awh", critic_width=8)
    results = {}
    for precision in ("fp32", low):
        model = tiny_model().train()
        torch.manual_seed(1)
        critic = make_adversary(model.cfg, method)
        shared = SharedForward(model, precision)
        c = critic_losses(*shared.critic_inputs(0, src, tgt), critic, method)
        out = shared.take(0)
        g = generator_losses(model, critic, src, tgt, method, out=out)
        g["total"].backward()
        results[precision] = (c, g, out, [p.grad.clone() for p in model.parameters() if p.grad is not None])
    (c32, g32, o32, gr32), (c16, g16, o16, gr16) = results["fp32"], results[low]
    for key in ("total", "src_2d", "tgt_2d", "src_z", "src_reg", "tgt_reg", "wd"):
        a, b = float(g32[key]), float(g16[key])
        assert math.isfinite(b) and abs(a - b) <= 0.05 * abs(a) + 1e-3, (key, a, b)
    assert math.isfinite(float(c16["total"])) and abs(float(c16["wd"]) - float(c32["wd"])) <= 0.05 * abs(
        float(c32["wd"])) + 1e-3
    assert (o16.uv_px - o32.uv_px).abs().max() < 0.5
    assert not torch.equal(o16.uv_px, o32.uv_px)  # the convolutions really ran in the lower precision
    for t in (o16.uv_px, o16.z_norm, o16.depth_pred, *o16.features, *o16.heatmaps):
        assert t.dtype == torch.float32
    assert all(torch.isfinite(g).all() for g in gr16) and len(gr16) == len(gr32)
