"""The training stream: identical for the same seed, different for another, independent of how it is read."""

from __future__ import annotations

import torch

from awhourglass.demo.stream import CHUNK, GeneratedStream
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.distributed import DistInfo


def _stream(seed: int, labels_3d: bool = True, domain: str = "source") -> GeneratedStream:
    return GeneratedStream(domain, seed, image_size=64, input_size=32, gap=0.5, labels_3d=labels_3d)


def test_same_seed_same_samples_other_seed_other_samples():
    a, b, c = _stream(3), _stream(3), _stream(4)
    for i in (0, 1, CHUNK + 5):
        assert torch.equal(a[i].image, b[i].image) and torch.equal(a[i].xyz_m, b[i].xyz_m)
        assert not torch.equal(a[i].image, c[i].image)
        assert not torch.allclose(a[i].xyz_m, c[i].xyz_m)
    # every position is a new image, also across a chunk boundary
    images = [a[i].image for i in range(CHUNK - 2, CHUNK + 2)]
    assert all(not torch.equal(x, y) for k, x in enumerate(images) for y in images[k + 1:])


def test_order_of_reading_does_not_matter():
    fwd, back = _stream(7), _stream(7)
    first = [fwd[i].uv_px for i in range(CHUNK + 3)]
    later = [back[i].uv_px for i in reversed(range(CHUNK + 3))][::-1]
    assert all(torch.equal(x, y) for x, y in zip(first, later, strict=True))


def test_weak_target_has_no_3d_and_same_images():
    weak, full = _stream(1, labels_3d=False, domain="target"), _stream(1, labels_3d=True, domain="target")
    assert weak[2].xyz_m is None and full[2].xyz_m is not None
    assert torch.equal(weak[2].image, full[2].image) and weak[2].depth is not None


def test_step_batches_read_a_stream_in_order_with_and_without_a_worker():
    s = _stream(5)
    batches = StepBatches([s], [4], seed=0, phase="pretrain", dist=DistInfo())
    # step k holds positions 4k .. 4k+3: no shuffling, never a position twice
    assert [i for _, i, _ in batches.indices(3)] == [12, 13, 14, 15]
    inline = list(iterate_steps(batches, 0, 3, num_workers=0))
    worker = list(iterate_steps(StepBatches([_stream(5)], [4], 0, "pretrain", DistInfo()), 0, 3, num_workers=1))
    for a, b in zip(inline, worker, strict=True):
        assert torch.equal(a.image, b.image)
    assert torch.equal(inline[1].image[0], s[4].image)
