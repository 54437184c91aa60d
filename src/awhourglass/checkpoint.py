"""The one home of checkpoint files: how they are built, written and read, with one set of checks.

A checkpoint is a plain dict of tensors, dicts, lists, strings and numbers (so the restricted unpickler of
``torch.load(weights_only=True)`` reads it and nothing in it can run code)::

    format, format_version, awhourglass_version, config (plain dict), joint_names,
    phase ("pretrain" | "adapt" | "done"), step (steps completed in that phase), global_step,
    modules {name: state_dict}, optimizers {name: state_dict},
    rng [per rank: {python, numpy, torch, cuda}], sampler {...}, world_size, metrics {...}

Every command reads checkpoints through :func:`load_checkpoint`, so a checkpoint is accepted or refused alike
by ``awh train --init-from``, ``awh eval``, ``awh predict``, ``awh export`` and the API, with one
:class:`CheckpointError` and one message per problem. The network itself is rebuilt by
:func:`awhourglass.models.load.network_from_checkpoint` (this module knows no network).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from awhourglass import __version__
from awhourglass.atomic import atomic_open, disk_full, exception_chain, fsync_dir, os_error_in
from awhourglass.errors import AwhError
from awhourglass.geometry import CROP_MARGIN, MIN_CROP_PX
from awhourglass.interrupts import deferred_interrupts
from awhourglass.skeleton import JOINT_NAMES

FORMAT = "awhourglass-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "awhourglass_version", "config", "joint_names", "phase", "step")
# what torch's zip writer adds to the tensors' bytes (pickle, records, alignment), for the free-space measure
WRITE_OVERHEAD_BYTES = 1 << 16


class CheckpointError(AwhError):
    """A checkpoint that cannot be read, is not an awhourglass checkpoint, or does not fit its use."""


class CheckpointWriteError(AwhError):
    """A checkpoint that could not be written; the file it was to replace is as it was.

    Attributes:
        path: the file being written.
        reason: what failed, one line (e.g. ``[Errno 5] Input/output error``).
        disk_full: the failure was a full disk (or spent quota): by its error number, or by the free space
            measured after it (:func:`awhourglass.atomic.disk_full`).
    """

    def __init__(self, path: Path, reason: str, disk_full: bool) -> None:
        self.path, self.reason, self.disk_full = path, reason, disk_full
        super().__init__(f"no space left on device while writing {path}" if disk_full
                         else f"could not write {path}: {reason}")


def checkpoint_dict(config: dict[str, Any], modules: dict[str, dict[str, Any]], phase: str = "done", step: int = 0,
                    global_step: int | None = None, crop_margin: float = CROP_MARGIN, min_crop_px: float = MIN_CROP_PX,
                    crops: dict[str, tuple[float, float]] | None = None, **state: Any) -> dict[str, Any]:
    """A self-describing checkpoint: the header, ``config``, module states (moved to the CPU) and ``state``.

    Args:
        config: the run's config as a plain dict (``config["model"]`` describes the pose network).
        modules: ``{name: state_dict}``; ``"model"`` is the pose network.
        phase, step, global_step: where the run stood (``global_step`` defaults to ``step``).
        crop_margin, min_crop_px: the hand crop the network was trained on (``crop``; its input size is
            ``config["model"]["input_size"]``), so prediction crops a user's box the same way.
        crops: ``{"source" | "target": (crop_margin, min_crop_px)}``, each training domain's crop (``crops``),
            when they are known (a training run's checkpoints); :func:`crop_entry` reads the one asked for. The
            source's, when given, is also the one ``crop`` (``crop_margin`` and ``min_crop_px`` are then ignored).
        state: the resumable rest (``optimizers``, ``rng``, ``sampler``, ``world_size``, ``metrics``).
    """
    if crops and "source" in crops:
        crop_margin, min_crop_px = crops["source"]
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "awhourglass_version": __version__,
        "config": config,
        "joint_names": list(JOINT_NAMES),
        "phase": phase,
        "step": int(step),
        "global_step": int(step if global_step is None else global_step),
        "modules": {name: _cpu_state(sd) for name, sd in modules.items()},
        "crop": _crop_record(crop_margin, min_crop_px),
        **({"crops": {d: _crop_record(m, v) for d, (m, v) in crops.items()}} if crops else {}),
        "optimizers": {},
        "rng": [],
        "sampler": {},
    }
    out.update(state)
    return out


def _crop_record(crop_margin: float, min_crop_px: float) -> dict[str, float]:
    return {"crop_margin": float(crop_margin), "min_crop_px": float(min_crop_px)}


def slim(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Weights and description only (no optimizer, RNG or sampler state): what ``model.pt`` holds."""
    return {**ckpt, "optimizers": {}, "rng": [], "sampler": {}}


def atomic_save(ckpt: dict[str, Any], path: str | Path, before_replace: Callable[[], None] | None = None) -> None:
    """``torch.save`` to a temp file beside ``path``, fsync, then rename over ``path``; the one checkpoint writer.

    The write is a critical section for signals (:func:`~awhourglass.interrupts.deferred_interrupts`): a Ctrl-C
    meanwhile is raised as ``KeyboardInterrupt`` once the file is complete, so it can never pass for a failed
    write. On any failure the temp file is removed and ``path`` is untouched.

    Args:
        ckpt: the checkpoint dict.
        path: the file to (re)place.
        before_replace: called once the data is on disk, just before the rename (e.g. to rotate the old file).

    Raises:
        CheckpointWriteError: the file system refused the write (an ``OSError``) or torch's writer failed (its
            ``RuntimeError``); a full disk is told by the error number or the free space left.
    """
    path = Path(path)
    with deferred_interrupts():
        try:
            with atomic_open(path, "wb", before_replace=before_replace) as f:
                torch.save(ckpt, f)
            fsync_dir(path.parent)
        except (OSError, RuntimeError) as exc:
            if any(isinstance(e, KeyboardInterrupt) for e in exception_chain(exc)):  # one the section did not hold
                raise KeyboardInterrupt from None
            full = disk_full(exc, path.parent, payload_bytes(ckpt) + WRITE_OVERHEAD_BYTES)
            cause = os_error_in(exc) or exc
            reason = str(cause) if isinstance(cause, OSError) else f"{type(cause).__name__}: {_first_line(cause)}"
            raise CheckpointWriteError(path, reason, full) from exc


def payload_bytes(obj: Any) -> int:
    """The bytes of the tensors in ``obj`` (nested dicts, lists and tuples): about a checkpoint's file size."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(payload_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(payload_bytes(v) for v in obj)
    return 0


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint with the restricted (``weights_only=True``) unpickler.

    Checks, in order: the file exists; it unpickles with ``weights_only=True``; it is a dict with
    ``format == FORMAT``; it has every :data:`REQUIRED_KEYS` entry; its ``format_version`` is one this code
    reads; its ``joint_names`` are the package's joint order; its ``config`` is a mapping; every floating-point
    tensor of its ``modules`` is finite (training never writes a NaN/inf weight, so one is damage).

    Raises:
        CheckpointError: naming the file and the first check that failed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        unsafe = _unsafe_globals(path)
        if unsafe:  # the restricted unpickler met a class or function
            raise CheckpointError(
                f"{path} holds objects other than tensors and plain data ({', '.join(unsafe[:3])}"
                f"{', …' if len(unsafe) > 3 else ''}); refusing to unpickle it "
                "(checkpoints are read with torch.load(weights_only=True))"
            ) from None
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt, truncated or another kind of "
                              f"file, {path.stat().st_size} bytes)") from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/... for damaged or foreign files
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt, truncated or another kind of "
                              f"file, {path.stat().st_size} bytes): {_first_line(exc)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an awhourglass checkpoint (no format={FORMAT!r} entry)")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    version = ckpt["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}; this awhourglass {__version__} reads "
            f"versions 1 to {FORMAT_VERSION}"
        )
    if list(ckpt["joint_names"]) != list(JOINT_NAMES):
        raise CheckpointError(f"{path} uses another joint order: {list(ckpt['joint_names'])}")
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"checkpoint {path}: 'config' is not a mapping")
    bad = first_nonfinite_tensor(ckpt.get("modules"))
    if bad is not None:  # a network of NaN weights would predict NaN boxes and joints, or resume into NaN losses
        raise CheckpointError(f"checkpoint {path}: weight modules.{bad} is not finite (NaN or inf); the checkpoint "
                              "is damaged or was saved from a diverged run")
    return ckpt


def first_nonfinite_tensor(state: Any, prefix: str = "") -> str | None:
    """The dotted name of the first floating-point tensor in ``state`` (nested dicts) with a NaN or inf entry."""
    if isinstance(state, torch.Tensor):
        finite = not (state.is_floating_point() or state.is_complex()) or bool(torch.isfinite(state).all())
        return None if finite else prefix
    if isinstance(state, dict):
        for key, value in state.items():
            bad = first_nonfinite_tensor(value, f"{prefix}.{key}" if prefix else str(key))
            if bad is not None:
                return bad
    return None


def model_entry(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pose network's ``(config["model"], modules["model"])`` of a loaded checkpoint.

    Raises:
        CheckpointError: the checkpoint holds no pose network.
    """
    model_cfg, modules = ckpt["config"].get("model"), ckpt.get("modules")
    if not isinstance(model_cfg, dict) or not isinstance(modules, dict) or not isinstance(modules.get("model"), dict):
        raise CheckpointError(f"checkpoint {path} holds no pose network (needs config.model and modules.model)")
    return model_cfg, modules["model"]


CROP_DOMAINS = ("source", "target")
# a crop record's keys as checkpoints written before their rename spell them: new key → old key
OLD_CROP_KEYS = {"crop_margin": "margin", "min_crop_px": "min_side_px"}


def crop_entry(ckpt: dict[str, Any], path: str | os.PathLike[str], domain: str | None = None) -> tuple[float, float]:
    """``(crop_margin, min_crop_px)`` of the crop a checkpoint's network was trained on: ``domain``'s (``"source"``
    or ``"target"``) where the checkpoint records one per domain (``crops``), else its one ``crop`` (the source's;
    the defaults for checkpoints written before it was recorded). Records written before the keys' rename
    (``margin``, ``min_side_px``: :data:`OLD_CROP_KEYS`) read the same.

    Raises:
        CheckpointError: a recorded crop that is not two positive numbers.
    """
    if domain is not None and domain not in CROP_DOMAINS:
        raise ValueError(f"crop_entry: domain must be one of {CROP_DOMAINS}, got {domain!r}")
    crops = ckpt.get("crops")
    if isinstance(crops, dict) and domain in crops:
        crop = crops[domain]
    else:
        crop = ckpt.get("crop", _crop_record(CROP_MARGIN, MIN_CROP_PX))
    try:
        crop_margin, min_crop_px = _crop_value(crop, "crop_margin"), _crop_value(crop, "min_crop_px")
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"checkpoint {path}: 'crop' must hold crop_margin and min_crop_px, got {crop!r}") \
            from None
    if not (crop_margin > 0 and min_crop_px >= 0):
        raise CheckpointError(f"checkpoint {path}: crop_margin {crop_margin} / min_crop_px {min_crop_px} out of range")
    return crop_margin, min_crop_px


