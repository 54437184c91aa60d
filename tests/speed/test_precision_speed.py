"""fp32 against bf16 in `awh bench`: batches per size, the rows, the table, and that bf16 really runs in bf16."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from awhourglass.config import ConfigError
from awhourglass.speed.model_speed import inference_call
from awhourglass.speed.precision_speed import (
    WORKLOADS,
    PrecisionRow,
    PrecisionSpeed,
    format_precisions,
    measure_precisions,
    size_batch,
)
from awhourglass.speed.run import BenchConfig


@pytest.mark.parametrize(("size", "batch", "expected"), [(64, 32, 32), (128, 32, 16), (256, 32, 8), (256, 4, 2),
                                                          (256, 12, 4), (64, 3, 4)])
def test_size_batch_scales_with_the_side_and_stays_even(size, batch, expected):
    # 32·64/256 = 8; 12·64/256 = 3 → 4 (even); 4·64/256 = 1 → 2 (two halves); 3 at 64² → 4
    assert size_batch(size, batch) == expected


def test_inference_call_runs_the_convolutions_in_the_given_type():
    conv = nn.Conv2d(3, 4, 3)
    seen: list[torch.dtype] = []
    conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    x = torch.rand(2, 3, 8, 8)
    inference_call(conv, x, torch.bfloat16)()
    inference_call(conv, x)()
    assert seen == [torch.bfloat16, torch.float32]


def test_measure_precisions_times_every_workload_in_both_precisions():
    p = measure_precisions((64,), batch=2, repeats=1, warmup=0)
    assert [(r.size, r.workload, r.images) for r in p.rows] == [(64, w, 2) for w in WORKLOADS]
    for r in p.rows:
        assert 0 < r.fp32_s <= r.fp32_median_s and 0 < r.bf16_s <= r.bf16_median_s
        assert r.speedup == pytest.approx(r.fp32_s / r.bf16_s)


def test_format_precisions_prints_rates_and_the_ratio():
    row = PrecisionRow(256, "train step", 8, fp32_s=4.0, bf16_s=2.5, fp32_median_s=5.0, bf16_median_s=2.5)
    text = "\n".join(format_precisions(PrecisionSpeed(native_bf16=True, rows=[row])))
    assert "native bf16" in text
    # 8 / 4.0 = 2.0 img/s fp32 (8 / 5.0 = 1.6 median), 8 / 2.5 = 3.2 img/s bf16, 4.0 / 2.5 = 1.6x
    assert "fp32      2.0 (    1.6)" in text and "bf16      3.2" in text and "1.60x" in text
    assert "emulates" in "\n".join(format_precisions(PrecisionSpeed(native_bf16=False)))


def test_bench_config_refuses_an_unknown_precision_size():
    with pytest.raises(ConfigError, match="precision sizes"):
        BenchConfig(precision_sizes=(96,))
