"""awhourglass: Adaptive Wasserstein Hourglass for weakly supervised 3D hand pose estimation.

Zhang et al., "Adaptive Wasserstein Hourglass for Weakly Supervised Hand Pose Estimation from
Monocular RGB", AAAI 2020. See README.md for the tour and docs/ for the design notes.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
