"""The ``awh`` command line: thin argument parsing that calls one library function per subcommand.

Each subcommand lives in its own module of this package with ``add_arguments(parser)`` and
``run(args) -> int``; they are listed explicitly below (no string registry).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence

from awhourglass import __version__
from awhourglass.cli import bench, benchmark, data, demo, evaluate, export, predict, synth, train
from awhourglass.errors import AwhError

# A user's error is an AwhError (bad file, flag, config or value; ConfigError, DataError, CheckpointError, ...) or a
# file the user named that cannot be opened. Anything else (a ValueError from inside the library, ...) is a bug and
# shows as a traceback, so it is reported rather than hidden.
USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)

_COMMANDS = {
    "demo": (demo, "run the paper's experiment on the embedded benchmark and write a report"),
    "synth": (synth, "generate procedural hand images in the RHD (source) or STB (target) format"),
    "train": (train, "pretrain on the source domain, then adapt to the target domain"),
    "eval": (evaluate, "evaluate a checkpoint (or a predictions JSON) on a dataset"),
    "predict": (predict, "predict 2D/3D hand joints on your own images"),
    "benchmark": (benchmark, "the converged comparison of every method on the embedded data (hours on a CPU)"),
    "bench": (bench, "measure speed against this machine's matmul peak"),
    "data": (data, "check or show a dataset on disk"),
    "export": (export, "export a checkpoint to ONNX"),
}


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="awh",
        description="Adaptive Wasserstein Hourglass: 3D hand pose from one RGB image.",
    )
    parser.add_argument("--version", action="version", version=f"awhourglass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


# Options whose value is a comma-separated list of numbers that may start with a minus sign (a box partly left
# of the image); argparse would take "-10,5,40,40" for an option.
NUMBER_LIST_OPTIONS = ("--bbox", "--K")
_NUMBER_LIST = re.compile(r"^-[0-9.eE+-]*(,[-0-9.eE+]*)*$")


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    """``--bbox -10,5,40,40`` → ``--bbox=-10,5,40,40`` (for the options in ``NUMBER_LIST_OPTIONS``)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in NUMBER_LIST_OPTIONS and i + 1 < len(argv) and _NUMBER_LIST.match(argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _interrupt_once(command: str) -> None:
    """First Ctrl-C: ``KeyboardInterrupt`` (clean-up runs, checkpoints stay intact); a second one while that runs
    exits at once with one line instead of a traceback from inside the clean-up."""
    if threading.current_thread() is not threading.main_thread():
        return

    def again(_signum: int, _frame: object) -> None:
        print(f"awh {command}: interrupted again: exiting now", file=sys.stderr, flush=True)
        os._exit(130)

    def first(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, again)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, first)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``awh`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(attach_negative_values(sys.argv[1:] if argv is None else list(argv)))
    if args.command is None:
        parser.print_help()
        return 2
    in_process = argv is not None
    previous = signal.getsignal(signal.SIGINT)
    _interrupt_once(args.command)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"awh {args.command}: interrupted", file=sys.stderr)
        return 130
    except (AwhError, *USER_OS_ERRORS) as exc:
        print(f"awh {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if threading.current_thread() is threading.main_thread():
            # called as a function (tests, scripts): the caller's handler back. As the console script the work is
            # done: a Ctrl-C during the interpreter's shut-down (joining loader workers) is ignored, since Python
            # would otherwise restore the default handler and die with a traceback from a half-closed thread
            signal.signal(signal.SIGINT, previous if in_process else signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
