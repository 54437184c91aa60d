"""Procedural two-domain hand data: a kinematic hand, a capsule ray caster, two appearance domains,
written in the RHD (source) and STB (target) file formats. See docs/synth.md."""

from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.synth.generate import DEFAULT_GAP, bench_throughput, generate_batch

__all__ = ["DEFAULT_GAP", "SynthConfig", "bench_throughput", "generate_batch", "write_dataset"]
