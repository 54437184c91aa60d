import os
import stat

import pytest

from awhourglass import atomic
from awhourglass.atomic import atomic_path, atomic_write_text


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic.atomic_write_text(path, "first")
    atomic.atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_failure_inside_keeps_old_file_and_removes_temp(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.atomic_open(path) as fh:
        fh.write(b"half")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_failed_rename_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_before_replace_runs_after_data_is_complete(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"v1")
    seen = []

    def rotate():
        seen.append([p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")])
        path.rename(tmp_path / "previous.pt")

    with atomic.atomic_open(path, before_replace=rotate) as fh:
        fh.write(b"v2")
    assert len(seen) == 1 and len(seen[0]) == 1  # the complete temp file existed when rotating
    assert path.read_bytes() == b"v2" and (tmp_path / "previous.pt").read_bytes() == b"v1"


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"), atomic.atomic_open("x", "a"):
        pass


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    from awhourglass.atomic import atomic_path

    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".onnx") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_mode_open_would_give(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "b.onnx", suffix=".onnx") as tmp:
            tmp.write_bytes(b"y")
        with open(tmp_path / "c.txt", "w") as fh:  # the independent route: a plain open
            fh.write("z")
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "c.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("a.txt", "b.onnx"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


def _usage(free):
    import shutil

    return lambda folder: shutil._ntuple_diskusage(10**12, 10**12 - free, free)


def _wrapped(inner: BaseException) -> RuntimeError:
    """As torch's zip writer reports a failed write of its file: a RuntimeError raised while handling ``inner``."""
    try:
        raise inner
    except BaseException:
        try:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        except RuntimeError as exc:
            return exc


def test_disk_full_is_told_by_the_error_number_then_by_the_free_space(tmp_path, monkeypatch):
    import errno

    monkeypatch.setattr(atomic.shutil, "disk_usage", _usage(10**9))  # plenty of space left
    assert atomic.disk_full(OSError(errno.ENOSPC, "No space left on device"), tmp_path, 1000)
    assert atomic.disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path, 1000)
    assert atomic.disk_full(_wrapped(OSError(errno.ENOSPC, "No space")), tmp_path, 1000)  # inside torch's error
    assert not atomic.disk_full(_wrapped(ValueError("x")), tmp_path, 1000)  # torch's words alone claim nothing
    monkeypatch.setattr(atomic.shutil, "disk_usage", _usage(999))  # less than the write needs
    assert atomic.disk_full(RuntimeError("file write failed"), tmp_path, 1000)
    assert not atomic.disk_full(RuntimeError("file write failed"), tmp_path, 999)
    assert not atomic.disk_full(OSError(errno.EIO, "Input/output error"), tmp_path, 1000)  # the number decides


def test_disk_full_without_a_folder_to_measure_claims_nothing(tmp_path):
    assert not atomic.disk_full(RuntimeError("file write failed"), tmp_path / "gone", 10**18)


def test_exception_chain_follows_causes_and_contexts():
    inner = OSError(5, "Input/output error")
    outer = _wrapped(inner)
    assert list(atomic.exception_chain(outer)) == [outer, inner]
    assert atomic.os_error_in(outer) is inner
    assert atomic.os_error_in(RuntimeError("no number")) is None
