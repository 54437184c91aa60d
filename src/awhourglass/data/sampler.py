"""Samplers that shard like ``DistributedSampler`` and hand each sample its own augmentation seed.

They yield ``(index, seed)`` (single domain) or ``(domain, index, seed)`` (two domains) keys, so a sample's
augmentation depends only on (sampler seed, epoch, position), never on which worker process reads it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Dataset, Sampler

from awhourglass.data.sample import SOURCE, TARGET, Sample


def repeated_permutation(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``length`` indices of ``range(n)``: whole fresh permutations concatenated, the last one cut.

    The smaller domain is repeated this way to match the larger (every sample once before any twice).
    """
    if n <= 0:
        raise ValueError("repeated_permutation: the dataset is empty")
    reps = -(-length // n)
    return np.concatenate([rng.permutation(n) for _ in range(reps)])[:length]


class TwoDomainBatchSampler(Sampler[list[tuple[int, int, int]]]):
    """Batches of half source, half target (the paper's stage-2 batches), the smaller domain repeated.

    Each epoch draws ``epoch_size`` (default: the larger domain's size) samples per domain, shuffled by
    ``(seed, epoch)``. Batches are dealt round-robin to ``world_size`` ranks (each rank gets the same
    number), so under DDP every rank sees different samples. Deterministic given seed and epoch.

    Yields:
        lists of ``(domain, index, aug_seed)``: ``batch_size/2`` source keys then ``batch_size/2`` target keys.
    """

    def __init__(
        self,
        n_source: int,
        n_target: int,
        batch_size: int,
        *,
        seed: int = 0,
        epoch_size: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 2 or batch_size % 2:
            raise ValueError(f"TwoDomainBatchSampler: batch_size must be even and >= 2, got {batch_size}")
        if n_source <= 0 or n_target <= 0:
            raise ValueError(f"TwoDomainBatchSampler: both domains need samples (got {n_source}, {n_target})")
        if not 0 <= rank < world_size:
            raise ValueError(f"TwoDomainBatchSampler: rank {rank} not in [0, {world_size})")
        self.n_source, self.n_target = n_source, n_target
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.epoch_size = epoch_size or max(n_source, n_target)
        self.epoch = 0
        if len(self) == 0:
            raise ValueError(
                f"TwoDomainBatchSampler: {self.epoch_size} samples per domain make no batch of "
                f"{batch_size} on each of {world_size} ranks"
            )

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (call before each epoch, like ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def _total_batches(self) -> int:
        n = self.epoch_size // (self.batch_size // 2)
        return n - n % self.world_size

    def __len__(self) -> int:
        return self._total_batches() // self.world_size

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        src = repeated_permutation(rng, self.n_source, self.epoch_size)
        tgt = repeated_permutation(rng, self.n_target, self.epoch_size)
        half, total = self.batch_size // 2, self._total_batches()
        seeds = rng.integers(0, 2**31 - 1, size=(total, self.batch_size))
        for b in range(self.rank, total, self.world_size):
            rows = range(b * half, (b + 1) * half)
            keys = [(SOURCE, int(src[r]), int(seeds[b, k])) for k, r in enumerate(rows)]
            keys += [(TARGET, int(tgt[r]), int(seeds[b, half + k])) for k, r in enumerate(rows)]
            yield keys


class ShardedSampler(Sampler[tuple[int, int]]):
    """Single-domain sampler: optional shuffle by ``(seed, epoch)``, strided shard per rank, ``(index, seed)`` keys.

    With ``pad`` (training), the index list is wrapped to a multiple of ``world_size`` so all ranks get
    the same count; without it (evaluation), each sample appears on exactly one rank.
    """

    def __init__(
        self, n: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1, pad: bool = True
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"ShardedSampler: rank {rank} not in [0, {world_size})")
        self.n, self.shuffle, self.seed, self.rank, self.world_size, self.pad = n, shuffle, seed, rank, world_size, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch``."""
        self.epoch = epoch

    def _indices(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        idx = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        if self.pad and self.n and self.n % self.world_size:
            idx = np.concatenate([idx, idx[: self.world_size - self.n % self.world_size]])
        return idx

    def __len__(self) -> int:
        return len(self._indices()[self.rank :: self.world_size])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        idx = self._indices()
        seeds = np.random.default_rng([self.seed, self.epoch, 1]).integers(0, 2**31 - 1, size=len(idx))
        for k in range(self.rank, len(idx), self.world_size):
            yield int(idx[k]), int(seeds[k])


class TwoDomainDataset(Dataset):
    """Routes ``(domain, index, seed)`` keys to the source or the target dataset."""

    def __init__(self, source: Dataset, target: Dataset) -> None:
        self.source, self.target = source, target

    def __len__(self) -> int:
        return len(self.source) + len(self.target)

    def __getitem__(self, key: tuple[int, int, int]) -> Sample:
        domain, index, seed = key
        ds = self.source if domain == SOURCE else self.target
        sample = ds[(index, seed)]
        sample.domain = domain
        return sample
