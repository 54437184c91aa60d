"""`awh benchmark`: the converged comparison on the embedded data (and the pretraining the demo ships)."""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh benchmark`."""
    parser.add_argument("--stage", choices=("pretrain", "compare", "all"), default="compare",
                        help="compare: every method from the shipped pretrained network over paired seeds "
                             "(default); pretrain: phase 1 on the source stream only (what the package ships, "
                             "≈ 80 min on 2 cores); all: both")
    parser.add_argument("--out", default="awh_benchmark", help="output folder (default ./awh_benchmark)")
    parser.add_argument("--seeds", type=int, default=None, help="paired training seeds (default 5)")
    parser.add_argument("--pretrained", default=None,
                        help="compare from this pretrain.pt instead of the shipped network (or the one the "
                             "pretrain stage just made)")
    parser.add_argument("--ship", action="store_true",
                        help="pretrain stage: copy the network into the package with its manifest (maintainers)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted pretraining in --out")
    parser.add_argument("--pretrain-steps", type=int, default=None,
                        help="pretrain stage: steps (default 10000; milestones at 75 %% and 93 %%)")
    parser.add_argument("--init-from", default=None,
                        help="pretrain stage: warm start from this network (e.g. the shipped source.pt), at half "
                             "the rate")
    parser.add_argument("--no-tune", action="store_true",
                        help="compare stage: skip choosing each method's rate, domain-term weight and critic steps "
                             "on the validation split (runs of a separate tuning seed, ≈ 40 min here) and use "
                             "the defaults for every method")
    parser.add_argument("--methods", default=None,
                        help="compare stage: comma-separated subset of joint,wh,dann,awh,fss,fssc,oracle (default all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run `awh benchmark`."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `awh demo`: many small steps on a shared CPU
    from awhourglass.benchmark.config import BenchmarkConfig, run_benchmark

    overrides = {"out": args.out, "progress": not args.no_progress, "tune": not args.no_tune}
    if args.seeds is not None:
        overrides["seeds"] = args.seeds
    if args.threads is not None:
        overrides["threads"] = args.threads
    if args.methods:
        overrides["methods"] = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if args.pretrain_steps is not None or args.init_from is not None:
        from awhourglass.demo.pretrained import PretrainSchedule

        steps = args.pretrain_steps if args.pretrain_steps is not None else PretrainSchedule().steps
        overrides["pretrain"] = PretrainSchedule.warm(steps, args.init_from)  # ConfigError when steps < 1
    cfg = BenchmarkConfig(**overrides)
    run_benchmark(cfg, stage=args.stage, pretrained=args.pretrained, ship=args.ship, resume=args.resume)
    return 0
