"""Deterministic, resumable, sharded training batches.

The global batch of step ``s`` is a pure function of ``(seed, phase, s)``: each domain runs through
its own sequence of shuffled epochs (a fresh permutation per epoch, seeded by ``(seed, phase,
domain, epoch)``), and step ``s`` takes the next ``count_d`` positions of domain ``d``. The smaller
domain therefore simply cycles more often (the paper replicates real images to match the synthetic
count). A dataset with ``fresh = True`` (an endless stream of new renders,
:class:`awhourglass.demo.stream.GeneratedStream`) is read position by position instead: no epochs,
no shuffling, no sample twice. Consequences:

* resuming needs only the step number (the "sampler position" stored in checkpoints is derived
  from it, plus the dataset sizes to detect a changed dataset);
* under ``N`` processes, rank ``r`` takes the ``r``-th contiguous slice of each domain's share, so
  the union over ranks is exactly the single-process batch;
* random augmentation is reproducible: every sample is loaded with the python/numpy/torch global
  generators seeded from ``(seed, phase, step, slot)`` (then restored), independent of DataLoader
  workers, of the number of ranks and of where a run was resumed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from awhourglass.data.pending import settle_crops
from awhourglass.data.sample import Batch, Sample, collate
from awhourglass.errors import AwhError
from awhourglass.losses import z_label_joints
from awhourglass.train.distributed import DistInfo, shard_range
from awhourglass.train.workers import init_worker

PHASE_IDS = {"pretrain": 1, "adapt": 2}


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (numpy SeedSequence, so nearby inputs give unrelated seeds)."""
    words = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def epoch_permutation(size: int, seed: int) -> torch.Tensor:
    """``randperm(size)`` from a private generator seeded with ``seed`` (global RNG untouched)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(size, generator=gen)


class _GlobalRng:
    """Seed python/numpy/torch global generators for one sample, restoring them afterwards."""

    def __enter__(self) -> _GlobalRng:
        # the data pipeline may draw from numpy's legacy global generator: it is what we must pin
        self.saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())  # noqa: NPY002
        return self

    def seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % (2**32))  # noqa: NPY002
        torch.default_generator.manual_seed(seed)  # CPU only: CUDA generators are not restored

    def __exit__(self, *exc: object) -> None:
        py, npy, th = self.saved
        random.setstate(py)
        np.random.set_state(npy)  # noqa: NPY002
        torch.set_rng_state(th)


class StepBatches(Dataset):
    """Item ``s`` is this rank's share of the global batch of step ``s``, collated into a :class:`Batch`.

    Args:
        domains: one indexable dataset of :class:`Sample` per domain (source first).
        counts: global number of samples per step from each domain (e.g. ``[16, 16]`` for half/half).
        seed: run seed; phase: ``"pretrain"`` or ``"adapt"``; dist: this rank.
        collate_fn: samples → batch (default :func:`awhourglass.data.sample.collate`).
    """

    def __init__(
        self,
        domains: Sequence[Any],
        counts: Sequence[int],
        seed: int,
        phase: str,
        dist: DistInfo,
        collate_fn: Callable[[list[Sample]], Batch] = collate,
    ) -> None:
        if len(domains) != len(counts):
            raise ValueError(f"StepBatches: {len(domains)} domains but {len(counts)} counts")
        self.sizes = [len(d) for d in domains]
        for i, (n, c) in enumerate(zip(self.sizes, counts, strict=True)):
            if c > 0 and n == 0:
                raise ValueError(f"StepBatches: domain {i} is empty but {c} samples per step are requested from it")
        self.domains = list(domains)
        self.counts = [int(c) for c in counts]
        self.seed, self.phase_id, self.dist = int(seed), PHASE_IDS[phase], dist
        self.shards = [shard_range(c, dist, what=f"per-step count of domain {i}") for i, c in enumerate(self.counts)]
        self.collate_fn = collate_fn
        self._perm: dict[tuple[int, int], torch.Tensor] = {}

    def _index(self, domain: int, position: int) -> int:
        if getattr(self.domains[domain], "fresh", False):  # an endless stream: every position is a new sample
            return position
        size = self.sizes[domain]
        epoch, offset = divmod(position, size)
        key = (domain, epoch)
        if key not in self._perm:
            if len(self._perm) > 8:
                self._perm.clear()
            self._perm[key] = epoch_permutation(size, derive_seed(self.seed, self.phase_id, domain, epoch))
        return int(self._perm[key][offset])

    def indices(self, step: int) -> list[tuple[int, int, int]]:
        """This rank's ``(domain, dataset index, global slot)`` triples for ``step``."""
        out, slot0 = [], 0
        for d, (count, (lo, hi)) in enumerate(zip(self.counts, self.shards, strict=True)):
            for j in range(lo, hi):
                out.append((d, self._index(d, step * count + j), slot0 + j))
            slot0 += count
        return out

    def __len__(self) -> int:  # steps are unbounded; DataLoader only uses our explicit sampler
        return 2**62

    def __getitem__(self, step: int) -> StepData | WorkerError:
        try:
            return self._batch(step)
        except AwhError as exc:
            if get_worker_info() is None:
                raise
            # in a worker: hand the one-line error to the main process as data (PyTorch would re-raise it as a
            # RuntimeError carrying the worker's whole traceback)
            return WorkerError(str(exc))

    def _batch(self, step: int) -> StepData:
        samples = []
        with _GlobalRng() as rng:
            for d, index, slot in self.indices(step):
                seed = derive_seed(self.seed, self.phase_id, step, slot)
                rng.seed(seed)
                dataset = self.domains[d]
                # the package's readers take their augmentation seed with the index; others use the globals
                # the training loop finishes pending pixel work on its device (augment.on_batch)
                samples.append(dataset[(index, seed, True)] if getattr(dataset, "takes_seed", False)
                               else dataset[index])
        problems = [line for d in self.domains if hasattr(d, "take_skipped") for line in d.take_skipped()]
        batch = self.collate_fn(settle_crops(samples))
        return StepData(batch, problems + label_problems(batch))

    def position(self, next_step: int) -> dict[str, Any]:
        """Plain-data sampler position before ``next_step`` (for checkpoints and resume checks)."""
        return {
            "phase_id": self.phase_id,
            "next_step": int(next_step),
            "sizes": list(self.sizes),
            "counts": list(self.counts),
            "epochs": [divmod(next_step * c, n)[0] if n else 0 for c, n in zip(self.counts, self.sizes, strict=True)],
            "offsets": [divmod(next_step * c, n)[1] if n else 0 for c, n in zip(self.counts, self.sizes, strict=True)],
        }


