"""Temporal smoothing of joint tracks: the One-Euro filter, and the jitter it is judged by.

The One-Euro filter (Casiez, Roussel & Vogel, "1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input
in Interactive Systems", CHI 2012) is an exponential low-pass filter whose cutoff rises with the signal's speed:
at rest a low cutoff removes jitter, in motion a higher one keeps the lag small. Per coordinate, for a sample
``x_i`` at time ``t_i`` (``dt = t_i − t_{i−1}``):

- ``alpha(fc, dt) = 1 / (1 + tau / dt)`` with ``tau = 1 / (2π fc)`` (the paper's smoothing factor);
- derivative: ``dx_i = (x_i − x̂_{i−1}) / dt``, smoothed ``dx̂_i = alpha(d_cutoff, dt)·dx_i + (1 − alpha)·dx̂_{i−1}``;
- cutoff ``fc_i = min_cutoff + beta·|dx̂_i|``; output ``x̂_i = alpha(fc_i, dt)·x_i + (1 − alpha)·x̂_{i−1}``;
- the first sample passes unchanged (``x̂_0 = x_0``, ``dx̂_0 = 0``).

The defaults are for joint pixels at video rates (docs/video.md): ``min_cutoff = 1 Hz`` (at 30 fps ``alpha ≈
0.17``: a still hand's jitter shrinks about 3×), ``beta = 0.05 /px`` (a hand moving at 100 px/s raises the cutoff
to 6 Hz, so it lags by ~1/40 s instead of ~1/6 s), ``d_cutoff = 1 Hz`` (the paper's value). ``beta`` is per unit of
the signal: for a video 4× larger, divide it by 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from awhourglass.errors import AwhError

DEFAULT_MIN_CUTOFF_HZ = 1.0
DEFAULT_BETA_PER_PX = 0.05
DEFAULT_D_CUTOFF_HZ = 1.0

JITTER_DEFINITION = ("mean over consecutive frame pairs and the 21 joints of the 2D displacement "
                     "|uv_k - uv_(k-1)| in original pixels (on a still hand: jitter only)")


class SmoothingError(AwhError):
    """Unusable filter parameters (a cutoff that is not a positive frequency, a negative beta)."""


def smoothing_factor(cutoff_hz: float | np.ndarray, dt_s: float) -> float | np.ndarray:
    """The paper's ``alpha = 1 / (1 + tau / dt)``, ``tau = 1 / (2π · cutoff)``, in (0, 1).

    Args:
        cutoff_hz: cutoff frequency (Hz), a number or an array (one per coordinate).
        dt_s: time since the previous sample (s), positive.
    """
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    alpha = 1.0 / (1.0 + tau / dt_s)
    return float(alpha) if np.ndim(alpha) == 0 else alpha


@dataclass(frozen=True)
class OneEuroParams:
    """The filter's three parameters (module docstring; docs/video.md).

    Attributes:
        min_cutoff_hz: cutoff at rest (Hz); lower = smoother and laggier when still.
        beta: cutoff increase per unit of speed (Hz per signal unit/s, i.e. 1/px for pixels); higher = less lag
            in motion.
        d_cutoff_hz: cutoff of the speed estimate (Hz).
    """

    min_cutoff_hz: float = DEFAULT_MIN_CUTOFF_HZ
    beta: float = DEFAULT_BETA_PER_PX
    d_cutoff_hz: float = DEFAULT_D_CUTOFF_HZ

    def __post_init__(self) -> None:
        for name in ("min_cutoff_hz", "d_cutoff_hz"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise SmoothingError(f"{name}: expected a positive frequency in Hz, got {v!r}")
        if not (isinstance(self.beta, (int, float)) and math.isfinite(self.beta) and self.beta >= 0):
            raise SmoothingError(f"beta: expected a finite number >= 0, got {self.beta!r}")


class OneEuroFilter:
    """A One-Euro filter over arrays of any fixed shape (every element filtered on its own).

    Call it with each sample in time order: ``x̂ = f(t_s, x)``; :meth:`reset` starts a new track (the next
    sample passes unchanged).
    """

    def __init__(self, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample starts a new track."""
        self._t: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, t_s: float, x: np.ndarray) -> np.ndarray:
        """Filter sample ``x`` (any shape, the same every call) taken at ``t_s`` seconds; returns ``x̂`` (float64).

        Raises:
            ValueError: a time not after the previous one, or a shape that changed (bugs of the caller).
        """
        x = np.array(x, dtype=np.float64)
        t = float(t_s)
        if self._x is None:
            self._t, self._x, self._dx = t, x, np.zeros_like(x)
            return x.copy()
        assert self._t is not None and self._dx is not None  # set together with self._x
        if x.shape != self._x.shape:
            raise ValueError(f"OneEuroFilter: sample shape {x.shape} differs from the track's {self._x.shape}")
        dt = t - self._t
        if not dt > 0:
            raise ValueError(f"OneEuroFilter: times must increase, got {t} after {self._t}")
        p = self.params
        a_d = smoothing_factor(p.d_cutoff_hz, dt)
        dx = a_d * (x - self._x) / dt + (1.0 - a_d) * self._dx
        a = smoothing_factor(p.min_cutoff_hz + p.beta * np.abs(dx), dt)
        x_hat = a * x + (1.0 - a) * self._x
        self._t, self._x, self._dx = t, x_hat, dx
        return x_hat.copy()


def jitter_px(uv_px: np.ndarray) -> float:
    """Jitter of a joint track (:data:`JITTER_DEFINITION`): mean frame-to-frame 2D displacement in pixels.

    Args:
        uv_px: ``(T, J, 2)`` joints of ``T`` consecutive frames, pixels.

    Returns:
        The mean of ``|uv[k, j] − uv[k−1, j]|`` over ``k = 1..T−1`` and all joints ``j``; NaN when ``T < 2``.
    """
    uv = np.asarray(uv_px, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[-1] != 2:
        raise ValueError(f"uv_px: expected (T, J, 2), got {uv.shape}")
    if uv.shape[0] < 2:
        return float("nan")
    return float(np.linalg.norm(np.diff(uv, axis=0), axis=-1).mean())
