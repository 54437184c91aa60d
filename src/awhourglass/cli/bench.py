"""`awh bench`: speed of the default network, its training and adaptation steps, the generator and the
data readers, each against this machine's fp32 matmul peak measured in the same run."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh bench`."""
    parser.add_argument("--size", type=int, choices=(64, 128, 256), default=64, help="input side in pixels")
    parser.add_argument("--batch", type=int, default=32, help="batch size of the throughput figures (default 32)")
    parser.add_argument("--json", metavar="OUT", default=None, help="also write every figure to this JSON file")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per figure; the best is reported")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (default; take final numbers on an idle machine); cpu: CPU time of one thread, "
        "robust to other load on a shared machine",
    )
    parser.add_argument("--nchw", action="store_true", help="feed NCHW inputs (the network itself runs channels-last)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX export/onnxruntime figures")
    parser.add_argument("--no-mediapipe", action="store_true", help="skip the MediaPipe reference latency")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the generator and data-loader figures")
    parser.add_argument("--precision-sizes", default="64,256", metavar="S,S",
                        help="input sides at which inference, training and adaptation are also timed in fp32 and "
                             "bf16 side by side (default 64,256; 'none' skips)")
    parser.add_argument("--device", default="cpu",
                        help="cuda[:N]: also the device's measured matmul peaks (fp32, TF32, bf16) and the training "
                             "and adaptation steps at --device-size on it, after the CPU figures (default cpu only)")
    parser.add_argument("--device-size", type=int, default=256, help="input side of the device's steps (256)")


def _sizes(text: str) -> tuple[int, ...]:
    """``64,256`` → (64, 256); ``none`` → ()."""
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        from awhourglass.config import ConfigError

        raise ConfigError(f"--precision-sizes must be sizes like 64,256 or 'none', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Run `awh bench`."""
    from awhourglass.speed.run import BenchConfig, format_table, run_bench, write_json

    cfg = BenchConfig(
        size=args.size,
        batch=args.batch,
        threads=args.threads,
        repeats=args.repeats,
        channels_last=not args.nchw,
        onnx=not args.no_onnx,
        mediapipe=not args.no_mediapipe,
        pipeline=not args.no_pipeline,
        clock=args.clock,
        precision_sizes=_sizes(args.precision_sizes),
    )
    device = None
    if args.device != "cpu":
        from awhourglass.speed.device import resolve

        device = resolve(args.device)  # before the CPU figures: a missing device is one line, at once
    log = lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    report = run_bench(cfg, log=log)
    if device is not None:
        from awhourglass.speed.device import measure_device

        log(f"device {device}: matmul peaks, training and adaptation steps at {args.device_size}²")
        report.device = measure_device(str(device), size=args.device_size, batch=args.batch, repeats=args.repeats)
    print(format_table(report))
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0
