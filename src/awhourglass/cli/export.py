"""`awh export CKPT --onnx OUT`: the pose network of a checkpoint as an ONNX graph, for deployment."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh export`."""
    parser.add_argument("ckpt", metavar="CKPT", help="training checkpoint (e.g. runs/x/model.pt)")
    parser.add_argument("--onnx", metavar="OUT", required=True, help="ONNX file to write")


def run(args: argparse.Namespace) -> int:
    """Run `awh export`."""
    from awhourglass.export import export_checkpoint

    names = export_checkpoint(args.ckpt, args.onnx)
    print(f"wrote {args.onnx}: input image (B, 3, S, S) RGB in [0, 1]; outputs {', '.join(names)}")
    return 0
