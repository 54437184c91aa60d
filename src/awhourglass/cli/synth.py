"""`awh synth`: write procedural hand images in the RHD (source) or STB (target) format."""

from __future__ import annotations

import argparse

from awhourglass.errors import AwhError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh synth`."""
    parser.add_argument("--domain", help="source (RHD format) or target (STB format)")
    parser.add_argument("--n", type=int, help="number of images (both splits together with --split both)")
    parser.add_argument("--out", help="dataset root folder to write")
    parser.add_argument("--seed", type=int, default=0, help="base seed (same seed, same bytes)")
    parser.add_argument("--size", type=int, default=128, help="image width in pixels (target images are 4:3)")
    parser.add_argument("--split", default="both", help="training, evaluation or both (default both)")
    parser.add_argument("--eval-fraction", type=float, default=0.1, help="evaluation share with --split both")
    parser.add_argument("--gap", type=float, default=None, help="target harshness in [0, 1] (default 0.5)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run `awh synth`."""
    from awhourglass.synth.dataset import SynthConfig, write_dataset
    from awhourglass.synth.generate import DEFAULT_GAP

    for flag in ("domain", "n", "out"):
        if getattr(args, flag) is None:
            raise AwhError(f"--{flag} is required")
    cfg = SynthConfig(
        domain=args.domain,
        n=args.n,
        out=args.out,
        seed=args.seed,
        size=args.size,
        split=args.split,
        eval_fraction=args.eval_fraction,
        gap=DEFAULT_GAP if args.gap is None else args.gap,
    )
    paths = write_dataset(cfg, progress=not args.no_progress)
    print(f"wrote {cfg.n} {cfg.domain} images to {cfg.out} ({len(paths)} annotation files)")
    return 0
