"""Small stand-ins for the training-loop tests: a tiny network, critic, step functions and datasets.

They mirror the real parts' contracts (Sample datasets, half/half batches, named loss dicts with a
``total``, a critic whose step detaches the features, a target whose 3D labels must not be read)
while being small enough for sub-second CPU runs.
"""

from __future__ import annotations

import torch
from torch import nn

from awhourglass.data.config import DatasetConfig
from awhourglass.data.sample import SOURCE, TARGET, Batch, Sample
from awhourglass.models.config import ModelConfig
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.config import (
    AdaptPhaseConfig,
    MethodConfig,
    PhaseConfig,
    PhasesConfig,
    TrainConfig,
    TrainDataConfig,
)
from awhourglass.train.distributed import DistInfo
from awhourglass.train.loop import StepInfo, TrainParts

SIZE = 16


class TinyDataset:
    """``n`` fixed samples; ``__getitem__`` adds random noise (augmentation drawn from the global RNG)."""

    def __init__(self, n: int, domain: int, seed: int, nan_xyz: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, SIZE, SIZE, generator=g)
        self.uv = torch.rand(n, 21, 2, generator=g) * (SIZE - 1)
        self.xyz = torch.randn(n, 21, 3, generator=g) * 0.05 + torch.tensor([0.0, 0.0, 0.5])
        self.depth = torch.rand(n, 1, SIZE, SIZE, generator=g)
        self.domain, self.nan_xyz = domain, nan_xyz

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Sample:
        image = (self.images[i] + 0.05 * torch.randn(3, SIZE, SIZE)).clamp(0, 1)
        xyz = torch.full((21, 3), float("nan")) if self.nan_xyz else self.xyz[i]
        return Sample(
            image=image,
            K=torch.tensor([[20.0, 0, SIZE / 2], [0, 20.0, SIZE / 2], [0, 0, 1]]),
            uv_px=self.uv[i],
            vis=torch.ones(21, dtype=torch.bool),
            xyz_m=xyz,
            depth=self.depth[i],
            depth_mask=torch.ones(1, SIZE, SIZE, dtype=torch.bool),
            domain=self.domain,
            source=f"tiny{self.domain}/{i}",
        )


class TinyNet(nn.Module):
    """Conv features → (uv, z) regression; optional BatchNorm and dropout."""

    def __init__(self, batchnorm: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, stride=2, padding=1)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(8))
        layers += [nn.ReLU(), nn.Dropout(dropout)]
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Linear(8 * (SIZE // 2) ** 2, 21 * 3)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.encoder(image)
        out = self.head(feats.flatten(1)).view(-1, 21, 3)
        return feats, out


class TinyCritic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 1))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats).squeeze(1)


def _task_losses(out: torch.Tensor, batch: Batch, use_target_3d: bool) -> dict[str, torch.Tensor]:
    src = batch.domain == SOURCE
    uv_loss = (out[..., :2] - batch.uv_px / SIZE).abs().mean()
    rel = batch.xyz_m - batch.xyz_m[:, :1]
    rows = torch.ones_like(src) if use_target_3d else src
    z_loss = (out[rows, :, 2] - rel[rows, :, 2] * 10).abs().mean() if rows.any() else out.sum() * 0
    return {"l_2d": uv_loss, "l_z": z_loss}


