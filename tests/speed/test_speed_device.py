"""`awh bench --device`: the device figures' code path, run on the CPU (no GPU here), and the refusal."""

from __future__ import annotations

import pytest
import torch

from awhourglass.cli import main
from awhourglass.errors import AwhError
from awhourglass.speed.device import format_device, matmul_peaks, measure_device, resolve


def test_device_figures_on_the_cpu_follow_their_own_definitions():
    torch.manual_seed(0)
    d = measure_device("cpu", size=32, batch=4, repeats=1, peak_n=128)
    assert set(d.peaks_flops_per_s) == {"fp32", "bf16"}  # TF32 only on CUDA
    assert set(d.steps) == {"train step", "adaptation step"}
    for r in d.steps.values():
        assert r["img_s"] == pytest.approx(4 / r["best_s"])
        for k, u in r["util"].items():  # utilization = counted FLOPs / best time / that peak
            assert u == pytest.approx(r["flops_per_image"] * 4 / r["best_s"] / d.peaks_flops_per_s[k])
    lines = format_device(d)
    assert lines[0].startswith("device cpu") and any("adaptation step" in line for line in lines)


def test_matmul_peaks_precisions_on_the_cpu():
    got = matmul_peaks(torch.device("cpu"), n=64, repeats=1)
    assert list(got) == ["fp32", "bf16"] and all(v > 0 for v in got.values())


def test_a_missing_device_is_one_line_before_any_work(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as here, also on a machine with a GPU
    with pytest.raises(AwhError, match="no CUDA device"):
        resolve("cuda")
    assert main(["bench", "--device", "cuda", "--repeats", "1"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and "--device cuda" in out.err
    with pytest.raises(AwhError, match="only cuda"):
        resolve("meta")
