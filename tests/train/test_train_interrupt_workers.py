"""Ctrl-C into ``awh train`` with 2 data workers, sent as a terminal sends it (to the whole process group), once
or three times: exit code 130, no traceback from any process, and a checkpoint the run resumes from.

The signal lands at a known stage: after the child has logged adaptation steps (so both workers are loading and
handing batches over) and never in a checkpoint write (pretraining ends with the run's only checkpoint, and the
adaptation phase is far too long to reach its next one). Where inside a step it lands is left to chance, which is
what the repeats cover: every landing place must give the same clean end.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from train_standins import assert_interrupted, tiny_real_config, write_tiny_synth

from awhourglass.checkpoint import load_checkpoint
from awhourglass.config import to_dict
from awhourglass.train.config import load_train_config
from awhourglass.train.loop import StepInfo
from awhourglass.train.parts import build_parts
from awhourglass.train.run import fit

PRETRAIN_STEPS = 2
NEVER = 10**6  # adaptation steps and checkpoint interval: the test ends long before either is reached
REPEATS = 5
PRESS_GAPS_S = (0.1, 0.2, 0.3, 0.4, 0.5)  # between the three presses, one gap per repeat


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    base = tmp_path_factory.mktemp("interrupt_workers")
    roots = write_tiny_synth(base / "synth")
    cfg = to_dict(tiny_real_config(roots, "awh", pretrain=PRETRAIN_STEPS, adapt=NEVER, num_workers=2,
                                   deterministic=False))
    cfg["ckpt_every"] = NEVER
    # busy workers answer the main process's requests for a batch's shared memory late (their hand-over thread
    # waits for the GIL), so a Ctrl-C can land while the main process is receiving one (test_train_workers.py
    # forces that case deterministically)
    cfg["phases"]["adapt"]["batch_size"] = 16
    for domain in ("source", "target"):
        cfg["data"][domain]["augment"].update(enabled=True, blur_prob=1.0, blur_sigma_px=3.0, noise_prob=1.0,
                                              cutout_prob=1.0)
    path = base / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _start(config, run):
    cmd = [sys.executable, "-c", "import sys; from awhourglass.cli import main; sys.exit(main())",  # as the script
           "train", str(config), "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # a new session stands for the terminal: its Ctrl-C reaches every process of the group, the workers included
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_adaptation_steps(proc, run, rows=3):
    """Until the child has logged ``rows`` adaptation steps (the deadline is only a safety net)."""
    csv = run / "adapt.csv"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if csv.exists() and len(csv.read_text().splitlines()) > rows:
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no adaptation steps logged: {proc.communicate()[1][-3000:]}")


def _press_ctrl_c(proc, presses, gap_s):
    for i in range(presses):
        if i:
            time.sleep(gap_s)  # the user's pace, not a synchronisation
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:  # the whole group has already exited
            return


class Resumed(Exception):
    """Raised by the first step function that the resumed run calls."""


def _stop_at_first_step(cfg, dist):
    parts = build_parts(cfg, dist)

    def pretrain_again(batch, info: StepInfo):
        raise AssertionError(f"the resumed run pretrained again (step {info.step})")

    def first(batch, info: StepInfo):
        raise Resumed(info)

    return dataclasses.replace(parts, pretrain_loss=pretrain_again, adapt_loss=first, critic_loss=first)


@pytest.mark.slow
@pytest.mark.parametrize("repeat", range(REPEATS))
@pytest.mark.parametrize("presses", [1, 3])
def test_ctrl_c_with_two_workers_is_exit_130_without_traceback_and_resumable(tmp_path, config, presses, repeat):
    run = tmp_path / "run"
    proc = _start(config, run)
    try:
        _wait_for_adaptation_steps(proc, run)
        _press_ctrl_c(proc, presses, PRESS_GAPS_S[repeat])
        _, err = proc.communicate(timeout=120)  # EOF on stderr: the workers have exited too
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert_interrupted(proc.returncode, err)
    # the checkpoint that pretraining ended with is intact, and the run continues from it: adaptation step 0
    ckpt = load_checkpoint(run / "last.pt")
    assert (ckpt["phase"], ckpt["step"]) == ("pretrain", PRETRAIN_STEPS)
    cfg = dataclasses.replace(load_train_config(config), num_workers=0)  # num_workers may change on resume
    with pytest.raises(Resumed) as info:
        fit(cfg, run, resume=True, build_parts=_stop_at_first_step)
    assert (info.value.args[0].phase, info.value.args[0].step) == ("adapt", 0)
    assert f"resumed from {run / 'last.pt'} (pretrain step {PRETRAIN_STEPS})" in (run / "train.log").read_text()
