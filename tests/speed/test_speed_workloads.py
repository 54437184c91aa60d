"""The benchmarked steps are the package's real steps on well-formed batches."""

import copy
import math
from pathlib import Path

import pytest
import torch

from awhourglass.data.sample import SOURCE, TARGET
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.speed.pipeline import measure_pipeline
from awhourglass.speed.workloads import (
    adaptation_step,
    build_workloads,
    random_batch,
    supervised_step,
    supervised_update,
)

TINY = ModelConfig(input_size=32, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=4)


def test_random_batch_labels_are_consistent_with_the_camera():
    b = random_batch(3, 32, SOURCE, torch.Generator().manual_seed(0))
    uvw = torch.einsum("bij,bkj->bki", b.K, b.xyz_m)  # project with K: (u·w, v·w, w)
    torch.testing.assert_close(uvw[..., :2] / uvw[..., 2:], b.uv_px, atol=1e-4, rtol=0)
    assert b.image.is_contiguous(memory_format=torch.channels_last)
    assert bool(b.has_3d.all()) and bool((b.domain == SOURCE).all())
    t = random_batch(3, 32, TARGET, torch.Generator().manual_seed(0), channels_last=False)
    assert not bool(t.has_3d.any()) and bool(torch.isnan(t.xyz_m).all())  # weak target: no 3D labels
    assert bool((t.depth[~t.depth_mask] == 0).all()) and float(t.depth.max()) <= 1.0


def test_supervised_step_trains_with_finite_losses():
    torch.manual_seed(0)
    model = AWHourglassNet(TINY)
    before = copy.deepcopy(model.state_dict())
    losses = supervised_step(model, random_batch(2, 32, SOURCE, torch.Generator().manual_seed(1)))()
    assert all(math.isfinite(v) for v in losses.values())
    assert losses["src_reg"] > 0  # the depth regularizer ran
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_bench_times_trainings_update_which_refuses_a_nan_loss():
    from awhourglass.train.loop import NonFiniteLossError

    torch.manual_seed(0)
    model = AWHourglassNet(TINY)
    batch = random_batch(2, 32, SOURCE, torch.Generator().manual_seed(1))
    batch.image[:] = float("nan")
    before = copy.deepcopy(dict(model.named_parameters()))
    with pytest.raises(NonFiniteLossError, match="pretrain step 1"):
        supervised_step(model, batch)()
    assert all(torch.equal(before[k], v) for k, v in model.named_parameters())  # no weight changed


def test_the_shared_forward_step_equals_separate_forwards_for_critic_and_network():
    """The network does not move during the critic updates, so the critic may read the network update's own
    forward: the step equals one with a fresh no-grad forward per critic update and another for the update
    (independent route, written here with the step functions), in every loss and every weight."""
    from awhourglass.train.config import MethodConfig
    from awhourglass.train.steps import critic_features, critic_losses, generator_losses, make_adversary

    g = torch.Generator().manual_seed(2)
    src, tgt = random_batch(2, 32, SOURCE, g), random_batch(2, 32, TARGET, g)
    torch.manual_seed(0)
    a = AWHourglassNet(TINY)
    b = copy.deepcopy(a)
    torch.manual_seed(5)  # same critic initialisation for both
    la = adaptation_step(a, src, tgt)()

    method = MethodConfig(name="awh")
    torch.manual_seed(5)
    critic = make_adversary(b.cfg, method)
    if src.image.is_contiguous(memory_format=torch.channels_last):
        critic = critic.to(memory_format=torch.channels_last)
    opt_net = torch.optim.Adam(b.parameters(), lr=1e-4)
    opt_critic = torch.optim.Adam(critic.parameters(), lr=method.critic_lr, betas=method.critic_betas)
    b.train()
    for _ in range(method.critic_steps):
        c = critic_losses(*critic_features(b, src, tgt), critic, method)
        opt_critic.zero_grad()
        c["total"].backward()
        opt_critic.step()
    lb = generator_losses(b, critic, src, tgt, method)
    opt_net.zero_grad()
    lb["total"].backward()
    opt_net.step()
    for k in ("total", "wd", "src_2d", "tgt_2d", "src_reg", "tgt_reg"):
        torch.testing.assert_close(torch.as_tensor(la[k]), lb[k].detach(), atol=1e-5, rtol=1e-5)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=1e-5, msg=name)


