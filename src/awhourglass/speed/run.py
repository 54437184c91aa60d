"""`awh bench`: every speed figure of the package in one run, against the compute peak measured in that run
(the better of MKL's sgemm and a oneDNN convolution, :mod:`awhourglass.speed.peak`) and the CPU's theoretical
peak."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import torch

from awhourglass.atomic import atomic_write_text
from awhourglass.config import ConfigError
from awhourglass.models import AWHourglassNet, FusedHourglass
from awhourglass.speed.device import DeviceSpeed, format_device
from awhourglass.speed.flops import count_flops
from awhourglass.speed.mediapipe_ref import MediaPipeLandmark, MediaPipeLatency
from awhourglass.speed.model_speed import SpeedResult, image_layout, inference_call
from awhourglass.speed.onnx_speed import OnnxSpeed, measure_onnx
from awhourglass.speed.peak import MatmulPeak, TheoreticalPeak, measure_compute_peak, theoretical_peak
from awhourglass.speed.pipeline import PipelineSpeed, measure_pipeline, rhd_stb_workers
from awhourglass.speed.precision_speed import PrecisionSpeed, format_precisions, measure_precisions
from awhourglass.speed.timing import Clock, Timing, time_fn
from awhourglass.speed.workloads import Workloads, build_workloads, supervised_update


@dataclass(frozen=True)
class BenchConfig:
    """What `awh bench` measures.

    Attributes:
        size: network input side in pixels.
        batch: batch size of the throughput figures (latency is always batch 1).
        threads: torch intra-op threads (the machine's cores by default; 2 here).
        repeats: timed repeats of each workload (best is reported, median kept as noise indicator).
        warmup: untimed calls before timing.
        peak_n: side of the matmul that measures the peak.
        latency_min_time_s: keep repeating batch-1 calls for at least this long.
        channels_last: feed channels-last (NHWC) inputs; the network converts its input and weights to NHWC
            itself (faster oneDNN convolutions on CPU), so this only changes the bench's input tensors.
        onnx: also export and time the ONNX graph when onnxruntime is installed.
        mediapipe: also time MediaPipe's hand landmark network when mediapipe is installed.
        pipeline: also time the synthetic generator and the RHD/STB readers.
        pipeline_images: images written per domain for the data-loader figures.
        precision_sizes: input sides at which the inference, training and adaptation steps are also timed in fp32
            and bf16 side by side (:mod:`awhourglass.speed.precision_speed`); empty: skip.
        clock: ``"wall"`` (elapsed time, what a user waits) or ``"cpu"`` (CPU seconds of this process with one
            thread: robust to other load on a shared machine; see :mod:`awhourglass.speed.timing`).
    """

    size: Literal[64, 128, 256] = 64
    batch: int = 32
    threads: int = 0
    repeats: int = 5
    warmup: int = 2
    peak_n: int = 2048
    latency_min_time_s: float = 1.0
    channels_last: bool = True
    onnx: bool = True
    mediapipe: bool = True
    pipeline: bool = True
    pipeline_images: int = 32
    precision_sizes: tuple[int, ...] = (64, 256)
    clock: Clock = "wall"

    def __post_init__(self) -> None:
        if self.size not in (64, 128, 256):
            raise ConfigError(f"size must be 64, 128 or 256, got {self.size}")
        if self.batch < 2:
            raise ConfigError(
                f"batch must be >= 2 (the adaptation step needs a source and a target half), got {self.batch}"
            )
        for name in ("repeats", "peak_n", "pipeline_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        bad = [s for s in self.precision_sizes if s not in (64, 128, 256)]
        if bad:
            raise ConfigError(f"precision sizes must be 64, 128 or 256, got {bad}")
        if self.threads < 0 or self.warmup < 0:
            raise ConfigError("threads and warmup must be >= 0")
        if self.clock not in ("wall", "cpu"):
            raise ConfigError(f"clock must be 'wall' or 'cpu', got {self.clock!r}")
        if self.clock == "cpu" and self.threads > 1:
            raise ConfigError("clock 'cpu' measures one thread: use threads 0 or 1")


@dataclass
class BenchReport:
    """All figures of one run (JSON-serializable through :func:`report_to_dict`)."""

    config: BenchConfig
    machine: dict[str, Any]
    peak: MatmulPeak
    network: dict[str, Any]
    results: list[SpeedResult] = field(default_factory=list)
    onnx: OnnxSpeed | None = None
    mediapipe: MediaPipeLatency | None = None
    mediapipe_threaded: MediaPipeLatency | None = None
    pipeline: PipelineSpeed | None = None
    precision: PrecisionSpeed | None = None
    theoretical: TheoreticalPeak | None = None
    device: DeviceSpeed | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def result(self, name: str) -> SpeedResult:
        """The result called ``name``."""
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass
class _Job:
    """One timed workload of the interleaved rounds."""

    name: str
    fn: Callable[[], object]
    images: int
    min_time_s: float = 0.0
    flops: int = 0
    times: list[float] = field(default_factory=list)


FUSED_INFERENCE = "inference, BN folded"
FUSED_LATENCY = "latency (batch 1), BN folded"
MEDIAPIPE = "MediaPipe hand landmark"
MEDIAPIPE_THREADED = "MediaPipe hand landmark, threaded"

# Utilization targets of the default network (issue 8), each against the compute peak of the same run.
TARGETS = {"inference": 0.85, "train step": 0.80, "adaptation step": 0.60}


def machine_info() -> dict[str, Any]:
    """Where the numbers come from (they are only comparable on the same machine and load)."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "loadavg_1_5_15": list(load),
    }


