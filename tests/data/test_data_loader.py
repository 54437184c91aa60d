"""The readers through training's one batching path (:mod:`awhourglass.train.batches`): half/half batches with a
weak target, seeded augmentation, and workers that give the same batches as the main process."""

import pytest
import torch
from conftest import make_rhd, make_stb

from awhourglass.config import ConfigError, from_dict
from awhourglass.data.config import DatasetConfig
from awhourglass.data.loader import build_dataset
from awhourglass.data.sample import SOURCE, TARGET
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.distributed import DistInfo


def _datasets(tmp_path, **target_kw):
    make_rhd(tmp_path / "rhd", sides=("right", "left", "right", "left"))
    make_stb(tmp_path / "stb")
    src = build_dataset(from_dict(DatasetConfig, {"format": "rhd", "root": str(tmp_path / "rhd"), "input_size": 32,
                                                 "augment": {"enabled": True}}))
    tgt = build_dataset(from_dict(DatasetConfig, {"format": "stb", "root": str(tmp_path / "stb"), "input_size": 32,
                                                 "labels": "2d", **target_kw}))
    return src, tgt


def _steps(src, tgt, seed, workers, n=3):
    return list(iterate_steps(StepBatches([src, tgt], [2, 2], seed, "adapt", DistInfo()), 0, n, workers))


def test_two_domain_batches_weak_target(tmp_path):
    src, tgt = _datasets(tmp_path)
    batches = _steps(src, tgt, 5, 0)
    for b in batches:
        assert b.image.shape == (4, 3, 32, 32)
        assert b.domain.tolist() == [SOURCE, SOURCE, TARGET, TARGET]
        assert b.has_3d.tolist() == [True, True, False, False]  # target 3D hidden: weak supervision
        assert torch.isnan(b.xyz_m[2:]).all() and torch.isfinite(b.xyz_m[:2]).all()
        assert b.has_depth.all()
    # every source sample once per epoch (4 samples, 2 per step): steps 0 and 1 hold all four
    assert sorted(batches[0].source[:2] + batches[1].source[:2]) == sorted(src[i].source for i in range(4))
    again = _steps(src, tgt, 5, 0)
    assert all(torch.equal(x.image, y.image) for x, y in zip(batches, again, strict=True))  # augmentation seeded


def test_workers_give_the_same_batches(tmp_path):
    src, tgt = _datasets(tmp_path)
    a, b = _steps(src, tgt, 1, 0), _steps(src, tgt, 1, 2)
    assert [x.source for x in a] == [x.source for x in b]
    assert all(torch.equal(x.image, y.image) and torch.equal(x.uv_px, y.uv_px) for x, y in zip(a, b, strict=True))
    assert [x.source for x in _steps(src, tgt, 2, 0)] != [x.source for x in a]  # another seed, another order


def test_a_reader_without_an_input_size_is_one_line_naming_it(tmp_path):
    """Alone (outside a training config, which gives the model's), a dataset config must give its crop side to
    crop a sample; its records read without one."""
    make_rhd(tmp_path / "rhd")
    ds = build_dataset(DatasetConfig(format="rhd", root=str(tmp_path / "rhd"), skip_bad=True))
    assert ds.read_raw(0).uv_px.shape == (21, 2)
    with pytest.raises(ConfigError) as info:
        ds[0]  # skip_bad: still an error, not a skipped sample
    assert ds.bad_count == 0
    assert "\n" not in str(info.value) and "DatasetConfig.input_size is not set" in str(info.value)
    assert build_dataset(DatasetConfig(format="rhd", root=str(tmp_path / "rhd"), input_size=24))[0].image.shape == \
        (3, 24, 24)
