"""Input pipeline speed: the synthetic generator (in memory) and the RHD/STB readers (from files on disk).

Both are compared with what the training step consumes: a producer slower than the step starves it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import torch
import torch.multiprocessing  # registers the tensor reductions a worker hands batches over with)

from awhourglass.data import Batch, DatasetConfig, build_dataset
from awhourglass.data.base import HandDataset
from awhourglass.data.config import AugmentConfig
from awhourglass.data.pending import finish_batch
from awhourglass.speed.timing import Clock, time_fn
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.synth.generate import generate_batch
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.distributed import DistInfo


@dataclass(frozen=True)
class PipelineSpeed:
    """Images/s of the input pipeline next to the training step's consumption.

    Attributes:
        generator_source_img_s / generator_target_img_s: in-memory generation (render + style), one process.
        generate_inline_train_img_s: training images/s if each batch were generated on the training thread
            (1 / (1/train + 1/generator)).
        write_img_s: generation plus writing RHD/STB files (``awh synth``), both domains.
        reader_source_img_s / reader_target_img_s: one process reading, decoding, cropping and collating
            samples from the RHD / STB files (what one loader worker delivers).
        loader_img_s: training's two-domain batching (``train.batches``) with ``loader_workers`` worker
            processes, images/s over epochs' worth of steps after a first (untimed) step, measured while the main
            thread waits (the upper bound: in training the workers share the cores with the step).
        loader_workers: worker processes of the loader.
        fed_train_img_s: training steps (stage 1) fed by the RHD loader, wall clock, by worker count
            (``{"0": ..., "1": ...}``): 0 reads on the training thread; empty when no update function was given.
        train_step_img_s: the training step's consumption, for comparison.
        images: images written per domain.
        real_loaders: samples/s of training's loader with one worker process (a per-worker figure) on files at
            the real datasets' sizes, cropped to ``real_input`` (:func:`measure_real_loaders`); empty if skipped.
        real_input: the crop side of those figures.
    """

    generator_source_img_s: float
    generator_target_img_s: float
    generate_inline_train_img_s: float
    write_img_s: float
    reader_source_img_s: float
    reader_target_img_s: float
    loader_img_s: float
    loader_workers: int
    fed_train_img_s: dict[str, float]
    train_step_img_s: float
    images: int
    real_loaders: dict[str, float] = field(default_factory=dict)
    real_input: int = 0


def measure_generator(size: int, batch: int, domain: str, *, repeats: int = 3, clock: Clock = "wall") -> float:
    """Images/s of ``generate_batch(batch, domain, seed, size)`` (best of ``repeats``)."""
    seeds = iter(range(1, 10_000))
    timing = time_fn(lambda: generate_batch(batch, domain, next(seeds), size), warmup=1, repeats=repeats, clock=clock)
    return batch / timing.best_s


def _fed_training(dataset: HandDataset, update: Callable[[Batch], object], batch: int, workers: int, steps: int):
    """Images/s of ``steps`` updates fed by training's own batching (:mod:`awhourglass.train.batches`, pretraining
    batches of ``dataset``) with ``workers`` loader processes."""
    if len(dataset) == 0:
        raise ValueError("an empty dataset makes no batch")
    threads = torch.get_num_threads()
    stream = iterate_steps(StepBatches([dataset], [batch], 0, "pretrain", DistInfo()), 0, steps + 1, workers)
    try:
        update(next(stream))  # starts the workers; first-call costs
        t0 = time.perf_counter()
        for _ in range(steps):
            update(next(stream))
        dt = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
        del stream  # shuts the workers down
    return steps * batch / dt


REAL_RHD, REAL_STB = "RHD 320x320", "STB 640x480"
PACKED = ", packed"  # the rows read from `awh data pack` packs of the same files
ON_BATCH = ", pixels on the batch"  # packs read with augment.on_batch: the worker's share (the rest is the device's)
FINISH = "batch pixel work, this CPU, 1 thread"  # data.pending.finish_batch of the ON_BATCH batches, per sample
WORKER_CPU = " [worker CPU]"  # the same rows per CPU second of a worker (one thread, process clock; load-proof)
# configs/rhd-stb.yaml's augmentation (both domains; tests/speed checks they agree): the readers are measured as
# that training runs them
RHD_STB_AUGMENT = AugmentConfig(enabled=True, hue=0.1, blur_prob=0.3, blur_sigma_px=2.0, noise_prob=0.3,
                                noise_std=0.03, cutout_prob=0.2, cutout_frac=0.3)
# configs/rhd-stb.yaml on a GPU at 40 TFLOP/s effective (docs/performance.md, "What a GPU run needs"): samples/s
# its pretraining consumes of RHD, and its adaptation of each of RHD and STB
RHD_STB_PRETRAIN_S, RHD_STB_ADAPT_S = 700.0, 265.0


def rhd_stb_workers(real: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Loader workers (cores) that configs/rhd-stb.yaml's GPU run needs, from per-worker rates ``real``
    (:func:`measure_real_loaders`): ``{"files": (pretraining, adaptation), "packed": (...), "packed, pixels on
    the batch": (...)}``; the files' STB figure is the prepared one. Empty when a rate is missing."""
    out = {}
    for name, rhd, stb in (("files", REAL_RHD, REAL_STB + ", depth prepared"),
                           ("packed", REAL_RHD + PACKED, REAL_STB + PACKED),
                           ("packed" + ON_BATCH, REAL_RHD + PACKED + ON_BATCH, REAL_STB + PACKED + ON_BATCH)):
        if real.get(rhd, 0) > 0 and real.get(stb, 0) > 0:
            out[name] = (RHD_STB_PRETRAIN_S / real[rhd], RHD_STB_ADAPT_S / real[rhd] + RHD_STB_ADAPT_S / real[stb])
    return out


