"""awhourglass: Adaptive Wasserstein Hourglass for weakly supervised 3D hand pose estimation.

Zhang et al., "Adaptive Wasserstein Hourglass for Weakly Supervised Hand Pose Estimation from
Monocular RGB", AAAI 2020. See README.md for the tour and docs/ for the design notes.

``awhourglass.load(ckpt).predict(image)`` predicts a hand on your own image (:mod:`awhourglass.api`);
it is imported lazily so that ``import awhourglass`` stays light (no torch).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from awhourglass.api import load

        return load
    raise AttributeError(f"module 'awhourglass' has no attribute {name!r}")
