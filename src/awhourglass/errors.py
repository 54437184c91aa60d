"""User-facing errors: the CLI prints these as one line, never as a traceback."""


class AwhError(Exception):
    """An error caused by the user's input (a bad file, a bad flag, a bad config).

    The CLI catches it (and, of the other errors, only the OS errors of a file the user named:
    ``cli.USER_OS_ERRORS``) and prints ``awh <cmd>: error: <message>``. A plain ``ValueError`` from inside the
    library is a bug, not a user's error: the CLI shows its traceback.
    """


class PredictError(AwhError):
    """An input that cannot be predicted on (not an image, too large, a bad box or camera)."""
