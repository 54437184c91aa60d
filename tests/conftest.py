"""Fixtures shared by every test directory."""

from __future__ import annotations

import signal

import pytest


@pytest.fixture
def python_sigint():
    """SIGINT raises ``KeyboardInterrupt`` during the test, as in an interactive Python.

    A process started in the background by a shell without job control (a CI script, ``make … &``) inherits SIGINT
    ignored, and Python then installs no handler of its own; tests of how Ctrl-C is handled set it explicitly.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