def run_bench(
    cfg: BenchConfig,
    *,
    workloads_factory: Callable[[int, int, bool], Workloads] = build_workloads,
    log: Callable[[str], None] = lambda _msg: None,
) -> BenchReport:
    """Measure everything in ``cfg`` and return the report.

    Args:
        cfg: what to measure.
        workloads_factory: ``(size, batch, channels_last) -> Workloads``; the default builds the
            package's default network and its real training/adaptation steps.
        log: progress callback (one line per section).
    """
    t_start = time.perf_counter()
    threads = 1 if cfg.clock == "cpu" else (cfg.threads or (os.cpu_count() or 1))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    clock = cfg.clock
    peaks: list[MatmulPeak] = []

    def measure_peak(repeats: int = max(cfg.repeats, 5)) -> float:
        # measured between sections too: the best of all is the yardstick (load only ever lowers it)
        peaks.append(measure_compute_peak(cfg.peak_n, repeats=repeats, warmup=1, clock=clock))
        return max(q.flops_per_s for q in peaks)

    log(f"compute peak (MKL sgemm {cfg.peak_n}² and a oneDNN 3×3 conv, fp32, {threads} thread(s), {clock} clock)")
    p = measure_peak()
    report = BenchReport(cfg, machine_info(), peaks[0], {}, theoretical=theoretical_peak(threads))
    load = report.machine["loadavg_1_5_15"][0]
    if clock == "wall" and load > 0.5 * (os.cpu_count() or 1):
        report.notes.append(
            f"machine busy at start (load average {load:.1f} on {os.cpu_count()} cores): wall-clock figures are "
            "pessimistic and utilization understated; rerun on an idle machine or with --clock cpu"
        )

    w = workloads_factory(cfg.size, cfg.batch, cfg.channels_last)
    report.network = {
        "name": w.name,
        "parameters": sum(t.numel() for t in w.model.parameters()),
        "input": [3, cfg.size, cfg.size],
        "channels_last": cfg.channels_last,
    }
    kw: dict[str, Any] = {"warmup": cfg.warmup, "repeats": cfg.repeats, "clock": clock}
    gen = torch.Generator().manual_seed(1)
    x = image_layout(torch.rand(cfg.batch, 3, cfg.size, cfg.size, generator=gen), cfg.channels_last)
    x1 = image_layout(torch.rand(1, 3, cfg.size, cfg.size, generator=gen), cfg.channels_last)

    jobs = [
        _Job("inference", inference_call(w.model, x), cfg.batch),
        _Job("latency (batch 1)", inference_call(w.model, x1), 1, min_time_s=cfg.latency_min_time_s),
    ]
    if isinstance(w.model, AWHourglassNet):  # what `awh predict` / the API run: BN folded (models/fused.py)
        fused = FusedHourglass(w.model)
        jobs += [
            _Job(FUSED_INFERENCE, lambda: fused(x), cfg.batch),
            _Job(FUSED_LATENCY, lambda: fused(x1), 1, min_time_s=cfg.latency_min_time_s),
        ]
    jobs.append(_Job("train step", w.train_step, w.train_images))
    if w.adapt_step is not None:
        jobs.append(_Job("adaptation step", w.adapt_step, w.adapt_images))
    # MediaPipe is timed in the same rounds as our latency, so both see the same machine state: as shipped
    # (one XNNPACK thread) and, on a multi-core machine, with as many threads as ours
    mediapipe: dict[str, MediaPipeLandmark] = {}
    if cfg.mediapipe:
        for name, mp_threads in [(MEDIAPIPE, None), (MEDIAPIPE_THREADED, threads)][: 2 if threads > 1 else 1]:
            net = MediaPipeLandmark.open(threads=mp_threads)
            if isinstance(net, MediaPipeLatency):
                report.mediapipe = net
                break
            mediapipe[name] = net
            jobs.append(_Job(name, net, 1, min_time_s=cfg.latency_min_time_s))
    for job in jobs:
        log(f"{job.name}: FLOP count and warm-up")
        job.flops = 0 if job.name in mediapipe else count_flops(job.fn)  # also the first warm-up call
        for _ in range(max(0, cfg.warmup - 1) if job.name not in mediapipe else 5):
            job.fn()
    # Interleaved rounds: each round times every workload once and the yardstick once, so a burst of load
    # from other processes hits one round of everything rather than all repeats of one figure.
    for r in range(cfg.repeats):
        log(f"round {r + 1}/{cfg.repeats}: " + ", ".join(j.name for j in jobs) + ", compute peak")
        for job in jobs:
            job.times.append(
                time_fn(job.fn, warmup=0, repeats=1, min_time_s=job.min_time_s / cfg.repeats, clock=clock).best_s
            )
        p = measure_peak(repeats=2)
    for job in jobs:
        timing = Timing(min(job.times), statistics.median(job.times), len(job.times))
        if job.name == MEDIAPIPE:
            report.mediapipe = mediapipe[job.name].result(timing)
        elif job.name == MEDIAPIPE_THREADED:
            report.mediapipe_threaded = mediapipe[job.name].result(timing)
        else:
            report.results.append(SpeedResult.from_timing(job.name, job.images, timing, job.flops, p))

    if cfg.onnx:
        log("ONNX export and onnxruntime")
        report.onnx = measure_onnx(
            w.model,
            cfg.size,
            cfg.batch,
            report.result("inference").flops_per_image,
            p,
            threads=threads,
            latency_min_time_s=cfg.latency_min_time_s,
            **kw,
        )
    if cfg.pipeline:
        log("generator, file writer, readers and two-domain loader")
        fed_update = None
        if isinstance(w.model, AWHourglassNet):  # a fresh copy: the timed steps must not train w.model further
            fed_model = AWHourglassNet(w.model.cfg)
            if cfg.channels_last:  # channels-last weights make every conv NHWC, whatever the loader's layout
                fed_model = fed_model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format
            fed_update = supervised_update(fed_model)
        report.pipeline = measure_pipeline(
            cfg.size,
            cfg.pipeline_images,
            report.result("train step").images_per_s,
            clock=clock,
            update=fed_update,
        )
        torch.set_num_threads(threads)

    if cfg.precision_sizes:
        report.precision = measure_precisions(cfg.precision_sizes, cfg.batch, cfg.channels_last,
                                              repeats=cfg.repeats, warmup=max(1, cfg.warmup), clock=clock, log=log)

    log("compute peak again")
    p = measure_peak()
    report.peak = max(peaks, key=lambda q: q.flops_per_s)
    report.results = [_rescale(r, p) for r in report.results]
    if report.onnx is not None and report.onnx.available:
        report.onnx = dataclasses.replace(
            report.onnx, throughput=_rescale(report.onnx.throughput, p), latency=_rescale(report.onnx.latency, p)
        )
    report.machine["peaks_gflop_s"] = [round(q.flops_per_s / 1e9, 1) for q in peaks]
    report.machine["peak_kernels"] = [q.kernel for q in peaks]
    report.machine["loadavg_1_5_15_end"] = list(os.getloadavg())
    report.seconds = time.perf_counter() - t_start
    return report


