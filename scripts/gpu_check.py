"""The checks of scripts/gpu-check.sh (see there). Device-generic: ``--device cpu --quick`` runs the same
logic on a CPU in about two minutes, which is how it was exercised where no GPU was lent."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
import yaml

AWH = [sys.executable, "-c", "import sys; from awhourglass.cli import main; sys.exit(main(sys.argv[1:]))"]


def config(work: Path, device: str, steps: int, size: int, **extra) -> dict:
    data = {"input_size": size, "augment": {"enabled": False}}
    return {
        "data": {"source": {"format": "rhd", "root": str(work / "rhd"), "labels": "3d", **data},
                 "target": {"format": "stb", "root": str(work / "stb"), "labels": "2d", **data}},
        "model": {"input_size": size, "stem_stride": 2, "width": 32, "num_stacks": 2, "depth": 3,
                  "depth_out_size": 32},
        "method": {"name": "awh", "lambda_wd": 0.1, "critic_steps": 2},
        "phases": {"pretrain": {"steps": steps, "batch_size": 16, "lr": 1e-3},
                   "adapt": {"steps": steps, "batch_size": 16, "lr": 2.5e-4}},
        "seed": 0, "device": device, "deterministic": True, "num_workers": 2, "log_every": 5,
        "ckpt_every": max(1, steps // 2), "progress": False, **extra,
    }


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def last_losses(run: Path) -> dict[str, float]:
    rows = (run / "adapt.csv").read_text().splitlines()
    return dict(zip(rows[0].split(","), map(float, rows[-1].split(",")), strict=True))


def train(cfg_path: Path, out: Path, resume: bool = False) -> float:
    t = time.perf_counter()
    subprocess.run([*AWH, "train", str(cfg_path), "--out", str(out), *(["--resume"] if resume else [])], check=True)
    return time.perf_counter() - t


def newest_step(run: Path) -> int:
    from awhourglass.checkpoint import load_checkpoint

    try:
        return int(load_checkpoint(run / "last.pt").get("global_step", 0))
    except Exception:  # not written yet, or being replaced
        return -1


def kill_and_resume(cfg_path: Path, out: Path, after_step: int, timeout_s: float = 240) -> None:
    """Start a training, kill -9 it once a checkpoint at ``after_step`` (global) or later exists, resume it."""
    proc = subprocess.Popen([*AWH, "train", str(cfg_path), "--out", str(out)])
    start = time.perf_counter()
    while newest_step(out) < after_step:
        if proc.poll() is not None:
            raise SystemExit(f"gpu-check: the run to be killed ended first (rc {proc.returncode})")
        if time.perf_counter() - start > timeout_s:
            proc.kill()
            raise SystemExit("gpu-check: no checkpoint to kill after")
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    train(cfg_path, out, resume=True)


def same_weights(a: Path, b: Path) -> tuple[bool, int]:
    from awhourglass.checkpoint import load_checkpoint

    ma, mb = load_checkpoint(a / "last.pt")["modules"], load_checkpoint(b / "last.pt")["modules"]
    differ = sum(not torch.equal(v, mb[n][k]) for n in ma for k, v in ma[n].items())
    return differ == 0, differ


def syncs_per_update(cfg_path: Path, work: Path) -> str:
    """CUDA's own count: ``torch.cuda.set_sync_debug_mode("warn")`` warns at each synchronizing call; counted
    while the step functions and the updates of a short run execute."""
    if not torch.cuda.is_available():
        return "n/a (no CUDA)"
    import awhourglass.train.loop as loop
    from awhourglass.train.config import load_train_config
    from awhourglass.train.parts import build_parts
    from awhourglass.train.run import fit

    cfg = load_train_config(cfg_path)
    cfg.phases.pretrain.steps, cfg.phases.adapt.steps = 3, 3
    seen: list[int] = []
    original = loop.optimize

    def counted(fn):
        def wrapped(*a, **k):
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    return fn(*a, **k)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
                    seen.append(sum("synchroniz" in str(x.message) for x in w))
        return wrapped

    updates = []

    def optimize(*a, **k):
        before = len(seen)
        out = counted(original)(*a, **k)
        updates.append(sum(seen[before:]))
        return out

    def factory(c, d):
        parts = build_parts(c, d)
        parts.pretrain_loss, parts.adapt_loss = counted(parts.pretrain_loss), counted(parts.adapt_loss)
        if parts.critic_loss is not None:
            parts.critic_loss = counted(parts.critic_loss)
        return parts

    loop.optimize = optimize
    try:
        fit(cfg, work / "syncs", False, factory)
    finally:
        loop.optimize = original
    total = sum(seen)
    return f"{total / max(1, len(updates)):.2f} per update ({total} over {len(updates)} updates; budget 1)"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="gpu-check")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="fewer steps and images (a CPU dry run)")
    args = ap.parse_args()
    out = Path(args.out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    steps, n = (6, 48) if args.quick else (60, 512)
    from awhourglass.synth.dataset import SynthConfig, write_dataset

    for domain, name in (("source", "rhd"), ("target", "stb")):
        if not (work / name).exists():
            write_dataset(SynthConfig(domain, n, str(work / name), seed=0, size=128, split="training"),
                          progress=False)
    rows: list[tuple[str, str]] = []
    base = write_config(work / "fp32.yaml", config(work, args.device, steps, 64))
    t = train(base, work / "fp32")
    ref = last_losses(work / "fp32")
    rows.append(("fp32 run", f"{t:.0f} s; final adapt total {ref['total']:.4f}, src_2d {ref['src_2d']:.3f} px"))
    kill_and_resume(base, work / "killed", after_step=steps + steps // 2)
    ok, differ = same_weights(work / "fp32", work / "killed")
    rows.append(("kill -9 after a checkpoint, --resume", "bit-identical weights" if ok
                 else f"DIFFERENT: {differ} tensors differ from the uninterrupted run"))
    for name, extra in (("bf16", {"precision": "bf16"}), ("fp16", {"precision": "fp16"}),
                        ("compile", {"compile": True})):
        path = write_config(work / f"{name}.yaml", config(work, args.device, steps, 64, **extra))
        try:
            t = train(path, work / name)
            got = last_losses(work / name)
            rel = abs(got["total"] - ref["total"]) / max(abs(ref["total"]), 1e-9)
            rows.append((f"{name} run", f"{t:.0f} s; final adapt total {got['total']:.4f} ({rel:.1%} from fp32)"))
        except subprocess.CalledProcessError as exc:
            rows.append((f"{name} run", f"FAILED (rc {exc.returncode})"))
    rows.append(("host syncs", syncs_per_update(base, work)))
    if args.device.startswith("cuda"):
        bench = subprocess.run([*AWH, "bench", "--device", args.device, "--no-onnx", "--no-mediapipe",
                                "--no-pipeline", "--repeats", "3", "--json", str(out / "bench.json")],
                               capture_output=True, text=True)
        dev = [line for line in bench.stdout.splitlines() if line.startswith(("device ", "  "))]
        rows.append(("awh bench --device", "\n".join(dev[-4:]) if bench.returncode == 0
                     else f"FAILED: {bench.stderr.strip().splitlines()[-1:]}"))
    table = ["| check | result |", "|---|---|"] + [f"| {k} | {v.replace(chr(10), '<br>')} |" for k, v in rows]
    meta = {"device": args.device, "torch": torch.__version__,
            "name": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}
    text = f"gpu-check {json.dumps(meta)}\n\n" + "\n".join(table) + "\n"
    (out / "gpu-check.md").write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
