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
