"""`awh train CONFIG.yaml [--override FILE.yaml ...] [--out RUN_DIR] [--resume]`.

Multi-GPU / multi-node: launch the same command with torchrun, e.g.
``torchrun --nproc_per_node 4 -m awhourglass.cli train CONFIG.yaml --out runs/x``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def methods_epilog() -> str:
    """The methods a config's ``method.name`` picks, with the labels every report shows (the one table)."""
    from awhourglass.methods.config import MethodConfig
    from awhourglass.methods.table import METHODS

    rows = [f"  {name:12s} {MethodConfig(name=name).label}" for name in METHODS]
    return "methods (method.name in the config; the label reports show):\n" + "\n".join(rows) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh train`."""
    plain = parser.format_help
    # the method table imports torch: read it only when the help is printed (`awh` itself starts light)
    parser.format_help = lambda: plain() + "\n" + methods_epilog()  # type: ignore[method-assign]
    parser.add_argument("config", help="training config (YAML), e.g. configs/demo.yaml")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML merged over the config (repeatable, later wins), e.g. configs/rhd-stb/table1-r2d.yaml",
    )
    parser.add_argument("--out", help="run directory (default: runs/<config name>[+<override names>])")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest usable checkpoint"
    )


def default_out(config: str, overrides: list[str]) -> Path:
    """``runs/<config stem>`` plus ``+<override stem>`` per override."""
    name = "+".join([Path(config).stem, *(Path(o).stem for o in overrides)])
    return Path("runs") / name


def run(args: argparse.Namespace) -> int:
    """Run `awh train`."""
    from awhourglass.train.config import load_train_config
    from awhourglass.train.run import train

    cfg = load_train_config(args.config, args.override)
    out = Path(args.out) if args.out else default_out(args.config, args.override)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    try:
        model_pt = train(cfg, out, resume=args.resume)
    except KeyboardInterrupt:
        if main_rank:
            again = " ".join(["awh train", args.config, *(f"--override {o}" for o in args.override), f"--out {out}"])
            print(f"awh train: interrupted; continue with: {again} --resume", file=sys.stderr)
        raise
    if main_rank:
        print(f"trained weights: {model_pt}")
    return 0
