"""`awh train`."""

from __future__ import annotations

import argparse

from awhourglass.cli._stub import not_built


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh train`."""


def run(args: argparse.Namespace) -> int:
    """Run `awh train`."""
    return not_built("train")