def _crop_value(crop: Any, key: str) -> float:
    """``crop[key]``, or its old name's value in a record written before the rename (:data:`OLD_CROP_KEYS`)."""
    return float(crop[key] if key in crop else crop[OLD_CROP_KEYS[key]])


def hand_threshold_entry(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``hand_threshold`` a checkpoint records (calibrated when it was trained,
    :mod:`awhourglass.train.calibrate`): a dict with ``threshold`` in [0, 1] and how it was chosen; ``None`` for
    checkpoints without one.

    Raises:
        CheckpointError: a recorded entry without a threshold in [0, 1].
    """
    entry = ckpt.get("hand_threshold")
    if entry is None:
        return None
    try:
        value = float(entry["threshold"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"checkpoint {path}: 'hand_threshold' must hold a threshold, got {entry!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise CheckpointError(f"checkpoint {path}: hand threshold {value} is not a confidence in [0, 1]")
    return {**entry, "threshold": value}


def _cpu_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}


def _unsafe_globals(path: Path) -> list[str]:
    """The classes and functions a checkpoint file would need the full unpickler for; ``[]`` where that cannot be
    told (a file that is no zip checkpoint, a torch without the function)."""
    find = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)  # torch >= 2.5
    if find is None:
        return []
    try:
        return list(find(path))
    except (RuntimeError, ValueError, OSError, pickle.UnpicklingError):  # not a zip checkpoint, or damaged
        return []


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "CROP_DOMAINS",
    "FORMAT",
    "FORMAT_VERSION",
    "REQUIRED_KEYS",
    "CheckpointError",
    "CheckpointWriteError",
    "atomic_save",
    "checkpoint_dict",
    "crop_entry",
    "first_nonfinite_tensor",
    "load_checkpoint",
    "model_entry",
    "payload_bytes",
    "slim",
]
