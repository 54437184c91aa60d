import pytest

from awhourglass.cli import build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "synth", "train", "eval", "predict", "bench"):
        assert name in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_parser_has_subcommands():
    parser = build_parser()
    args = parser.parse_args(["synth"])
    assert args.command == "synth"
