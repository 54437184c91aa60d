"""Datasets from configs, and DataLoaders: single-domain (train / eval) and two-domain (half source, half target).

Samples are read lazily in worker processes (nothing but the label arrays is held in memory), with
persistent workers and one torch thread per worker so ``num_workers = 2`` keeps this machine's 2 cores busy.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from awhourglass.data.base import HandDataset
from awhourglass.data.config import DatasetConfig, LoaderConfig
from awhourglass.data.sample import SOURCE, TARGET, collate
from awhourglass.data.sampler import ShardedSampler, TwoDomainBatchSampler, TwoDomainDataset


def build_dataset(cfg: DatasetConfig, domain: int | None = None) -> HandDataset:
    """The reader for ``cfg.format``; ``domain`` defaults to SOURCE for RHD, TARGET for the real datasets."""
    if cfg.format == "rhd":
        from awhourglass.data.rhd import RHDDataset

        return RHDDataset(cfg, SOURCE if domain is None else domain)
    if cfg.format == "stb":
        from awhourglass.data.stb import STBDataset

        return STBDataset(cfg, TARGET if domain is None else domain)
    if cfg.format == "freihand":
        from awhourglass.data.freihand import FreiHANDDataset

        return FreiHANDDataset(cfg, TARGET if domain is None else domain)
    if cfg.format == "mpd":
        from awhourglass.data.mpd import MPDDataset

        return MPDDataset(cfg, TARGET if domain is None else domain)
    raise ValueError(f"unknown dataset format {cfg.format!r}; expected rhd, stb, freihand or mpd")


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # one core per worker: the workers themselves are the parallelism


def _loader_kwargs(cfg: LoaderConfig) -> dict:
    kw: dict = {"num_workers": cfg.num_workers, "collate_fn": collate, "pin_memory": cfg.pin_memory}
    if cfg.num_workers > 0:
        kw.update(
            persistent_workers=cfg.persistent_workers, prefetch_factor=cfg.prefetch_factor, worker_init_fn=_worker_init
        )
    return kw


def make_loader(
    dataset: HandDataset, cfg: LoaderConfig, *, train: bool, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """A single-domain loader: training (shuffled per epoch, padded shards) or evaluation (in order, exact shards).

    Call ``loader.sampler.set_epoch(e)`` before each training epoch.
    """
    sampler = ShardedSampler(
        len(dataset), shuffle=train and cfg.shuffle, seed=cfg.seed, rank=rank, world_size=world_size, pad=train
    )
    return DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=train and cfg.drop_last, **_loader_kwargs(cfg)
    )


def make_two_domain_loader(
    source: HandDataset, target: HandDataset, cfg: LoaderConfig, *, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """Stage-2 loader: each batch is ``batch_size/2`` source then ``batch_size/2`` target samples.

    ``batch.domain`` tells the halves apart. Call ``loader.batch_sampler.set_epoch(e)`` before each epoch.
    """
    sampler = TwoDomainBatchSampler(
        len(source), len(target), cfg.batch_size, seed=cfg.seed, epoch_size=cfg.epoch_size, rank=rank,
        world_size=world_size,
    )
    return DataLoader(TwoDomainDataset(source, target), batch_sampler=sampler, **_loader_kwargs(cfg))
