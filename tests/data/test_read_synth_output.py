"""The readers on the procedural generator's files (awh synth): the same code path as the real datasets."""

import numpy as np
import pytest

from awhourglass.data.config import DatasetConfig
from awhourglass.data.loader import build_dataset
from awhourglass.geometry import project
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.distributed import DistInfo


@pytest.fixture(scope="module")
def synth_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    write_dataset(SynthConfig(domain="source", n=6, out=str(base / "rhd"), size=64, split="training"), progress=False)
    write_dataset(SynthConfig(domain="target", n=4, out=str(base / "stb"), size=64, split="both", eval_fraction=0.5),
                  progress=False)
    return base


def _consistent(s):
    err = np.abs(project(s.xyz_m.double().numpy(), s.K.double().numpy()) - s.uv_px.numpy()).max()
    return err < 1.0


def test_rhd_from_generator(synth_roots):
    ds = build_dataset(DatasetConfig(format="rhd", root=str(synth_roots / "rhd"), input_size=32))
    assert len(ds) == 6
    on_mask = []
    for i in range(len(ds)):
        s = ds[i]
        assert _consistent(s)
        assert s.mirrored == (s.hand_side == "left")
        assert s.depth is not None and s.depth_mask.sum() > 20  # the chosen hand's parts in the mask
        # the visible joints lie on hand pixels of the crop's mask (generator: visible = in image, not occluded)
        uv = np.round(s.uv_px.numpy()).astype(int)
        inside = (uv >= 0).all(1) & (uv < 32).all(1) & s.vis.numpy()
        on_mask += list(s.depth_mask[0].numpy()[uv[inside, 1], uv[inside, 0]])
    # pooled: a hand behind an occluder (synth.clutter) may show two joints, one of them a pixel off its finger
    assert len(on_mask) >= 30 and np.mean(on_mask) > 0.75


def test_stb_from_generator(synth_roots):
    train = build_dataset(DatasetConfig(format="stb", root=str(synth_roots / "stb"), input_size=32))
    test = build_dataset(DatasetConfig(format="stb", root=str(synth_roots / "stb"), split="test", input_size=32))
    assert len(train) == 2 and len(test) == 2
    assert all(seq.startswith("B1") for seq in test.sequences) and train.depth_frame == "color"
    for ds in (train, test):
        for i in range(len(ds)):
            s = ds[i]
            assert s.hand_side == "left" and s.mirrored and _consistent(s)
            assert s.depth is not None
            uv = np.round(s.uv_px.numpy()).astype(int)
            inside = (uv >= 0).all(1) & (uv < 32).all(1)
            assert s.depth_mask[0].numpy()[uv[inside, 1], uv[inside, 0]].mean() > 0.5


def test_two_domain_loader_on_generator(synth_roots):
    src = build_dataset(DatasetConfig(format="rhd", root=str(synth_roots / "rhd"), input_size=32))
    tgt = build_dataset(DatasetConfig(format="stb", root=str(synth_roots / "stb"), input_size=32, labels="2d"))
    batches = list(iterate_steps(StepBatches([src, tgt], [2, 2], 0, "adapt", DistInfo()), 0, 3))
    assert len(batches) == 3 and all(b.has_3d.tolist() == [True, True, False, False] for b in batches)
