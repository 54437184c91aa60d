"""`awh eval`: score a checkpoint on a dataset, or score a predictions JSON of any method."""

from __future__ import annotations

import argparse

from awhourglass.errors import AwhError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh eval`."""
    parser.add_argument("checkpoint", nargs="?", help="model checkpoint (omit with --pred)")
    parser.add_argument("--data", help="dataset root folder")
    parser.add_argument("--format", help="dataset format: rhd, stb, freihand or mpd")
    parser.add_argument("--split", default="test", help="train, test/eval or all (default test)")
    parser.add_argument("--out", default="awh_eval", help="output folder (default ./awh_eval)")
    parser.add_argument("--source-data", help="source-domain dataset for the t-SNE figure (optional)")
    parser.add_argument("--source-format", default="rhd", help="format of --source-data (default rhd)")
    parser.add_argument("--source-split", default="test", help="split of --source-data (default test)")
    parser.add_argument("--max-samples", type=int, help="evaluate only the first N samples")
    parser.add_argument("--batch-size", type=int, default=64, help="inference batch size (default 64)")
    parser.add_argument("--tsne-points", type=int, default=2000, help="t-SNE samples, half per domain")
    parser.add_argument("--pred", help="predictions JSON (docs/evaluation.md) to score instead of a checkpoint")
    parser.add_argument("--gt", help="ground-truth JSON for --pred")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run `awh eval`."""
    from awhourglass.eval.run import EvalConfig, evaluate_checkpoint, evaluate_prediction_files, summary_lines

    if args.pred:
        if args.checkpoint:
            raise AwhError("give either a checkpoint or --pred, not both")
        if args.gt:
            result, figs = evaluate_prediction_files(args.pred, args.gt, args.out)
        elif args.data:
            result, figs = _score_against_dataset(args)
        else:
            raise AwhError("--pred needs --gt GT.json (or --data PATH --format F)")
    else:
        if not args.checkpoint:
            raise AwhError("give a checkpoint (or --pred PRED.json --gt GT.json)")
        if not args.data or not args.format:
            raise AwhError("--data PATH and --format (rhd, stb, freihand, mpd) are required with a checkpoint")
        if args.max_samples is not None and args.max_samples < 1:
            raise AwhError(f"--max-samples must be >= 1, got {args.max_samples}")
        if args.batch_size < 1:
            raise AwhError(f"--batch-size must be >= 1, got {args.batch_size}")
        cfg = EvalConfig(
            checkpoint=args.checkpoint, data=args.data, format=args.format, split=args.split, out=args.out,
            source_data=args.source_data, source_format=args.source_format, source_split=args.source_split,
            batch_size=args.batch_size, max_samples=args.max_samples, tsne_points=args.tsne_points,
            progress=not args.no_progress,
        )
        result, figs = evaluate_checkpoint(cfg)
    for line in summary_lines(result):
        print(line)
    print(f"wrote {args.out}/results.json" + (f" and {len(figs)} figure(s)" if figs else ""))
    return 0


def _score_against_dataset(args: argparse.Namespace):
    """--pred with --data: ground truth read from the dataset (ids are the samples' source names)."""
    from pathlib import Path

    import numpy as np

    from awhourglass.data.sample import collate
    from awhourglass.eval import plots
    from awhourglass.eval.predictions import PoseRecord, score_prediction_file
    from awhourglass.eval.results import write_results_json
    from awhourglass.eval.run import _unique_ids, load_dataset

    if not args.format:
        raise AwhError("--data needs --format")
    ds = load_dataset(args.data, args.format, args.split, 128, args.max_samples)
    n = len(ds) if args.max_samples is None else min(len(ds), args.max_samples)
    samples = [ds[i] for i in range(n)]
    batch = collate(samples)
    ids = _unique_ids(list(batch.source))
    records = [PoseRecord(i, np.asarray(batch.xyz_m[k], np.float64), batch.vis[k].numpy().astype(bool), None)
               for k, i in enumerate(ids)]
    result = score_prediction_file(args.pred, records)
    write_results_json(Path(args.out) / "results.json", result)
    return result, [plots.plot_pck_curves({"predictions": result}, Path(args.out) / "pck.png")]
