"""Signals held during a critical section: raised once, at its end, as themselves; untouched outside the main
thread and where no Python handler is installed."""

from __future__ import annotations

import signal
import threading

import pytest

from awhourglass.interrupts import deferred_interrupts
from sigint_handler import python_sigint as _python_sigint


@pytest.fixture
def python_sigint():
    """SIGINT raises KeyboardInterrupt during the test (see tests/sigint_handler.py)."""
    with _python_sigint():
        yield


def test_a_ctrl_c_inside_is_raised_when_the_section_ends(python_sigint):
    before = signal.getsignal(signal.SIGINT)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)  # a second press while held: still one interrupt
            done.append("rest of the section")  # ran: the interrupt did not cut it short
    assert done == ["rest of the section"]
    assert signal.getsignal(signal.SIGINT) is before


def test_the_interrupt_wins_over_an_error_the_section_raised(python_sigint):
    with pytest.raises(KeyboardInterrupt) as caught:
        with deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            raise RuntimeError("a write failed")
    assert isinstance(caught.value.__context__, RuntimeError)


def test_no_signal_no_change(python_sigint):
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts():
        assert signal.getsignal(signal.SIGINT) is not before  # held meanwhile
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_is_held_only_where_python_handles_it():
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        with deferred_interrupts():
            signal.raise_signal(signal.SIGTERM)
            assert calls == []  # held
        assert calls == [signal.SIGTERM]
        for disposition in (signal.SIG_IGN, signal.SIG_DFL):  # nothing to hold: left to the kernel
            signal.signal(signal.SIGTERM, disposition)
            with deferred_interrupts():
                assert signal.getsignal(signal.SIGTERM) is disposition
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_it_runs_unprotected(python_sigint):
    before = signal.getsignal(signal.SIGINT)
    seen, errors = [], []

    def work():
        try:
            with deferred_interrupts():  # signal.signal would raise ValueError in this thread
                seen.append(signal.getsignal(signal.SIGINT))
        except BaseException as exc:  # reported to the test's thread
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert errors == [] and seen == [before]
