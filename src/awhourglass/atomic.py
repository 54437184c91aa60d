"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Every writer of the package that must not leave a torn file (annotations, results, reports,
checkpoints, figures) goes through :func:`atomic_open`: write a temporary file in the target's
folder, flush and fsync it, then ``os.replace`` it over the target (atomic on POSIX). When a write fails,
:func:`disk_full` tells a full disk from other failures by the error number or the free space, never by the
wording of a message.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})  # no space; the user's quota spent


def _mkstemp_like_open(path: Path, suffix: str) -> tuple[int, str]:
    """``mkstemp`` beside ``path``, with the mode ``open()`` would give (0666 less the umask, not 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.fchmod(fd, 0o666 & ~mask)
    except OSError:  # filesystems without POSIX modes
        pass
    return fd, tmp


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files a killed writer left in ``folder`` (``.NAME.XXXX.tmp`` of this module).

    Only safe while no other process writes there (training calls it with its run directory's lock held).
    Returns the removed paths.
    """
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a folder so that a rename inside it survives a power cut (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    fsync: bool = True,
    before_replace: Callable[[], None] | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    Args:
        path: the final file; its folder is created if missing.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).
        fsync: flush the data to disk before the rename (off for bulk image writes).
        before_replace: called after the data is complete, just before the rename (e.g. to rotate
            the previous version away).

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp_like_open(path, TEMP_SUFFIX)
    try:
        with os.fdopen(fd, mode, encoding="utf-8" if mode == "w" else None) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = TEMP_SUFFIX) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that want a file name (e.g. ONNX); on a clean exit the file
    written there replaces ``path``, on any exception it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp_like_open(path, suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it was raised from or while handling (``__cause__``, else ``__context__``), and so on.

    torch's zip writer turns an exception of the file's ``write`` (an ``OSError``, a ``KeyboardInterrupt``) into a
    ``RuntimeError`` whose ``__context__`` is the original.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def os_error_in(exc: BaseException) -> OSError | None:
    """The first ``OSError`` carrying an error number in ``exc``'s :func:`exception_chain`, if any."""
    return next((e for e in exception_chain(exc) if isinstance(e, OSError) and e.errno is not None), None)


def disk_full(exc: BaseException, folder: str | os.PathLike[str], needed_bytes: int) -> bool:
    """Whether a failed write of about ``needed_bytes`` into ``folder`` failed for want of space.

    The error number decides where the failure carries one (``ENOSPC``, ``EDQUOT``: full; any other: not).
    Without one (a writer that reports failures in its own words, like torch's zip writer), the free space of
    ``folder`` measured now, after the failed write's temporary file is gone, decides: full if it is less than
    the write needed.
    """
    error = os_error_in(exc)
    if error is not None:
        return error.errno in DISK_FULL_ERRNOS
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # the folder itself is gone or unreadable: no measure, no claim
        return False
    return free < needed_bytes


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)
