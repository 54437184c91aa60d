"""Dataset readers (every format of ``data.config.READERS``) → :class:`Sample`; crop/augment. Batches:
:mod:`awhourglass.train.batches`.

Typical use::

    from awhourglass.data import DatasetConfig, build_dataset
    src = build_dataset(DatasetConfig(format="rhd", root="RHD_published_v2", input_size=128))  # source, 3D labels
    tgt = build_dataset(DatasetConfig(format="stb", root="STB", input_size=128, labels="2d"))  # target, weak labels
    src[0]                                                                                      # a Sample, 128²
"""

from awhourglass.data.config import AugmentConfig, DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset
from awhourglass.data.sample import SOURCE, TARGET, Batch, Sample, collate

__all__ = [
    "SOURCE",
    "TARGET",
    "AugmentConfig",
    "Batch",
    "DataError",
    "DatasetConfig",
    "Sample",
    "build_dataset",
    "collate",
]