def make_parts_factory(
    n_source: int = 12,
    n_target: int = 8,
    nan_target_xyz: bool = False,
    batchnorm: bool = False,
    dropout: float = 0.1,
    gp_random: bool = True,
):
    """A ``build_parts`` stand-in (closure over the tiny datasets' settings).

    ``gp_random=False`` interpolates at t = 0.5 instead of t ~ U[0, 1] (a run whose step functions
    draw nothing at random, for comparing 1 and N processes).
    """

    def build(cfg: TrainConfig, dist: DistInfo) -> TrainParts:
        model, critic = TinyNet(batchnorm, dropout), TinyCritic()

        def pretrain_loss(batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
            _, out = model(batch.image)
            losses = _task_losses(out, batch, use_target_3d=False)
            losses["total"] = losses["l_2d"] + losses["l_z"]
            return losses

        def adapt_loss(batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
            feats, out = model(batch.image)
            losses = _task_losses(out, batch, use_target_3d=False)
            tgt = batch.domain == TARGET
            wd = critic(feats[~tgt]).mean() - critic(feats[tgt]).mean()
            losses["l_wd"] = wd
            losses["total"] = losses["l_2d"] + losses["l_z"] + 0.1 * wd
            return losses

        def critic_loss(batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                feats, _ = model(batch.image)
            tgt = batch.domain == TARGET
            fs, ft = feats[~tgt], feats[tgt]
            wd = critic(fs).mean() - critic(ft).mean()
            t = torch.rand(fs.shape[0], 1, 1, 1) if gp_random else torch.full((fs.shape[0], 1, 1, 1), 0.5)
            mix = (t * fs + (1 - t) * ft).requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            return {"wd": wd, "gp": gp, "total": -wd + 10 * gp}

        return TrainParts(
            network={"model": model},
            critic=critic,
            source=TinyDataset(n_source, SOURCE, seed=1),
            target=TinyDataset(n_target, TARGET, seed=2, nan_xyz=nan_target_xyz),
            pretrain_loss=pretrain_loss,
            adapt_loss=adapt_loss,
            critic_loss=critic_loss,
        )

    return build


def tiny_config(pretrain_steps: int = 4, adapt_steps: int = 6, batch: int = 4, **kw) -> TrainConfig:
    cfg = dict(
        phases=PhasesConfig(
            pretrain=PhaseConfig(steps=pretrain_steps, batch_size=batch, lr=1e-2),
            adapt=AdaptPhaseConfig(steps=adapt_steps, batch_size=batch, lr=5e-3, lr_milestones=(3,)),
        ),
        data=TrainDataConfig(source=DatasetConfig(format="rhd", root="unused-by-stand-ins")),
        method=MethodConfig(critic_steps=2),
        seed=3,
        device="cpu",
        num_workers=0,
        log_every=1,
        ckpt_every=2,
        progress=False,
    )
    cfg.update(kw)
    return TrainConfig(**cfg)


class Kill(Exception):
    """Stands for a process killed mid-step."""


def kill_at(factory, phase: str, step: int):
    """Wrap a parts factory so the ``phase`` step function raises :class:`Kill` at 0-based ``step``."""

    def build(cfg: TrainConfig, dist: DistInfo) -> TrainParts:
        parts = factory(cfg, dist)
        name = "pretrain_loss" if phase == "pretrain" else "adapt_loss"
        inner = getattr(parts, name)

        def wrapped(batch: Batch, info: StepInfo) -> dict[str, torch.Tensor]:
            if info.step == step:
                raise Kill(f"killed at {phase} step {step}")
            return inner(batch, info)

        setattr(parts, name, wrapped)
        return parts

    return build


TINY_MODEL = ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=8)


def write_tiny_synth(base):
    """8 generated RHD-format source and 6 STB-format target images (training split) under ``base``."""
    write_dataset(SynthConfig(domain="source", n=8, out=str(base / "rhd"), size=64, split="training"), progress=False)
    write_dataset(SynthConfig(domain="target", n=6, out=str(base / "stb"), size=64, split="training"), progress=False)
    return base


def tiny_real_config(roots, method="awh", pretrain=2, adapt=3, **kw) -> TrainConfig:
    """The real network (tiny), step functions and readers on :func:`write_tiny_synth` data."""
    return TrainConfig(
        data=TrainDataConfig(
            source=DatasetConfig(format="rhd", root=str(roots / "rhd"), input_size=32),
            target=DatasetConfig(format="stb", root=str(roots / "stb"), input_size=32, labels="3d"),
        ),
        model=TINY_MODEL,
        method=MethodConfig(name=method, critic_steps=2, critic_width=8),
        phases=PhasesConfig(
            pretrain=PhaseConfig(steps=pretrain, batch_size=4, lr=1e-3),
            adapt=AdaptPhaseConfig(steps=adapt, batch_size=4, lr=1e-3),
        ),
        **{"device": "cpu", "num_workers": 0, "log_every": 1, "ckpt_every": 2, "progress": False, **kw},
    )


# ``awh train ARGS...`` in a child process whose ``phase`` step function, at 0-based ``step``, creates the file
# ``reached`` and then waits until the file ``go`` exists (forever if the test never creates it): a real run that
# the test stops, kills or races at a known point instead of after a guessed time. Run as
# ``[sys.executable, "-c", PAUSING_TRAIN, phase, step, reached, go, "train", ...]``.
PAUSING_TRAIN = """
import pathlib, sys, time
import torch
import awhourglass.train.run as run
torch.set_num_threads(1)
phase, step, reached, go = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
build = run.build_parts
def pausing(cfg, dist):
    parts = build(cfg, dist)
    name = "pretrain_loss" if phase == "pretrain" else "adapt_loss"
    inner = getattr(parts, name)
    def loss(batch, info):
        if info.step == step:
            reached.touch()
            while not go.exists():
                time.sleep(0.01)
        return inner(batch, info)
    setattr(parts, name, loss)
    return parts
run.build_parts = pausing
from awhourglass.cli import main
sys.exit(main(sys.argv[5:]))
"""


def wait_for_file(path, proc, what: str) -> None:
    """Until ``path`` exists; fails with the child's stderr if it exits first (the deadline is a safety net)."""
    import time

    deadline = time.monotonic() + 300
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            err = err if isinstance(err, str) else (err or b"").decode()
            raise AssertionError(f"{what} never happened: {err[-3000:]}")
        time.sleep(0.01)


def assert_interrupted(returncode: int, err: str) -> None:
    """What a Ctrl-C into `awh train` must give: exit 130, no traceback or error, "interrupted" last."""
    assert returncode == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("awh train: interrupted"), err
