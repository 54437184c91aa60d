"""Critical sections for signals: an interrupt that arrives meanwhile is held and honoured at the section's end.

Writing a checkpoint is such a section. A Ctrl-C whose ``KeyboardInterrupt`` were raised inside ``torch.save``'s
write callback would come out of torch's zip writer as a ``RuntimeError`` (the interrupt only in its
``__context__``), indistinguishable from a failed write; held until the file is complete, it is raised as
itself, and the run stops with a whole checkpoint.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred_interrupts(signals: tuple[int, ...] = DEFERRED_SIGNALS) -> Iterator[None]:
    """Hold ``signals`` that arrive inside the ``with`` block; re-raise each one, once, when it ends.

    Only signals with a Python handler are held (SIGINT's ``KeyboardInterrupt`` or the CLI's handler; SIGTERM
    only where some code installed one): a default or ignored disposition is left to the kernel. The held
    signal is raised when the block ends, also when it ends by an exception, so an interrupt is always reported
    as one. Python runs signal handlers in the main thread only; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous: dict[int, Callable[[int, FrameType | None], object]] = {}
    held = True

    def hold(signum: int, frame: FrameType | None) -> None:
        if held:
            if signum not in pending:
                pending.append(signum)
        else:  # arrived while the handlers were being put back: the section is over, honour it now
            previous[signum](signum, frame)

    for sig in signals:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, hold)
    try:
        yield
    finally:
        held = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in pending:
            signal.raise_signal(sig)  # the restored handler runs now (e.g. raises KeyboardInterrupt)


__all__ = ["DEFERRED_SIGNALS", "deferred_interrupts"]
