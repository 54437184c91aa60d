"""User-facing errors: the CLI prints these as one line, never as a traceback."""


class AwhError(Exception):
    """An error caused by the user's input (a bad file, a bad flag, a bad config).

    The CLI catches it (and ``ValueError``/``OSError``) and prints ``awh <cmd>: error: <message>``.
    """


class PredictError(AwhError):
    """An input that cannot be predicted on (not an image, too large, a bad box or camera)."""
