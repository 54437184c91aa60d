"""``awh benchmark``: pretrain the source network on the stream, then compare every method over paired seeds.

Stage ``pretrain`` trains phase 1 on fresh source renders (:mod:`awhourglass.demo.stream`) and is what the
package ships as the demo's starting point (:mod:`awhourglass.demo.pretrained`). Stage ``compare`` runs each
method from that network for every seed (the seed fixes the data stream: every method of a seed sees the same
images in the same order), picks each run's checkpoint on the target *validation* split with the weakly
supervised setting's labels only (2D joints), and scores the picked checkpoints once on the test split.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from awhourglass.config import ConfigError, to_dict
from awhourglass.demo.pretrained import PretrainSchedule, default_model
from awhourglass.models.config import ModelConfig

# What `awh benchmark` compares: the adapting methods of the method table (awhourglass.methods) and AWH's two
# first-stack designs of paper Table 1 with intermediate supervision (``fss``, ``fssc``: demo.compare.method_config)
BENCHMARK_METHODS = ("joint", "wh", "dann", "awh", "fss", "fssc", "oracle")


@dataclass
class BenchmarkConfig:
    """Settings of ``awh benchmark`` (docs/benchmark.md says why each default is what it is).

    Attributes:
        out: output folder. seeds: paired training seeds of the compare stage. data_seed: seed of the
            on-disk validation/test splits and of the pretraining stream.
        image_size, gap: rendering settings of both domains. model: the network.
        pretrain: phase 1 on the source stream (the shipped network's recipe).
        batch_size, lr_gamma: phase 2's batch (half source, half target) and step-decay factor.
        methods: the compare stage's methods (``fss``: AWH with first-stack supervision R2D+R3D+S2D, the
            paper's w/FSS; ``fssc``: the same with Fig. 3's extra convolutions, grafted onto the pretrained
            network, ``compare.method_start``; ``awh`` is wo/IL, the paper's final choice).
        adapt_steps, adapt_lr, adapt_milestones: phase 2 of every method from the pretrained network.
        eval_every: steps between validation scores (checkpoint candidates) in phase 2.
        n_target_val, n_target_test, n_source_test, n_constant: split sizes (validation: target images of
            another seed, used with their 2D labels only); training labels fitted by the constant hands.
        probe_steps: steps of the held-out critic of the alignment measures.
        tune: choose each method's phase-2 rate and, for the adversarial methods, the weight of their domain
            term (``lambda_wd``, DANN's ``lambda_dann``) and the critic's steps per update, on the validation
            split's 2D error of runs with a tuning seed not among the compared ones (``compare.tune_method``),
            for every method alike (on by default); off: the defaults below for every method.
        tune_seed: training seed of the tuning runs (must not be one of the compared seeds).
        tune_steps: length of a tuning run (``None``: ``adapt_steps``; its decay milestones scale with it). Half
            of ``adapt_steps`` by default, so that tuning and comparing fit in about two hours here.
        lr_grid, lambda_grid, critic_steps_grid: the values tried, one setting at a time in this order, each
            from the best so far (rate for every method; then weight and critic steps where the method has them).
        device: ``auto`` (a GPU if there is one), ``cpu`` or ``cuda[:N]`` for the training of both stages.
    """

    out: str = "awh_benchmark"
    seeds: int = 5
    data_seed: int = 0
    threads: int = 2
    image_size: int = 128
    gap: float = 0.5
    model: ModelConfig = field(default_factory=default_model)
    pretrain: PretrainSchedule = field(default_factory=PretrainSchedule)
    lr_gamma: float = 0.2
    batch_size: int = 32
    methods: tuple[str, ...] = BENCHMARK_METHODS
    adapt_steps: int = 400
    adapt_lr: float = 3e-4
    adapt_milestones: tuple[int, ...] = (300,)
    eval_every: int = 50
    n_target_val: int = 200
    n_target_test: int = 300
    n_source_test: int = 200
    n_constant: int = 1024
    probe_steps: int = 500
    tune: bool = True
    tune_seed: int = 1000
    tune_steps: int | None = 200
    lr_grid: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    lambda_grid: tuple[float, ...] = (0.01, 0.1, 1.0)
    critic_steps_grid: tuple[int, ...] = (1, 5)
    num_workers: int = 1
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in BENCHMARK_METHODS]
        if bad:
            raise ConfigError(f"benchmark methods {bad} unknown; choose from {', '.join(BENCHMARK_METHODS)}")
        if self.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.seeds}")
        if self.batch_size < 2 or self.batch_size % 2:
            raise ConfigError(f"benchmark batch_size must be even and >= 2 (half source, half target), got "
                              f"{self.batch_size}")
        if self.data_seed <= self.tune_seed < self.data_seed + self.seeds:
            raise ConfigError(f"benchmark: tune_seed {self.tune_seed} is one of the compared seeds")
        if self.tune and not (self.lr_grid and self.lambda_grid and self.critic_steps_grid):
            raise ConfigError("benchmark: tuning needs at least one value in each grid")
        if self.eval_every < 1 or self.adapt_steps < self.eval_every:
            raise ConfigError(f"benchmark: need 1 <= eval_every ({self.eval_every}) <= adapt_steps "
                              f"({self.adapt_steps})")

    def pretrain_command(self) -> str:
        p, cmd = self.pretrain, "awh benchmark --stage pretrain --ship"
        if p.steps != PretrainSchedule().steps or p.init_from is not None:
            cmd += f" --pretrain-steps {p.steps}"
        if p.init_from is not None:
            cmd += f" --init-from {Path(p.init_from).name}"
        return cmd


def run_pretrain_stage(cfg: BenchmarkConfig, resume: bool = False, ship: bool = False) -> Path:
    """Phase 1 on the source stream of ``cfg.data_seed``; with ``ship`` copy it into the package + manifest."""
    from awhourglass.demo.pretrained import SHIPPED, pretrain_source, write_manifest

    out = Path(cfg.out) / "pretrain"
    path = pretrain_source(out, cfg.model, cfg.pretrain, seed=cfg.data_seed, image_size=cfg.image_size, gap=cfg.gap,
                           num_workers=cfg.num_workers, progress=cfg.progress, resume=resume, device=cfg.device)
    if ship:
        SHIPPED.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SHIPPED)
        p = cfg.pretrain
        write_manifest(SHIPPED, cfg.pretrain_command(), cfg.data_seed, cfg.model, p.steps,
                       extra={"batch_size": p.batch_size, "lr": p.lr, "lr_milestones": list(p.milestones),
                              "lr_gamma": p.lr_gamma, "image_size": cfg.image_size, "gap": cfg.gap,
                              "init_from": None if p.init_from is None else Path(p.init_from).name,
                              "augment": to_dict(p.augment)})
    return path


def run_benchmark(cfg: BenchmarkConfig, stage: str = "compare", pretrained: str | None = None, ship: bool = False,
                  resume: bool = False) -> None:
    """Run the stages ``stage`` names (``pretrain``, ``compare`` or ``all``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        if stage in ("pretrain", "all"):
            pretrained = str(run_pretrain_stage(cfg, resume=resume, ship=ship))
        if stage in ("compare", "all"):
            from awhourglass.benchmark.compare import run_compare

            run_compare(cfg, pretrained)
    finally:
        torch.set_num_threads(before)
