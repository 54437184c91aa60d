"""What ``awh demo`` runs: data sizes, network, training lengths, methods (a typed config with presets)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from awhourglass.models.config import ModelConfig

ADAPT_METHODS = ("joint", "wh", "dann", "awh", "oracle")
# Report order and labels; source-only is the pretrained network itself (no phase 2).
METHOD_LABELS = {
    "source_only": "source-only",
    "joint": "joint (wo/AWH)",
    "wh": "WH",
    "dann": "DANN",
    "awh": "AWH",
    "oracle": "oracle (target 3D)",
}


@dataclass
class DemoConfig:
    """The embedded benchmark: a synthetic RHD-like source and an STB-like target, 64² crops.

    Attributes:
        out: output folder (data/, runs/, figures, results.json, report.md).
        seeds: number of training seeds (the data are the same for every seed); the table shows mean ± std.
        seed: first training seed and the data seed.
        threads: torch intra-op threads (the demo runs everything sequentially).
        image_size: rendered image width (source square, target 4:3); crops are ``model.input_size``.
        n_source_train, n_target_train: in-memory training images (target: STB's B2–B6 sequences' poses).
        n_source_test, n_target_test: test images written in RHD (``evaluation``) / STB (``B1``) format.
        gap: target harshness of the generator in [0, 1] (docs/synth.md).
        model: the network (the same for every method).
        pretrain_steps, adapt_steps, batch_size: phase lengths (steps of ``batch_size``; phase 2 half/half).
        lr, adapt_lr, pretrain_milestones: Adam rates of phase 1 and 2 and phase 1's step decay (×0.1).
        methods: phase-2 methods, each started from the same pretrained weights.
        tsne_points: features per t-SNE figure (half source, half target).
        qualitative: target test samples drawn for each method in the figures.
    """

    out: str = "awh_demo"
    seeds: int = 1
    seed: int = 0
    threads: int = 2
    image_size: int = 128
    n_source_train: int = 2400
    n_target_train: int = 1200
    n_source_test: int = 200
    n_target_test: int = 300
    gap: float = 0.5
    model: ModelConfig = field(default_factory=lambda: ModelConfig(input_size=64, stem_stride=2, width=32,
                                                                   num_stacks=2, depth=3, depth_out_size=32))
    pretrain_steps: int = 350
    adapt_steps: int = 150
    batch_size: int = 32
    lr: float = 1e-3
    adapt_lr: float = 2.5e-4
    pretrain_milestones: tuple[int, ...] = (260,)
    methods: tuple[str, ...] = ADAPT_METHODS
    tsne_points: int = 1000
    qualitative: int = 3
    progress: bool = True

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in ADAPT_METHODS]
        if bad:
            raise ValueError(f"demo methods {bad} unknown; choose from {', '.join(ADAPT_METHODS)}")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        for name in ("n_source_train", "n_target_train", "n_source_test", "n_target_test", "batch_size"):
            if getattr(self, name) < 2:
                raise ValueError(f"demo {name} must be >= 2, got {getattr(self, name)}")
        if self.pretrain_steps < 1 or self.adapt_steps < 1:
            raise ValueError("demo pretrain_steps and adapt_steps must be >= 1")


def full_config(**overrides) -> DemoConfig:
    """The default demo (about 10 minutes on an idle 2-core CPU; docs/demo.md has measured timings)."""
    return replace(DemoConfig(), **overrides)


def quick_config(**overrides) -> DemoConfig:
    """``--quick``: a smoke run of the whole pipeline (minutes → ~1–2 min); too short to rank the methods."""
    base = DemoConfig(
        image_size=96, n_source_train=256, n_target_train=256, n_source_test=64, n_target_test=96,
        model=ModelConfig(input_size=48, stem_stride=2, width=16, num_stacks=2, depth=2, depth_out_size=16,
                          depth_width=16),
        pretrain_steps=60, adapt_steps=15, batch_size=16, pretrain_milestones=(), tsne_points=128, qualitative=2,
    )
    return replace(base, **overrides)


def tiny_config(**overrides) -> DemoConfig:
    """For tests: every stage, seconds."""
    base = DemoConfig(
        image_size=64, n_source_train=16, n_target_train=16, n_source_test=8, n_target_test=8,
        model=ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=1, depth=2, depth_out_size=16,
                          depth_width=8),
        pretrain_steps=2, adapt_steps=1, batch_size=4, pretrain_milestones=(), tsne_points=8, qualitative=1,
        threads=1, progress=False,
    )
    return replace(base, **overrides)
