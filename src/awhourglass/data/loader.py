"""Datasets from configs. Samples are read lazily (nothing but the label arrays is held in memory); training
batches them through :mod:`awhourglass.train.batches`, evaluation through :func:`awhourglass.eval.run.run_model`."""

from __future__ import annotations

import importlib

from awhourglass.data.base import HandDataset
from awhourglass.data.config import READERS, DatasetConfig
from awhourglass.data.io import DataError


def build_dataset(cfg: DatasetConfig, domain: int | None = None, *, allow_empty: bool = False) -> HandDataset:
    """The reader for ``cfg.format`` (:data:`~awhourglass.data.config.READERS`); ``domain`` defaults to the
    format's: SOURCE for RHD, TARGET for the real datasets, a pack's that of the format it packed.

    Raises:
        DataError: the dataset has no sample (unless ``allow_empty``): named at load, not as an empty batch later.
    """
    ds = _reader(cfg, domain)
    if len(ds) == 0 and not allow_empty:
        raise DataError(cfg.root, no_samples(ds))
    return ds


def no_samples(ds: HandDataset) -> str:
    """Why ``ds`` is empty, in one line: the format and split read, and the samples dropped as bad."""
    cfg = ds.cfg
    where = f"no samples ({cfg.format}, split {cfg.split}"
    where += f", sequences {list(cfg.sequences)})" if cfg.sequences else ")"
    if ds.bad_count:
        where += f": all {ds.bad_count} were bad, the first: {ds.bad_files[0]}"
    return where


def _reader(cfg: DatasetConfig, domain: int | None) -> HandDataset:
    if cfg.format not in READERS:
        raise ValueError(f"unknown dataset format {cfg.format!r}; expected one of {', '.join(READERS)}")
    module, name, default = READERS[cfg.format]
    reader = getattr(importlib.import_module(module), name)
    return reader(cfg, default if domain is None else domain)
