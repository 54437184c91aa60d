"""Top level of training: ``train(cfg, out_dir, resume)`` runs phase 1 then phase 2, resumably.

Run directory (written by rank 0)::

    config.yaml        the config of the run (as loaded, defaults filled in)
    last.pt            newest full checkpoint (weights, optimizers, RNG states, sampler position)
    previous.pt        the one before (fallback if last.pt is damaged)
    pretrain.pt        weights at the end of phase 1 (slim: for ``init_from``)
    model.pt           final weights (slim: for eval / predict / export)
    pretrain.csv, adapt.csv, train.log, tb/ (TensorBoard, if installed)
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awhourglass.atomic import atomic_write_text, remove_stale_temps
from awhourglass.checkpoint import CheckpointError, atomic_save, load_checkpoint, slim
from awhourglass.config import dump_yaml, to_dict
from awhourglass.errors import AwhError
from awhourglass.models.load import network_from_dict
from awhourglass.train.adapt import check_batch_split, run_adapt
from awhourglass.train.batches import derive_seed
from awhourglass.train.calibrate import calibrate_hand_threshold
from awhourglass.train.checkpoint import CheckpointStore, set_rng_state
from awhourglass.train.config import RESUME_FREE_FIELDS, TrainConfig, config_differences, with_defaults
from awhourglass.train.distributed import (
    DistInfo,
    all_ranks_ok,
    barrier,
    broadcast_parameters,
    convert_sync_batchnorm,
    gather_objects,
    init_distributed,
    shutdown,
)
from awhourglass.train.logging import MetricLogger
from awhourglass.train.loop import Trainer, TrainParts
from awhourglass.train.parts import build_parts
from awhourglass.train.pretrain import run_pretrain

PartsFactory = Callable[[TrainConfig, DistInfo], TrainParts]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 (global generator, used by data pipelines)
    torch.manual_seed(seed)


def configure_determinism(enabled: bool, device: torch.device) -> None:
    """Deterministic kernels where they exist (warn-only for ops without one)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism
        torch.backends.cudnn.benchmark = not enabled
        torch.backends.cudnn.deterministic = enabled
    if torch.are_deterministic_algorithms_enabled() != enabled:  # the call imports torch._inductor (seconds)
        torch.use_deterministic_algorithms(enabled, warn_only=True)


def state_mismatch(module: torch.nn.Module, state: dict[str, Any]) -> str:
    """One line saying how ``state`` differs from ``module``'s own state dict (PyTorch's message is a page)."""
    own = module.state_dict()
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} tensor(s) of another shape (checkpoint vs this config: {'; '.join(shapes[:3])}"
                     f"{'; …' if len(shapes) > 3 else ''})")
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
    return ", ".join(parts) or "the tensors differ"


def load_module_states(parts: TrainParts, states: dict[str, Any], source: str, strict_names: bool) -> list[str]:
    """Load ``states[name]`` into each module of ``parts``; returns the names loaded."""
    modules = parts.modules()
    if strict_names and set(states) != set(modules):
        raise CheckpointError(f"{source} holds modules {sorted(states)} but this run builds {sorted(modules)}")
    loaded = []
    for name, module in modules.items():
        if name in states:
            try:
                module.load_state_dict(states[name])
            except RuntimeError:
                raise CheckpointError(f"{source}: module {name!r} does not match this config: "
                                      f"{state_mismatch(module, states[name])}") from None
            loaded.append(name)
    return loaded


def _raise_model_differences(cfg: TrainConfig, theirs_cfg: Any) -> None:
    """``init_from`` of another architecture: one line naming the model fields that differ, if any do."""
    ours, theirs = to_dict(cfg.model), to_dict(theirs_cfg)
    diffs = config_differences(ours, theirs)
    if diffs:
        raise CheckpointError(
            f"init_from {cfg.init_from}: its network differs from this config's model in "
            + ", ".join(f"model.{d} ({_dotted(ours, d)} here, {_dotted(theirs, d)} there)" for d in diffs)
            + "; set those fields to the checkpoint's to start from it") from None


