"""A real ``kill -9`` of ``awh train`` mid-run, then ``--resume``: the final weights equal an uninterrupted run's."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from train_standins import tiny_real_config, write_tiny_synth

from awhourglass.checkpoint import load_checkpoint
from awhourglass.cli import main
from awhourglass.config import to_dict


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    roots = write_tiny_synth(tmp_path / "synth")
    cfg = to_dict(tiny_real_config(roots, "awh", pretrain=2, adapt=12, deterministic=False))
    cfg["ckpt_every"] = 2
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))

    ref = tmp_path / "ref"
    assert main(["train", str(path), "--out", str(ref)]) == 0

    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the in-process runs use 1 thread too
    cmd = [sys.executable, "-c", "import torch, sys; torch.set_num_threads(1); from awhourglass.cli import main; "
           "sys.exit(main(sys.argv[1:]))", "train", str(path), "--out", str(run)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        # kill once phase 2 has checkpoints but before the end
        while time.monotonic() < deadline and proc.poll() is None:
            if (run / "adapt.csv").exists() and len((run / "adapt.csv").read_text().splitlines()) > 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"training ended before the kill: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(run / "last.pt")
    assert killed_at["phase"] == "adapt" and 0 < killed_at["step"] < 12
    assert main(["train", str(path), "--out", str(run), "--resume"]) == 0
    a, b = load_checkpoint(ref / "last.pt"), load_checkpoint(run / "last.pt")
    for name in a["modules"]:
        for k, v in a["modules"][name].items():
            assert torch.equal(v, b["modules"][name][k]), f"{name}.{k}"
