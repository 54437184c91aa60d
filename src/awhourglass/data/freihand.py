"""FreiHAND reader: ``{split}_K.json`` (N, 3, 3), ``{split}_xyz.json`` (N, 21, 3) m, ``{split}/rgb/%08d.jpg``.

The training set's N labelled samples appear 4 times with different backgrounds: image ``i + k·N`` is
version ``k`` of sample ``i`` (k = 0 is the green-screen original). Right hands, canonical order. No depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from awhourglass.config import ConfigError
from awhourglass.data.base import HandDataset
from awhourglass.data.config import DatasetConfig
from awhourglass.data.crop import RawSample
from awhourglass.data.io import DataError, as_float_array, check_K, load_json, read_image
from awhourglass.data.sample import TARGET
from awhourglass.geometry import project
from awhourglass.skeleton import freihand_to_canonical


class FreiHANDDataset(HandDataset):
    """FreiHAND samples × the configured background versions (training) or the evaluation set."""

    def __init__(self, cfg: DatasetConfig, domain: int = TARGET) -> None:
        super().__init__(cfg, domain)
        self.root = Path(cfg.root)
        if cfg.split == "all":
            raise ConfigError("DatasetConfig.split: FreiHAND's is train or test/eval (the two sets have different "
                              "files), not all")
        self.prefix = "training" if cfg.split == "train" else "evaluation"
        k_path, xyz_path = self.root / f"{self.prefix}_K.json", self.root / f"{self.prefix}_xyz.json"
        K = as_float_array(load_json(k_path), (-1, 3, 3), k_path, "K")
        xyz = as_float_array(load_json(xyz_path), (-1, 21, 3), xyz_path, "xyz")
        if len(K) != len(xyz):
            raise DataError(xyz_path, f"{len(xyz)} joint sets but {len(K)} intrinsics in {k_path.name}")
        self.n_labels = len(K)
        versions = cfg.freihand_versions if self.prefix == "training" else (0,)
        if any(v not in range(4) for v in versions):
            raise ConfigError(f"DatasetConfig.freihand_versions must be within 0..3, got {versions}")
        good = []
        for i in range(self.n_labels):
            try:
                check_K(K[i], k_path, f"sample {i} K")
            except DataError as err:
                self._bad(err)
                continue
            if not np.isfinite(xyz[i]).all():
                self._bad(DataError(xyz_path, f"sample {i}: non-finite joint coordinates (NaN or inf)"))
            elif (xyz[i, :, 2] <= 0).any():
                self._bad(DataError(xyz_path, f"sample {i}: joints behind the camera (z <= 0)"))
            else:
                good.append(i)
        self.items = [(v, i) for v in versions for i in good]
        self.items = self.items[: self._limit(len(self.items))]
        self.K = K
        self.xyz = freihand_to_canonical(xyz)

    def __len__(self) -> int:
        return len(self.items)

    def image_path(self, index: int) -> Path:
        v, i = self.items[index]
        return self.root / self.prefix / "rgb" / f"{i + v * self.n_labels:08d}.jpg"

    def read_raw(self, index: int) -> RawSample:
        _, i = self.items[index]
        path = self.image_path(index)
        xyz = self.xyz[i]
        return RawSample(
            image=read_image(path, "RGB"),
            K=self.K[i],
            uv_px=project(xyz, self.K[i]),
            vis=np.ones(21, bool),
            xyz_m=xyz,
            depth_m=None,
            mask=None,
            hand_side="right",
            source=str(path),
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["labelled"] = self.n_labels
        out["versions"] = sorted({v for v, _ in self.items})
        return out
