"""Generate a whole on-disk dataset (``awh synth``): source → RHD files, target → STB files.

Frames are generated in chunks of CHUNK images; chunk ``k`` of split/sequence ``s`` is seeded with
``SeedSequence([seed, domain, s, k])``, so the files depend only on the config, never on timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from awhourglass.config import ConfigError
from awhourglass.errors import AwhError
from awhourglass.synth import writers
from awhourglass.synth.domains import DOMAINS, check_domain, domain_spec
from awhourglass.synth.generate import DEFAULT_GAP, generate_batch

CHUNK = 64
SPLITS = ("training", "evaluation", "both")


@dataclass(frozen=True)
class SynthConfig:
    """What ``awh synth`` writes.

    Attributes:
        domain: 'source' (RHD format) or 'target' (STB format).
        n: total number of images (over both splits when ``split='both'``).
        out: dataset root (the RHD_published_v2 folder, or the STB folder).
        seed: base seed; equal configs give byte-identical files.
        size: image width in pixels (source square, target 4:3).
        split: 'training', 'evaluation' or 'both'.
        eval_fraction: share of ``n`` that goes to evaluation when ``split='both'``.
        gap: target harshness in [0, 1] (see docs/synth.md).
    """

    domain: str
    n: int
    out: str
    seed: int = 0
    size: int = 128
    split: str = "both"
    eval_fraction: float = 0.1
    gap: float = DEFAULT_GAP

    def __post_init__(self) -> None:
        try:
            check_domain(self.domain)
            domain_spec(self.domain, self.size)  # validates the size
        except ValueError as exc:  # the library's argument check, here a user's setting
            raise ConfigError(str(exc)) from None
        if not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"--n must be a positive number of images, got {self.n!r}")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ConfigError(f"eval_fraction must be in (0, 1), got {self.eval_fraction!r}")
        if not 0.0 <= self.gap <= 1.0:
            raise ConfigError(f"gap must be in [0, 1], got {self.gap!r}")

    def split_sizes(self) -> dict[str, int]:
        """Images per split."""
        if self.split != "both":
            return {self.split: self.n}
        n_eval = max(1, round(self.n * self.eval_fraction)) if self.n >= 2 else 0
        return {"training": self.n - n_eval, "evaluation": n_eval}


def _even(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".awh_write_probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise AwhError(f"cannot write to output folder {str(root)!r}: {exc.strerror or exc}") from None


def write_dataset(cfg: SynthConfig, progress: bool = True) -> list[Path]:
    """Generate and write the dataset described by ``cfg``; return the annotation files written."""
    root = Path(cfg.out)
    _check_writable(root)
    spec = domain_spec(cfg.domain, cfg.size)
    dom = DOMAINS.index(cfg.domain)
    sizes = cfg.split_sizes()
    # Work units: (split or sequence name, unit index for seeding, frame count, pose mode).
    units: list[tuple[str, int, int, str | None]] = []
    for split, n in sizes.items():
        sid = ("training", "evaluation").index(split)
        if cfg.domain == "source":
            units.append((split, sid, n, None))
        else:
            seqs = writers.STB_SEQUENCES[split]
            for k, (seq, m) in enumerate(zip(seqs, _even(n, len(seqs)), strict=True)):
                if m > 0:
                    units.append((seq, 100 * sid + k, m, "counting" if seq.endswith("Counting") else "random"))
    # At STB's own size there is no intrinsics.json, so the depth PNGs must be what STB stores: the
    # depth camera's image. At other sizes they are registered to colour and intrinsics.json says so.
    sensor = cfg.domain == "target" and (spec.width, spec.height) == writers.STB_SIZE
    written: list[Path] = []
    bar = tqdm(total=cfg.n, desc=f"awh synth {cfg.domain}", unit="img", disable=not progress)
    try:
        if cfg.domain == "target":
            (root / "labels").mkdir(parents=True, exist_ok=True)
            path = writers.write_stb_intrinsics(root, spec.width, spec.height)
            if path is not None:
                written.append(path)
        for name, uid, n, mode in units:
            if cfg.domain == "source":
                writers.prepare_rhd(root, name)
            else:
                (root / name).mkdir(parents=True, exist_ok=True)
            records, xyz = [], []
            for c, start in enumerate(range(0, n, CHUNK)):
                k = min(CHUNK, n - start)
                ss = np.random.SeedSequence([cfg.seed, dom, uid, c])
                batch = generate_batch(k, cfg.domain, ss, cfg.size, cfg.gap, mode, sensor_depth=sensor)
                if cfg.domain == "source":
                    records += writers.write_rhd_images(root, name, start, batch)
                else:
                    writers.write_stb_images(root, name, start, batch)
                    xyz.append(batch["xyz_m"])
                bar.update(k)
            if cfg.domain == "source":
                written.append(writers.write_rhd_annotations(root, name, records))
            else:
                written.append(writers.write_stb_labels(root, name, np.concatenate(xyz)))
    finally:
        bar.close()
    return written
