import torch
from conftest import make_rhd, make_stb

from awhourglass.config import from_dict
from awhourglass.data.config import DatasetConfig, LoaderConfig
from awhourglass.data.loader import build_dataset, make_loader, make_two_domain_loader
from awhourglass.data.sample import SOURCE, TARGET


def _datasets(tmp_path, **target_kw):
    make_rhd(tmp_path / "rhd", sides=("right", "left", "right", "left"))
    make_stb(tmp_path / "stb")
    src = build_dataset(from_dict(DatasetConfig, {"format": "rhd", "root": str(tmp_path / "rhd"), "input_size": 32,
                                                 "augment": {"enabled": True}}))
    tgt = build_dataset(from_dict(DatasetConfig, {"format": "stb", "root": str(tmp_path / "stb"), "input_size": 32,
                                                 "labels": "2d", **target_kw}))
    return src, tgt


def test_two_domain_batches_weak_target(tmp_path):
    src, tgt = _datasets(tmp_path)
    loader = make_two_domain_loader(src, tgt, LoaderConfig(batch_size=4, num_workers=0, seed=5))
    batches = list(loader)
    assert len(batches) == 2  # 4 source samples, 2 per batch
    for b in batches:
        assert b.image.shape == (4, 3, 32, 32)
        assert b.domain.tolist() == [SOURCE, SOURCE, TARGET, TARGET]
        assert b.has_3d.tolist() == [True, True, False, False]  # target 3D hidden: weak supervision
        assert torch.isnan(b.xyz_m[2:]).all() and torch.isfinite(b.xyz_m[:2]).all()
        assert b.has_depth.all()
    again = list(make_two_domain_loader(src, tgt, LoaderConfig(batch_size=4, num_workers=0, seed=5)))
    assert all(torch.equal(x.image, y.image) for x, y in zip(batches, again, strict=True))  # augmentation seeded


def test_workers_give_the_same_batches(tmp_path):
    src, tgt = _datasets(tmp_path)
    cfg0 = LoaderConfig(batch_size=4, num_workers=0, seed=1)
    cfg2 = LoaderConfig(batch_size=4, num_workers=2, seed=1, persistent_workers=True)
    a = list(make_two_domain_loader(src, tgt, cfg0))
    loader = make_two_domain_loader(src, tgt, cfg2)
    b = list(loader)
    assert [x.source for x in a] == [x.source for x in b]
    assert all(torch.equal(x.image, y.image) and torch.equal(x.uv_px, y.uv_px) for x, y in zip(a, b, strict=True))
    loader.batch_sampler.set_epoch(1)
    assert [x.source for x in loader] != [x.source for x in b] or len(b) == 1


def test_eval_loader_in_order_no_augmentation(tmp_path):
    make_stb(tmp_path / "stb")
    ds = build_dataset(DatasetConfig(format="stb", root=str(tmp_path / "stb"), split="test", input_size=32))
    loader = make_loader(ds, LoaderConfig(batch_size=3, num_workers=0), train=False)
    (batch,) = list(loader)
    assert len(batch) == 2 and batch.source[0].endswith("SK_color_0.png") and batch.has_3d.all()
    assert torch.equal(batch.image[0], ds[0].image)
