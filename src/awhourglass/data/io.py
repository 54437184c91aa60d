"""File reading at the dataset edge: images, restricted pickles, .mat and JSON, each failing with one clear line.

Every reader raises :class:`DataError` naming the file and the problem (missing, truncated, wrong
shape, forbidden pickle class), so a bad file never surfaces as a bare traceback mid-epoch.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from awhourglass.errors import AwhError, PredictError

# Larger images are refused before decoding (PIL's decompression-bomb limit is about 179 M pixels).
DEFAULT_MAX_PIXELS = 150_000_000


class DataError(AwhError):
    """A dataset file that cannot be used: the message is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def read_image(path: str | Path, mode: str | None = "RGB") -> np.ndarray:
    """Read an image file fully (PNG/JPEG) → ``(H, W, C)`` or ``(H, W)`` uint8 array in PIL ``mode``.

    ``mode="RGB"``: any colour mode as 8-bit RGB (16-bit scaled, :func:`rgb8`); ``mode="depth"``: a depth PNG,
    which must be 8-bit RGB (any other mode is refused, naming it); ``mode=None`` keeps the image as stored.

    Raises:
        DataError: the file is missing, truncated or not an image.
    """
    path = Path(path)
    try:
        # no warnings guard here (it cost ~5 µs a read, a dataset reads millions): a dataset image over PIL's own
        # limit (89 M pixels) shows PIL's DecompressionBombWarning before this refuses it above DEFAULT_MAX_PIXELS
        with Image.open(path) as im:
            too_large = oversize(im.size, DEFAULT_MAX_PIXELS)  # from the header, before decoding (a bomb)
            if too_large:
                raise DataError(path, too_large)
            im.load()  # decode now: a truncated file fails here, not later in a worker
            if mode == "RGB":
                return rgb8(im)
            if mode == "depth":  # the datasets' depth PNGs pack the value into the R and G bytes of 8-bit RGB
                if im.mode not in ("RGB", "RGBA"):
                    raise DataError(path, f"depth PNG in mode {im.mode}: expected 8-bit RGB with the depth packed "
                                          "into its R and G bytes (docs/datasets.md)")
                return np.array(im if im.mode == "RGB" else im.convert("RGB"))  # one copy (convert would add one)
            if mode and im.mode != mode:
                im = im.convert(mode)
            return np.array(im)
    except FileNotFoundError:
        raise DataError(path, "missing file") from None
    except UnidentifiedImageError:
        raise DataError(path, "not a readable image") from None
    except Image.DecompressionBombError as exc:
        raise DataError(path, f"image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(path, f"corrupt or truncated image ({exc})") from None


def read_image_raw(path: str | Path) -> np.ndarray:
    """Read an image without mode conversion (keeps 16-bit / palette / channel layout as stored)."""
    return read_image(path, mode=None)


# --- Users' images (any mode a real file can have) ---------------------------------------------------------


@dataclass
class LoadedImage:
    """An RGB image as ``(H, W, 3)`` uint8 plus what was done to read it."""

    rgb: np.ndarray
    notes: list[str] = field(default_factory=list)


def load_image(image: str | os.PathLike | np.ndarray | Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image path, a PIL image or an array into RGB uint8 ``(H, W, 3)``.

    Arrays: ``(H, W)``, ``(H, W, 1|3|4)``, uint8 or float in [0, 1]. Grayscale is replicated to RGB, alpha
    dropped, 16-bit and float images scaled to their maximum, EXIF orientation applied.

    Raises:
        PredictError: not an image, empty, larger than ``max_pixels``, or an unusable array.
    """
    notes: list[str] = []
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.exists():
            raise PredictError(f"{path}: no such file")
        if path.is_dir():
            raise PredictError(f"{path}: is a folder, not an image")
        try:
            with warnings.catch_warnings(), Image.open(path) as im:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                _check_size(im.size, max_pixels, str(path))
                im.load()
                return _from_pil(im, notes)
        except UnidentifiedImageError:
            raise PredictError(f"{path}: not an image file PIL can read") from None
        except Image.DecompressionBombError as exc:
            raise PredictError(f"{path}: image too large ({exc})") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise PredictError(f"{path}: cannot decode the image ({exc})") from None
    if hasattr(image, "mode") and hasattr(image, "size") and hasattr(image, "convert"):  # a PIL image
        _check_size(image.size, max_pixels, "image")
        return _from_pil(image, notes)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        notes.append("grayscale image: replicated to RGB")
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise PredictError(f"image array: expected (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    _check_size((arr.shape[1], arr.shape[0]), max_pixels, "image")
    if arr.shape[-1] == 4:
        notes.append("alpha channel dropped")
        arr = arr[..., :3]
    if arr.dtype != np.uint8:
        f = arr.astype(np.float64)
        if not np.isfinite(f).all():
            raise PredictError("image array: contains NaN or infinity")
        if f.max() > 1.0:
            raise PredictError("image array: float images must be in [0, 1] (or pass uint8)")
        arr = np.round(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)
    return LoadedImage(np.ascontiguousarray(arr), notes)


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise PredictError(f"{name}: empty image ({w}x{h})")
    too_large = oversize(size, max_pixels)
    if too_large:
        raise PredictError(f"{name}: {too_large}: downscale it first")


def oversize(size: tuple[int, int], max_pixels: int) -> str | None:
    """The problem of an image of ``size = (W, H)`` over ``max_pixels`` (dataset files and users' photos alike)."""
    w, h = size
    if w * h <= max_pixels:
        return None
    return f"image too large ({w}x{h} = {w * h / 1e6:.0f} M pixels; the limit is {max_pixels / 1e6:.0f} M)"


def _from_pil(im: Any, notes: list[str]) -> LoadedImage:
    transposed = ImageOps.exif_transpose(im)
    if transposed is not None and transposed.size != im.size:
        notes.append("EXIF orientation applied (pixel coordinates refer to the upright image)")
    im = transposed if transposed is not None else im
    mode = im.mode
    if mode in WIDE_MODES:
        notes.append(f"{mode} image scaled to 8 bits and replicated to RGB")
    elif mode in ("L", "LA", "1"):
        notes.append("grayscale image: replicated to RGB")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        notes.append("alpha channel dropped")
    elif mode not in ("RGB",):
        notes.append(f"{mode} image converted to RGB")
    return LoadedImage(rgb8(im), notes)


WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")  # one channel of more than 8 bits


def rgb8(im: Any) -> np.ndarray:
    """A PIL image of any mode → ``(H, W, 3)`` uint8 RGB; 16-bit and float images scaled to their maximum (PIL's
    own ``convert("RGB")`` clips them, which turns a 16-bit image white)."""
    if im.mode in WIDE_MODES:
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.size and a.max() > 0 else 1.0
        a = np.round(np.clip(a / top, 0, 1) * 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(a[..., None], 3, axis=-1))
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.array(im, dtype=np.uint8)  # one writable copy (torch.from_numpy needs one)


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
    from scipy.io.matlab import MatReadError

    path = Path(path)
    if not path.exists():
        raise DataError(path, "missing file")
    try:
        return scipy.io.loadmat(str(path))
    except (MatReadError, ValueError, OSError, TypeError, NotImplementedError) as exc:  # e.g. a zero-byte file
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
