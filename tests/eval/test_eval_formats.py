"""`awh eval` accepts every dataset format of the one format table (``data.config.READERS``), as `awh data` does."""

from __future__ import annotations

import pytest

from awhourglass.checkpoint import atomic_save
from awhourglass.cli import build_parser, main
from awhourglass.data.config import READERS
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.models.load import network_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    net = AWHourglassNet(ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=1, depth=2, depth_out_size=16,
                                     depth_width=8))
    atomic_save(network_checkpoint(net), path)
    return path


@pytest.mark.parametrize("fmt", list(READERS))
def test_eval_takes_every_format_that_data_takes(tmp_path, capsys, checkpoint, fmt):
    assert build_parser().parse_args(["data", "check", "d", "--format", fmt]).fmt == fmt  # `awh data` takes it
    # `awh eval` takes it too: the run gets past the format's check to the dataset folder (missing here)
    missing = tmp_path / "no-such-dataset"
    assert main(["eval", str(checkpoint), "--data", str(missing), "--format", fmt, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"dataset folder {missing} does not exist" in err and "must be one of" not in err


def test_the_same_run_refuses_a_format_outside_the_table(tmp_path, capsys, checkpoint):
    assert main(["eval", str(checkpoint), "--data", str(tmp_path), "--format", "rhd2", "--out", str(tmp_path)]) == 2
    assert f"must be one of {', '.join(READERS)}, got 'rhd2'" in capsys.readouterr().err


def test_eval_help_lists_the_table():
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["eval"].format_help().split())
    for fmt in READERS:
        assert fmt in help_text
