"""File reading at the dataset edge: images, restricted pickles, .mat and JSON, each failing with one clear line.

Every reader raises :class:`DataError` naming the file and the problem (missing, truncated, wrong
shape, forbidden pickle class), so a bad file never surfaces as a bare traceback mid-epoch.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from awhourglass.errors import AwhError


class DataError(AwhError):
    """A dataset file that cannot be used: the message is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def read_image(path: str | Path, mode: str | None = "RGB") -> np.ndarray:
    """Read an image file fully (PNG/JPEG) → ``(H, W, C)`` or ``(H, W)`` uint8 array in PIL ``mode``.

    ``mode=None`` keeps the image as stored (16-bit, palette or channel layout unchanged).

    Raises:
        DataError: the file is missing, truncated or not an image.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later in a worker
            if mode and im.mode != mode:
                im = im.convert(mode)
            return np.asarray(im).copy()
    except FileNotFoundError:
        raise DataError(path, "missing file") from None
    except UnidentifiedImageError:
        raise DataError(path, "not a readable image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(path, f"corrupt or truncated image ({exc})") from None


def read_image_raw(path: str | Path) -> np.ndarray:
    """Read an image without mode conversion (keeps 16-bit / palette / channel layout as stored)."""
    return read_image(path, mode=None)


# --- Restricted unpickling ----------------------------------------------------------------------------------------

# The only globals a pickle of dicts/lists/numbers/numpy arrays needs. Dicts, lists, tuples, str, numbers come
# from pickle opcodes without find_class; anything else (os.system, subprocess, eval, ...) is refused.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {}


def _allow() -> None:
    import builtins
    import codecs
    from collections import OrderedDict

    import numpy.dtypes as npd

    try:
        from numpy._core import multiarray as ma
        from numpy._core import numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray as ma
        from numpy.core import numeric

    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x and 2.x pickles
        _ALLOWED_GLOBALS[(mod, "_reconstruct")] = ma._reconstruct
        _ALLOWED_GLOBALS[(mod, "scalar")] = ma.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):  # protocol-5 pickles of arrays
        _ALLOWED_GLOBALS[(mod, "_frombuffer")] = numeric._frombuffer
    _ALLOWED_GLOBALS[("numpy", "ndarray")] = np.ndarray
    _ALLOWED_GLOBALS[("numpy", "dtype")] = np.dtype
    for name in ("set", "frozenset", "complex", "slice", "bytearray"):
        _ALLOWED_GLOBALS[("builtins", name)] = getattr(builtins, name)
    _ALLOWED_GLOBALS[("collections", "OrderedDict")] = OrderedDict
    _ALLOWED_GLOBALS[("_codecs", "encode")] = codecs.encode  # how protocol-2 pickles spell bytes
    for name in dir(npd):  # numpy >= 1.25 may name dtype classes, e.g. numpy.dtypes.Float32DType
        if name.endswith("DType"):
            _ALLOWED_GLOBALS[("numpy.dtypes", name)] = getattr(npd, name)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only builds numpy arrays, numpy scalars and core builtin containers.

    Any other global (a function or class) is refused before it can be called, so a malicious pickle
    whose ``__reduce__`` names ``os.system`` raises :class:`pickle.UnpicklingError` and runs nothing.
    """

    def find_class(self, module: str, name: str) -> Any:
        if not _ALLOWED_GLOBALS:
            _allow()
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            msg = f"forbidden class {module}.{name} (only numpy arrays and builtins allowed)"
            raise pickle.UnpicklingError(msg) from None


def load_pickle_restricted(path: str | Path) -> Any:
    """Load a pickle of plain data and numpy arrays (e.g. RHD's ``anno_*.pickle``) without executing code.

    Python 2 pickles (RHD was written by Python 2) are read with ``encoding="latin1"``.

    Raises:
        DataError: missing file, a forbidden class in the pickle, or a corrupt pickle.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "missing file") from None
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise DataError(path, f"refused pickle: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DataError(path, f"corrupt pickle ({type(exc).__name__}: {exc})") from None


def load_mat(path: str | Path) -> dict[str, Any]:
    """Load a MATLAB ``.mat`` file (scipy) → dict of arrays.

    Raises:
        DataError: missing or unreadable file.
    """
    import scipy.io

    path = Path(path)
    if not path.exists():
        raise DataError(path, "missing file")
    try:
        return scipy.io.loadmat(str(path))
    except (ValueError, OSError, TypeError, NotImplementedError) as exc:
        raise DataError(path, f"not a readable .mat file ({exc})") from None


def load_json(path: str | Path) -> Any:
    """Load a JSON file, with one-line errors."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "missing file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON ({exc})") from None


def as_float_array(value: Any, shape: tuple[int, ...], path: str | Path, what: str) -> np.ndarray:
    """``value`` as a float64 array of exactly ``shape`` (``-1`` = any length), else :class:`DataError`."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(path, f"{what}: not a numeric array") from None
    ok = arr.ndim == len(shape) and all(s == -1 or s == a for s, a in zip(shape, arr.shape, strict=False))
    if not ok:
        want = "(" + ", ".join("N" if s == -1 else str(s) for s in shape) + ")"
        raise DataError(path, f"{what}: expected shape {want}, got {tuple(arr.shape)}")
    return arr