def _dotted(d: dict[str, Any], key: str) -> Any:
    value: Any = d
    for k in key.split("."):
        value = value.get(k) if isinstance(value, dict) else None
    return value


def _check_resumable(cfg_dict: dict[str, Any], ckpt: dict[str, Any], path: Path) -> None:
    # keys added since the checkpoint was written (e.g. new augmentations, off by default) are no difference
    theirs = with_defaults(ckpt["config"])
    diffs = [d for d in config_differences(cfg_dict, theirs) if d.split(".")[0] not in RESUME_FREE_FIELDS]
    if diffs:
        raise CheckpointError(
            f"cannot resume from {path}: the config differs from the run's in {diffs}; "
            "resume with the run's config.yaml or start a new run with another --out"
        )


def fit(cfg: TrainConfig, out_dir: str | Path, resume: bool, build_parts: PartsFactory) -> Path:
    """:func:`train` with the parts factory given explicitly (tests pass small stand-ins)."""
    created_group = not torch.distributed.is_initialized()
    dist = init_distributed(cfg.device)
    try:
        check_batch_split(cfg, dist)
        if not dist.is_main:  # rank 0 owns the run directory for all ranks
            return _fit(cfg, Path(out_dir), resume, build_parts, dist)
        with run_dir_lock(Path(out_dir)):
            return _fit(cfg, Path(out_dir), resume, build_parts, dist)
    finally:
        if created_group:
            shutdown(dist)


LOCK = ".awh.lock"
_HELD_LOCKS: set[int] = set()  # fds of the run-dir locks this process holds


def _drop_locks_in_child() -> None:
    """In a forked child (DataLoader workers): point the inherited lock fds at /dev/null, so that the lock is
    the parent's alone. Otherwise a ``kill -9`` of the parent leaves it held until its workers notice and exit
    (seconds later), and an immediate ``--resume`` is refused."""
    if not _HELD_LOCKS:
        return
    null = os.open(os.devnull, os.O_RDWR)
    for fd in list(_HELD_LOCKS):
        try:
            os.dup2(null, fd)  # the fd number stays valid for the child's copy of the file object
        except OSError:
            pass
    os.close(null)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_locks_in_child)


@contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` for this process: a second ``awh train`` on it (also ``--resume``) is refused in one line.

    An advisory ``flock`` on ``run_dir/.awh.lock``: the kernel releases it when the holder exits, however it
    exits (kill -9 included), so a crashed run never leaves it held; forked children (data workers) do not
    share it (:func:`_drop_locks_in_child`). Where ``fcntl`` is missing, no lock.
    Once held, the temporary files a killed writer left in ``run_dir`` are removed (no one else writes there).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / LOCK, "a+")
    held = False
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise AwhError(f"{run_dir} is in use by {holder}: wait for it to finish, or use another --out") from None
        held = True
        _HELD_LOCKS.add(fh.fileno())
        fh.seek(0)
        fh.truncate()
        fh.write(f"awh train (pid {os.getpid()})\n")
        fh.flush()
        remove_stale_temps(run_dir)
        yield
    finally:
        # a run refused before it wrote anything leaves nothing behind (unlinked while still held)
        empty = held and [q.name for q in run_dir.iterdir()] == [LOCK]
        if empty:
            (run_dir / LOCK).unlink(missing_ok=True)
        _HELD_LOCKS.discard(fh.fileno())
        fh.close()  # releases the lock
        if empty and created:
            run_dir.rmdir()


def _fit(cfg: TrainConfig, run_dir: Path, resume: bool, build_parts: PartsFactory, dist: DistInfo) -> Path:
    store = CheckpointStore(run_dir)
    if store.exists() and not resume:
        raise AwhError(f"{run_dir} already holds a run: pass --resume to continue it or use another --out")
    configure_determinism(cfg.deterministic, dist.device)
    seed_everything(cfg.seed)  # same on every rank: identical initial weights
    parts = _build(cfg, dist, build_parts)
    logger = MetricLogger(run_dir, enabled=dist.is_main)
    trainer = Trainer(cfg, to_dict(cfg), parts, dist, run_dir, logger, store)
    ckpt = _resume(trainer) if resume else None
    if ckpt is None:
        _start_fresh(trainer)
    else:
        _restore_rng(cfg, ckpt, dist)
    phase, step = (ckpt["phase"], int(ckpt["step"])) if ckpt is not None else ("pretrain", 0)
    starts = gather_objects((phase, step), dist)
    if len(set(starts)) > 1:  # e.g. a multi-node run whose run directory is not on a shared filesystem
        raise AwhError(f"ranks would resume from different points {starts}: put --out on a filesystem every node sees")
    try:
        _run_phases(trainer, phase, step)
    except BaseException as exc:
        logger.message(f"stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        logger.close()
    return run_dir / "model.pt"


def _build(cfg: TrainConfig, dist: DistInfo, build_parts: PartsFactory) -> TrainParts:
    """The run's modules and data, on this rank's device (SyncBatchNorm where configured)."""
    parts = build_parts(cfg, dist)
    for name, module in parts.modules().items():
        # in place (children replaced), so step functions holding these modules see the change
        if cfg.sync_batchnorm and convert_sync_batchnorm(module, dist) is not module:
            raise AwhError(f"module {name!r} is itself a BatchNorm layer: wrap it to use sync_batchnorm")
        module.to(dist.device)
    return parts


def _resume(trainer: Trainer) -> dict[str, Any] | None:
    """Load the newest good checkpoint of the run directory into the trainer; None when there is none.

    Read onto the CPU whatever the run's device: ``load_state_dict`` copies weights into the modules where they
    are, optimizers cast their state to their parameters' devices (Adam's step counters stay on the CPU, as
    PyTorch keeps them), and the RNG states must be CPU tensors (reading a CUDA one with ``.numpy()`` fails).
    """
    store, dist, run_dir, logger = trainer.store, trainer.dist, trainer.run_dir, trainer.logger
    # rank 0 first: it may set a damaged last.pt aside, the others then read the same file
    found, error = None, None
    if dist.is_main:
        try:
            found = store.load_latest(map_location="cpu")
        except CheckpointError as exc:
            error = exc
    if not all_ranks_ok(error is None, dist):  # every rank stops, none waits forever
        raise error if error is not None else CheckpointError(f"rank 0 could not read a checkpoint in {run_dir}")
    if not dist.is_main:
        found = store.load_latest(map_location="cpu")
    if found is None:
        logger.message(f"--resume: no checkpoint in {run_dir}, starting from scratch")
        return None
    ckpt, path = found
    _check_resumable(trainer.config_dict, ckpt, path)
    load_module_states(trainer.parts, ckpt["modules"], str(path), strict_names=True)
    trainer.resume_optimizers = dict(ckpt["optimizers"])
    trainer.resume_sampler = dict(ckpt.get("sampler") or {})
    trainer.last_checkpoint = f"{path} ({ckpt['phase']} step {ckpt['step']})"
    logger.message(f"resumed from {trainer.last_checkpoint}")
    return ckpt


def _start_fresh(trainer: Trainer) -> None:
    """A new run: ``init_from`` weights if any, the same weights on every rank, ``config.yaml``, per-rank RNG."""
    cfg, dist, run_dir = trainer.cfg, trainer.dist, trainer.run_dir
    if cfg.init_from:
        # the same reader and checks as every other command; the pose network only (adversaries start
        # fresh for the method being trained), which must also fit this run's model config
        init = network_from_dict(load_checkpoint(cfg.init_from), cfg.init_from)
        try:
            loaded = load_module_states(trainer.parts, {"model": init.state_dict()}, cfg.init_from, strict_names=False)
        except CheckpointError:
            _raise_model_differences(cfg, init.cfg)
            raise
        trainer.logger.message(f"initialised {loaded} from {cfg.init_from}")
    broadcast_parameters(trainer.parts.modules(), dist)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", dump_yaml(cfg))
    seed_everything(derive_seed(cfg.seed, 1 + dist.rank))  # per-rank streams for dropout, GP, ...


def _restore_rng(cfg: TrainConfig, ckpt: dict[str, Any], dist: DistInfo) -> None:
    rngs = ckpt["rng"]
    if len(rngs) == dist.world_size:
        set_rng_state(rngs[dist.rank])
    else:
        warnings.warn(
            f"checkpoint was written by {len(rngs)} process(es), this run has {dist.world_size}: "
            "data order is kept but random draws will differ from an uninterrupted run",
            stacklevel=3,
        )
        seed_everything(derive_seed(cfg.seed, 1 + dist.rank, int(ckpt["global_step"])))


def _run_phases(trainer: Trainer, phase: str, step: int) -> None:
    """Phase 1 then phase 2 from ``(phase, step)``; ``pretrain.pt`` after phase 1, ``model.pt`` at the end."""
    cfg, run_dir, logger = trainer.cfg, trainer.run_dir, trainer.logger
    if phase == "pretrain":
        logger.truncate("pretrain", step)
        run_pretrain(trainer, step)
        if cfg.phases.pretrain.steps > 0:
            _write_slim(trainer, run_dir / "pretrain.pt", "pretrain", cfg.phases.pretrain.steps)
        phase, step = "adapt", 0
        trainer.resume_optimizers = {}  # a pretrain checkpoint's optimizer state is not the adapt phase's
    if phase == "adapt":
        logger.truncate("adapt", step)
        run_adapt(trainer, step)
    if trainer.last_checkpoint is None:  # both phases empty: still leave the weights
        trainer.save("adapt", 0, {}, None, {})
    final_phase = "adapt" if cfg.phases.adapt.steps > 0 or cfg.phases.pretrain.steps == 0 else "pretrain"
    final_step = cfg.phases.adapt.steps if final_phase == "adapt" else cfg.phases.pretrain.steps
    _calibrate(trainer)
    _write_slim(trainer, run_dir / "model.pt", final_phase, final_step)
    logger.message("training complete")


def _calibrate(trainer: Trainer) -> None:
    """The final network's ``hand_detected`` threshold on the held-out crops (rank 0; recorded in ``model.pt``)."""
    held = trainer.parts.calibration
    if held is None or len(held) == 0 or not trainer.dist.is_main:
        return
    entry = calibrate_hand_threshold(trainer.parts.network["model"], held, seed=trainer.cfg.seed)
    trainer.hand_threshold = entry
    trainer.logger.message(
        f"hand threshold calibrated: {entry['threshold']:.4f} (held-out hands at or above it "
        f"{entry['hand_rate']:.1%} of {entry['n_hand']}, hand-free crops {entry['free_rate']:.1%} of "
        f"{entry['n_free']})")


def _write_slim(trainer: Trainer, path: Path, phase: str, step: int) -> None:
    if trainer.dist.is_main:
        atomic_save(slim(trainer.checkpoint_dict(phase, step, {}, [], None, {})), path)
    barrier(trainer.dist)


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False) -> Path:
    """Train as ``cfg`` says into ``out_dir``: pretrain, then adapt; returns the final ``model.pt``.

    Args:
        cfg: the training config.
        out_dir: run directory (checkpoints, logs, config.yaml).
        resume: continue from the newest usable checkpoint in ``out_dir`` (starts fresh if there is
            none). Without it, an ``out_dir`` that already holds a run is an error.

    Under torchrun (``WORLD_SIZE > 1``) every process calls this; rank 0 writes the files.
    """
    return fit(cfg, out_dir, resume, build_parts)


__all__ = ["configure_determinism", "fit", "seed_everything", "train"]
