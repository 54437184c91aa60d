"""Training parts of one demo run: :func:`awhourglass.train.parts.build_parts` on in-memory datasets.

The demo drives the library's training loop (:func:`awhourglass.train.run.fit`: phases, checkpoints,
``init_from``) with the step functions of :mod:`awhourglass.train.steps`, wired exactly as
``train.parts.build_parts`` wires them, but with datasets held in memory instead of read from disk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from awhourglass.data.sample import SOURCE, Batch, Sample
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.train.config import TrainConfig
from awhourglass.train.loop import StepInfo, TrainParts
from awhourglass.train.steps import critic_features, critic_losses, generator_losses, make_adversary


def split_domains(batch: Batch) -> tuple[Batch, Batch]:
    """The source rows and the target rows of a two-domain batch."""
    src = batch.domain == SOURCE
    return batch.select(src), batch.select(~src)


def build_demo_parts(cfg: TrainConfig, source: Sequence[Sample], target: Sequence[Sample] | None) -> TrainParts:
    """Network + adversary + step functions for ``cfg.method`` on the given in-memory datasets."""
    model_cfg, method_cfg = cfg.model, cfg.method
    model = AWHourglassNet(model_cfg)
    adversary = make_adversary(model_cfg, method_cfg)
    pre_cfg = dataclasses.replace(method_cfg, name="source_only")

    def pretrain_loss(batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
        return generator_losses(model, None, batch, None, pre_cfg, info.progress)

    def adapt_loss(batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
        if not method_cfg.uses_target:
            return generator_losses(model, None, batch.select(batch.domain == SOURCE), None, method_cfg,
                                    info.progress)
        src, tgt = split_domains(batch)
        return generator_losses(model, adversary, src, tgt, method_cfg, info.progress)

    cache: dict[str, object] = {}

    def critic_loss(batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
        # The loop runs critic_steps updates on one step's batch with the network unchanged: one no-grad
        # forward per step serves them all.
        if cache.get("step") != (info.phase, info.step):
            cache["step"], cache["feats"] = (info.phase, info.step), critic_features(model, *split_domains(batch))
        fs, ft = cache["feats"]
        return critic_losses(fs, ft, adversary, method_cfg)

    network: dict[str, torch.nn.Module] = {"model": model}
    critic = None
    if method_cfg.uses_domain_classifier:
        network["domain_classifier"] = adversary
    elif method_cfg.uses_critic:
        critic = adversary
    return TrainParts(
        network=network,
        source=source,
        target=target,
        pretrain_loss=pretrain_loss,
        adapt_loss=adapt_loss,
        critic=critic,
        critic_loss=critic_loss if critic is not None else None,
        on_adapt_start=(lambda: model.copy_domain_bn(0, 1)) if model_cfg.domain_bn else None,
    )
