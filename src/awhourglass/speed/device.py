"""``awh bench --device cuda``: the accelerator's measured matmul peaks and the training steps at 256² on it.

The yardstick is measured, not the datasheet: ``torch.mm`` of two n² matrices in fp32 (TF32 off), in TF32
(fp32 storage, TF32 tensor cores) and in bf16, each synchronized. The training and adaptation steps are
those of :mod:`awhourglass.speed.workloads` (training's own update) on the device, fp32, with their counted
FLOPs, and their utilization is given against each peak. Every timed call ends in a device synchronize, so the
time is the device's, not the launch's. Runs on any device torch has (the tests use the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from awhourglass.errors import AwhError
from awhourglass.speed.flops import count_flops
from awhourglass.speed.peak import matmul_flops
from awhourglass.speed.timing import time_fn
from awhourglass.speed.workloads import build_workloads


@dataclass(frozen=True)
class DeviceSpeed:
    """Figures of one device.

    Attributes:
        device: e.g. ``cuda:0``; name: the device's name.
        peaks_flops_per_s: measured matmul rate per precision (``fp32``, ``tf32`` on CUDA, ``bf16``).
        steps: per workload (``train step``, ``adaptation step``): ``img_s``, ``flops_per_image``, ``best_s``,
            ``median_s`` and ``util`` per peak.
        size, batch: input side and batch of the steps.
    """

    device: str
    name: str
    size: int
    batch: int
    peaks_flops_per_s: dict[str, float] = field(default_factory=dict)
    steps: dict[str, dict] = field(default_factory=dict)


def _sync(device: torch.device):
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def resolve(device: str) -> torch.device:
    """``device`` as a torch device, refusing one this machine does not have (one line)."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AwhError(f"--device {device}: no CUDA device is available to torch {torch.__version__} here")
    if dev.type not in ("cuda", "cpu"):
        raise AwhError(f"--device {device}: only cuda[:N] (or cpu) is measured")
    return dev


def matmul_peaks(device: torch.device, n: int = 8192, repeats: int = 5) -> dict[str, float]:
    """Measured ``torch.mm`` FLOP/s of n² matrices per precision on ``device``."""
    sync = _sync(device)
    out: dict[str, float] = {}
    cases = [("fp32", torch.float32, False), ("bf16", torch.bfloat16, False)]
    if device.type == "cuda":
        cases.insert(1, ("tf32", torch.float32, True))
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, dtype, tf32 in cases:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            c = torch.empty(n, n, device=device, dtype=dtype)

            def mm(a=a, b=b, c=c):
                torch.mm(a, b, out=c)
                sync()

            out[name] = matmul_flops(n) / time_fn(mm, warmup=2, repeats=repeats).best_s
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return out


def measure_device(device: str = "cuda", size: int = 256, batch: int = 32, repeats: int = 5,
                   peak_n: int = 8192) -> DeviceSpeed:
    """Peaks and the two training steps on ``device`` (see the module docstring)."""
    dev = resolve(device)
    sync = _sync(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    peaks = matmul_peaks(dev, peak_n, repeats)
    w = build_workloads(size, batch, True, device=dev)
    steps: dict[str, dict] = {}
    for label, fn, images in (("train step", w.train_step, w.train_images),
                              ("adaptation step", w.adapt_step, w.adapt_images)):
        if fn is None:
            continue

        def call(fn=fn):
            fn()
            sync()

        flops = count_flops(call)  # also the first warm-up call
        t = time_fn(call, warmup=2, repeats=repeats)
        achieved = flops / t.best_s
        steps[label] = {"img_s": images / t.best_s, "flops_per_image": flops / images, "best_s": t.best_s,
                        "median_s": t.median_s, "util": {k: achieved / v for k, v in peaks.items()}}
    return DeviceSpeed(str(dev), name, size, batch, peaks, steps)


def format_device(d: DeviceSpeed) -> list[str]:
    """Table lines of :func:`measure_device`'s figures."""
    lines = [f"device {d.device} ({d.name}): measured matmul peaks "
             + ", ".join(f"{k} {v / 1e12:.1f} TFLOP/s" for k, v in d.peaks_flops_per_s.items()),
             f"  {'workload':22s} {'img/s':>9s} {'ms/call':>9s} {'GFLOP/img':>10s}  utilization vs each peak "
             f"({d.size}², batch {d.batch}, fp32 steps)"]
    for label, r in d.steps.items():
        utils = ", ".join(f"{k} {u:.1%}" for k, u in r["util"].items())
        lines.append(f"  {label:22s} {r['img_s']:9.1f} {r['best_s'] * 1e3:9.2f} {r['flops_per_image'] / 1e9:10.2f}  "
                     f"{utils}")
    return lines


__all__ = ["DeviceSpeed", "format_device", "matmul_peaks", "measure_device", "resolve"]
