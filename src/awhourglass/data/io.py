"""File reading at the dataset edge: images, restricted pickles, .mat and JSON, each failing with one clear line.

Every reader raises :class:`DataError` naming the file and the problem (missing, truncated, wrong
shape, forbidden pickle class, an image mode the rule refuses, unusable intrinsics), so a bad file never
surfaces as a bare traceback mid-epoch.
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


def read_image(path: str | Path, kind: str = "RGB") -> np.ndarray:
    """Read an image file fully (PNG/JPEG/TIFF) into the pixels ``kind`` asks for, by the package's one rule
    for image modes (:func:`colour_rgb8`, :func:`depth_rgb8`, :func:`part_ids`, :func:`uint16_pixels`;
    docs/datasets.md, "Image modes").

    Args:
        kind: ``"RGB"`` (a colour image → ``(H, W, 3)`` uint8), ``"depth"`` (a depth PNG packed into the bytes of
            8-bit RGB → ``(H, W, 3)`` uint8), ``"ids"`` (a label PNG → ``(H, W)`` uint8 ids), ``"uint16"`` (a 16-bit
            grey PNG → ``(H, W)`` uint16).

    Raises:
        DataError: the file is missing, truncated, not an image, or in a mode the rule refuses (named).
    """
    path = Path(path)
    decode = _DECODERS[kind]
    try:
        # no warnings guard here (it cost ~5 µs a read, a dataset reads millions): a dataset image over PIL's own
        # limit (89 M pixels) shows PIL's DecompressionBombWarning before this refuses it above DEFAULT_MAX_PIXELS
        with Image.open(path) as im:
            too_large = oversize(im.size, DEFAULT_MAX_PIXELS)  # from the header, before decoding (a bomb)
            if too_large:
                raise DataError(path, too_large)
            stored = stored_mode(im)  # before load(): the decoder's tiles say whether PIL drops 8 of 16 bits
            im.load()  # decode now: a truncated file fails here, not later in a worker
            return decode(im, stored)
    except ImageModeError as exc:
        raise DataError(path, str(exc)) from None
    except FileNotFoundError:
        raise DataError(path, "missing file") from None
    except UnidentifiedImageError:
        raise DataError(path, "not a readable image") from None
    except Image.DecompressionBombError as exc:
        raise DataError(path, f"image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(path, f"corrupt or truncated image ({exc})") from None


# --- Image modes: the one rule (docs/datasets.md, "Image modes") ----------------------------------------------


class ImageModeError(Exception):
    """An image whose mode the rule refuses; the message names the mode (the caller adds the file)."""


GREY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # one grey channel of 16 bits ("I": 32-bit, 0…65535 used)
# modes PIL turns into RGB by their own meaning: bilevel/grey replicated, palette looked up, alpha or padding
# dropped (not composited), CMYK and YCbCr by PIL's conversion
CONVERTIBLE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr")


def stored_mode(im: Any) -> str:
    """The image's mode as stored: PIL's mode, or ``"<RAW>;16"`` (``RGB;16``, ``RGBA;16``, ``LA;16``) where PIL
    decodes a file of 16 bits per channel to 8-bit ``RGB``/``RGBA`` (it keeps each value's high byte).

    Call it before ``load()`` (the tiles are gone afterwards); an image in memory gives its mode.
    """
    if im.mode not in GREY16_MODES:
        for tile in getattr(im, "tile", None) or ():
            args = tile[3] if len(tile) > 3 else None
            raw = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else None
            if isinstance(raw, str) and ";16" in raw:
                return raw.split(";")[0] + ";16"
    return im.mode


def _refused(what: str, stored: str, why: str) -> ImageModeError:
    return ImageModeError(f"{what} in mode {stored}: {why} (docs/datasets.md, Image modes)")


def grey16_to_8(im: Any, stored: str) -> np.ndarray:
    """A 16-bit grey image → ``(H, W)`` uint8 ``round(v / 257)`` (so an 8-bit value × 257 reads back exactly).

    Raises:
        ImageModeError: values outside 0…65535 (mode ``I``), or all ≤ 255: 8-bit values stored in 16 bits would
            read as black, and no scale can tell them from a black 16-bit image.
    """
    a = np.asarray(im)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise _refused("image", stored, f"values {lo}…{hi} outside 16 bits (0…65535)")
    if hi <= 255:
        raise _refused("image", stored, "16-bit with every value <= 255: 8-bit values stored in 16 bits would "
                                        "read as black; save it as 8-bit, or with the values times 257")
    # round(v / 257) in integers: v / 257 is never exactly k + 1/2 (257 is odd)
    return ((a.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)


def colour_rgb8(im: Any, stored: str) -> np.ndarray:
    """A colour image of any mode the rule admits → ``(H, W, 3)`` uint8 RGB (a fresh, writable array).

    16-bit grey → ``round(v / 257)`` replicated; 16 bits per channel (``RGB;16``…) → PIL's high byte ``v // 256``
    (within 1 of ``round(v / 257)``); grey replicated; palette looked up; alpha dropped (the colour values as
    stored, not composited onto a background); CMYK and YCbCr by PIL's conversion.

    Raises:
        ImageModeError: ``F`` (float: no defined 8-bit scale), a 16-bit image that :func:`grey16_to_8` refuses,
            or any other mode (``LAB``, ``HSV``, ``RGBa``…).
    """
    mode = im.mode
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)  # one writable copy (torch.from_numpy needs one)
    if mode in GREY16_MODES:
        return np.repeat(grey16_to_8(im, stored)[..., None], 3, axis=-1)
    if mode == "F":
        raise _refused("image", stored, "32-bit float has no defined 8-bit scale; save it as 8- or 16-bit")
    if mode not in CONVERTIBLE_MODES:
        raise _refused("image", stored, f"not a colour mode read here (read: {', '.join(CONVERTIBLE_MODES)}, "
                                        "16-bit grey)")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # the palette's colours; PIL warns on a direct P → RGB with transparency
    return np.array(im.convert("RGB"), dtype=np.uint8)


def depth_rgb8(im: Any, stored: str) -> np.ndarray:
    """A depth PNG of RHD's or STB's packed format → ``(H, W, 3)`` uint8: 8-bit RGB, or RGBA with the alpha dropped.

    Raises:
        ImageModeError: any other mode, 16 bits per channel included (the packed bytes would be rescaled).
    """
    if stored not in ("RGB", "RGBA"):
        raise _refused("depth PNG", stored, "expected 8-bit RGB with the depth packed into its R and G bytes")
    return np.array(im if im.mode == "RGB" else im.convert("RGB"))  # one copy (convert would add one)


def part_ids(im: Any, stored: str) -> np.ndarray:
    """A label PNG (RHD's mask) → ``(H, W)`` uint8 ids: ``L`` as stored, ``P`` its indices (not the palette's
    colours), ``RGB``/``RGBA`` their first channel.

    Raises:
        ImageModeError: any other mode (16-bit, float, bilevel, grey+alpha…).
    """
    if stored not in ("L", "P", "RGB", "RGBA"):
        raise _refused("label PNG", stored, "expected 8-bit part ids (L, P, or RGB/RGBA with them in the first "
                                            "channel)")
    a = np.asarray(im)
    return np.array(a[..., 0] if a.ndim == 3 else a)


def uint16_pixels(im: Any, stored: str) -> np.ndarray:
    """A 16-bit grey PNG (the STB registered-depth cache) → ``(H, W)`` uint16 values as stored.

    Raises:
        ImageModeError: any other mode, or mode ``I`` values outside 0…65535.
    """
    if stored not in GREY16_MODES:
        raise _refused("16-bit PNG", stored, "expected 16-bit grey")
    a = np.asarray(im)
    if a.size and (int(a.min()) < 0 or int(a.max()) > 65535):
        raise _refused("16-bit PNG", stored, "values outside 16 bits (0…65535)")
    return a.astype(np.uint16)


_DECODERS = {"RGB": colour_rgb8, "depth": depth_rgb8, "ids": part_ids, "uint16": uint16_pixels}


# --- Users' images (any mode a real file can have) ---------------------------------------------------------


@dataclass
class LoadedImage:
    """An RGB image as ``(H, W, 3)`` uint8 plus what was done to read it."""

    rgb: np.ndarray
    notes: list[str] = field(default_factory=list)


def load_image(image: str | os.PathLike[str] | Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image path, a PIL image or an array into RGB uint8 ``(H, W, 3)``.

    Files and PIL images follow the package's one rule for image modes (:func:`colour_rgb8`; docs/datasets.md):
    16-bit values divided by 257, grey replicated, palette looked up, alpha dropped, float refused; EXIF
    orientation applied. Arrays: ``(H, W)``, ``(H, W, 1|3|4)``, uint8 or float in [0, 1].

    Raises:
        PredictError: not an image, empty, larger than ``max_pixels``, a refused mode, or an unusable array.
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
                stored = stored_mode(im)
                im.load()
                return _from_pil(im, stored, notes)
        except ImageModeError as exc:
            raise PredictError(f"{path}: {exc}") from None
        except UnidentifiedImageError:
            raise PredictError(f"{path}: not an image file PIL can read") from None
        except Image.DecompressionBombError as exc:
            raise PredictError(f"{path}: image too large ({exc})") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise PredictError(f"{path}: cannot decode the image ({exc})") from None
    if hasattr(image, "mode") and hasattr(image, "size") and hasattr(image, "convert"):  # a PIL image
        _check_size(image.size, max_pixels, "image")
        try:
            return _from_pil(image, stored_mode(image), notes)
        except ImageModeError as exc:
            raise PredictError(f"image: {exc}") from None
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


def _from_pil(im: Any, stored: str, notes: list[str]) -> LoadedImage:
    transposed = ImageOps.exif_transpose(im)
    if transposed is not None and transposed.size != im.size:
        notes.append("EXIF orientation applied (pixel coordinates refer to the upright image)")
    im = transposed if transposed is not None else im
    if stored in GREY16_MODES:
        notes.append(f"16-bit grey image ({stored}): divided by 257 and replicated to RGB")
    elif stored.endswith(";16"):
        notes.append(f"16 bits per channel ({stored}): read as 8 bits (high byte)")
    if stored in ("1", "L", "LA", "LA;16"):
        notes.append("grayscale image: replicated to RGB")
    if stored.startswith(("RGBA", "LA", "PA")) or (stored == "P" and "transparency" in im.info):
        notes.append("alpha channel dropped")
    elif stored in ("P", "CMYK", "YCbCr"):
        notes.append(f"{stored} image converted to RGB")
    return LoadedImage(colour_rgb8(im, stored), notes)


# --- Restricted unpickling ----------------------------------------------------------------------------------------

# The only globals a pickle of dicts/lists/numbers/numpy arrays needs. Dicts, lists, tuples, str, numbers come
# from pickle opcodes without find_class; anything else (os.system, subprocess, eval, ...) is refused.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {}


def _allow() -> None:
    import builtins
    import codecs
    import importlib
    from collections import OrderedDict

    import numpy.dtypes as npd

    try:  # by name: the private modules and their private functions are not in numpy's stubs
        ma = importlib.import_module("numpy._core.multiarray")
        numeric = importlib.import_module("numpy._core.numeric")
    except ImportError:  # numpy 1.x
        ma = importlib.import_module("numpy.core.multiarray")
        numeric = importlib.import_module("numpy.core.numeric")

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
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufO":  # text (even "1.5"), complex, dates, records: no real number each
            raise TypeError(arr.dtype)
        arr = arr.astype(np.float64, copy=False)  # objects (nested lists, .mat cells) convert only if numbers
    except (TypeError, ValueError):
        raise DataError(path, f"{what}: not a numeric array") from None
    ok = arr.ndim == len(shape) and all(s == -1 or s == a for s, a in zip(shape, arr.shape, strict=False))
    if not ok:
        want = "(" + ", ".join("N" if s == -1 else str(s) for s in shape) + ")"
        raise DataError(path, f"{what}: expected shape {want}, got {tuple(arr.shape)}")
    return arr


def check_K(K: np.ndarray, path: str | Path, what: str = "K") -> np.ndarray:
    """``K`` if it is a usable pinhole matrix (finite, fx and fy positive, invertible), else :class:`DataError`
    naming ``path`` and ``what`` (e.g. ``"frame 12 K"``)."""
    from awhourglass.geometry import check_intrinsics

    K = np.asarray(K, np.float64)
    try:
        check_intrinsics(K, what)
    except ValueError as exc:
        raise DataError(path, str(exc)) from None
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise DataError(path, f"{what}: focal lengths must be positive, got fx={K[0, 0]:g}, fy={K[1, 1]:g}")
    return K
