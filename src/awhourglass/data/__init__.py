"""Dataset readers (RHD, STB, FreiHAND, MPD) → :class:`Sample`; crop/augment; two-domain loaders.

Typical use::

    from awhourglass.data import DatasetConfig, LoaderConfig, build_dataset, make_two_domain_loader
    src = build_dataset(DatasetConfig(format="rhd", root="RHD_published_v2"))            # source, 3D labels
    tgt = build_dataset(DatasetConfig(format="stb", root="STB", labels="2d"))              # target, weak labels
    loader = make_two_domain_loader(src, tgt, LoaderConfig(batch_size=32))
"""

from awhourglass.data.config import AugmentConfig, DatasetConfig, LoaderConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset, make_loader, make_two_domain_loader
from awhourglass.data.sample import SOURCE, TARGET, Batch, Sample, collate

__all__ = [
    "SOURCE",
    "TARGET",
    "AugmentConfig",
    "Batch",
    "DataError",
    "DatasetConfig",
    "LoaderConfig",
    "Sample",
    "build_dataset",
    "collate",
    "make_loader",
    "make_two_domain_loader",
]
