"""Tiny synthetic batches for the step-function tests (no files, no network)."""

from __future__ import annotations

import pytest
import torch

from awhourglass.data.sample import Batch
from awhourglass.geometry import project


def fake_batch(n: int, size: int, domain: int, *, has_3d: bool = True, has_depth: bool = True,
               seed: int = 0) -> Batch:
    """``n`` random hands in front of a pinhole camera, projected into ``size²`` crops."""
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(n, 21, 3, generator=g) * 0.08 - 0.04
    xyz[..., 2] += 0.5
    f = size * 2.0
    K = torch.tensor([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]]).expand(n, 3, 3).clone()
    uv = project(xyz, K)
    depth = torch.rand(n, 1, size, size, generator=g)
    mask = torch.zeros(n, 1, size, size, dtype=torch.bool)
    q = size // 4
    mask[..., q : size - q, q : size - q] = True
    depth = torch.where(mask, depth, torch.zeros_like(depth))
    if not has_3d:
        xyz = torch.full_like(xyz, float("nan"))
    if not has_depth:
        depth = torch.full_like(depth, float("nan"))
        mask = torch.zeros_like(mask)
    return Batch(
        image=torch.rand(n, 3, size, size, generator=g),
        K=K,
        uv_px=uv,
        vis=torch.ones(n, 21, dtype=torch.bool),
        xyz_m=xyz,
        has_3d=torch.full((n,), has_3d),
        depth=depth,
        depth_mask=mask,
        has_depth=torch.full((n,), has_depth),
        domain=torch.full((n,), domain, dtype=torch.int64),
        hand_side=["right"] * n,
        source=[f"fake{i}" for i in range(n)],
    )


@pytest.fixture
def make_batch():
    """Factory fixture: ``make_batch(n, size, domain, has_3d=..., has_depth=..., seed=...)``."""
    return fake_batch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks on a shared 2-core machine: intra-op threads only add contention.

    Module scope so module-scoped reference runs use the same thread count as the tests comparing
    against them (CPU float results depend on the number of threads).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
