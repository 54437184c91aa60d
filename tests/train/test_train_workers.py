"""Training's loader workers: quiet about a batch transfer the main process abandoned (its Ctrl-C), and only that."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from multiprocessing import resource_sharer
from multiprocessing.connection import Client
from pathlib import Path

import pytest

from awhourglass.train.workers import abandoned_transfer

# A process holding a file descriptor for another one, as a worker holds each storage of a batch it hands over.
SENDER = """
import multiprocessing, os, sys
from multiprocessing import resource_sharer
if sys.argv[1] == "worker":
    from awhourglass.train.workers import init_worker
    init_worker(0)
multiprocessing.current_process().authkey = b"awh-test"
read_end, _ = os.pipe()
shared = resource_sharer.DupFd(read_end)
print(repr(shared._id), flush=True)
sys.stdin.read()  # until the test has played the receiver that leaves
resource_sharer.stop()  # returns once the sharer thread has handled, and reported, that transfer
try:
    raise ValueError("an unrelated error")
except ValueError:
    sys.excepthook(*sys.exc_info())
"""


def _all_threads_stopped(pid: int) -> bool:
    tasks = Path(f"/proc/{pid}/task")
    return all((t / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T" for t in tasks.iterdir())


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("mode", ["worker", "plain"])
def test_a_worker_says_nothing_when_the_receiver_leaves_mid_transfer(mode):
    """The receiver asks for the descriptor and leaves before it is sent (a Ctrl-C in the main process's receive).
    The order is forced: the sender is stopped (every thread) while the request arrives and the receiver closes,
    so its send then always meets a closed connection."""
    proc = subprocess.Popen([sys.executable, "-c", SENDER, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        address, key = ast.literal_eval(proc.stdout.readline())
        conn = Client(address, authkey=b"awh-test")
        os.kill(proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 60  # a safety net: a stop takes microseconds
        while not _all_threads_stopped(proc.pid):
            assert time.monotonic() < deadline, "the sender did not stop"
            time.sleep(0.001)
        conn.send((key, os.getpid()))
        conn.close()
        os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate("", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "ValueError: an unrelated error" in err  # other errors are still reported
    if mode == "plain":  # what a worker printed before: the sharer thread's traceback
        assert "resource_sharer.py" in err and "BrokenPipeError" in err, err
    else:
        assert "resource_sharer" not in err and "BrokenPipe" not in err, err


def _raised_in(filename: str, exc: BaseException):
    code = compile("raise exc", filename, "exec")
    try:
        exec(code, {"exc": exc})
    except type(exc) as caught:
        return type(caught), caught.__traceback__
    raise AssertionError("not raised")


@pytest.mark.parametrize(("exc", "where", "quiet"), [
    (BrokenPipeError(32, "Broken pipe"), "sharer", True),
    (ConnectionResetError(104, "Connection reset by peer"), "sharer", True),
    (EOFError(), "sharer", True),
    (ValueError("a bug"), "sharer", False),
    (BrokenPipeError(32, "Broken pipe"), "elsewhere", False),
])
def test_only_lost_connections_inside_the_resource_sharer_count_as_abandoned(tmp_path, exc, where, quiet):
    filename = resource_sharer.__file__ if where == "sharer" else str(tmp_path / "other.py")
    exc_type, tb = _raised_in(filename, exc)
    assert abandoned_transfer(exc_type, tb) is quiet
