"""From a :class:`TrainConfig` to the live parts of a run: network, adversary, datasets, step functions.

This is where ``models`` and ``data`` meet (the only place besides ``eval``). The step functions
are :mod:`awhourglass.train.steps`; this module adapts them to the loop's ``fn(batch, info)`` form:

* phase 1 runs ``generator_losses`` with the method switched to ``source_only`` (source 2.5D + depth
  regularizer, the method's intermediate supervision, no adversary): :class:`MethodSteps`;
* phase 2 splits each (rank-local) batch into its source and target halves for ``generator_losses``;
  the critic step computes the detached features once per network step (the network does not change
  during the critic steps) and reuses them for every critic update.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import ConcatDataset

from awhourglass.data.loader import build_dataset
from awhourglass.data.sample import SOURCE, TARGET, Batch, Samples
from awhourglass.methods.config import MethodConfig
from awhourglass.methods.source_only import SourceOnly
from awhourglass.models.critic import FeatureCritic
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.train.calibrate import split_holdout
from awhourglass.train.config import TrainConfig, check_compatible
from awhourglass.train.distributed import DistInfo
from awhourglass.train.loop import StepInfo, TrainParts
from awhourglass.train.precision import Precision
from awhourglass.train.steps import SharedForward, critic_losses, generator_losses, make_adversary

COMPILE_BACKEND = "inductor"  # torch.compile's default; the tests use "aot_eager" (same graph capture, no C++ build)


def split_domains(batch: Batch) -> tuple[Batch, Batch]:
    """The source rows and the target rows of a mixed batch (chosen on the host: no device sync)."""
    return batch.select(batch.rows_of(SOURCE)), batch.select(batch.rows_of(TARGET))


class MethodSteps:
    """The loop's step functions ``fn(batch, info)`` of one run: phase 1 trains as source-only (the paper's
    pretraining), phase 2 as the configured method; the step's critic updates and its network update share one
    forward (:class:`~awhourglass.train.steps.SharedForward`)."""

    def __init__(self, net: AWHourglassNet, adversary: FeatureCritic | None, method: MethodConfig,
                 precision: Precision, two_domains: bool) -> None:
        self.net, self.adversary, self.method, self.precision = net, adversary, method, precision
        self.pretrain_method = dataclasses.replace(method, name=SourceOnly.name)
        self.two_domains = two_domains  # phase 2 reads a target (split each batch into its halves)
        self.shared = SharedForward(net, precision)

    def pretrain_loss(self, batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
        return generator_losses(self.net, None, batch, None, self.pretrain_method, info.progress,
                                precision=self.precision)

    def adapt_loss(self, batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
        if not self.two_domains:
            return generator_losses(self.net, None, batch, None, self.method, info.progress, precision=self.precision)
        src, tgt = split_domains(batch)
        out = self.shared.take((info.step, id(batch)))
        return generator_losses(self.net, self.adversary, src, tgt, self.method, info.progress, out=out,
                                precision=self.precision)

    def critic_loss(self, batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
        fs, ft = self.shared.critic_inputs((info.step, id(batch)), *split_domains(batch))
        assert self.adversary is not None  # critic_loss is used with a critic only
        return critic_losses(fs, ft, self.adversary, self.method)


def _datasets(cfg: TrainConfig, source: Samples | None, target: Samples | None,
              ) -> tuple[Samples, Samples | None, list[Samples]]:
    """The training source and target (None when phase 2 reads none) and the held-out parts for calibration:
    a held-out split of each dataset read from ``cfg.data`` and of each endless stream given."""
    held: list[Samples] = []

    def holdout(ds: Samples, from_files: bool) -> Samples:
        if not (from_files or getattr(ds, "fresh", False)):
            return ds
        train_part, held_part = split_holdout(ds)
        if held_part is not None:
            held.append(held_part)
        return train_part

    # sized here too: a config changed in code after it was made
    method, data = cfg.method, cfg.data.sized(cfg.model.input_size)
    source = holdout(build_dataset(data.source, domain=SOURCE), True) if source is None else \
        holdout(source, False)
    if not (cfg.phases.adapt.steps > 0 and method.uses_target):
        target = None
    elif target is None:
        tcfg = data.target
        assert tcfg is not None  # check_compatible: a method that reads the target has one
        if not method.uses_target_3d:  # weak supervision: the target's 3D labels are not even loaded
            tcfg = dataclasses.replace(tcfg, labels="2d")
        target = holdout(build_dataset(tcfg, domain=TARGET), True)
    else:
        target = holdout(target, False)
    return source, target, held


def build_parts(
    cfg: TrainConfig,
    dist: DistInfo,
    source: Samples | None = None,
    target: Samples | None = None,
    calibration: Samples | None = None,
) -> TrainParts:
    """Build the network, adversary, datasets and step functions that ``cfg`` describes.

    Args:
        source, target: datasets to use instead of reading ``cfg.data`` (e.g. in-memory generated
            samples: ``fit(cfg, out, resume, functools.partial(build_parts, source=..., target=...))``).
            Their samples must match ``cfg.model.input_size``; a given target is used as it is (the
            caller keeps its 3D labels out for weakly supervised methods).
        calibration: held-out hand crops for the ``hand_detected`` threshold. By default a held-out split
            (:func:`~awhourglass.train.calibrate.split_holdout`) of each dataset read from ``cfg.data`` and of each
            endless stream given; a given finite dataset is used whole for training.
    """
    check_compatible(cfg)
    method = cfg.method
    model = AWHourglassNet(cfg.model)
    adversary = make_adversary(cfg.model, method)
    source, target, held = _datasets(cfg, source, target)
    if calibration is None and held:
        calibration = ConcatDataset(held)  # type: ignore[arg-type]  # torch's stubs: Datasets; any sized indexable works
    # the forward the steps run: the network itself, or compiled (same parameters); the critic stays eager
    net: AWHourglassNet = torch.compile(model, backend=COMPILE_BACKEND) if cfg.compile else model  # type: ignore[assignment]  # stubs: a plain function
    steps = MethodSteps(net, adversary, method, cfg.precision, two_domains=target is not None)
    network: dict[str, torch.nn.Module] = {"model": model}
    if method.uses_domain_classifier:
        assert adversary is not None  # make_adversary made the domain classifier
        network["domain_classifier"] = adversary  # trained by the network optimizer via gradient reversal
    return TrainParts(
        network=network,
        source=source,
        target=target,
        pretrain_loss=steps.pretrain_loss,
        adapt_loss=steps.adapt_loss,
        critic=adversary if method.uses_critic else None,
        critic_loss=steps.critic_loss if method.uses_critic else None,
        on_adapt_start=(lambda: model.copy_domain_bn(0, 1)) if cfg.model.domain_bn else None,
        calibration=calibration,
    )


__all__ = ["MethodSteps", "build_parts", "split_domains"]
