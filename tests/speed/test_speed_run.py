"""`awh bench` end to end on a one-convolution network whose FLOPs are known by hand."""

import json
import time
from typing import ClassVar

import pytest
import torch
from torch import nn

from awhourglass.cli import main
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.speed import run as bench_run
from awhourglass.speed.mediapipe_ref import MediaPipeLatency, measure_mediapipe_landmark
from awhourglass.speed.model_speed import mse_train_step
from awhourglass.speed.run import BenchConfig, format_table, run_bench, write_json
from awhourglass.speed.workloads import Workloads

SIZE, BATCH = 64, 2
# Conv2d(3, 4, 3, stride 2, padding 1) on 64x64: 32x32 outputs x 4 channels x 27 multiply-adds x 2 FLOPs
CONV_FLOPS_PER_IMAGE = 32 * 32 * 4 * 27 * 2


def _one_conv(size: int, batch: int, channels_last: bool) -> Workloads:
    torch.manual_seed(0)
    model = nn.Conv2d(3, 4, 3, 2, 1)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size)
    return Workloads("one conv", model, mse_train_step(model, x), batch)


def _tiny_config(**kw) -> BenchConfig:
    base = dict(
        size=SIZE,
        batch=BATCH,
        repeats=1,
        warmup=0,
        peak_n=64,
        latency_min_time_s=0.0,
        onnx=False,
        mediapipe=False,
        pipeline=False,
        precision_sizes=(),
    )
    base.update(kw)
    return BenchConfig(**base)


def test_run_bench_reports_counted_flops_and_consistent_utilization(tmp_path):
    report = run_bench(_tiny_config(), workloads_factory=_one_conv)
    names = [r.name for r in report.results]
    assert names == [
        "inference",
        "latency (batch 1)",
        "train step",
    ]
    for r in report.results:
        expected = CONV_FLOPS_PER_IMAGE * (2 if r.name == "train step" else 1)  # + weight gradient only
        assert r.flops_per_image == expected, r.name
        assert r.utilization == pytest.approx(r.achieved_flops_per_s / report.peak.flops_per_s)
        assert r.images_per_s == pytest.approx(r.images_per_step / r.best_s)
    assert report.result("latency (batch 1)").images_per_step == 1
    assert report.network["parameters"] == 4 * 27 + 4

    table = format_table(report)
    assert "train step" in table and "GFLOP/s" in table
    out = tmp_path / "b.json"
    write_json(report, out)
    data = json.loads(out.read_text())
    assert data["config"]["size"] == SIZE
    assert data["peak"]["flops_per_s"] == pytest.approx(report.peak.flops_per_s)
    assert [r["name"] for r in data["results"]] == names


@pytest.mark.parametrize(
    "kw", [{"size": 100}, {"batch": 1}, {"threads": -1}, {"clock": "cpu", "threads": 2}, {"repeats": 0}]
)
def test_bench_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        _tiny_config(**kw)


