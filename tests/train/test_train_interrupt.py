"""Ctrl-C during ``awh train`` with a loader worker: one line and exit code 130, no traceback from any process."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from train_standins import tiny_real_config, write_tiny_synth

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
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("awh train: interrupted"), err
    assert (run / "last.pt").exists() or (run / "config.yaml").exists()  # the run directory is intact
