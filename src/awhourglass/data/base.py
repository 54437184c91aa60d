"""The dataset base class shared by every reader of ``data.config.READERS``: lazy per-sample reads, seeded
augmentation, bad-file policy."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from awhourglass.data.config import DatasetConfig
from awhourglass.data.crop import RawSample, draw_augment, make_sample
from awhourglass.data.io import DataError
from awhourglass.data.sample import SOURCE, Sample

_MAX_SKIPS = 50  # consecutive bad samples tolerated under skip_bad before giving up
_MAX_PENDING = 10_000  # skip lines kept until take_skipped(); training takes them every batch (<= batch × 51)


class HandDataset(Dataset):
    """A dataset of hand crops: subclasses index the labels at construction and read files in :meth:`read_raw`.

    Indexing accepts an int, or ``(index, seed[, batch_finishes])`` from training's batches
    (:mod:`awhourglass.train.batches`) so that augmentation is deterministic whatever worker process reads the
    sample (``takes_seed``), and pixel work may be left to the batch (``augment.on_batch``).

    Attributes:
        cfg: the :class:`DatasetConfig` (its ``input_size`` is needed to crop a sample, not to read the
            records: :meth:`DatasetConfig.require_input_size`).
        domain: :data:`SOURCE` / :data:`TARGET` stamped on samples.
        bad_count: samples skipped in this process (``skip_bad``), or dropped while indexing.
        bad_files: ``"<file>: <problem>"`` lines of those samples (first 100).
        stores_crops: the records' images are stored crops at most 1024 pixels (a pack), whose resampling a
            batch can do (``augment.on_batch``).
    """

    stores_crops = False

    def __init__(self, cfg: DatasetConfig, domain: int = SOURCE) -> None:
        self.cfg = cfg
        self.domain = domain
        self.bad_count = 0
        self.bad_files: list[str] = []
        self._skipped: list[str] = []  # since the last take_skipped(): training reports them per batch

    # --- subclass API ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        raise NotImplementedError

    def read_raw(self, index: int) -> RawSample:
        """Read record ``index`` from disk (full resolution, canonical order, as recorded)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Counts and splits for ``awh data check``."""
        return {"format": self.cfg.format, "root": self.cfg.root, "split": self.cfg.split, "samples": len(self)}

    # --- shared ------------------------------------------------------------------------------------------------
    def _bad(self, err: DataError | str) -> None:
        """Record a bad file (raise unless ``skip_bad``)."""
        if not self.cfg.skip_bad:
            raise err if isinstance(err, DataError) else DataError(err, "bad sample")
        self.bad_count += 1
        if len(self.bad_files) < 100:
            self.bad_files.append(str(err))
        if len(self._skipped) < _MAX_PENDING:  # bounded for readers whose skips nobody takes (eval, data check)
            self._skipped.append(str(err))
        warnings.warn(f"skipping bad sample ({self.bad_count} so far): {err}", stacklevel=3)

    takes_seed = True

    def take_skipped(self) -> list[str]:
        """The bad samples skipped (``skip_bad``) since the last call, as ``"<file>: <problem>"`` lines."""
        out, self._skipped = self._skipped, []
        return out

    def _limit(self, n: int) -> int:
        return n if self.cfg.max_samples is None else min(n, self.cfg.max_samples)

    def read_checked(self, index: int) -> RawSample:
        """:meth:`read_raw`, any failure as a one-line :class:`DataError`."""
        try:
            return self.read_raw(index)
        except DataError:
            raise
        except (OSError, ValueError, IndexError, KeyError, TypeError) as exc:  # a reader bug or odd file: one line
            raise DataError(f"{self.cfg.root} sample {index}", f"{type(exc).__name__}: {exc}") from None

    def load(self, index: int, seed: int | None = None, batch_finishes: bool = False) -> Sample:
        """Read and crop sample ``index``; ``seed`` drives its augmentation (default: cfg.seed and index).

        ``batch_finishes``: the caller finishes pixel work on the batch (:mod:`awhourglass.data.pending`), so
        with ``augment.on_batch`` the sample leaves it pending; otherwise every sample comes finished.
        """
        input_size = self.cfg.require_input_size()  # before the read: a config error, not a bad sample
        raw = self.read_checked(index)
        if self.cfg.labels == "2d":
            raw.xyz_m = None
        if not self.cfg.with_depth:
            raw.depth_m = raw.mask = None
        rng = np.random.default_rng([self.cfg.seed, index] if seed is None else [seed, index])
        aug = draw_augment(rng, self.cfg.augment)
        mirror = self.cfg.mirror_left and raw.hand_side == "left"
        try:
            return make_sample(
                raw,
                input_size=input_size,
                crop_margin=self.cfg.crop_margin,
                min_crop_px=self.cfg.min_crop_px,
                mirror=mirror,
                aug=aug,
                depth_band_m=self.cfg.depth_band_m,
                domain=self.domain,
                on_batch=batch_finishes and self.cfg.augment.enabled and self.cfg.augment.on_batch,
                defer_crop=self.stores_crops,
            )
        except ValueError as exc:
            raise DataError(raw.source, f"cannot crop ({exc})") from None

    def __getitem__(self, key: int | tuple[int, int] | tuple[int, int, bool]) -> Sample:
        """Sample ``key``: an index, ``(index, seed)``, or ``(index, seed, batch_finishes)`` (see :meth:`load`)."""
        if isinstance(key, (int, np.integer)):
            index, seed, batch_finishes = key, None, False
        else:
            index, seed, batch_finishes = int(key[0]), int(key[1]), bool(key[2]) if len(key) > 2 else False
        n = len(self)
        if n == 0:
            raise IndexError("empty dataset")
        index = int(index)
        for attempt in range(_MAX_SKIPS + 1):
            i = (index + attempt) % n
            try:
                return self.load(i, seed, batch_finishes)
            except DataError as err:
                self._bad(err)
        raise DataError(self.cfg.root, f"{_MAX_SKIPS} bad samples in a row from index {index}; giving up")


def check_joints_finite(arr: np.ndarray, where: str) -> str | None:
    """A problem line if ``arr`` holds NaN/inf, else None."""
    if not np.isfinite(arr).all():
        return f"{where}: non-finite joint coordinates (NaN or inf)"
    return None
