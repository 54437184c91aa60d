"""One process at a time owns a run directory; a killed holder does not leave it held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from train_standins import make_parts_factory, tiny_config

from awhourglass.errors import AwhError
from awhourglass.train.run import LOCK, fit, run_dir_lock


def test_a_second_run_on_a_held_directory_is_refused_naming_the_holder(tmp_path):
    with run_dir_lock(tmp_path):
        for resume in (False, True):
            with pytest.raises(AwhError, match=rf"is in use by awh train \(pid {os.getpid()}\)"):
                fit(tiny_config(), tmp_path, resume=resume, build_parts=make_parts_factory())
        assert not (tmp_path / "last.pt").exists()  # the refused runs wrote nothing
    fit(tiny_config(), tmp_path, resume=False, build_parts=make_parts_factory())  # released: now it runs
    assert (tmp_path / "model.pt").exists()


def test_a_killed_holder_leaves_the_directory_free(tmp_path):
    code = ("import sys, time, pathlib; from awhourglass.train.run import run_dir_lock\n"
            "with run_dir_lock(pathlib.Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(AwhError, match=rf"in use by awh train \(pid {proc.pid}\)"), run_dir_lock(tmp_path):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with run_dir_lock(tmp_path):  # reaped, so the kernel has dropped the dead holder's lock: taken at once
        assert (tmp_path / LOCK).read_text().strip() == f"awh train (pid {os.getpid()})"


def test_a_killed_holder_with_live_forked_children_leaves_the_directory_free(tmp_path):
    """DataLoader workers are forked children: they must not keep the lock of a parent killed with kill -9
    (they only notice the parent's death seconds later), or an immediate --resume is refused."""
    # the forked child says "forked" once fork() has returned in it, i.e. after the at-fork handlers ran there;
    # each line is one os.write (atomic on a pipe), so the two processes' lines never interleave
    code = ("import os, sys, time, pathlib; from awhourglass.train.run import run_dir_lock\n"
            "with run_dir_lock(pathlib.Path(sys.argv[1])):\n"
            "    if os.fork() == 0:\n"  # a child that outlives the parent
            "        os.write(1, b'forked\\n'); time.sleep(30); os._exit(0)\n"
            "    os.write(1, b'held\\n'); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert sorted(proc.stdout.readline().strip() for _ in range(2)) == ["forked", "held"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with run_dir_lock(tmp_path):  # at once, while the forked child still runs
            assert (tmp_path / LOCK).read_text().strip() == f"awh train (pid {os.getpid()})"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the orphaned child too


def test_the_next_start_removes_the_temp_file_of_a_writer_killed_mid_write(tmp_path):
    code = ("import sys, time; from awhourglass.atomic import atomic_open\n"
            "with atomic_open(sys.argv[1] + '/last.pt') as fh:\n"
            "    fh.write(b'x' * 4096); fh.flush(); print('writing', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    left = list(tmp_path.glob(".last.pt.*.tmp"))
    assert len(left) == 1 and left[0].stat().st_size == 4096  # what the kill left behind
    (tmp_path / "notes.txt").write_text("mine")
    fit(tiny_config(), tmp_path, resume=False, build_parts=make_parts_factory())
    assert list(tmp_path.glob(".*.tmp")) == []
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "model.pt").exists()


def test_two_real_awh_train_processes_on_one_out(tmp_path):
    """The second ``awh train`` on a directory in use is refused in one line naming the first's pid; the first
    finishes, and its files are its own (every CSV row once, weights that load)."""
    import yaml
    from train_standins import PAUSING_TRAIN, tiny_real_config, wait_for_file, write_tiny_synth

    from awhourglass.checkpoint import load_checkpoint
    from awhourglass.config import to_dict

    roots = write_tiny_synth(tmp_path / "synth")
    cfg = to_dict(tiny_real_config(roots, "joint", pretrain=6, adapt=2, num_workers=1, deterministic=False))
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    reached, go = tmp_path / "first-at-step-2", tmp_path / "go"
    # the first stops inside pretraining step 2 until the second has been refused: it holds the directory then
    first_cmd = [sys.executable, "-c", PAUSING_TRAIN, "pretrain", "2", str(reached), str(go),
                 "train", str(path), "--out", str(run)]
    cmd = [sys.executable, "-c", "import sys; from awhourglass.cli import main; sys.exit(main())", "train", str(path),
           "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(first_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_file(reached, first, "the first run's pretraining step 2")
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        go.touch()
        _out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode == 2
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"in use by awh train (pid {first.pid})" in lines[0], second.stderr
    assert first.returncode == 0, err
    rows = (run / "pretrain.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [str(s) for s in range(1, 7)]  # each step once: no second writer
    assert load_checkpoint(run / "model.pt")["step"] == 2
