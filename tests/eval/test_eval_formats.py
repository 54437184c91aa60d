"""`awh eval` accepts every dataset format of the one format table (``data.config.READERS``), as `awh data` does."""

from __future__ import annotations

import pytest

from awhourglass.cli import build_parser, main
from awhourglass.data.config import READERS


@pytest.mark.parametrize("fmt", list(READERS))
def test_eval_and_data_accept_every_format_of_the_table(tmp_path, capsys, fmt):
    parser = build_parser()
    assert parser.parse_args(["eval", "model.pt", "--data", "d", "--format", fmt]).format == fmt
    assert parser.parse_args(["eval", "--pred", "p.json", "--data", "d", "--format", fmt, "--source-format",
                              fmt]).source_format == fmt
    assert parser.parse_args(["data", "check", "d", "--format", fmt]).fmt == fmt
    # past the parser, the run reads the dataset of that format: a missing folder is the one-line error
    missing = tmp_path / "no-such-dataset"
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"not a checkpoint")
    assert main(["eval", str(ckpt), "--data", str(missing), "--format", fmt, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "invalid choice" not in err and "format" not in err.split(":")[0]
    assert str(ckpt) in err or str(missing) in err


def test_eval_help_lists_the_table():
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["eval"].format_help().split())
    for fmt in READERS:
        assert fmt in help_text


def test_eval_refuses_a_format_outside_the_table(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "model.pt", "--data", "d", "--format", "rhd2"])
    assert "invalid choice: 'rhd2'" in capsys.readouterr().err
