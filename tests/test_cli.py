import pytest

from awhourglass.cli import build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "synth", "train", "eval", "predict", "bench", "benchmark"):
        assert name in out


def test_benchmark_bad_seeds_is_one_line(capsys, tmp_path):
    assert main(["benchmark", "--seeds", "0", "--out", str(tmp_path / "b")]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_parser_has_subcommands():
    parser = build_parser()
    args = parser.parse_args(["synth"])
    assert args.command == "synth"


def test_importing_the_cli_leaves_openmp_waiting_alone():
    # Only `awh demo` asks for passive OpenMP waiting (set in its run()); bench/predict keep the default,
    # whose spinning threads halve batch-1 latency.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, awhourglass.cli; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


def test_a_bug_is_not_hidden_as_a_user_error(monkeypatch, capsys):
    from awhourglass import cli
    from awhourglass.config import ConfigError

    def buggy(args):
        raise ValueError("an internal shape mismatch")

    def user(args):
        raise ConfigError("--n must be a positive number of images, got 0")

    monkeypatch.setattr(cli.synth, "run", buggy)
    with pytest.raises(ValueError, match="internal shape mismatch"):
        main(["synth", "--domain", "source", "--n", "1", "--out", "x"])
    monkeypatch.setattr(cli.synth, "run", user)
    assert main(["synth", "--domain", "source", "--n", "1", "--out", "x"]) == 2
    assert capsys.readouterr().err == "awh synth: error: --n must be a positive number of images, got 0\n"
