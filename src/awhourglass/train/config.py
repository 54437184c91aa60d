"""The typed training config (``awh train CONFIG.yaml``): data, model, method, optimizers, phases, run settings.

Loaded with :func:`load_train_config` (strict: unknown keys are errors). Batch sizes are *global*:
under ``N`` processes each rank gets ``batch_size / N`` samples (per domain in the adapt phase).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from awhourglass.config import ConfigError, check_betas, check_number, from_dict, read_config_text, to_dict
from awhourglass.data.config import DatasetConfig
from awhourglass.methods.config import MethodConfig
from awhourglass.models.config import ModelConfig


def _check_device(name: str) -> None:
    """``device`` must name a torch device or be ``auto`` (whether this machine has it is checked at the start)."""
    if name == "auto":
        return
    try:
        torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}") from None



@dataclass
class OptimizerConfig:
    """One optimizer. ``lr`` is the base rate; a phase's ``lr`` (if set) replaces it."""

    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    weight_decay: float = 0.0
    grad_clip_norm: float | None = None

    def __post_init__(self) -> None:
        check_number("OptimizerConfig.lr", self.lr, positive=True)
        check_betas("OptimizerConfig.betas", self.betas)
        check_number("OptimizerConfig.momentum", self.momentum, positive=False)
        check_number("OptimizerConfig.weight_decay", self.weight_decay, positive=False)
        check_number("OptimizerConfig.grad_clip_norm", self.grad_clip_norm, positive=True, optional=True)


@dataclass
class PhaseConfig:
    """Length and schedule of one phase.

    Attributes:
        steps: optimizer steps of the network (generator steps in the adapt phase); 0 skips the phase.
        batch_size: global batch (all ranks together); in the adapt phase half source, half target
            (``target_fraction``).
        lr: learning rate of the network for this phase (``None``: the optimizer's ``lr``).
        lr_milestones: steps at which the rate is multiplied by ``lr_gamma`` (step decay).
    """

    steps: int = 0
    batch_size: int = 32
    lr: float | None = None
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1


@dataclass
class AdaptPhaseConfig(PhaseConfig):
    """Phase 2 extras (the critic's steps and optimizer are ``method.critic_steps/critic_lr/critic_betas``).

    Attributes:
        target_fraction: share of each batch drawn from the target domain (paper: 0.5).
    """

    target_fraction: float = 0.5


@dataclass
class PhasesConfig:
    """Phase 1 (pretrain: source only, full 3D labels, no critic) and phase 2 (adapt: two domains)."""

    pretrain: PhaseConfig = field(default_factory=PhaseConfig)
    adapt: AdaptPhaseConfig = field(default_factory=AdaptPhaseConfig)


@dataclass
class TrainDataConfig:
    """The two domains. Their crops are the network's input: leave ``input_size`` out, it is ``model.input_size``.

    Attributes:
        source: the fully labelled (synthetic) dataset: phase 1, and the source half of phase 2.
        target: the weakly labelled (real) dataset of phase 2; ``None`` when ``phases.adapt.steps`` is 0
            or the method is ``source_only``. Unless the method is ``oracle``, its 3D labels are not even
            loaded (``labels`` is forced to ``2d``).
    """

    source: DatasetConfig
    target: DatasetConfig | None = None

    def sized(self, input_size: int) -> TrainDataConfig:
        """These datasets with ``input_size`` set where they leave it out (a given one is kept, and checked
        against the model's by :func:`check_compatible`)."""
        def fill(ds: DatasetConfig) -> DatasetConfig:
            return ds if ds.input_size is not None else replace(ds, input_size=input_size)

        return replace(self, source=fill(self.source),
                                   target=None if self.target is None else fill(self.target))


