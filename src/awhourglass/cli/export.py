"""`awh export CKPT --onnx OUT [--lift]`: the pose network of a checkpoint as an ONNX graph, for deployment."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh export`."""
    parser.add_argument("ckpt", metavar="CKPT", help="training checkpoint (e.g. runs/x/model.pt)")
    parser.add_argument("--onnx", metavar="OUT", required=True, help="ONNX file to write")
    parser.add_argument(
        "--lift", action="store_true",
        help="include the lift to 3D: the graph also takes K (B, 3, 3), the input crop's intrinsics in pixels, and "
             "bone_mm (B,), the wrist to middle-MCP length in mm, and also returns xyz_mm (B, 21, 3) root-relative "
             "(palm centre at 0), xyz_cam_mm (B, 21, 3) camera space (closed-form root depth) and root_depth_ok (B,)",
    )


def run(args: argparse.Namespace) -> int:
    """Run `awh export`."""
    from awhourglass.export import export_checkpoint

    names = export_checkpoint(args.ckpt, args.onnx, lift=args.lift)
    inputs = "image (B, 3, S, S) RGB in [0, 1]" + (", K (B, 3, 3) crop pixels, bone_mm (B,)" if args.lift else "")
    print(f"wrote {args.onnx}: inputs {inputs}; outputs {', '.join(names)}")
    return 0