def _best_per_kernel(report: BenchReport) -> dict[str, float]:
    """GFLOP/s of the best measurement of each yardstick kernel seen in the run."""
    best: dict[str, float] = {}
    for k, v in zip(report.machine.get("peak_kernels", []), report.machine.get("peaks_gflop_s", []), strict=False):
        best[k] = max(best.get(k, 0.0), v)
    return best


@overload
def _rescale(r: SpeedResult, peak_flops_per_s: float) -> SpeedResult: ...


@overload
def _rescale(r: None, peak_flops_per_s: float) -> None: ...


def _rescale(r: SpeedResult | None, peak_flops_per_s: float) -> SpeedResult | None:
    if r is None:
        return None
    return dataclasses.replace(r, utilization=r.achieved_flops_per_s / peak_flops_per_s)


def report_to_dict(report: BenchReport) -> dict[str, Any]:
    """Plain data of a report (what ``--json`` writes)."""
    return dataclasses.asdict(report)


def write_json(report: BenchReport, path: str | Path) -> None:
    """Write the report as JSON atomically (temporary file + rename)."""
    atomic_write_text(path, json.dumps(report_to_dict(report), indent=2))


def _fmt_rate(flops_per_s: float) -> str:
    return f"{flops_per_s / 1e9:7.1f}"


