"""How training's DataLoader worker processes behave, so that Ctrl-C ends a run with one line.

A terminal's Ctrl-C reaches the whole process group, workers included. Only the main process reacts to
it: it stops the run and then its workers (:func:`init_worker` makes them ignore SIGINT).

A batch travels from a worker to the main process as shared memory whose file descriptor the main process
fetches from the worker's ``multiprocessing.resource_sharer`` thread. When the Ctrl-C lands in the main
process while it is fetching one, the main process drops the connection, and the worker's sending thread
fails with ``BrokenPipeError``, ``ConnectionResetError`` or ``EOFError`` (the main process left before it
asked), which that thread prints as a traceback (after the main process's ``interrupted`` line). Nothing is
lost: the batch was abandoned on purpose, the worker closes its copy of the descriptor, and a main process
that fails while receiving reports that itself. Workers therefore stay quiet about exactly that failure.
"""

from __future__ import annotations

import signal
import sys
import traceback
from multiprocessing import resource_sharer
from pathlib import Path
from types import TracebackType

import torch

_SHARER_FILE = Path(resource_sharer.__file__).resolve()


def abandoned_transfer(exc_type: type[BaseException], tb: TracebackType | None) -> bool:
    """True for a lost connection raised inside ``multiprocessing.resource_sharer`` (a receiver that left)."""
    if not issubclass(exc_type, (ConnectionError, EOFError)):
        return False
    return any(Path(frame.f_code.co_filename).resolve() == _SHARER_FILE for frame, _ in traceback.walk_tb(tb))


def _quiet_about_abandoned_transfers() -> None:
    # resource_sharer's thread reports its errors through sys.excepthook, not threading.excepthook
    report = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not abandoned_transfer(exc_type, tb):
            report(exc_type, exc, tb)

    sys.excepthook = hook


def init_worker(_: int) -> None:
    """``worker_init_fn`` of training's loaders: one thread, Ctrl-C left to the main process, no shut-down noise."""
    torch.set_num_threads(1)  # the workers themselves are the parallelism
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _quiet_about_abandoned_transfers()


__all__ = ["abandoned_transfer", "init_worker"]
