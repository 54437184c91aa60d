"""Datasets from configs. Samples are read lazily (nothing but the label arrays is held in memory); training
batches them through :mod:`awhourglass.train.batches`, evaluation through :func:`awhourglass.eval.run.run_model`."""

from __future__ import annotations

from awhourglass.data.base import HandDataset
from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.sample import SOURCE, TARGET


def build_dataset(cfg: DatasetConfig, domain: int | None = None, *, allow_empty: bool = False) -> HandDataset:
    """The reader for ``cfg.format``; ``domain`` defaults to SOURCE for RHD, TARGET for the real datasets.

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
    if cfg.format == "mmpose-rhd":
        from awhourglass.data.mmpose import MMPoseRHDDataset

        return MMPoseRHDDataset(cfg, SOURCE if domain is None else domain)
    if cfg.format == "mmpose-freihand":
        from awhourglass.data.mmpose import MMPoseFreiHANDDataset

        return MMPoseFreiHANDDataset(cfg, TARGET if domain is None else domain)
    if cfg.format == "interhand":
        from awhourglass.data.interhand import InterHandDataset

        return InterHandDataset(cfg, TARGET if domain is None else domain)
    raise ValueError(f"unknown dataset format {cfg.format!r}; expected rhd, stb, freihand, mpd, mmpose-rhd, "
                     "mmpose-freihand or interhand")