class StepData:
    """One step's batch and the data problems met while building it, carried from a loader worker as data.

    ``problems``: ``"<file>: <problem>"`` lines: samples skipped under ``skip_bad`` (their place taken by the
    next good one) and labels left out of the losses (a labelled row whose 3D joints, or a visible joint whose
    2D position, is NaN/inf).
    """

    def __init__(self, batch: Batch, problems: list[str]) -> None:
        self.batch, self.problems = batch, problems


def label_problems(batch: Batch) -> list[str]:
    """Lines for labels the losses will leave out: a row marked ``has_3d`` whose root or scale bone is NaN/inf
    (no depth term), NaN/inf 3D at a visible joint (that joint leaves the depth term), non-finite 2D of a visible
    joint (the losses mask them; this makes them counted and reported, not silently dropped). Masked joints
    (``vis`` False, e.g. InterHand2.6M's invalid ones) are NaN by design and not reported."""
    usable, _ = z_label_joints(batch.xyz_m, batch.has_3d)
    no_3d = batch.has_3d & ~usable
    bad_joints = (usable[:, None] & batch.vis & ~torch.isfinite(batch.xyz_m).all(-1)).sum(-1)
    bad_2d = (batch.vis & ~torch.isfinite(batch.uv_px).all(-1)).any(-1)
    out = []
    for i in no_3d.nonzero().flatten().tolist():
        out.append(f"{_source(batch, i)}: non-finite 3D root or scale bone (NaN or inf), left out of the 3D loss")
    for i in bad_joints.nonzero().flatten().tolist():
        out.append(f"{_source(batch, i)}: non-finite 3D label at {int(bad_joints[i])} visible joint(s), left out "
                   "of the 3D loss")
    for i in bad_2d.nonzero().flatten().tolist():
        out.append(f"{_source(batch, i)}: non-finite 2D label of a visible joint, left out of the 2D loss")
    return out


def _source(batch: Batch, i: int) -> str:
    return batch.source[i] if i < len(batch.source) and batch.source[i] else f"sample {i} of the batch"


class WorkerError:
    """A user error (bad file, bad label) met by a loader worker, carried to the main process as plain data."""

    def __init__(self, message: str) -> None:
        self.message = message


def _identity(item: StepData | WorkerError) -> StepData | WorkerError:
    return item


def iterate_steps(
    batches: StepBatches, start: int, stop: int, num_workers: int = 0, pin_memory: bool = False,
    on_problems: Callable[[int, list[str]], None] | None = None,
) -> Iterator[Batch]:
    """Batches of steps ``start .. stop-1`` in order, loaded by ``num_workers`` DataLoader workers.

    A user error in a worker (a :class:`~awhourglass.errors.AwhError`, e.g. an unreadable image) is raised here
    with the same one-line message as without workers. ``on_problems(step, lines)`` receives each step's data
    problems (:class:`StepData`), with workers as without.
    """
    if stop <= start:
        return iter(())
    loader = DataLoader(
        batches,
        batch_size=None,
        sampler=range(start, stop),
        num_workers=num_workers,
        collate_fn=_identity,  # type: ignore[arg-type]  # torch's stubs: a list; with batch_size=None, one item
        pin_memory=pin_memory,
        # a private generator: creating the loader must not consume the global RNG (exact resume)
        generator=torch.Generator().manual_seed(batches.seed),
        prefetch_factor=2 if num_workers > 0 else None,
        worker_init_fn=init_worker if num_workers > 0 else None,
    )
    return _unwrap(iter(loader), start, on_problems)


def _unwrap(items: Iterator[StepData | WorkerError], start: int,
            on_problems: Callable[[int, list[str]], None] | None) -> Iterator[Batch]:
    for step, item in enumerate(items, start):
        if isinstance(item, WorkerError):
            raise AwhError(item.message)
        if item.problems and on_problems is not None:
            on_problems(step, item.problems)
        yield item.batch


__all__ = ["StepBatches", "StepData", "derive_seed", "epoch_permutation", "iterate_steps", "label_problems"]
