"""Phase 2: end-to-end training on half-source, half-target batches, critic steps interleaved.

Per step (one network update): ``critic_steps`` critic updates on the step's batch (the critic's
step function detaches the features, so only the critic moves), then one network update with the
task losses of both domains plus the adaptation term (the critic frozen: its gradients from this
update are discarded, each optimizer zeroes its own gradients before its backward). Reusing the
step's batch for the critic updates follows WDGRL (Shen et al. 2018), the WH baseline's source.
The target contributes 2D joints and depth images only; its 3D labels are never read here.
"""

from __future__ import annotations

from awhourglass.data.pending import finish_batch
from awhourglass.errors import AwhError
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.config import OptimizerConfig, TrainConfig
from awhourglass.train.distributed import DistInfo, shard_range
from awhourglass.train.loop import StepInfo, Trainer, make_optimizer, parameters, set_lr

PHASE = "adapt"


def domain_counts(batch_size: int, target_fraction: float) -> tuple[int, int]:
    """Global (source, target) samples per step; both at least 1."""
    n_target = round(batch_size * target_fraction)
    n_source = batch_size - n_target
    if n_source < 1 or n_target < 1:
        raise AwhError(f"adapt batch_size {batch_size} with target_fraction {target_fraction} leaves a domain empty")
    return n_source, n_target


def adapt_counts(cfg: TrainConfig) -> list[int]:
    """Global per-step samples of each domain of phase 2: ``[source]`` for ``source_only``, else
    ``[source, target]``."""
    phase = cfg.phases.adapt
    if not cfg.method.uses_target:
        return [phase.batch_size]
    return list(domain_counts(phase.batch_size, phase.target_fraction))


def check_batch_split(cfg: TrainConfig, dist: DistInfo) -> None:
    """Fail before any work (not after pretraining) when a phase's batch cannot be split over the ranks."""
    p = cfg.phases
    if p.pretrain.steps > 0:
        shard_range(p.pretrain.batch_size, dist, what="phases.pretrain.batch_size")
    if p.adapt.steps > 0:
        for domain, count in zip(("source", "target"), adapt_counts(cfg), strict=False):
            shard_range(count, dist, what=f"phases.adapt.batch_size {p.adapt.batch_size}: its {domain} share")


def run_adapt(trainer: Trainer, start_step: int) -> None:
    """Train steps ``start_step .. phases.adapt.steps-1``; checkpoints as configured and at the end."""
    cfg, parts, dist = trainer.cfg, trainer.parts, trainer.dist
    phase = cfg.phases.adapt
    if start_step >= phase.steps:
        return
    if parts.adapt_loss is None:
        raise AwhError("the adapt phase needs an adapt step function")
    method = cfg.method.method  # its learning-rate schedule (DANN: Ganin's annealing)
    params = parameters(parts.network)
    base_lr = phase.lr if phase.lr is not None else cfg.optimizer.lr
    optimizer = make_optimizer(cfg.optimizer, params, base_lr)
    optimizers = {"network": optimizer}
    critic_steps = cfg.method.critic_steps
    use_critic = parts.critic is not None and parts.critic_loss is not None and critic_steps > 0
    if use_critic:
        assert parts.critic is not None  # use_critic says so
        critic_params = parameters({"critic": parts.critic})
        critic_cfg = OptimizerConfig(name="adam", lr=cfg.method.critic_lr, betas=cfg.method.critic_betas)
        critic_opt = make_optimizer(critic_cfg, critic_params)
        optimizers["critic"] = critic_opt
    for name, opt in optimizers.items():
        if name in trainer.resume_optimizers:
            opt.load_state_dict(trainer.resume_optimizers.pop(name))
    loss_scale = trainer.network_loss_scale(optimizers)  # fp16: the network update's (the critic runs in fp32)
    domains = [parts.source] if parts.target is None else [parts.source, parts.target]
    counts = adapt_counts(cfg)
    if len(counts) != len(domains):
        raise AwhError(f"method {cfg.method.name!r} needs {len(counts)} domain(s), the parts give {len(domains)}")
    batches = StepBatches(domains, counts, cfg.seed, PHASE, dist, parts.collate_fn)
    trainer.check_sampler(batches, start_step)
    if start_step == 0 and parts.on_adapt_start is not None:
        parts.on_adapt_start()
    for module in parts.modules().values():
        module.train()
    trainer.logger.message(
        f"{PHASE}: steps {start_step + 1}..{phase.steps}, global batch {' + '.join(map(str, counts))} "
        f"(source + target), {critic_steps if use_critic else 0} critic steps per step"
    )
    bar = trainer.progress_bar(PHASE, start_step, phase.steps)
    try:
        stream = iterate_steps(batches, start_step, phase.steps, cfg.loader_workers(), dist.device.type == "cuda",
                               trainer.data_problems(PHASE))
        for step, batch in zip(range(start_step, phase.steps), stream, strict=True):
            batch = finish_batch(batch.to(dist.device, non_blocking=True))
            info = StepInfo(PHASE, step, phase.steps)
            critic_values: dict[str, float] = {}
            if use_critic:
                assert parts.critic_loss is not None  # use_critic says so
                for _ in range(critic_steps):
                    critic_values = trainer.optimize(
                        parts.critic_loss(batch, info),
                        critic_opt,
                        critic_params,
                        None,
                        PHASE,
                        step,
                        prefix="critic_",
                    )
            lr = method.lr_at(base_lr, step, phase.steps, phase.lr_milestones, phase.lr_gamma, cfg.method)
            set_lr(optimizer, lr)
            values = trainer.optimize(
                parts.adapt_loss(batch, info), optimizer, params, cfg.optimizer.grad_clip_norm, PHASE, step,
                loss_scale=loss_scale,
            )
            values.update(critic_values)
            trainer.after_step(PHASE, step + 1, phase.steps, values, lr, optimizers, batches, bar)
    finally:
        bar.close()
        trainer.report_data_problems(PHASE)
