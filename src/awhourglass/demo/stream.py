"""Fresh training images: an endless, deterministic stream of newly rendered samples of one domain.

A fixed in-memory training set of a few thousand renders is memorised within a few thousand steps
(issue 12: 2.9 px on the training images against 6.4 px held out). The generator renders faster than
training consumes, so training reads this stream instead and never sees the same image twice.

:class:`GeneratedStream` looks like an (effectively endless) indexable dataset: position ``i`` is the
``i``-th sample of the stream, rendered in chunks of :data:`CHUNK` images from
``SeedSequence([STREAM_SEED_BASE + seed, domain, chunk])``, so the samples depend only on ``(seed,
domain, i)`` (and the rendering settings), never on the batch size, the number of DataLoader workers or
where a run was resumed. :class:`awhourglass.train.batches.StepBatches` reads a stream position by
position (``fresh = True``: no epochs, no shuffling). Rendering runs wherever the samples are read: in
a DataLoader worker process with ``num_workers >= 1`` (the background worker), else inline.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Sequence
from dataclasses import fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from awhourglass.atomic import atomic_open
from awhourglass.data.config import AugmentConfig
from awhourglass.data.sample import SOURCE, TARGET, Sample
from awhourglass.demo.data import check_render_augment, samples_from_batch
from awhourglass.synth.generate import generate_batch

CHUNK = 32
# Far from the seeds of the on-disk validation/test splits and of the fixed in-memory sets.
STREAM_SEED_BASE = 2_000_029
AUGMENT_SEED_BASE = 3_000_017  # the augmentation draws' own stream, apart from the renders'
STREAM_LENGTH = 2**40  # positions; a run of 10^6 steps of 64 uses 2^26 of them


class GeneratedStream:
    """Sample ``i`` of an endless stream of fresh renders of ``domain`` (deterministic in ``seed``).

    Args:
        domain: ``"source"`` (RHD-like, 3D labels) or ``"target"`` (STB-like).
        seed: stream seed; the same seed gives the same samples, another seed other samples.
        image_size: rendered image width in pixels; input_size: crop side.
        gap: the target's harshness (docs/synth.md).
        labels_3d: keep the 3D labels (``False`` for the weakly labelled target: 2D + depth only).
        augment: augmentation of the crops (None, the default: none, the demo's stream). Position ``i``'s draw
            comes from ``default_rng([AUGMENT_SEED_BASE + seed, domain, i])``: it depends only on ``(seed,
            domain, i)``, like the render. Left hands are mirrored, so ``flip_prob`` must be 0.
        cache_dir: keep each rendered chunk's samples here and read them back instead of rendering again (the
            demo's methods of one seed read the same stream positions: one renders, the others read). Files are
            keyed by every setting above and by a digest of the generator's code, so a changed generator never
            reads old renders; they are written atomically and read with ``weights_only=True``.
    """

    fresh = True  # StepBatches: read positions in order, never reshuffle

    def __init__(self, domain: str, seed: int, image_size: int, input_size: int, gap: float,
                 labels_3d: bool = True, augment: AugmentConfig | None = None,
                 cache_dir: str | Path | None = None) -> None:
        if domain not in ("source", "target"):
            raise ValueError(f"GeneratedStream: domain must be 'source' or 'target', got {domain!r}")
        check_render_augment(augment, "GeneratedStream")  # at construction, before any render
        self.augment = augment
        self.domain, self.seed = domain, int(seed)
        self.image_size, self.input_size, self.gap, self.labels_3d = image_size, input_size, gap, labels_3d
        self._chunk: tuple[int, list[Sample]] | None = None
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / self._cache_key()

    def _cache_key(self) -> str:
        what = (self.domain, self.seed, self.image_size, self.input_size, float(self.gap), repr(self.augment),
                CHUNK, _code_digest())
        return f"{self.domain}-s{self.seed}-" + hashlib.sha256(repr(what).encode()).hexdigest()[:16]

    def _render(self, c: int) -> list[Sample]:
        dom = SOURCE if self.domain == "source" else TARGET
        ss = np.random.SeedSequence([STREAM_SEED_BASE + self.seed, dom, c])
        b = generate_batch(CHUNK, self.domain, ss, self.image_size, self.gap)
        return samples_from_batch(b, dom, self.input_size, f"stream-{self.domain}-s{self.seed}", c * CHUNK,
                                  labels_3d=True, augment=self.augment, augment_seed=AUGMENT_SEED_BASE + self.seed)

    def _cached(self, c: int) -> list[Sample]:
        if self.cache_dir is None:
            return self._render(c)
        path = self.cache_dir / f"{c}.pt"
        if path.is_file():
            rows = torch.load(path, weights_only=True)
            return [Sample(**row) for row in rows]
        samples = self._render(c)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, fsync=False) as f:
            torch.save([{k.name: getattr(s, k.name) for k in fields(Sample)} for s in samples], f)
        return samples

    def cached_chunk(self, c: int) -> bool:
        """Chunk ``c`` is already in the cache (False without a cache)."""
        return self.cache_dir is not None and (self.cache_dir / f"{c}.pt").is_file()

    def __len__(self) -> int:
        return STREAM_LENGTH

    def chunk(self, c: int) -> list[Sample]:
        """The :data:`CHUNK` samples of chunk ``c`` (positions ``c·CHUNK ..``), rendered or cached."""
        if self._chunk is None or self._chunk[0] != c:
            samples = self._cached(c)
            if not self.labels_3d:
                samples = [replace(s, xyz_m=None) for s in samples]
            self._chunk = (c, samples)
        return self._chunk[1]

    def __getitem__(self, index: int) -> Sample:
        i = int(index)
        if not 0 <= i < STREAM_LENGTH:
            raise IndexError(f"stream position {i} out of range")
        c, k = divmod(i, CHUNK)
        return self.chunk(c)[k]


def _render_into_cache(job: tuple[GeneratedStream, int]) -> int:
    stream, c = job
    torch.set_num_threads(1)  # a worker process per core
    stream._cached(c)
    return c


def prerender(streams: Sequence[GeneratedStream], chunks: int, processes: int) -> int:
    """Render chunks ``0 .. chunks − 1`` of every cached stream into its cache, in ``processes`` worker processes.

    Training then reads them back instead of rendering in one background worker beside the optimizer: on two cores
    both render at once, and what the methods of a demo seed share is ready before the first one starts. Chunks
    already cached are skipped; the files are those the streams would write themselves (same seeds, same keys).

    Returns:
        the number of chunks rendered.
    """
    if processes < 1:
        raise ValueError(f"prerender: processes must be >= 1, got {processes}")
    jobs = [(s, c) for c in range(int(chunks)) for s in streams if s.cache_dir is not None and not s.cached_chunk(c)]
    if processes == 1 or len(jobs) < 2:
        for stream, c in jobs:
            stream._cached(c)
        return len(jobs)
    with multiprocessing.get_context().Pool(min(processes, len(jobs))) as pool:
        for _ in pool.imap_unordered(_render_into_cache, jobs):
            pass
    return len(jobs)


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """Digest of the code that turns a stream position into a sample (generator, crop, this module)."""
    import awhourglass

    root = Path(awhourglass.__file__).parent
    files = sorted((root / "synth").glob("*.py")) + [root / "data" / "crop.py", root / "data" / "photometric.py",
                                                      root / "demo" / "data.py", Path(__file__)]
    h = hashlib.sha256(awhourglass.__version__.encode())
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


__all__ = ["AUGMENT_SEED_BASE", "CHUNK", "GeneratedStream", "prerender"]
