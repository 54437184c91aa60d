"""A real ``kill -9`` of ``awh train`` mid-run, then ``--resume``: the final weights equal an uninterrupted run's."""

import os
import signal
import subprocess
import sys

import pytest
import torch
import yaml
from train_standins import PAUSING_TRAIN, tiny_real_config, wait_for_file, write_tiny_synth

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
    reached, never = tmp_path / "in-adapt-step-5", tmp_path / "never"
    # the child stops inside adaptation step 5 (0-based; its critic updates done, checkpoints at steps 2 and 4)
    cmd = [sys.executable, "-c", PAUSING_TRAIN, "adapt", "5", str(reached), str(never),
           "train", str(path), "--out", str(run)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_file(reached, proc, "adaptation step 5")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(run / "last.pt")
    assert (killed_at["phase"], killed_at["step"]) == ("adapt", 4)
    assert main(["train", str(path), "--out", str(run), "--resume"]) == 0
    a, b = load_checkpoint(ref / "last.pt"), load_checkpoint(run / "last.pt")
    for name in a["modules"]:
        for k, v in a["modules"][name].items():
            assert torch.equal(v, b["modules"][name][k]), f"{name}.{k}"
