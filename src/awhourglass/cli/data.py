"""`awh data check|show|prepare|pack PATH --format rhd|stb|freihand|mpd|mmpose-*|interhand|pack`: inspect a
dataset on disk, or prepare or pack it.

``prepare`` (STB): register every depth image to the colour camera once, next to the dataset
(:mod:`awhourglass.data.stb_cache`); the reader then reads it instead of registering each sample.
``pack`` (RHD, STB): decode and crop every sample once into memory-mappable arrays (:mod:`awhourglass.data.pack`),
read back with ``format: pack``.
"""

from __future__ import annotations

import argparse

from awhourglass.config import from_dict, load_yaml

# data.config.FORMATS, spelled out so that building the parser imports no torch (a test keeps them equal)
FORMATS = ("rhd", "stb", "freihand", "mpd", "mmpose-rhd", "mmpose-freihand", "interhand", "pack")
INPUT_SIZE = 128  # the crop side when neither --input-size nor the --config file gives one


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `awh data`."""
    parser.add_argument("action", choices=["check", "show", "prepare", "pack"],
                        help="check: counts and broken files; show: PNG grid; prepare (stb): register the depth "
                             "images to the colour camera once, into PATH/awh_registered_depth; pack (rhd, stb): "
                             "decode and crop every sample once into --out (read it with format: pack)")
    parser.add_argument("path", help="dataset root folder")
    parser.add_argument("--format", required=True, dest="fmt",
                        choices=list(FORMATS),
                        help="layout; mmpose-rhd / mmpose-freihand: PATH is MMPose's JSON (rhd_train.json, "
                             "freihand_train.json); interhand: PATH is the InterHand2.6M folder (annotations/, "
                             "images/; --split eval reads its val split); pack: PATH is a folder `awh data pack` "
                             "wrote")
    parser.add_argument("--images", help="mmpose-*: folder of the JSON's file_name paths (default: the JSON's "
                                         "folder, then its parent); interhand: replaces PATH/images/SPLIT")
    parser.add_argument("--split", default="train", choices=["train", "test", "eval", "all"])
    parser.add_argument("--config", help="YAML of the other DatasetConfig options (the reader's; format/root/split "
                                         "come from the flags and may be left out)")
    parser.add_argument("--skip-bad", action="store_true", help="show: skip unreadable samples with a warning; "
                                                                "pack: record them as bad instead of stopping")
    parser.add_argument("--limit", type=int, help="check: read only the first N samples")
    parser.add_argument("--out", help="show: output PNG (default grid.png); pack: the pack's folder (default "
                                      "PATH/awh_pack_SPLIT)")
    parser.add_argument("--n", type=int, default=16, help="show: number of samples")
    parser.add_argument("--input-size", type=int, help=f"crop side in pixels, the network input (default: the "
                                                       f"--config file's, else {INPUT_SIZE})")
    parser.add_argument("--no-progress", action="store_true", help="prepare, pack: no progress bar")
    parser.add_argument("--size", type=int, help="pack: side of the stored crops in pixels (default 1.25 × "
                                                 "--input-size, the network input)")
    parser.add_argument("--room", type=float, help="pack: side of the stored square ÷ the unaugmented crop's "
                                                   "(default 2: room for ±30° rotation, 1.1× scale, 5 %% shift)")
    parser.add_argument("--workers", type=int, default=1, help="pack: processes reading the samples")


def run(args: argparse.Namespace) -> int:
    """Run `awh data`."""
    from awhourglass.data.config import DatasetConfig
    from awhourglass.data.show import check_dataset, write_grid
    from awhourglass.errors import AwhError

    base: dict = {}
    if args.config:
        from awhourglass.config import to_dict

        # the file may hold the reader options only: format, root and split come from the flags
        base = to_dict(load_yaml(DatasetConfig, args.config,
                                 defaults={"format": args.fmt, "root": args.path, "split": args.split}))
    skip_bad = args.skip_bad or bool(base.get("skip_bad", False))
    size = args.input_size if args.input_size is not None else base.get("input_size") or INPUT_SIZE
    base.update(format=args.fmt, root=args.path, split=args.split, skip_bad=skip_bad, input_size=size)
    if args.images:
        base["images"] = args.images
    cfg = from_dict(DatasetConfig, base)
    if args.action == "prepare":
        if cfg.format != "stb":
            raise AwhError(f"awh data prepare: only --format stb has a preparation step (registering its depth "
                           f"to the colour camera); {cfg.format} is read as it is")
        from awhourglass.data.stb_cache import prepare

        n, folder = prepare(cfg, progress=not args.no_progress)
        print(f"wrote the registered depth of {n} frames to {folder} (the STB reader uses it while the source "
              "PNGs are unchanged)")
        return 0
    if args.action == "pack":
        from pathlib import Path

        from awhourglass.data.pack import write_pack

        out = args.out or str(Path(args.path) / f"awh_pack_{cfg.split}")
        room = {} if args.room is None else {"room": args.room}
        n, folder = write_pack(cfg, out, size=args.size, workers=args.workers, progress=not args.no_progress, **room)
        print(f"packed {n} samples into {folder}; train or evaluate on it with format: pack, root: {folder} (the "
              "source files are checked when it is opened)")
        return 0
    if args.action == "check":
        report = check_dataset(cfg, limit=args.limit)
        print("\n".join(report.lines()))
        return 1 if report.broken else 0
    if args.n < 1:
        raise AwhError(f"--n must be >= 1 sample to show, got {args.n}")
    out = write_grid(cfg, args.out or "grid.png", n=args.n)
    print(f"wrote {out}")
    return 0
