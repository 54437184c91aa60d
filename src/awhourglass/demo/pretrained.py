"""The shipped source network: pretrained on the embedded source stream, verified by its recorded sha256.

Pretraining from nothing does not fit in the demo's ten minutes on two cores (docs/benchmark.md: the network
needs thousands of steps on fresh images before it beats a constant hand), so the package ships the phase-1
network that ``awh benchmark --stage pretrain`` makes (:func:`pretrain_source`), with a manifest recording
the command, the data seed, the code version and the file's sha256. ``awh demo`` starts every method from it;
``awh demo --from-scratch`` retrains it first with the same function.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from awhourglass.atomic import atomic_write_text
from awhourglass.config import ConfigError
from awhourglass.data.config import AugmentConfig, DatasetConfig
from awhourglass.demo.stream import GeneratedStream
from awhourglass.errors import AwhError
from awhourglass.models.config import ModelConfig
from awhourglass.train.config import (
    AdaptPhaseConfig,
    MethodConfig,
    PhaseConfig,
    PhasesConfig,
    TrainConfig,
    TrainDataConfig,
)
from awhourglass.train.precision import Precision

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED = WEIGHTS_DIR / "source.pt"
MANIFEST = WEIGHTS_DIR / "source.json"


def default_model() -> ModelConfig:
    """The shipped network's architecture (the demo's and the benchmark's): 2 stacks, width 64, stride-4 stem (16²
    heatmaps, 4² bottleneck)."""
    return ModelConfig(input_size=64, stem_stride=4, width=64, num_stacks=2, depth=2, depth_out_size=32,
                       depth_width=32)


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(path: str | Path = MANIFEST) -> dict[str, Any]:
    """The manifest beside the shipped network (command, data seed, code version, sha256, model config)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AwhError(f"cannot read the pretrained network's manifest {path}: {exc}") from None
    for key in ("file", "sha256", "command", "data_seed", "code_version", "model", "steps"):
        if key not in doc:
            raise AwhError(f"manifest {path} lacks {key!r}")
    return doc


def shipped_network(manifest: str | Path = MANIFEST) -> tuple[Path, dict[str, Any]]:
    """Path of the shipped pretrained network and its manifest, after checking the file's sha256.

    Raises:
        AwhError: the file is missing or its bytes differ from the recorded sha256.
    """
    doc = read_manifest(manifest)
    path = Path(manifest).parent / doc["file"]
    if not path.is_file():
        raise AwhError(f"the shipped pretrained network {path} is missing; run `awh demo --from-scratch`")
    digest = sha256_of(path)
    if digest != doc["sha256"]:
        raise AwhError(f"{path}: sha256 {digest} differs from the manifest's {doc['sha256']}: the file is damaged "
                       "or was replaced; run `awh demo --from-scratch` to retrain it")
    return path, doc


def stream_data(model: ModelConfig, seed: int, image_size: int, gap: float, target_3d: bool,
                source_augment: AugmentConfig | None = None, target_augment: AugmentConfig | None = None,
                cache_dir: str | Path | None = None) -> tuple[GeneratedStream, GeneratedStream]:
    """The source stream (3D labels) and the target stream (2D + depth; 3D only for ``target_3d``) of ``seed``,
    each augmented when its config is enabled; ``cache_dir``: see :class:`GeneratedStream`."""
    size = model.input_size

    def on(a: AugmentConfig | None) -> AugmentConfig | None:
        return a if a is not None and a.enabled else None

    return (GeneratedStream("source", seed, image_size, size, gap, labels_3d=True, augment=on(source_augment),
                            cache_dir=cache_dir),
            GeneratedStream("target", seed, image_size, size, gap, labels_3d=target_3d, augment=on(target_augment),
                            cache_dir=cache_dir))


def stream_train_config(model: ModelConfig, method: MethodConfig, seed: int, *, pretrain_steps: int = 0,
                        adapt_steps: int = 0, batch_size: int = 32, lr: float = 1e-3, adapt_lr: float = 2.5e-4,
                        pretrain_milestones: tuple[int, ...] = (), adapt_milestones: tuple[int, ...] = (),
                        lr_gamma: float = 0.1, init_from: str | None = None, num_workers: int = 1,
                        ckpt_every: int = 10**9, log_every: int = 10, progress: bool = True,
                        device: str = "cpu", source_augment: AugmentConfig | None = None,
                        precision: Precision = "fp32") -> TrainConfig:
    """A :class:`TrainConfig` for a run on the generated streams (``data`` only describes them; its source
    ``augment`` is the source stream's augmentation, so the checkpoint records it)."""
    labels: Literal["3d", "2d"] = "3d" if method.uses_target_3d else "2d"
    data = TrainDataConfig(source=DatasetConfig(format="rhd", root="(generated stream)",
                                                augment=source_augment or AugmentConfig()),
                           target=DatasetConfig(format="stb", root="(generated stream)", labels=labels))
    return TrainConfig(
        data=data, model=model, method=method,
        phases=PhasesConfig(
            pretrain=PhaseConfig(steps=pretrain_steps, batch_size=batch_size, lr=lr, lr_milestones=pretrain_milestones,
                                 lr_gamma=lr_gamma),
            adapt=AdaptPhaseConfig(steps=adapt_steps, batch_size=batch_size, lr=adapt_lr,
                                   lr_milestones=adapt_milestones, lr_gamma=lr_gamma),
        ),
        seed=seed, device=device, num_workers=num_workers, log_every=log_every, ckpt_every=ckpt_every,
        init_from=init_from, sync_batchnorm=False, progress=progress, precision=precision,
    )