@dataclass
class TrainConfig:
    """Everything ``awh train`` needs.

    Attributes:
        data: source/target datasets and crop settings (:mod:`awhourglass.data`); a dataset that leaves out
            ``input_size`` gets the model's when the config is made (so that it is recorded, and compared on
            resume, as before).
        model: network architecture (:mod:`awhourglass.models`).
        method: source_only | oracle | joint | wh | dann | awh, its loss weights, and the critic's
            steps per network step and Adam settings.
        optimizer: the network's optimizer (encoder, decoder, heads, depth regularizer, DANN classifier).
        phases: pretrain and adapt lengths, batch sizes, learning rates.
        seed: seeds model init, data order, augmentation and every random draw of the steps.
        deterministic: ``torch.use_deterministic_algorithms`` (warn-only where an op has no deterministic kernel).
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` (under torchrun ``cuda`` means ``cuda:LOCAL_RANK``).
        num_workers: DataLoader worker processes per rank, or ``auto`` (the default): the cores this process may
            use (its CPU affinity) shared by the ranks of this node, less one for the training process itself
            (:meth:`loader_workers`, :func:`auto_workers`; 1 on a 2-core machine, 0 on one core).
            ``persistent_workers`` does not apply: each phase reads its steps through one loader, started once.
        log_every / ckpt_every: in steps of the current phase; a checkpoint is also written at each phase end.
        init_from: a checkpoint whose ``model`` weights initialise the pose network (e.g. a pretrain
            run's ``pretrain.pt``, to adapt several methods from one pretraining); adversaries start fresh.
        precision: ``fp32``, ``bf16`` or ``fp16``: the network's convolutions under autocast in that type, its 2.5D
            decoding, the losses, the critic and the gradient penalty in fp32 (``train.steps.forward_batch``);
            weights and optimizer state stay fp32. bf16 has fp32's range; fp16 scales the network update's loss
            dynamically (``train.precision.LossScale``; the critic's updates are fp32 and are not scaled).
        compile: run the network's forward through ``torch.compile`` (the critic stays eager: its gradient
            penalty's double backward); the first steps then include compilation (about a minute on a CPU).
        sync_batchnorm: convert BatchNorm to SyncBatchNorm for multi-GPU runs.
        progress: show tqdm progress bars.
    """

    data: TrainDataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    phases: PhasesConfig = field(default_factory=PhasesConfig)
    seed: int = 0
    deterministic: bool = True
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False
    device: str = "auto"
    num_workers: int | Literal["auto"] = "auto"
    log_every: int = 10
    ckpt_every: int = 100
    init_from: str | None = None
    sync_batchnorm: bool = True
    progress: bool = True

    def loader_workers(self) -> int:
        """The data-loader worker processes of each rank (``num_workers``, ``auto`` resolved)."""
        if self.num_workers == "auto":
            return auto_workers(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        return int(self.num_workers)

    def __post_init__(self) -> None:
        self.data = self.data.sized(self.model.input_size)  # the one input size: the model's
        for name, phase in (("pretrain", self.phases.pretrain), ("adapt", self.phases.adapt)):
            if phase.steps < 0:
                raise ConfigError(f"phases.{name}.steps must be >= 0, got {phase.steps}")
            if phase.batch_size < 1:
                raise ConfigError(f"phases.{name}.batch_size must be >= 1, got {phase.batch_size}")
            check_number(f"phases.{name}.lr", phase.lr, positive=True, optional=True)
            check_number(f"phases.{name}.lr_gamma", phase.lr_gamma, positive=True)
        a = self.phases.adapt
        if not 0.0 < a.target_fraction < 1.0:
            raise ConfigError(f"phases.adapt.target_fraction must be in (0, 1), got {a.target_fraction}")
        if self.log_every < 1 or self.ckpt_every < 1:
            raise ConfigError("log_every and ckpt_every must be >= 1")
        if self.num_workers != "auto" and self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0 or auto, got {self.num_workers}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        _check_device(self.device)


# Fields that may differ between a run and its resumption without changing the result.
def auto_workers(local_ranks: int = 1, cores: int | None = None) -> int:
    """``num_workers: auto``: this node's usable cores per rank, less the rank's own training process."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, cores // max(1, local_ranks) - 1)


RESUME_FREE_FIELDS = ("log_every", "ckpt_every", "progress", "num_workers", "device")


def load_train_config(path: str | Path, overrides: Sequence[str | Path] = ()) -> TrainConfig:
    """Read a YAML config, then deep-merge each override YAML file over it (later wins)."""
    data: dict[str, Any] = {}
    for p in [path, *overrides]:
        p = Path(p)
        try:
            layer = yaml.safe_load(read_config_text(p)) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML ({exc})") from None
        if not isinstance(layer, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        data = deep_merge(data, layer)
    try:
        cfg = from_dict(TrainConfig, data)
        check_compatible(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def check_compatible(cfg: TrainConfig) -> None:
    """Raise :class:`ConfigError`, naming the keys, for settings the data, model and method cannot run together.

    Checked when the config loads (:func:`load_train_config`) and again when a run builds its parts (a config
    made or changed in code), so that none of them fails at the first step instead.
    """
    size = cfg.model.input_size
    datasets = [("data.source", cfg.data.source)]
    if cfg.data.target is not None:
        datasets.append(("data.target", cfg.data.target))
    for name, ds in datasets:
        if ds.input_size is not None and ds.input_size != size:
            raise ConfigError(f"{name}.input_size is {ds.input_size} but model.input_size is {size}: they must match "
                              f"(leave {name}.input_size out: it is the model's)")
    method, adapt = cfg.method, cfg.phases.adapt
    if adapt.steps > 0 and method.uses_target:
        if cfg.data.target is None:
            raise ConfigError(f"method {method.name!r} adapts to a target domain: set data.target")
        if adapt.target_fraction != 0.5:
            raise ConfigError(f"method {method.name!r} pairs equal source and target halves: "
                              f"phases.adapt.target_fraction must be 0.5, got {adapt.target_fraction}")
        if adapt.batch_size % 2:
            raise ConfigError(f"method {method.name!r} pairs equal source and target halves: "
                              f"phases.adapt.batch_size must be even, got {adapt.batch_size}")
        if method.uses_target_3d and cfg.data.target.labels != "3d":
            raise ConfigError(f"method {method.name!r} trains on the target's 3D labels: set data.target.labels to 3d")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``; nested mappings merge, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def with_defaults(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """A recorded config (a checkpoint's ``config``) with the keys added since it was written at their defaults,
    so that comparing it with today's config reports only real differences; returned unchanged if it no longer
    loads (then every difference shows)."""
    try:
        return to_dict(from_dict(TrainConfig, cfg_dict))
    except ConfigError:
        return cfg_dict


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain config dicts."""
    diffs = []
    for k in sorted(set(a) | set(b)):
        key = f"{prefix}{k}"
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += config_differences(va, vb, key + ".")
        elif va != vb:
            diffs.append(key)
    return diffs


__all__ = [
    "RESUME_FREE_FIELDS",
    "AdaptPhaseConfig",
    "OptimizerConfig",
    "PhaseConfig",
    "PhasesConfig",
    "TrainConfig",
    "TrainDataConfig",
    "check_compatible",
    "config_differences",
    "deep_merge",
    "load_train_config",
    "to_dict",
    "with_defaults",
]
