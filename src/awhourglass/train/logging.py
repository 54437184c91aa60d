"""Training metrics: one CSV per phase (always) and TensorBoard (only if ``tensorboard`` is installed).

Rows are ``step, time_s, lr, <named losses...>``; the header is fixed by the first row of a phase.
On resume the CSV is cut back to the resumed step, so steps redone after a kill are not duplicated.
Only rank 0 writes.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

from awhourglass.atomic import atomic_open


def _open_tensorboard(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter  # needs the optional tensorboard package
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(log_dir))


def format_losses(values: dict[str, float], keys: int = 8) -> str:
    """Compact ``name=value`` text for progress bars, ``total`` first."""
    order = sorted(values, key=lambda k: (k != "total", k.startswith("critic_")))
    return " ".join(f"{k}={values[k]:.3g}" for k in order[:keys])


class MetricLogger:
    """Append metrics rows to ``<run_dir>/<phase>.csv`` (and TensorBoard under ``<run_dir>/tb``)."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.dir = Path(run_dir)
        self.enabled = enabled
        self._tb = _open_tensorboard(self.dir / "tb") if (enabled and tensorboard) else None
        self._start = time.monotonic()

    def path(self, phase: str) -> Path:
        return self.dir / f"{phase}.csv"

    def truncate(self, phase: str, keep_through_step: int) -> None:
        """Drop rows of ``phase`` with step > ``keep_through_step`` (steps that will be redone)."""
        path = self.path(phase)
        if not self.enabled or not path.exists():
            return
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        header, body = rows[0], rows[1:]
        kept = [r for r in body if r and int(r[0]) <= keep_through_step]
        with atomic_open(path, "w") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(kept)

    def log(self, phase: str, step: int, values: dict[str, float], lr: float | None = None) -> None:
        """One row: ``step`` counts completed steps of ``phase`` (1-based)."""
        if not self.enabled:
            return
        path = self.path(phase)
        row: dict[str, Any] = {"step": step, "time_s": round(time.monotonic() - self._start, 3), "lr": lr}
        row.update(values)
        new = not path.exists() or path.stat().st_size == 0
        if new:
            fields = list(row)
        else:
            with path.open(newline="") as f:
                fields = next(csv.reader(f))
            extra = [k for k in row if k not in fields]
            if extra:
                raise ValueError(f"{path}: new metric(s) {extra} not in the header {fields}")
        self.dir.mkdir(parents=True, exist_ok=True)
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            if new:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, float) and math.isfinite(v):
                    self._tb.add_scalar(f"{phase}/{k}", v, step)
            if lr is not None:
                self._tb.add_scalar(f"{phase}/lr", lr, step)

    def message(self, text: str) -> None:
        """A line in ``<run_dir>/train.log``."""
        if not self.enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "train.log").open("a") as f:
            f.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {text}\n")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


__all__ = ["MetricLogger", "format_losses"]