def test_mediapipe_absent_is_reported_not_raised(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import of mediapipe now raises ImportError
    r = measure_mediapipe_landmark()
    assert not r.available
    assert "not installed" in r.reason


def test_cli_bench_rejects_unsupported_size(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--size", "100"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_onnxruntime_absent_is_reported_not_raised(monkeypatch):
    import sys

    from awhourglass.speed.onnx_speed import measure_onnx

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    r = measure_onnx(nn.Conv2d(3, 4, 3), 64, 2, 1.0, 1.0, threads=1)
    assert not r.available and "not installed" in r.reason


def _tiny_hourglass(size: int, batch: int, channels_last: bool) -> Workloads:
    torch.manual_seed(0)
    cfg = ModelConfig(input_size=size, width=8, depth=2, depth_out_size=16, depth_width=8)
    model = AWHourglassNet(cfg)
    return Workloads("tiny hourglass", model, mse_train_step(model, torch.rand(batch, 3, size, size)), batch)


class _FakeMediaPipe:
    """Stands in for MediaPipe's graph: 2 ms per call; remembers the threads asked for and counts its calls."""

    opened: ClassVar[list["_FakeMediaPipe"]] = []

    def __init__(self, threads) -> None:
        self.threads, self.calls = threads, 0

    @classmethod
    def open(cls, variant="full", threads=None):
        cls.opened.append(cls(threads))
        return cls.opened[-1]

    def __call__(self) -> None:
        self.calls += 1
        time.sleep(0.002)

    def result(self, timing):
        return MediaPipeLatency(True, "", "fake", "fake.tflite", timing.best_s, timing.median_s, timing.repeats,
                                self.threads or 0)


def test_bench_times_the_fused_path_and_mediapipe_in_the_same_rounds(monkeypatch):
    monkeypatch.setattr(_FakeMediaPipe, "opened", [])
    monkeypatch.setattr(bench_run, "MediaPipeLandmark", _FakeMediaPipe)
    report = run_bench(_tiny_config(repeats=3, mediapipe=True, threads=2), workloads_factory=_tiny_hourglass)
    names = [r.name for r in report.results]
    assert names == ["inference", "latency (batch 1)", bench_run.FUSED_INFERENCE, bench_run.FUSED_LATENCY,
                     "train step"]
    # BN folding removes no convolution and the fused path skips only uncounted ops: same FLOPs per image
    assert report.result(bench_run.FUSED_INFERENCE).flops_per_image == report.result("inference").flops_per_image
    assert report.result(bench_run.FUSED_LATENCY).flops_per_image == report.result("inference").flops_per_image
    assert report.result(bench_run.FUSED_LATENCY).images_per_step == 1
    # MediaPipe as shipped (default threads) and with our 2 threads, each warmed up then once per round
    assert [f.threads for f in _FakeMediaPipe.opened] == [None, 2]
    assert all(f.calls == 5 + 3 for f in _FakeMediaPipe.opened)
    for mp, threads in ((report.mediapipe, 0), (report.mediapipe_threaded, 2)):
        assert mp.available and mp.repeats == 3 and mp.best_s >= 0.002 and mp.threads == threads
    table = format_table(report)
    assert "MediaPipe landmark, default 1 thr" in table and "MediaPipe landmark, 2 thr" in table
    assert table.count("ours / it") == 2


def test_bench_with_one_thread_times_mediapipe_once(monkeypatch):
    monkeypatch.setattr(_FakeMediaPipe, "opened", [])
    monkeypatch.setattr(bench_run, "MediaPipeLandmark", _FakeMediaPipe)
    report = run_bench(_tiny_config(mediapipe=True, threads=1), workloads_factory=_one_conv)
    assert [f.threads for f in _FakeMediaPipe.opened] == [None]
    assert report.mediapipe.available and report.mediapipe_threaded is None


def test_mediapipe_not_available_reason_reaches_the_report(monkeypatch):
    why = MediaPipeLatency(False, "mediapipe (0.10.x) is not installed")
    monkeypatch.setattr(bench_run.MediaPipeLandmark, "open", classmethod(lambda cls, variant="full", threads=None: why))
    report = run_bench(_tiny_config(mediapipe=True), workloads_factory=_one_conv)
    assert report.mediapipe is why and report.mediapipe_threaded is None
    assert "not measured: mediapipe (0.10.x) is not installed" in format_table(report)


def test_the_table_shows_packed_loaders_and_the_workers_rhd_stb_needs():
    from awhourglass.speed.pipeline import PACKED, REAL_RHD, REAL_STB, PipelineSpeed

    report = run_bench(_tiny_config(), workloads_factory=_one_conv)
    real = {REAL_RHD: 50.0, REAL_STB + ", depth registered per sample": 10.0, REAL_STB + ", depth prepared": 25.0,
            REAL_RHD + PACKED: 200.0, REAL_STB + PACKED: 100.0}
    report.pipeline = PipelineSpeed(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2, {}, 1.0, 4, real_loaders=real, real_input=256)
    table = format_table(report)
    assert all(name in table for name in real)
    # 700 RHD samples/s pretraining; 265/s of each dataset adapting (STB from files: its prepared rate)
    assert f"reading files: {700 / 50:.1f} workers pretraining, {265 / 50 + 265 / 25:.1f} adapting" in table
    assert f"reading packed: {700 / 200:.1f} workers pretraining, {265 / 200 + 265 / 100:.1f} adapting" in table
