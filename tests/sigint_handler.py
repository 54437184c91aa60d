"""SIGINT raising ``KeyboardInterrupt`` for the tests of how Ctrl-C is handled.

A process started in the background by a shell without job control (a CI script, ``make … &``) inherits SIGINT
ignored, and Python then installs no handler of its own; these tests set it explicitly. (Not a ``conftest.py``:
a second top-level ``conftest`` module would change which one ``from conftest import …`` finds in tests/data.)
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def python_sigint() -> Iterator[None]:
    """Install Python's default SIGINT handler for the block, then restore what was there."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
