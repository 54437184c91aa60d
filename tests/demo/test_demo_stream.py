"""The training stream: identical for the same seed, different for another, independent of how it is read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from awhourglass.data.config import AugmentConfig
from awhourglass.data.sample import SOURCE, TARGET
from awhourglass.demo.data import samples_from_batch
from awhourglass.demo.stream import CHUNK, GeneratedStream, prerender
from awhourglass.geometry import project
from awhourglass.synth.generate import generate_batch
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


AUG = AugmentConfig(enabled=True, rotation_deg=30.0, hue=0.1, blur_prob=0.5, noise_prob=0.5, cutout_prob=0.5)


def _aug_stream(seed: int, domain: str = "source", augment: AugmentConfig | None = AUG) -> GeneratedStream:
    return GeneratedStream(domain, seed, image_size=64, input_size=32, gap=0.5, augment=augment)


def test_augment_none_is_the_plain_stream():
    plain, none = _stream(2), _aug_stream(2, augment=None)
    for i in (0, 9):
        for f in ("image", "uv_px", "xyz_m", "K", "depth"):
            assert torch.equal(getattr(plain[i], f), getattr(none[i], f))


def test_augmented_stream_depends_only_on_seed_domain_and_position():
    a, b = _aug_stream(3), _aug_stream(3)
    later = [b[i] for i in reversed(range(CHUNK + 2))][::-1]  # read backwards, across a chunk boundary
    for i in range(CHUNK + 2):
        assert torch.equal(a[i].image, later[i].image) and torch.equal(a[i].uv_px, later[i].uv_px)
    plain = _stream(3)
    assert sum(not torch.equal(a[i].uv_px, plain[i].uv_px) for i in range(8)) == 8  # every crop turned
    # the renders are the stream's own: un-augmented and augmented crops show the same hand (same 3D up to R_z)
    for i in range(4):
        ra, rp = a[i].xyz_m.double().numpy(), plain[i].xyz_m.double().numpy()
        np.testing.assert_allclose(np.linalg.norm(ra, axis=1), np.linalg.norm(rp, axis=1), atol=1e-5)
        np.testing.assert_allclose(ra[:, 2], rp[:, 2], atol=1e-5)  # a roll about the optical axis keeps depth


@pytest.mark.parametrize("domain", ["source", "target"])
def test_augmented_stream_labels_stay_consistent(domain):
    s = _aug_stream(4, domain)
    for i in range(6):
        x = s[i]
        err = np.abs(project(x.xyz_m.double().numpy(), x.K.double().numpy()) - x.uv_px.double().numpy()).max()
        assert err < 1e-3


def test_a_flip_is_refused_since_left_hands_are_mirrored():
    with pytest.raises(ValueError, match="flip_prob"):
        _aug_stream(0, augment=AugmentConfig(enabled=True, flip_prob=0.5))


def test_a_cached_stream_gives_the_same_samples_and_a_second_reader_does_not_render(tmp_path, monkeypatch):
    import dataclasses

    import awhourglass.demo.stream as stream_mod

    first = GeneratedStream("target", 4, 48, 32, 0.5, labels_3d=False, cache_dir=tmp_path)
    positions = (0, 5, 31, 32, 40)
    got = [first[i] for i in positions]
    assert len(list(tmp_path.rglob("*.pt"))) == 2  # chunks 0 and 1
    monkeypatch.setattr(stream_mod, "generate_batch", lambda *a, **k: (_ for _ in ()).throw(AssertionError("render")))
    second = GeneratedStream("target", 4, 48, 32, 0.5, labels_3d=True, cache_dir=tmp_path)  # e.g. the oracle
    for i, a in zip(positions, got, strict=True):
        b = second[i]
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if f.name == "xyz_m":
                assert x is None and y is not None  # the cache keeps 3D labels; labels_3d=False drops them
            elif isinstance(x, torch.Tensor):
                assert torch.equal(x, y), f.name
            else:
                assert x == y, f.name
    # A stream with other settings does not read these files.
    other = GeneratedStream("target", 4, 48, 32, 0.25, labels_3d=False, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="render"):
        other[0]


def test_the_cache_does_not_change_what_a_stream_yields(tmp_path):
    import dataclasses

    plain = GeneratedStream("source", 2, 48, 32, 0.5)
    cached = GeneratedStream("source", 2, 48, 32, 0.5, cache_dir=tmp_path)
    again = GeneratedStream("source", 2, 48, 32, 0.5, cache_dir=tmp_path)
    for i in (0, 7, 33):
        a, b, c = plain[i], cached[i], again[i]
        for f in dataclasses.fields(a):
            x, y, z = getattr(a, f.name), getattr(b, f.name), getattr(c, f.name)
            if isinstance(x, torch.Tensor):
                assert torch.equal(x, y) and torch.equal(x, z), f.name
            else:
                assert x == y == z, f.name


@pytest.mark.parametrize("domain", [SOURCE, TARGET])
def test_hidden_joints_are_labelled_where_they_project_and_inside_the_crop(domain):
    b = generate_batch(16, "source" if domain == SOURCE else "target", seed=5, size=96)
    hidden = ~b["vis"].astype(bool)
    assert hidden.sum() >= 16  # the renderer hides joints (fists, the palm, other hands): the case in question
    for i, x in enumerate(samples_from_batch(b, domain, 32, "t", 0, labels_3d=True)):
        assert bool(x.vis.all())  # every joint is supervised, hidden or not
        uv = x.uv_px.double().numpy()
        np.testing.assert_allclose(project(x.xyz_m.double().numpy(), x.K.double().numpy()), uv, atol=1e-3)
        assert (uv > -0.5).all() and (uv < 31.5).all(), f"image {i}: a joint outside its crop"


def test_prerender_fills_the_cache_with_what_the_streams_would_render(tmp_path, monkeypatch):
    import dataclasses

    import awhourglass.demo.stream as stream_mod

    streams = [GeneratedStream(d, 6, 48, 32, 0.5, cache_dir=tmp_path) for d in ("source", "target")]
    streams[1][40]  # chunk 1 of the target is already cached: prerender must not render it again
    assert prerender(streams, 2, processes=2) == 3  # source 0, 1 and target 0, in two worker processes
    assert sorted(p.name for p in tmp_path.rglob("*.pt")) == ["0.pt", "0.pt", "1.pt", "1.pt"]
    assert prerender(streams, 2, processes=2) == 0
    plain = [GeneratedStream(d, 6, 48, 32, 0.5) for d in ("source", "target")]  # no cache: rendered here
    expected = {(k, i): plain[k][i] for k in (0, 1) for i in (0, 31, 33, 63)}
    monkeypatch.setattr(stream_mod, "generate_batch", lambda *a, **k: (_ for _ in ()).throw(AssertionError("render")))
    readers = [GeneratedStream(d, 6, 48, 32, 0.5, cache_dir=tmp_path) for d in ("source", "target")]
    for (k, i), a in expected.items():
        b = readers[k][i]
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y, (k, i, f.name)
    with pytest.raises(ValueError, match="processes"):
        prerender(streams, 1, processes=0)
