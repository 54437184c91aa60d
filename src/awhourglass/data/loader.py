"""Datasets from configs. Samples are read lazily (nothing but the label arrays is held in memory); training
batches them through :mod:`awhourglass.train.batches`, evaluation through :func:`awhourglass.eval.run.run_model`."""

from __future__ import annotations

from awhourglass.data.base import HandDataset
from awhourglass.data.config import DatasetConfig
from awhourglass.data.sample import SOURCE, TARGET


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
