"""The package's network and its real training steps, as zero-argument callables that bench can time.

The batches are random but well-formed (labels of the right shapes, units and ranges), so every loss
term runs; their values do not matter for speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from awhourglass.data.sample import SOURCE, TARGET, Batch
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.skeleton import NUM_JOINTS
from awhourglass.train.config import MethodConfig
from awhourglass.train.distributed import DistInfo
from awhourglass.train.loop import optimize
from awhourglass.train.precision import Precision
from awhourglass.train.steps import SharedForward, critic_losses, generator_losses, make_adversary

DIST = DistInfo()  # one process: training's update, with its finiteness checks, on this machine alone


@dataclass
class Workloads:
    """What `awh bench` times.

    Attributes:
        name: the network's description.
        model: the network (already in the memory format used for timing).
        train_step: one supervised (stage-1, ``source_only``) step: forward, all losses, backward, Adam.
        train_images: images per ``train_step`` call.
        adapt_step: one whole adaptation step (``awh``): critic steps with gradient penalty, then the network
            step with pose, depth-regularizer and Wasserstein terms, each with its Adam; or None.
        adapt_images: images per ``adapt_step`` call (source + target).
    """

    name: str
    model: nn.Module
    train_step: Callable[[], object]
    train_images: int
    adapt_step: Callable[[], object] | None = None
    adapt_images: int = 0


def default_model_config(size: int) -> ModelConfig:
    """The default network at ``size``² input: stride-2 stem at 64², stride 4 above (docs/model.md)."""
    return ModelConfig(input_size=size, stem_stride=2 if size <= 64 else 4)


def random_batch(n: int, size: int, domain: int, gen: torch.Generator, channels_last: bool = True) -> Batch:
    """A well-formed random :class:`Batch` of ``n`` crops of ``size``² pixels from ``domain``.

    Source rows carry 3D labels; target rows do not (NaN + ``has_3d`` False), as in the real data.
    Both carry 2D labels and an Eq. 9 depth image on a central hand mask.
    """
    image = torch.rand(n, 3, size, size, generator=gen)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    uv = (0.2 + 0.6 * torch.rand(n, NUM_JOINTS, 2, generator=gen)) * (size - 1)
    f = 1.5 * size
    K = torch.tensor([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]]).expand(n, 3, 3).clone()
    z = 0.5 + 0.05 * torch.rand(n, NUM_JOINTS, 1, generator=gen)
    xy = (uv - (size - 1) / 2) / f * z  # back-projected through K: consistent 2D/3D labels
    xyz = torch.cat([xy, z], dim=-1)
    has_3d = torch.full((n,), domain == SOURCE)
    if domain != SOURCE:
        xyz = torch.full_like(xyz, float("nan"))
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centre = (yy - size / 2).abs().le(size / 3) & (xx - size / 2).abs().le(size / 3)
    mask = centre.expand(n, 1, size, size).clone()
    depth = torch.where(mask, torch.rand(n, 1, size, size, generator=gen), torch.zeros(()))
    return Batch(
        image=image,
        K=K,
        uv_px=uv,
        vis=torch.ones(n, NUM_JOINTS, dtype=torch.bool),
        xyz_m=xyz,
        has_3d=has_3d,
        depth=depth,
        depth_mask=mask,
        has_depth=torch.ones(n, dtype=torch.bool),
        domain=torch.full((n,), domain, dtype=torch.long),
    )


def supervised_update(model: AWHourglassNet, lr: float = 1e-3,
                      precision: Precision = "fp32") -> Callable[[Batch], dict]:
    """Stage-1 update (``source_only``) on a given batch: Eq. 8 + depth regularizer, backward, Adam; the forward in
    ``precision`` as training runs it (:func:`~awhourglass.train.steps.forward_batch`)."""
    method = MethodConfig(name="source_only")
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr)

    def update(batch: Batch) -> dict:
        model.train()
        return optimize(generator_losses(model, None, batch, None, method, precision=precision), opt, params, None,
                        "pretrain", 0, DIST)

    return update


def supervised_step(model: AWHourglassNet, batch: Batch, lr: float = 1e-3,
                    precision: Precision = "fp32") -> Callable[[], dict]:
    """Stage-1 step on a fixed ``batch`` (see :func:`supervised_update`)."""
    update = supervised_update(model, lr, precision)
    return lambda: update(batch)


def adaptation_step(
    model: AWHourglassNet,
    batch_src: Batch,
    batch_tgt: Batch,
    method: MethodConfig | None = None,
    lr: float = 1e-4,
    precision: Precision = "fp32",
) -> Callable[[], dict]:
    """Stage-2 step of ``method`` (default ``awh``) as training runs it: ``critic_steps`` critic updates on the
    step's forward (:class:`~awhourglass.train.steps.SharedForward`, in ``precision``), then one network update on
    the same forward.
    """
    method = method or MethodConfig(name="awh")
    critic = make_adversary(model.cfg, method)
    if critic is None:
        raise ValueError(f"method {method.name!r} has no critic")
    critic = critic.to(batch_src.image.device)
    if batch_src.image.is_contiguous(memory_format=torch.channels_last):
        critic = critic.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format
    params, critic_params = list(model.parameters()), list(critic.parameters())
    opt_net = torch.optim.Adam(params, lr=lr)
    opt_critic = torch.optim.Adam(critic_params, lr=method.critic_lr, betas=method.critic_betas)

    shared = SharedForward(model, precision)  # as training: the critic updates read the network update's forward

    def step() -> dict:
        model.train()
        critic.train()
        key = object()  # one step: a fresh forward
        for _ in range(method.critic_steps):
            fs, ft = shared.critic_inputs(key, batch_src, batch_tgt)
            optimize(critic_losses(fs, ft, critic, method), opt_critic, critic_params, None, "adapt", 0, DIST,
                     prefix="critic_")
        return optimize(generator_losses(model, critic, batch_src, batch_tgt, method, out=shared.take(key)), opt_net,
                        params, None, "adapt", 0, DIST)

    return step


def build_workloads(size: int, batch: int, channels_last: bool, device: str | torch.device = "cpu",
                    precision: Precision = "fp32") -> Workloads:
    """The default network at ``size``², its stage-1 step on ``batch`` source images and its ``awh`` step on
    ``batch`` images (``batch // 2`` source + ``batch // 2`` target, as the paper's half/half batches), with the
    networks and batches on ``device`` and the steps' forwards in ``precision``."""
    if batch < 2:
        raise ValueError(f"batch must be >= 2 (the adaptation step needs a source and a target half), got {batch}")
    cfg = default_model_config(size)
    model = AWHourglassNet(cfg)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format
    gen = torch.Generator().manual_seed(0)
    src = random_batch(batch, size, SOURCE, gen, channels_last).to(device)
    half_src = random_batch(batch // 2, size, SOURCE, gen, channels_last).to(device)
    half_tgt = random_batch(batch // 2, size, TARGET, gen, channels_last).to(device)
    # the adaptation step trains its own copy so the two steps never share optimizer state
    adapt_model = AWHourglassNet(cfg)
    adapt_model.load_state_dict(model.state_dict())
    if channels_last:
        adapt_model = adapt_model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format
    model, adapt_model = model.to(device), adapt_model.to(device)
    name = (
        f"AWHourglassNet {cfg.num_stacks} stacks, width {cfg.width}, depth {cfg.depth}, stem stride {cfg.stem_stride}"
    )
    return Workloads(
        name=name,
        model=model,
        train_step=supervised_step(model, src, precision=precision),
        train_images=batch,
        adapt_step=adaptation_step(adapt_model, half_src, half_tgt, precision=precision),
        adapt_images=2 * (batch // 2),
    )
