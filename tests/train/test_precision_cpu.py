"""Native bf16 detection from /proc/cpuinfo text, and the CPU default precision it picks."""

from __future__ import annotations

import pytest

from awhourglass.train.precision import cpu_flags, cpu_precision, native_bf16

ZEN5 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n"
SKYLAKE = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: avx512f amx_tile amx_bf16 amx_int8\n"
NEOVERSE = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\nCPU implementer\t: 0x41\n"
GRAVITON2 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n"


@pytest.mark.parametrize(("cpuinfo", "native"), [(ZEN5, True), (SKYLAKE, False), (SAPPHIRE, True),
                                                 (NEOVERSE, True), (GRAVITON2, False), ("", False)])
def test_native_bf16_reads_the_flags(cpuinfo, native):
    assert native_bf16(cpuinfo) is native
    assert cpu_precision(cpuinfo) == ("bf16" if native else "fp32")


def test_cpu_flags_takes_the_first_processor_only():
    two = ZEN5 + "\nprocessor\t: 1\nflags\t\t: fpu\n"
    assert "avx512_bf16" in cpu_flags(two)
    assert cpu_flags("model name : x\n") == set()