def _target(r: SpeedResult) -> str:
    goal = TARGETS.get(r.name)
    if goal is None:
        return ""
    return f"  >= {goal:.0%} {'ok' if r.utilization >= goal else 'SHORT'}"


def format_table(report: BenchReport) -> str:
    """Human-readable table of a report."""
    cfg = report.config
    pk = report.peak
    lines = [
        f"awh bench: {report.network.get('name', '?')} ({report.network.get('parameters', 0) / 1e6:.2f} M params), "
        f"input {cfg.size}x{cfg.size}, batch {cfg.batch}, {pk.threads} thread(s), "
        f"load avg {report.machine['loadavg_1_5_15'][0]:.2f}",
        f"yardstick (util): best fp32 rate measured, {pk.kernel} ({'n' if pk.kernel == 'mkl sgemm' else 'C'}="
        f"{pk.n}): {pk.flops_per_s / 1e9:.1f} GFLOP/s (best {pk.best_s * 1e3:.1f} ms, median "
        f"{pk.median_s * 1e3:.1f} ms); best per kernel: "
        + ", ".join(f"{k} {v:.1f}" for k, v in _best_per_kernel(report).items()),
    ]
    th = report.theoretical
    lines.append(f"theoretical peak (util/th): {th.flops_per_s / 1e9:.1f} GFLOP/s = {th.basis}" if th is not None
                 else "theoretical peak: not known (no /proc/cpuinfo clock)")
    lines += ["", f"{'workload':34s} {'img/s':>9s} {'ms/call':>9s} {'median':>9s} {'GFLOP/img':>10s} "
              f"{'GFLOP/s':>8s} {'util':>6s} {'util/th':>7s}  target"]
    rows = list(report.results)
    onnx_rows: list[SpeedResult] = []
    if report.onnx is not None and report.onnx.available:
        assert report.onnx.throughput is not None and report.onnx.latency is not None  # measured when available
        onnx_rows = [report.onnx.throughput, report.onnx.latency]
    for r in rows + onnx_rows:
        util_th = f"{r.achieved_flops_per_s / th.flops_per_s:7.1%}" if th is not None else f"{'–':>7s}"
        name = r.name + (" †" if r in onnx_rows else "")
        lines.append(
            f"{name:34s} {r.images_per_s:9.1f} {r.best_s * 1e3:9.2f} {r.median_s * 1e3:9.2f} "
            f"{r.flops_per_image / 1e9:10.3f} {_fmt_rate(r.achieved_flops_per_s):>8s} {r.utilization:6.1%} "
            f"{util_th}" + _target(r)
        )
    if onnx_rows:
        lines.append("† FLOPs counted on the eager PyTorch graph (onnxruntime's own graph is not counted)")
    if report.onnx is not None and not report.onnx.available:
        lines.append(f"{'onnxruntime':34s} not measured: {report.onnx.reason}")
    mp = report.mediapipe
    if mp is not None and not mp.available:
        lines.append(f"{'MediaPipe hand landmark':34s} not measured: {mp.reason}")
    ours = [r for r in report.results if r.name in ("latency (batch 1)", FUSED_LATENCY)]
    for m in (report.mediapipe, report.mediapipe_threaded):
        if m is None or not m.available:
            continue
        label = f"MediaPipe landmark, {m.threads or 'default 1'} thr"
        lines.append(
            f"{label:34s} {1 / m.best_s:9.1f} {m.best_s * 1e3:9.2f} {m.median_s * 1e3:9.2f}   "
            f"(224², batch 1, mediapipe {m.version}, same rounds)"
        )
        lines.append(
            "  ours / it (best, median): "
            + "; ".join(f"{r.name} {r.best_s / m.best_s:.2f}x, {r.median_s / m.median_s:.2f}x" for r in ours)
            + " (< 1: ours is faster)"
        )
    pl = report.pipeline
    if pl is not None:
        lines += [
            "",
            f"input pipeline (images/s; the training step consumes {pl.train_step_img_s:.1f}):",
            f"  generator in memory, source / target        {pl.generator_source_img_s:8.1f} / "
            f"{pl.generator_target_img_s:.1f}",
            f"  training with generation inline             {pl.generate_inline_train_img_s:8.1f}",
            f"  generate + write RHD/STB files              {pl.write_img_s:8.1f}",
            f"  read RHD / STB files, one process           {pl.reader_source_img_s:8.1f} / "
            f"{pl.reader_target_img_s:.1f}",
            f"  two-domain loader, {pl.loader_workers} workers                 {pl.loader_img_s:8.1f}",
        ]
        for w, v in pl.fed_train_img_s.items():
            lines.append(f"  training fed from RHD files, {w} worker(s)     {v:8.1f}  (wall clock)")
        if pl.real_loaders:
            lines.append(f"  real sizes, training's loader, per worker (samples/s, {pl.real_input}² crops; "
                         "[worker CPU]: per CPU second of one worker thread):")
            for name, v in pl.real_loaders.items():
                lines.append(f"    {name:58s} {v:8.1f}")
            for name, (pre, adapt) in rhd_stb_workers(pl.real_loaders).items():
                lines.append(f"  configs/rhd-stb.yaml at 40 TFLOP/s, reading {name}: {pre:.1f} workers pretraining, "
                             f"{adapt:.1f} adapting")
    if report.precision is not None:
        lines += ["", *format_precisions(report.precision)]
    if report.device is not None:
        lines += ["", *format_device(report.device)]
    for note in report.notes:
        lines.append(f"note: {note}")
    lines.append("")
    lines.append(
        f"total {report.seconds:.0f} s; {cfg.clock} clock; timings are best of {cfg.repeats} (noise: compare with "
        f"median); peaks seen {report.machine.get('peaks_gflop_s')} GFLOP/s"
    )
    return "\n".join(lines)
