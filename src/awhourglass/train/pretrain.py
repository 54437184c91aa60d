"""Phase 1: the network alone on source batches with full 3D labels (no critic, no target).

The paper finds this pretraining "crucial" before adaptation (method notes, item 9).
"""

from __future__ import annotations

from awhourglass.data.pending import finish_batch
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.loop import StepInfo, Trainer, lr_at, make_optimizer, parameters, set_lr

PHASE = "pretrain"


def run_pretrain(trainer: Trainer, start_step: int) -> None:
    """Train steps ``start_step .. phases.pretrain.steps-1``; checkpoints as configured and at the end."""
    cfg, parts, dist = trainer.cfg, trainer.parts, trainer.dist
    phase = cfg.phases.pretrain
    if start_step >= phase.steps:
        return
    params = parameters(parts.network)
    base_lr = phase.lr if phase.lr is not None else cfg.optimizer.lr
    optimizer = make_optimizer(cfg.optimizer, params, base_lr)
    if "network" in trainer.resume_optimizers:
        optimizer.load_state_dict(trainer.resume_optimizers.pop("network"))
    optimizers = {"network": optimizer}
    loss_scale = trainer.network_loss_scale(optimizers)
    batches = StepBatches([parts.source], [phase.batch_size], cfg.seed, PHASE, dist, parts.collate_fn)
    trainer.check_sampler(batches, start_step)
    for module in parts.modules().values():
        module.train()
    trainer.logger.message(f"{PHASE}: steps {start_step + 1}..{phase.steps}, global batch {phase.batch_size}")
    bar = trainer.progress_bar(PHASE, start_step, phase.steps)
    try:
        stream = iterate_steps(batches, start_step, phase.steps, cfg.loader_workers(), dist.device.type == "cuda",
                               trainer.data_problems(PHASE))
        for step, batch in zip(range(start_step, phase.steps), stream, strict=True):
            batch = finish_batch(batch.to(dist.device, non_blocking=True))
            lr = lr_at(phase, base_lr, step)
            set_lr(optimizer, lr)
            losses = parts.pretrain_loss(batch, StepInfo(PHASE, step, phase.steps))
            values = trainer.optimize(losses, optimizer, params, cfg.optimizer.grad_clip_norm, PHASE, step,
                                      loss_scale=loss_scale)
            trainer.after_step(PHASE, step + 1, phase.steps, values, lr, optimizers, batches, bar)
    finally:
        bar.close()
        trainer.report_data_problems(PHASE)
