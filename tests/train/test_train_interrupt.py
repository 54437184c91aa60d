"""Ctrl-C during ``awh train``: one line and exit code 130, no traceback from any process (with a loader worker),
and a Ctrl-C in the middle of a checkpoint write is an interruption after a whole checkpoint, never a failed write."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from train_standins import assert_interrupted, tiny_real_config, write_tiny_synth

from awhourglass.checkpoint import load_checkpoint
from awhourglass.cli import main
from awhourglass.config import to_dict


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    base = tmp_path_factory.mktemp("interrupt")
    roots = write_tiny_synth(base / "synth")
    cfg = to_dict(tiny_real_config(roots, "awh", pretrain=100000, adapt=0, num_workers=1, deterministic=False))
    path = base / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(("presses", "gap_s"), [(1, 0.0), (2, 0.02), (2, 0.4)])
def test_ctrl_c_is_one_line_from_the_whole_process_group(tmp_path, config, presses, gap_s):
    run = tmp_path / "run"
    cmd = [sys.executable, "-c", "import sys; from awhourglass.cli import main; sys.exit(main())",  # as the script
           "train", str(config), "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # a new session stands for the terminal: Ctrl-C goes to every process of the group, the workers included
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            csv = run / "pretrain.csv"
            if csv.exists() and len(csv.read_text().splitlines()) > 3:  # training with its worker running
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1]
        for _ in range(presses):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(gap_s)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert_interrupted(proc.returncode, err)
    assert (run / "last.pt").exists() or (run / "config.yaml").exists()  # the run directory is intact


class _CtrlCWhileWriting:
    """A file whose first write raises SIGINT (the key pressed mid-write), then goes on writing; counts the writes
    after it (the checkpoint is being finished, not abandoned)."""

    def __init__(self, f):
        self.f, self.after = f, 0
        self.pressed = False

    def write(self, data):
        if not self.pressed:
            self.pressed = True
            signal.raise_signal(signal.SIGINT)  # the handler runs here, inside torch.save's write callback
        else:
            self.after += 1
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def _model_weights(path):
    return load_checkpoint(path)["modules"]["model"]


def test_ctrl_c_inside_a_checkpoint_write_stops_after_it_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    """Deterministic: SIGINT raised from inside ``torch.save``'s write of the pretrain step-4 checkpoint. Before,
    torch's zip writer turned the ``KeyboardInterrupt`` into a RuntimeError and the run said "no space left on
    device" (exit 2); now the write completes, the run stops with 130 and resumes to an uninterrupted run's
    weights."""
    roots = write_tiny_synth(tmp_path / "synth")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(to_dict(tiny_real_config(roots, "awh", pretrain=6, adapt=2))))
    run, reference = tmp_path / "run", tmp_path / "reference"
    assert main(["train", str(cfg), "--out", str(reference)]) == 0  # the same run, uninterrupted
    capsys.readouterr()

    real_save, writes = torch.save, []

    def save(obj, f, *a, **kw):
        if obj["phase"] == "pretrain" and obj["step"] == 4 and obj["optimizers"]:  # last.pt, not pretrain.pt
            f = _CtrlCWhileWriting(f)
            writes.append(f)
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", save)
    assert main(["train", str(cfg), "--out", str(run)]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" not in err and "space" not in err, err
    assert err.splitlines() == [
        f"awh train: interrupted; continue with: awh train {cfg} --out {run} --resume", "awh train: interrupted"]
    assert len(writes) == 1 and writes[0].pressed and writes[0].after > 0  # pressed mid-write, and written on
    monkeypatch.setattr(torch, "save", real_save)
    last, previous = load_checkpoint(run / "last.pt"), load_checkpoint(run / "previous.pt")
    assert (last["phase"], last["step"], previous["step"]) == ("pretrain", 4, 2)  # the interrupted write is whole
    assert not (run / "model.pt").exists() and list(run.glob(".*.tmp")) == []

    assert main(["train", str(cfg), "--out", str(run), "--resume"]) == 0
    capsys.readouterr()
    assert f"resumed from {run / 'last.pt'} (pretrain step 4)" in (run / "train.log").read_text()
    got, want = _model_weights(run / "model.pt"), _model_weights(reference / "model.pt")
    assert got.keys() == want.keys()
    for k in want:  # deterministic run: resuming continues to the very same weights
        assert torch.equal(got[k], want[k]), k
