"""FLOP counting, timing bookkeeping and the derived figures, checked against hand computations."""

import pytest
import torch
from torch import nn

from awhourglass.speed.flops import count_flops, flops_by_op
from awhourglass.speed.model_speed import SpeedResult, output_tensors
from awhourglass.speed.peak import matmul_flops, measure_matmul_peak
from awhourglass.speed.timing import Timing, time_fn


def test_conv_flops_match_hand_count():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = torch.randn(2, 3, 10, 10)
    # 2 images x 8 out channels x 10x10 outputs, each 3*3*3 multiply-adds of 2 FLOPs (bias not counted)
    assert count_flops(lambda: conv(x)) == 2 * 8 * 10 * 10 * (3 * 3 * 3) * 2


def test_linear_training_flops_count_real_backward():
    lin = nn.Linear(16, 4)
    x = torch.randn(5, 16)  # input needs no gradient: backward computes the weight gradient only

    def step():
        lin(x).sum().backward()

    fwd = 2 * 5 * 16 * 4
    assert count_flops(step) == fwd + fwd  # forward + weight gradient, no input gradient
    x.requires_grad_(True)
    assert count_flops(step) == 3 * fwd
    assert sum(flops_by_op(step).values()) == 3 * fwd


def test_time_fn_calls_warmup_plus_repeats_and_orders_best_median():
    calls = []
    t = time_fn(lambda: calls.append(1), warmup=3, repeats=4)
    assert len(calls) == 7
    assert t.repeats == 4
    assert 0 <= t.best_s <= t.median_s


def test_time_fn_min_time_extends_repeats_up_to_cap():
    calls = []
    t = time_fn(lambda: calls.append(1), warmup=0, repeats=1, min_time_s=10.0, max_repeats=25)
    assert t.repeats == 25 == len(calls)


@pytest.mark.parametrize("kw", [{"repeats": 0}, {"warmup": -1}])
def test_time_fn_rejects_bad_counts(kw):
    with pytest.raises(ValueError):
        time_fn(lambda: None, **kw)


def test_speed_result_derived_figures():
    r = SpeedResult.from_timing("x", 8, Timing(best_s=0.5, median_s=0.6, repeats=3), 4_000_000, 1e7)
    assert r.images_per_s == pytest.approx(16.0)
    assert r.flops_per_image == pytest.approx(500_000)
    assert r.achieved_flops_per_s == pytest.approx(8e6)
    assert r.utilization == pytest.approx(0.8)
    with pytest.raises(ValueError, match="images_per_step"):
        SpeedResult.from_timing("x", 0, Timing(1, 1, 1), 1, 1)


def test_matmul_peak_is_two_n_cubed_over_best_time():
    assert matmul_flops(3) == 54
    p = measure_matmul_peak(64, repeats=2, warmup=1)
    assert p.n == 64
    assert p.flops_per_s == pytest.approx(2 * 64**3 / p.best_s)
    assert p.best_s <= p.median_s
    assert p.merged(p).flops_per_s == p.flops_per_s
    with pytest.raises(ValueError, match="too small"):
        measure_matmul_peak(8)


def test_output_tensors_flattens_nested_outputs():
    from dataclasses import dataclass

    @dataclass
    class Out:
        a: torch.Tensor
        b: list
        c: int

    a, b0, b1 = torch.zeros(1), torch.ones(2), torch.ones(3)
    flat = output_tensors(Out(a, [b0, {"k": b1, "i": torch.ones(1, dtype=torch.long)}], 3))
    assert [t.shape[0] for t in flat] == [1, 2, 3]


def test_flops_counted_through_a_gradient_penalty():
    """autograd.grad on a leaf with create_graph (WGAN-GP) must be countable: 2 forwards-worth of matmuls."""
    lin = nn.Linear(8, 1, bias=False)
    x = torch.randn(4, 8)

    def penalty():
        mixed = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(lin(mixed).sum(), mixed, create_graph=True)
        (g.norm(dim=1) - 1).pow(2).mean().backward()

    # y = mixed @ W.T: forward mm 2·4·8·1; input gradient g = ones(4,1) @ W: mm 2·4·1·8; the penalty depends on W
    # only through g, so its backward is one more mm for W's gradient, 2·1·4·8: three equal products.
    assert count_flops(penalty) == 3 * (2 * 4 * 8)


def test_conv_peak_flops_by_hand_and_by_the_counter():
    from awhourglass.speed.peak import conv_peak_flops, measure_conv_peak

    assert conv_peak_flops(4, 5, 3) == 2 * 3 * 25 * 4 * 4 * 9  # outputs 3·5·5·4, each 9·4 multiply-adds
    conv = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False)
    assert count_flops(lambda: conv(torch.rand(2, 16, 6, 6))) == conv_peak_flops(16, 6, 2)
    p = measure_conv_peak(channels=16, side=6, batch=2, repeats=2, warmup=1)
    assert p.kernel == "onednn conv3x3" and p.flops_per_s == pytest.approx(conv_peak_flops(16, 6, 2) / p.best_s)


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: {family}
model name\t: AMD EPYC
cpu MHz\t\t: 2596.094
flags\t\t: fpu sse sse2 avx avx2 fma {extra}

processor\t: 1
cpu MHz\t\t: 9999.0
"""


@pytest.mark.parametrize(("family", "extra", "per_cycle"), [
    (26, "avx512f avx512bw", 64), (25, "avx512f", 32), (25, "", 32),
])
def test_theoretical_peak_is_cores_times_clock_times_flop_per_cycle(family, extra, per_cycle):
    from awhourglass.speed.peak import flop_per_cycle, theoretical_peak

    t = theoretical_peak(2, CPUINFO.format(family=family, extra=extra))
    assert t.flop_per_cycle == per_cycle and t.clock_hz == pytest.approx(2596.094e6)  # the first processor's
    assert t.flops_per_s == pytest.approx(2 * 2596.094e6 * per_cycle)
    assert flop_per_cycle({"avx"}, "GenuineIntel", 6)[0] == 16 and flop_per_cycle(set(), "", 0)[0] == 8
    assert flop_per_cycle({"avx512f"}, "GenuineIntel", 6)[0] == 64
    assert theoretical_peak(1, "no such fields") is None
