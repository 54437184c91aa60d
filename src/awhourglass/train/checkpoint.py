"""A run directory's checkpoints (``last.pt`` + ``previous.pt``) and the RNG state they carry.

The file format, its writer and its reader with every check live in :mod:`awhourglass.checkpoint`.
A run directory keeps ``last.pt`` and ``previous.pt``. Saving writes a temp file in the same
directory (fsync), renames ``last.pt`` → ``previous.pt``, then the temp file → ``last.pt`` (both
``os.replace``, atomic on POSIX), then fsyncs the directory. A kill at any moment leaves at least one
complete checkpoint; a truncated or corrupt ``last.pt`` is set aside and ``previous.pt`` is used.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awhourglass.checkpoint import CheckpointError, atomic_save, load_checkpoint

LAST, PREVIOUS = "last.pt", "previous.pt"


# --- RNG state as plain data (weights_only cannot hold numpy arrays) -------------------------------


def rng_state() -> dict[str, Any]:
    """The python, numpy, torch (and CUDA) generator states of this process, as plain data/tensors."""
    legacy = np.random.get_state(legacy=True)  # noqa: NPY002 (global state is saved)
    assert isinstance(legacy, tuple)  # the global generator is an MT19937: its legacy state is a tuple
    kind, keys, pos, has_gauss, cached = legacy
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
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))  # noqa: NPY002
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
        """Write ``ckpt`` as the new ``last.pt``, keeping the old one as ``previous.pt``.

        Through :func:`~awhourglass.checkpoint.atomic_save`: a Ctrl-C meanwhile stops the run once the file is
        whole (``KeyboardInterrupt``); a failed write raises ``CheckpointWriteError`` with both files unchanged.
        """

        def rotate() -> None:
            if self.last.exists():
                os.replace(self.last, self.previous)

        atomic_save(ckpt, self.last, before_replace=rotate)
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


__all__ = ["CheckpointStore", "rng_state", "set_rng_state"]
