"""Shared helper for subcommands that are not built yet."""

from awhourglass.errors import AwhError


def not_built(name: str) -> int:
    """Raise the one-line error of a subcommand that does not exist yet."""
    raise AwhError(f"'awh {name}' is not built yet")
