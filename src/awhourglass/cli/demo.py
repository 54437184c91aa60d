"""`awh demo`: the paper's experiment on the embedded benchmark, from nothing to report.md."""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh demo`."""
    parser.add_argument("--quick", action="store_true",
                        help="smoke run of every stage (~1-2 min; too short to rank the methods)")
    parser.add_argument("--out", default="awh_demo", help="output folder (default ./awh_demo)")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds; the table shows mean ± std (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (also the data seed)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="pretrain the source network here (10000 steps: about an hour on 2 cores) instead of "
                             "starting from the shipped one")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (stage lines still print)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="phase-2 training precision (default auto: bf16 where the CPU has native bf16, "
                             "else fp32; docs/performance.md)")
    parser.add_argument("--realdev", default="auto",
                        help="real photographs to measure every model on (default auto: $AWH_REALDEV or "
                             "../shared/realdev when present; 'none' skips)")


def run(args: argparse.Namespace) -> int:
    """Run `awh demo`."""
    # The demo's many small training steps share 2 cores with whatever else runs: OpenMP threads that
    # spin while waiting made them ~10x slower on a busy machine (docs/demo.md), so the demo waits
    # passively. It only takes effect before torch is first imported, hence here and for this command
    # alone: passive waiting doubles batch-1 latency (docs/performance.md), so `awh bench`/`predict` keep
    # OpenMP's default.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from awhourglass.demo.config import full_config, quick_config
    from awhourglass.demo.run import run_demo

    make = quick_config if args.quick else full_config
    overrides = {"out": args.out, "seeds": args.seeds, "seed": args.seed, "progress": not args.no_progress,
                 "from_scratch": args.from_scratch, "realdev": args.realdev, "precision": args.precision}
    if args.threads is not None:
        overrides["threads"] = args.threads
    cfg = make(**overrides)
    run_demo(cfg)
    print(f"wrote {args.out}/report.md and {args.out}/results.json")
    return 0