# Phase-2 runs read other streams than the pretraining of the same seed (no pretraining image again).
ADAPT_STREAM_OFFSET = 7919


def stream_seed(tc: TrainConfig) -> int:
    """The stream seed of a run: its seed, offset for a run that only adapts (from a pretrained network)."""
    return tc.seed if tc.phases.pretrain.steps > 0 else tc.seed + ADAPT_STREAM_OFFSET


def run_streams(tc: TrainConfig, image_size: int, gap: float,
                cache_dir: str | Path | None = None) -> tuple[GeneratedStream, GeneratedStream]:
    """The source and target streams a run of :func:`stream_train_config` trains on (its seed, method, augmentation)."""
    assert tc.data.target is not None  # stream_train_config describes both streams
    return stream_data(tc.model, stream_seed(tc), image_size, gap, tc.method.uses_target_3d,
                       tc.data.source.augment, tc.data.target.augment, cache_dir=cache_dir)


def stream_parts_factory(image_size: int, gap: float, cache_dir: str | Path | None = None) -> Callable:
    """A ``fit`` parts factory that trains on the streams of the run's seed (fresh images every step); runs that
    share ``cache_dir`` render each stream chunk once (:class:`GeneratedStream`)."""
    from awhourglass.train.parts import build_parts

    def factory(tc: TrainConfig, dist):
        src, tgt = run_streams(tc, image_size, gap, cache_dir)
        return build_parts(tc, dist, source=src, target=tgt)

    return factory


PRETRAIN_AUGMENT = AugmentConfig(enabled=True, scale=(0.85, 1.2), rotation_deg=0.0, translate=0.08, brightness=0.3,
                                 contrast=0.6, saturation=0.3, hue=0.1, blur_prob=0.3, blur_sigma_px=1.0,
                                 noise_prob=0.3, noise_std=0.03, cutout_prob=0.15, cutout_frac=0.3)


@dataclass
class PretrainSchedule:
    """Phase 1 on the source stream (Adam, step decay): the recipe of the shipped network (docs/benchmark.md).

    Attributes:
        steps, batch_size: optimizer steps of ``batch_size`` fresh source images.
        lr, milestones, lr_gamma: the rate, multiplied by ``lr_gamma`` at each milestone step.
        init_from: start from this network (a warm start, e.g. the previously shipped one) instead of random
            weights; recorded in the manifest.
        augment: augmentation of the source stream's crops (scale, shift, colour, white balance, blur, noise,
            cut-out; no rotation or flip: the renders already turn every way and left hands are mirrored). Real
            photographs are cropped from imperfect boxes and taken by worse cameras than the renderer's.
    """

    steps: int = 10000
    batch_size: int = 32
    lr: float = 2e-3
    milestones: tuple[int, ...] = (8000, 9300)
    lr_gamma: float = 0.2
    init_from: str | None = None
    augment: AugmentConfig = field(default_factory=lambda: PRETRAIN_AUGMENT)

    @classmethod
    def warm(cls, steps: int, init_from: str | None) -> PretrainSchedule:
        """A schedule of ``steps`` steps (milestones at 75 % and 93 %), from ``init_from`` when given (then at
        half the rate: the network already knows hands)."""
        ms = (int(0.75 * steps), int(0.93 * steps))
        return cls(steps=steps, milestones=ms, lr=1e-3 if init_from else 2e-3, init_from=init_from)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"pretraining needs steps >= 1, batch_size >= 1 and lr > 0, got {self}")


def pretrain_source(out_dir: str | Path, model: ModelConfig, schedule: PretrainSchedule, *, seed: int,
                    image_size: int, gap: float, num_workers: int = 1, progress: bool = True,
                    resume: bool = False, device: str = "cpu", precision: Precision = "fp32") -> Path:
    """Phase 1 on the source stream of ``seed``; returns the run's ``pretrain.pt`` (slim, for ``init_from``)."""
    from awhourglass.train.run import fit

    s = schedule
    cfg = stream_train_config(model, MethodConfig(name="source_only"), seed, pretrain_steps=s.steps,
                              batch_size=s.batch_size, lr=s.lr, pretrain_milestones=s.milestones,
                              lr_gamma=s.lr_gamma, num_workers=num_workers, ckpt_every=500, log_every=50,
                              progress=progress, device=device, init_from=s.init_from, source_augment=s.augment,
                              precision=precision)
    fit(cfg, out_dir, resume, stream_parts_factory(image_size, gap))
    return Path(out_dir) / "pretrain.pt"


def write_manifest(weights: Path, command: str, data_seed: int, model: ModelConfig, steps: int,
                   extra: dict[str, Any] | None = None, manifest: str | Path | None = None) -> Path:
    """Record how ``weights`` was made beside it (``source.json`` by default)."""
    from awhourglass import __version__
    from awhourglass.config import to_dict

    doc = {"file": weights.name, "sha256": sha256_of(weights), "bytes": weights.stat().st_size, "command": command,
           "data_seed": data_seed, "code_version": _code_version(), "awhourglass_version": __version__,
           "model": to_dict(model), "steps": steps, **(extra or {})}
    path = Path(manifest) if manifest is not None else weights.with_suffix(".json")
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    return path


def _code_version() -> str:
    """``git describe`` of the checkout the package runs from, or ``unknown`` outside a git checkout."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


__all__ = ["ADAPT_STREAM_OFFSET", "MANIFEST", "SHIPPED", "PretrainSchedule", "pretrain_source", "read_manifest",
           "sha256_of", "shipped_network", "stream_data", "stream_parts_factory", "stream_seed", "stream_train_config",
           "write_manifest"]
