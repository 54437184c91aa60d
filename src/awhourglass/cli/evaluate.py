"""`awh eval`: score a checkpoint on a dataset, or score a predictions JSON of any method."""

from __future__ import annotations

import argparse

from awhourglass.cli.data import FORMATS
from awhourglass.errors import AwhError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh eval`."""
    parser.add_argument("checkpoint", nargs="?", help="model checkpoint (omit with --pred)")
    parser.add_argument("--data", help="dataset root folder")
    # the names of the one format table (data.config.READERS); an unknown one is DatasetConfig's one-line error
    parser.add_argument("--format", metavar="FORMAT", help=f"dataset format: {', '.join(FORMATS)}")
    parser.add_argument("--split", default="test", help="train, test/eval or all (default test; interhand: eval "
                                                        "is its val split)")
    parser.add_argument("--out", default="awh_eval", help="output folder (default ./awh_eval)")
    parser.add_argument("--source-data", help="source-domain dataset for the t-SNE figure (optional)")
    parser.add_argument("--source-format", default="rhd", metavar="FORMAT",
                        help="format of --source-data (default rhd)")
    parser.add_argument("--source-split", default="test", help="split of --source-data (default test)")
    parser.add_argument("--max-samples", type=int, help="evaluate only the first N samples")
    parser.add_argument("--batch-size", type=int, default=64, help="inference batch size (default 64)")
    parser.add_argument("--tsne-points", type=int, default=2000, help="t-SNE samples, half per domain")
    parser.add_argument("--pred", help="predictions JSON (docs/evaluation.md) to score instead of a checkpoint")
    parser.add_argument("--gt", help="ground-truth JSON for --pred")
    parser.add_argument("--protocol", choices=("paper", "freihand", "interhand"), default=None,
                        help="paper (default): palm-relative EPE, AUC 0-30/20-50 mm; freihand: Procrustes with "
                             "scale and reflections (FreiHAND's eval.py), AUC 0-50 mm over 100 thresholds; "
                             "interhand: InterHand2.6M's MPJPE, wrist-relative, pooled over valid joints, for "
                             "single, interacting and all hands (hands without a labelled root left out)")
    parser.add_argument("--align", choices=("root", "wrist", "procrustes", "none"), default=None,
                        help="override the protocol's alignment: root (palm centre), wrist, procrustes, none")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--realdev", help="real-hands folder (../shared/realdev): score the checkpoint beside the "
                                          "constant mean hand and MediaPipe; writes OUT/realhands.{json,md}")
    parser.add_argument("--every", type=int, default=1, help="--realdev: every K-th frame of the video (default 1)")
    parser.add_argument("--search", action="store_true",
                        help="--realdev: also the IoU of the box found without a box (predict's search) on the video")
    parser.add_argument("--realism", type=int, metavar="N",
                        help="MediaPipe Hands (trained on photographs) on N generated images per domain, beside the "
                             "constant hand (and the checkpoint, if given): how real the renders look, measured "
                             "without a real photograph; writes OUT/realism.{json,md}")


def run(args: argparse.Namespace) -> int:
    """Run `awh eval`."""
    from awhourglass.eval.run import (
        EvalConfig,
        evaluate_checkpoint,
        evaluate_prediction_files,
        evaluate_predictions_on_dataset,
        summary_lines,
    )

    if args.realism is not None:
        return _realism(args)
    if args.realdev:
        return _realdev(args)
    if args.pred:
        if args.checkpoint:
            raise AwhError("give either a checkpoint or --pred, not both")
        if args.gt:
            result, figs = evaluate_prediction_files(args.pred, args.gt, args.out, protocol=args.protocol,
                                                     align=args.align)
        elif args.data:
            if not args.format:
                raise AwhError("--data needs --format")
            result, figs = evaluate_predictions_on_dataset(args.pred, args.data, args.format, args.split, args.out,
                                                           args.max_samples, protocol=args.protocol,
                                                           align=args.align)
        else:
            raise AwhError("--pred needs --gt GT.json (or --data PATH --format F)")
    else:
        if not args.checkpoint:
            raise AwhError("give a checkpoint (or --pred PRED.json --gt GT.json)")
        if not args.data or not args.format:
            raise AwhError(f"--data PATH and --format ({', '.join(FORMATS)}) are required with a checkpoint")
        if args.max_samples is not None and args.max_samples < 1:
            raise AwhError(f"--max-samples must be >= 1, got {args.max_samples}")
        if args.batch_size < 1:
            raise AwhError(f"--batch-size must be >= 1, got {args.batch_size}")
        cfg = EvalConfig(
            checkpoint=args.checkpoint, data=args.data, format=args.format, split=args.split, out=args.out,
            source_data=args.source_data, source_format=args.source_format, source_split=args.source_split,
            batch_size=args.batch_size, max_samples=args.max_samples, tsne_points=args.tsne_points,
            progress=not args.no_progress, protocol=args.protocol, align=args.align,
        )
        result, figs = evaluate_checkpoint(cfg)
    for line in summary_lines(result):
        print(line)
    print(f"wrote {args.out}/results.json" + (f" and {len(figs)} figure(s)" if figs else ""))
    return 0


def _realism(args: argparse.Namespace) -> int:
    """``awh eval [CKPT] --realism N``: MediaPipe on our renders (docs/evaluation.md)."""
    import json
    from pathlib import Path

    from awhourglass.atomic import atomic_write_text
    from awhourglass.eval.realism import realism_markdown, realism_report

    if args.data or args.pred or args.realdev:
        raise AwhError("--realism is its own evaluation: give it without --data / --pred / --realdev")
    if args.realism < 2:
        raise AwhError(f"--realism needs at least 2 images per domain, got {args.realism}")
    checkpoints = {Path(args.checkpoint).name: args.checkpoint} if args.checkpoint else {}
    doc = realism_report(args.realism, checkpoints)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "realism.json", json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out / "realism.md", realism_markdown(doc))
    print(realism_markdown(doc))
    print(f"wrote {out / 'realism.json'} and {out / 'realism.md'}")
    return 0


def _realdev(args: argparse.Namespace) -> int:
    """``awh eval CKPT --realdev DIR [--every K] [--search]``: the real-hands report (docs/evaluation.md)."""
    from pathlib import Path

    from awhourglass.eval.realreport import realhands_report, write_realhands
    from awhourglass.realsearch import search_ious

    if not args.checkpoint:
        raise AwhError("--realdev needs a checkpoint")
    if args.data or args.pred:
        raise AwhError("--realdev is its own evaluation: give it without --data / --pred")
    if args.every < 1:
        raise AwhError(f"--every must be >= 1, got {args.every}")
    name = Path(args.checkpoint).name
    report = realhands_report({name: args.checkpoint}, args.realdev, every=args.every, out_dir=args.out)
    if args.search:
        report.search = search_ious(args.checkpoint, args.realdev, every=args.every, name=name)
    js, md = write_realhands(report, args.out)
    print(report.markdown())
    print(f"wrote {js}, {md} and {sum(len(s['overlays']) for s in report.sets.values())} overlay(s)")
    return 0