def test_build_workloads_rejects_a_batch_without_two_halves():
    with pytest.raises(ValueError, match="batch must be >= 2"):
        build_workloads(64, 1, True)


def test_pipeline_figures_from_files_written_and_read_back():
    torch.manual_seed(0)
    update = supervised_update(AWHourglassNet(TINY))
    p = measure_pipeline(
        32,
        4,
        train_step_img_s=10.0,
        batch=4,
        workers=0,
        repeats=1,
        loader_epochs=1,
        update=update,
        fed_workers=(0,),
        fed_steps=1,
    )
    assert p.images == 4 and p.loader_workers == 0
    assert list(p.fed_train_img_s) == ["0"] and p.fed_train_img_s["0"] > 0
    for v in (
        p.generator_source_img_s,
        p.generator_target_img_s,
        p.write_img_s,
        p.reader_source_img_s,
        p.reader_target_img_s,
        p.loader_img_s,
    ):
        assert v > 0
    slowest = min(p.generator_source_img_s, p.generator_target_img_s)
    assert p.generate_inline_train_img_s == pytest.approx(1 / (1 / 10.0 + 1 / slowest))


def test_real_size_loaders_register_stb_depth_per_sample_then_read_it_prepared(monkeypatch):
    import awhourglass.data.stb as stb_reader
    from awhourglass.speed.pipeline import (
        FINISH,
        ON_BATCH,
        PACKED,
        REAL_RHD,
        REAL_STB,
        WORKER_CPU,
        measure_real_loaders,
        rhd_stb_workers,
    )

    calls = []
    real = stb_reader.register_depth

    def counting(depth, *a, **k):
        calls.append(depth.shape)
        return real(depth, *a, **k)

    monkeypatch.setattr(stb_reader, "register_depth", counting)
    got = measure_real_loaders(images=4, input_size=32, batch=2, epochs=1, workers=0)
    readers = [REAL_RHD, REAL_STB + ", depth registered per sample", REAL_STB + ", depth prepared",
               REAL_RHD + PACKED, REAL_RHD + PACKED + ON_BATCH, REAL_STB + PACKED, REAL_STB + PACKED + ON_BATCH]
    assert list(got) == [*readers, FINISH, *(name + WORKER_CPU for name in readers)]
    assert all(v > 0 for v in got.values())
    # per sample: every frame read (the untimed first step + one epoch) registered its 640x480 depth; prepared and
    # packed: none (prepare registers each frame once, through data.depth directly; the pack reads prepared depth)
    # (twice: the loader's pass and the worker-CPU pass)
    assert calls and all(shape == (480, 640) for shape in calls) and len(calls) == 2 * (2 + 4)
    # the workers configs/rhd-stb.yaml needs: 700 RHD samples/s pretraining, 265/s of each dataset adapting
    workers = rhd_stb_workers(got)
    rhd, stb = got[REAL_RHD + PACKED], got[REAL_STB + PACKED]
    assert workers["packed"] == pytest.approx((700 / rhd, 265 / rhd + 265 / stb))
    assert workers["files"][0] == pytest.approx(700 / got[REAL_RHD])
    on_batch = got[REAL_RHD + PACKED + ON_BATCH], got[REAL_STB + PACKED + ON_BATCH]
    assert workers["packed" + ON_BATCH] == pytest.approx((700 / on_batch[0], 265 / on_batch[0] + 265 / on_batch[1]))


def test_the_real_size_loaders_are_augmented_as_configs_rhd_stb_trains():
    from awhourglass.config import load_yaml
    from awhourglass.speed.pipeline import RHD_STB_AUGMENT
    from awhourglass.train.config import TrainConfig

    data = load_yaml(TrainConfig, Path(__file__).resolve().parents[2] / "configs" / "rhd-stb.yaml").data
    assert data.source.augment == RHD_STB_AUGMENT and data.target.augment == RHD_STB_AUGMENT