def _loader_samples_s(batches: StepBatches, steps: int, workers: int) -> float:
    """Samples/s of ``steps`` steps of training's batching read by ``workers`` processes, after one untimed step
    that starts the workers (wall clock: the work happens in the workers)."""
    stream = iterate_steps(batches, 0, steps + 1, workers)
    try:
        next(stream)
        t0 = time.perf_counter()
        seen = sum(len(b) for b in stream)
        return seen / (time.perf_counter() - t0)
    finally:
        del stream


def measure_real_loaders(images: int = 32, input_size: int = 256, batch: int = 16, epochs: int = 2,
                         workers: int = 1, augment: AugmentConfig = RHD_STB_AUGMENT) -> dict[str, float]:
    """Per-worker samples/s of training's loader on generated files at the real datasets' sizes, augmented by
    ``augment``.

    RHD at 320², STB at 640×480 twice: its depth registered to the colour camera per sample (as the published
    STB's SK depth is read; at 640×480 the generator writes the published layout, depth in the depth camera's
    grid) and prepared once by ``awh data prepare``; then both read from packs (``awh data pack``, default size),
    with the pixel work in the worker and left to the batch (``on_batch``). Then :data:`FINISH`: samples/s of
    :func:`~awhourglass.data.pending.finish_batch` on the latter's batches, one thread of this CPU (a GPU's work
    where there is one). Last, every reader row again as samples per CPU second of a worker (:data:`WORKER_CPU`:
    making and handing over batches on one thread, by the process clock, which other jobs do not inflate).
    """
    from awhourglass.data.pack import write_pack
    from awhourglass.data.stb_cache import prepare

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="awh-bench-real-") as tmp:
        rhd, stb = Path(tmp) / "rhd", Path(tmp) / "stb"
        write_dataset(SynthConfig("source", images, str(rhd), seed=0, size=320, split="training"), progress=False)
        write_dataset(SynthConfig("target", images, str(stb), seed=0, size=640, split="training"), progress=False)
        rhd_cfg = DatasetConfig(format="rhd", root=str(rhd), split="train", input_size=input_size, augment=augment)
        stb_cfg = DatasetConfig(format="stb", root=str(stb), split="train", input_size=input_size, labels="2d",
                                augment=augment)

        cpu: dict[str, float] = {}

        def measure(name: str, cfg: DatasetConfig) -> None:
            batches = StepBatches([build_dataset(cfg)], [batch], 0, "pretrain", DistInfo())
            steps = max(1, epochs * len(batches.domains[0]) // batch)
            out[name] = _loader_samples_s(batches, steps, workers)
            cpu[name + WORKER_CPU] = _worker_cpu_samples_s(batches, steps)

        measure(REAL_RHD, rhd_cfg)
        measure(REAL_STB + ", depth registered per sample", stb_cfg)
        prepare(stb_cfg, progress=False)
        measure(REAL_STB + ", depth prepared", stb_cfg)
        on_batch = []
        for name, cfg in ((REAL_RHD, rhd_cfg), (REAL_STB, stb_cfg)):
            pack = Path(tmp) / f"{cfg.format}.pack"
            write_pack(cfg, pack, progress=False)
            packed = replace(cfg, format="pack", root=str(pack))
            measure(name + PACKED, packed)
            deferred = replace(packed, augment=replace(augment, on_batch=True))
            measure(name + PACKED + ON_BATCH, deferred)
            steps = max(1, len(build_dataset(deferred)) // batch)
            on_batch += list(iterate_steps(StepBatches([build_dataset(deferred)], [batch], 0, "pretrain", DistInfo()),
                                           0, steps, 0))
        out[FINISH] = _finish_samples_s(on_batch)
    return {**out, **cpu}


def _worker_cpu_samples_s(batches: StepBatches, steps: int) -> float:
    """Samples per CPU second of what a loader worker does (one thread, process clock): make ``steps`` batches and
    hand each over as a worker does (its tensors moved into shared memory and pickled), after one untimed batch."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batches[0]
        t0 = time.process_time()
        for step in range(1, steps + 1):
            ForkingPickler.dumps(batches[step])
        return steps * sum(batches.counts) / max(time.process_time() - t0, 1e-9)
    finally:
        torch.set_num_threads(threads)


def _finish_samples_s(batches: list[Batch]) -> float:
    """Samples/s of :func:`~awhourglass.data.pending.finish_batch` over ``batches``, one thread, process clock."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        finish_batch(batches[0])  # first-call costs
        t0 = time.process_time()
        for b in batches:
            finish_batch(b)
        return sum(len(b) for b in batches) / max(time.process_time() - t0, 1e-9)
    finally:
        torch.set_num_threads(threads)


def _read_all(dataset, n: int) -> None:
    for i in range(n):
        dataset[i]


def measure_pipeline(
    size: int,
    images: int,
    train_step_img_s: float,
    *,
    batch: int = 16,
    workers: int = 2,
    repeats: int = 3,
    loader_epochs: int = 2,
    clock: Clock = "wall",
    update: Callable[[Batch], object] | None = None,
    fed_workers: tuple[int, ...] = (0, 1),
    fed_steps: int = 4,
    real_images: int = 32,
    real_input: int = 256,
) -> PipelineSpeed:
    """Measure generator, file writer, readers and the two-domain loader at ``size``² network input.

    Args:
        size: network input side (the files are written at 2× that, cropped back by the readers).
        images: images written per domain into a temporary folder (deleted afterwards).
        train_step_img_s: the training step's images/s measured in the same run.
        batch: generator chunk and loader batch size.
        workers: loader worker processes.
        repeats: timed repeats of the in-memory figures.
        loader_epochs: timed epochs' worth of steps (of the larger domain), after one untimed step that starts the
            workers.
        clock: see :func:`~awhourglass.speed.timing.time_fn`; the loader is always timed by the wall clock
            (its work happens in other processes).
        update: a training update taking a batch (e.g. :func:`~awhourglass.speed.workloads.supervised_update`):
            when given, ``fed_steps`` updates fed by a single-domain RHD loader are timed (wall clock) for each
            worker count in ``fed_workers``, after one untimed update.
        real_images, real_input: files per dataset and crop side of :func:`measure_real_loaders` (0 images:
            skipped).
    """
    if images < 2:
        raise ValueError(f"images must be >= 2, got {images}")
    batch = min(batch, images)
    batch += batch % 2  # two-domain batches are half/half
    gen_src = measure_generator(size, batch, "source", repeats=repeats, clock=clock)
    gen_tgt = measure_generator(size, batch, "target", repeats=repeats, clock=clock)
    inline = 1.0 / (1.0 / train_step_img_s + 1.0 / min(gen_src, gen_tgt))
    file_size = 2 * size
    with tempfile.TemporaryDirectory(prefix="awh-bench-") as tmp:
        roots = {d: Path(tmp) / d for d in ("source", "target")}
        t0 = time.perf_counter()
        for d, root in roots.items():
            write_dataset(SynthConfig(d, images, str(root), seed=0, size=file_size, split="training"), progress=False)
        write_img_s = 2 * images / (time.perf_counter() - t0)
        src = build_dataset(DatasetConfig(format="rhd", root=str(roots["source"]), split="train", input_size=size))
        tgt = build_dataset(
            DatasetConfig(format="stb", root=str(roots["target"]), split="train", input_size=size, labels="2d")
        )
        n_src, n_tgt = min(len(src), images), min(len(tgt), images)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a loader worker (data.loader sets one thread per worker)
        try:
            reader_src = n_src / time_fn(lambda: _read_all(src, n_src), warmup=1, repeats=2, clock=clock).best_s
            reader_tgt = n_tgt / time_fn(lambda: _read_all(tgt, n_tgt), warmup=1, repeats=2, clock=clock).best_s
        finally:
            torch.set_num_threads(threads)
        loader_batch = min(batch, 2 * min(n_src, n_tgt))
        loader_batch -= loader_batch % 2
        # training's phase-2 batching: half source, half target per step, read by `workers` processes
        steps = max(1, loader_epochs * max(n_src, n_tgt) // (loader_batch // 2))
        batches = StepBatches([src, tgt], [loader_batch // 2] * 2, 0, "adapt", DistInfo())
        try:
            loader_img_s = _loader_samples_s(batches, steps, workers)
        finally:
            torch.set_num_threads(threads)
        fed = {}
        if update is not None:
            for w in fed_workers:
                fed[str(w)] = _fed_training(src, update, batch, w, fed_steps)
    real = measure_real_loaders(real_images, real_input) if real_images > 0 else {}
    return PipelineSpeed(
        generator_source_img_s=gen_src,
        generator_target_img_s=gen_tgt,
        generate_inline_train_img_s=inline,
        write_img_s=write_img_s,
        reader_source_img_s=reader_src,
        reader_target_img_s=reader_tgt,
        loader_img_s=loader_img_s,
        loader_workers=workers,
        fed_train_img_s=fed,
        train_step_img_s=train_step_img_s,
        images=images,
        real_loaders=real,
        real_input=real_input if real else 0,
    )
