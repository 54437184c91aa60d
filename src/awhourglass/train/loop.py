"""What both phases share: the parts of a run, one optimizer update, logging/checkpoint cadence.

The phase loops (:mod:`.pretrain`, :mod:`.adapt`) are plain ``for step in range(start, steps)``
loops over :class:`Trainer` helpers. A step function (:data:`LossFn`) maps a batch to a dict of
named scalar losses whose ``"total"`` entry is minimised; the other entries are logged.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from awhourglass.checkpoint import CheckpointWriteError, checkpoint_dict, first_nonfinite_tensor
from awhourglass.data.sample import Batch, Sample, Samples, collate
from awhourglass.errors import AwhError
from awhourglass.methods.base import step_decay_lr
from awhourglass.train.batches import StepBatches
from awhourglass.train.checkpoint import CheckpointStore, rng_state
from awhourglass.train.config import OptimizerConfig, PhaseConfig, TrainConfig
from awhourglass.train.distributed import (
    DistInfo,
    all_ranks_ok,
    average_buffers,
    average_update,
    gather_objects,
)
from awhourglass.train.logging import MetricLogger, format_losses
from awhourglass.train.precision import LossScale


@dataclass(frozen=True)
class StepInfo:
    """Which step a step function is computing: ``step`` is 0-based, ``total`` the phase length."""

    phase: str
    step: int
    total: int

    @property
    def progress(self) -> float:
        """Fraction of the phase done before this step, in [0, 1) (e.g. for DANN's λ schedule)."""
        return self.step / max(self.total, 1)


LossFn = Callable[[Batch, StepInfo], dict[str, torch.Tensor]]


@dataclass
class TrainParts:
    """The live objects of a run, built from a :class:`TrainConfig` (or by hand in tests).

    Attributes:
        network: modules updated by the network optimizer; ``"model"`` is the pose network, others
            (depth regularizer, DANN domain classifier) are auxiliary. Saved under these names.
        critic: the Wasserstein critic (updated by the critic optimizer), or ``None``.
        source, target: indexable datasets of :class:`Sample` (``target`` may be ``None`` if the
            adapt phase is skipped).
        pretrain_loss: phase 1 step function (source batch, full 3D labels).
        adapt_loss: phase 2 network step function (half/half batch).
        critic_loss: phase 2 critic step function, or ``None`` (no critic steps).
        collate_fn: samples → :class:`Batch`.
        on_adapt_start: called once when phase 2 starts (not when it resumes), e.g. to copy the source's
            domain-specific BatchNorm into the target's.
        on_checkpoint: called as ``on_checkpoint(phase, step)`` on every rank after each checkpoint is written
            (e.g. to score the network on a validation split and keep the best weights).
        calibration: hand crops held out of the training data, on which the final network's ``hand_detected``
            threshold is calibrated (:mod:`awhourglass.train.calibrate`); ``None``: no calibration.
    """

    network: dict[str, nn.Module]
    source: Samples
    pretrain_loss: LossFn
    target: Samples | None = None
    adapt_loss: LossFn | None = None
    critic: nn.Module | None = None
    critic_loss: LossFn | None = None
    collate_fn: Callable[[list[Sample]], Batch] = collate
    on_adapt_start: Callable[[], None] | None = None
    on_checkpoint: Callable[[str, int], None] | None = None
    calibration: Samples | None = None

    def modules(self) -> dict[str, nn.Module]:
        """Every module by its checkpoint name (the critic as ``"critic"``)."""
        out = dict(self.network)
        if self.critic is not None:
            out["critic"] = self.critic
        return out


class NonFiniteLossError(AwhError):
    """A loss or gradient became NaN/inf: training stops, nothing is written for that step."""


def make_optimizer(cfg: OptimizerConfig, params: list[nn.Parameter], lr: float | None = None) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names over ``params`` (``lr`` overrides ``cfg.lr``)."""
    lr = cfg.lr if lr is None else lr
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


def lr_at(phase: PhaseConfig, base_lr: float, step: int) -> float:
    """Step-decay learning rate of 0-based ``step``: ``base · gamma^(milestones passed)`` (phase 1; phase 2 asks
    the method, ``Method.lr_at``)."""
    return step_decay_lr(base_lr, step, phase.lr_milestones, phase.lr_gamma)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def parameters(modules: dict[str, nn.Module]) -> list[nn.Parameter]:
    """Trainable parameters of ``modules`` in a fixed order (sorted names), without duplicates."""
    seen: set[int] = set()
    out = []
    for name in sorted(modules):
        for p in modules[name].parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def check_finite(values: dict[str, float], phase: str, step: int, last_checkpoint: str | None = None,
                 what: str = "loss '{}'") -> None:
    """Raise :class:`NonFiniteLossError` naming the first NaN/inf value and the 1-based step."""
    for name, value in values.items():
        if not math.isfinite(value):
            last = last_checkpoint or "none written yet"
            raise NonFiniteLossError(
                f"{what.format(name)} is {value} at {phase} step {step + 1}: training stopped; "
                f"no checkpoint was written for this step (last good checkpoint: {last})"
            )


def optimize(
    losses: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    params: list[nn.Parameter],
    clip: float | None,
    phase: str,
    step: int,
    dist: DistInfo,
    prefix: str = "",
    last_checkpoint: str | None = None,
    loss_scale: LossScale | None = None,
) -> dict[str, float]:
    """Training's one update: backward ``losses["total"]``, average gradients over ranks, check, clip, step.

    Both phases and ``awh bench`` use it. The losses travel with the gradients in one all-reduce and are read
    to the host once, with the gradient norm: one host-device sync per update. Returns the losses (averaged
    over ranks) as floats, keys prefixed by ``prefix``.

    ``loss_scale`` (fp16): the backward runs on the scaled loss and the gradients are unscaled before the
    norm and the clipping; a non-finite gradient norm then skips the step and halves the scale
    (:class:`~awhourglass.train.precision.LossScale`) instead of stopping training.

    Raises:
        NonFiniteLossError: a loss or the gradient norm is NaN/inf (before any weight changes); with a loss
            scale, a non-finite gradient norm only once the scale is exhausted.
    """
    if "total" not in losses:
        raise KeyError(f"{phase} step function returned {sorted(losses)}: no 'total' loss to minimise")
    names = sorted(losses)
    optimizer.zero_grad(set_to_none=True)
    (losses["total"] if loss_scale is None else losses["total"] * loss_scale.scale).backward()
    vec = torch.stack([losses[k].detach().reshape(()).to(torch.float64) for k in names])
    vec, counts = average_update(params, vec, dist)
    grads = [p.grad for p in params if p.grad is not None]
    if grads and loss_scale is not None:
        torch._foreach_mul_(grads, 1.0 / loss_scale.scale)
    if grads:
        if clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
        else:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        vec = torch.cat([vec, norm.detach().reshape(1).to(vec.dtype)])
    if counts is not None:
        vec = torch.cat([vec, counts.to(vec.dtype)])
    # the update's one host read (sync): the losses for the logs and the finiteness checks, the gradient norm,
    # which parameters got a gradient on some rank; nothing has changed the weights yet
    host = vec.tolist()
    values = {prefix + k: v for k, v in zip(names, host, strict=False)}
    check_finite(values, phase, step, last_checkpoint)
    if grads:
        what = f"the gradient norm of {prefix or 'network '}loss 'total'"
        norm_value = host[len(names)]
        if loss_scale is not None and not loss_scale.update(math.isfinite(norm_value)):
            if loss_scale.exhausted:
                check_finite({"": norm_value}, phase, step, last_checkpoint,
                             what=what + f" (at every fp16 loss scale down to {loss_scale.scale:g})")
            return values  # an fp16 overflow: this update is skipped, the next runs at half the scale
        check_finite({"": norm_value}, phase, step, last_checkpoint, what=what)
    if counts is not None:
        for p, n in zip(params, host[len(host) - len(params):], strict=True):
            if n == 0:
                p.grad = None  # no rank computed one: skipped by the optimizer, as single-process
    optimizer.step()
    return values


MAX_PROBLEM_LINES = 1000  # per phase, in train.log; the count goes on


class Trainer:
    """Run-wide state shared by the phase loops: config, parts, rank, logger, checkpoints."""

    def __init__(
        self,
        cfg: TrainConfig,
        config_dict: dict[str, Any],
        parts: TrainParts,
        dist: DistInfo,
        run_dir: Path,
        logger: MetricLogger,
        store: CheckpointStore,
    ) -> None:
        self.cfg, self.config_dict, self.parts, self.dist = cfg, config_dict, parts, dist
        self.run_dir, self.logger, self.store = run_dir, logger, store
        self.resume_optimizers: dict[str, Any] = {}  # optimizer states to load when the phase starts
        self.resume_sampler: dict[str, Any] = {}  # sampler position of the checkpoint resumed from
        self.last_checkpoint: str | None = None
        self.global_step_offset = {"pretrain": 0, "adapt": cfg.phases.pretrain.steps}
        self.problem_counts = {"pretrain": 0, "adapt": 0}
        self.hand_threshold: dict[str, Any] | None = None  # calibrated at the end of training (train.calibrate)

    # --- data problems (skipped samples, labels left out of the losses) -------------------------

    def data_problems(self, phase: str) -> Callable[[int, list[str]], None]:
        """A callback for :func:`~awhourglass.train.batches.iterate_steps`: counts each step's data problems and
        writes them to ``train.log`` (the first ``MAX_PROBLEM_LINES`` of a phase), with workers as without."""

        def note(step: int, lines: list[str]) -> None:
            for line in lines:
                self.problem_counts[phase] += 1
                if self.problem_counts[phase] <= MAX_PROBLEM_LINES:
                    self.logger.message(f"{phase} step {step + 1}: {line}")

        return note

    def report_data_problems(self, phase: str) -> None:
        """At a phase's end (or stop): one line with the count, in ``train.log`` and on stderr."""
        n = self.problem_counts[phase]
        if n and self.dist.is_main:
            text = (f"{phase}: {n} data problem(s) in this run's steps (samples skipped under skip_bad, labels "
                    f"left out of the losses); {self.run_dir / 'train.log'} lists them")
            self.logger.message(text)
            tqdm.write(f"awh train: warning: {text}", file=sys.stderr)

    def check_sampler(self, batches: StepBatches, start_step: int) -> None:
        """Refuse to resume mid-phase on datasets whose sizes changed (the data order would differ)."""
        saved, self.resume_sampler = self.resume_sampler, {}
        if not saved or start_step == 0 or saved.get("phase_id") != batches.phase_id:
            return
        now = batches.position(start_step)
        if saved["sizes"] != now["sizes"] or saved["counts"] != now["counts"]:
            raise AwhError(
                f"cannot resume: the checkpoint's datasets had {saved['sizes']} samples ({saved['counts']} per step), "
                f"now {now['sizes']} ({now['counts']}); the batches would not be the same as in the original run"
            )

    # --- one update ----------------------------------------------------------------------------

    def check_finite(self, values: dict[str, float], phase: str, step: int, what: str = "loss '{}'") -> None:
        """Raise :class:`NonFiniteLossError` naming the first NaN/inf value and the 1-based step."""
        check_finite(values, phase, step, self.last_checkpoint, what)

    def optimize(
        self,
        losses: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
        params: list[nn.Parameter],
        clip: float | None,
        phase: str,
        step: int,
        prefix: str = "",
        loss_scale: LossScale | None = None,
    ) -> dict[str, float]:
        """:func:`optimize` with this run's ranks and last checkpoint (for the error message)."""
        return optimize(losses, optimizer, params, clip, phase, step, self.dist, prefix, self.last_checkpoint,
                        loss_scale)

    def network_loss_scale(self, optimizers: dict[str, Any]) -> LossScale | None:
        """fp16's loss scale of the network update (``None`` in fp32/bf16), restored on resume and checkpointed
        with the optimizers (as ``network_loss_scale``)."""
        if self.cfg.precision != "fp16":
            return None
        scale = LossScale()
        if "network_loss_scale" in self.resume_optimizers:
            scale.load_state_dict(self.resume_optimizers.pop("network_loss_scale"))
        optimizers["network_loss_scale"] = scale
        return scale

    # --- progress, logs, checkpoints -----------------------------------------------------------

    def progress_bar(self, phase: str, start: int, total: int) -> tqdm:
        return tqdm(
            total=total,
            initial=start,
            desc=phase,
            disable=not (self.cfg.progress and self.dist.is_main),
            dynamic_ncols=True,
            leave=True,
        )

    def after_step(
        self,
        phase: str,
        done: int,
        total: int,
        values: dict[str, float],
        lr: float,
        optimizers: dict[str, torch.optim.Optimizer],
        batches: StepBatches,
        bar: tqdm,
    ) -> None:
        """Progress bar, CSV row every ``log_every`` steps, checkpoint every ``ckpt_every`` and at the end."""
        bar.update(1)
        bar.set_postfix_str(format_losses(values), refresh=False)
        if done % self.cfg.log_every == 0 or done == total:
            self.logger.log(phase, done, values, lr)
        if done % self.cfg.ckpt_every == 0 or done == total:
            self.save(phase, done, optimizers, batches, values)

    def domain_crops(self) -> dict[str, tuple[float, float]]:
        """Each training domain's crop ``(crop_margin, min_crop_px)``: what predict and eval read back."""
        data = self.cfg.data
        out = {"source": (data.source.crop_margin, data.source.min_crop_px)}
        if data.target is not None:
            out["target"] = (data.target.crop_margin, data.target.min_crop_px)
        return out

    def checkpoint_dict(
        self,
        phase: str,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        rng: list[Any],
        sampler: dict[str, Any] | None,
        metrics: dict[str, float],
    ) -> dict[str, Any]:
        """The self-describing checkpoint of the state after ``step`` completed steps of ``phase``."""
        threshold: dict[str, Any] = {} if self.hand_threshold is None else {"hand_threshold": self.hand_threshold}
        return checkpoint_dict(
            self.config_dict, {k: m.state_dict() for k, m in self.parts.modules().items()}, phase, step,
            global_step=self.global_step_offset[phase] + step, crops=self.domain_crops(),
            optimizers={k: o.state_dict() for k, o in optimizers.items()}, rng=rng, world_size=self.dist.world_size,
            sampler=sampler or {}, metrics={k: float(v) for k, v in metrics.items()}, **threshold)

    def save(
        self,
        phase: str,
        step: int,
        optimizers: dict[str, torch.optim.Optimizer],
        batches: StepBatches | None,
        metrics: dict[str, float],
    ) -> None:
        """Rank 0 writes the checkpoint; every rank waits and learns whether it succeeded."""
        average_buffers(self.parts.modules(), self.dist)
        self._check_weights_finite(phase, step)
        rng = gather_objects(rng_state(), self.dist)  # every rank's generators, for exact resume
        ok, error = True, None
        if self.dist.is_main:
            try:
                sampler = batches.position(step) if batches is not None else None
                path = self.store.save(self.checkpoint_dict(phase, step, optimizers, rng, sampler, metrics))
                self.last_checkpoint = f"{path} ({phase} step {step})"
            except Exception as exc:  # report on every rank, not just hang the others
                ok, error = False, exc
        if not all_ranks_ok(ok, self.dist):
            if isinstance(error, CheckpointWriteError):
                last = self.last_checkpoint or "none written yet"
                if error.disk_full:
                    raise AwhError(
                        f"no space left on device while writing {error.path} ({phase} step {step}); nothing "
                        f"was lost: resume with --resume from the last good checkpoint ({last}) once there is space"
                    ) from None
                raise AwhError(f"could not write {error.path} ({phase} step {step}): {error.reason}; nothing was "
                               f"lost: resume with --resume from the last good checkpoint ({last})") from None
            if error is not None:
                raise error
            raise AwhError(f"rank 0 failed to write the checkpoint at {phase} step {step}")
        self.last_checkpoint = self.last_checkpoint or f"{self.store.last} ({phase} step {step})"
        if self.parts.on_checkpoint is not None:
            self.parts.on_checkpoint(phase, step)

    def _check_weights_finite(self, phase: str, step: int) -> None:
        # the same test the checkpoint reader applies, so that what is written here can always be read back
        bad = first_nonfinite_tensor({name: m.state_dict() for name, m in self.parts.modules().items()})
        if bad is not None:
            raise NonFiniteLossError(
                f"weight {bad} is not finite after {phase} step {step}: training stopped; "
                f"no checkpoint written (last good checkpoint: {self.last_checkpoint or 'none'})"
            )


__all__ = [
    "LossFn",
    "NonFiniteLossError",
    "StepInfo",
    "TrainParts",
    "Trainer",
    "check_finite",
    "lr_at",
    "make_optimizer",
    "optimize",
    "parameters",
    "set_lr",
]
