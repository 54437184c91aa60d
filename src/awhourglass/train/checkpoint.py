"""Self-describing training checkpoints, written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, dicts, lists, strings and numbers (so the restricted
unpickler of ``weights_only=True`` reads it and nothing in it can run code)::

    format, format_version, awhourglass_version, config (plain dict), joint_names,
    phase ("pretrain" | "adapt" | "done"), step (steps completed in that phase), global_step,
    modules {name: state_dict}, optimizers {name: state_dict},
    rng [per rank: {python, numpy, torch, cuda}], sampler {...}, world_size

A run directory keeps ``last.pt`` and ``previous.pt``. Saving writes a temp file in the same
directory (fsync), renames ``last.pt`` → ``previous.pt``, then the temp file → ``last.pt`` (both
``os.replace``, atomic on POSIX), then fsyncs the directory. A kill at any moment leaves at least one
complete checkpoint; a truncated or corrupt ``last.pt`` is set aside and ``previous.pt`` is used.
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awhourglass import __version__
from awhourglass.errors import AwhError

FORMAT = "awhourglass-checkpoint"
FORMAT_VERSION = 1
LAST, PREVIOUS = "last.pt", "previous.pt"
REQUIRED_KEYS = ("format", "format_version", "awhourglass_version", "config", "joint_names", "phase", "step")


class CheckpointError(AwhError):
    """A checkpoint that cannot be read or does not describe a training run."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` to a temp file beside ``path``, fsync, then rename over ``path``.

    On any failure the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint with the restricted (``weights_only=True``) unpickler.

    Raises:
        CheckpointError: missing, truncated/corrupt, not a dict of plain data, or not an awhourglass checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc).lower() or "weights only" in str(exc).lower():
            raise CheckpointError(
                f"{path} holds objects other than tensors and plain data; refusing to unpickle it "
                "(checkpoints are read with torch.load(weights_only=True))"
            ) from None
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/... for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({path.stat().st_size} bytes): {first}"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an awhourglass checkpoint (no format={FORMAT!r} entry)")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {ckpt['format_version']}; this awhourglass "
            f"{__version__} reads up to {FORMAT_VERSION}"
        )
    return ckpt


# --- RNG state as plain data (weights_only cannot hold numpy arrays) -------------------------------


def rng_state() -> dict[str, Any]:
    """The python, numpy, torch (and CUDA) generator states of this process, as plain data/tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002 (global state is saved)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss_next],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss_next = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss_next))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))  # noqa: NPY002
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# --- the run directory's two checkpoints -----------------------------------------------------------


class CheckpointStore:
    """``last.pt`` + ``previous.pt`` of one run directory, with fallback on a damaged latest."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)

    @property
    def last(self) -> Path:
        return self.dir / LAST

    @property
    def previous(self) -> Path:
        return self.dir / PREVIOUS

    def exists(self) -> bool:
        """True if the directory holds any checkpoint."""
        return self.last.exists() or self.previous.exists()

    def save(self, ckpt: dict[str, Any]) -> Path:
        """Write ``ckpt`` as the new ``last.pt``, keeping the old one as ``previous.pt``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{LAST}.", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(ckpt, f)
                f.flush()
                os.fsync(f.fileno())
            if self.last.exists():
                os.replace(self.last, self.previous)
            os.replace(tmp, self.last)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.dir)
        return self.last

    def load_latest(self, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path] | None:
        """The newest readable checkpoint and its path; ``None`` if the directory holds none.

        A damaged ``last.pt`` is renamed ``last.pt.corrupt`` (so the next save cannot rotate it over
        the good ``previous.pt``) with a warning naming both files, and ``previous.pt`` is returned.

        Raises:
            CheckpointError: every checkpoint present is damaged.
        """
        errors = []
        for path in (self.last, self.previous):
            if not path.exists():
                continue
            try:
                ckpt = load_checkpoint(path, map_location)
            except CheckpointError as exc:
                errors.append(str(exc))
                continue
            if errors:  # the latest was damaged: set it aside
                bad = self.last.with_name(LAST + ".corrupt")
                if self.last.exists():
                    os.replace(self.last, bad)
                warnings.warn(
                    f"{errors[0]}; moved it to {bad.name} and resuming from {path.name} "
                    f"(phase {ckpt['phase']}, step {ckpt['step']})",
                    stacklevel=2,
                )
            return ckpt, path
        if errors:
            raise CheckpointError("no usable checkpoint in " + str(self.dir) + ": " + "; ".join(errors))
        return None


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "CheckpointStore",
    "atomic_save",
    "load_checkpoint",
    "rng_state",
    "set_rng_state",
]
