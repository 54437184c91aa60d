import os
import pickle

import numpy as np
import pytest
import torch
from conftest import RHD_K, make_rhd

from awhourglass.config import ConfigError, from_dict, load_yaml, to_dict
from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset
from awhourglass.data.sample import SOURCE
from awhourglass.geometry import project
from awhourglass.skeleton import JOINT_NAMES


def _cfg(root, **kw):
    return DatasetConfig(format="rhd", root=str(root), input_size=32, **kw)


def test_joints_canonical_metres_and_on_the_crop(rhd_root):
    root, truth = rhd_root
    ds = build_dataset(_cfg(root, mirror_left=False))
    assert len(ds) == 3 and ds.domain == SOURCE
    for i, t in enumerate(truth):
        s = ds[i]
        assert s.hand_side == t["side"] and not s.mirrored
        np.testing.assert_allclose(s.xyz_m.numpy(), t["xyz"], atol=1e-6)  # metres, canonical order
        err = np.abs(project(s.xyz_m.double().numpy(), s.K.double().numpy()) - s.uv_px.numpy()).max()
        assert err < 1.0
        assert s.image.shape == (3, 32, 32) and 0.0 <= s.image.min() and s.image.max() <= 1.0


def test_rhd_row_order_by_hand(tmp_path):
    # RHD per hand: 0 wrist, then thumb tip, IP, MCP, CMC (rows 1-4); the right hand is rows 21-41.
    root = tmp_path / "rhd"
    make_rhd(root, sides=("right",))
    anno_path = root / "training" / "anno_training.pickle"
    with open(anno_path, "rb") as f:
        anno = pickle.load(f)
    rows = anno[0]["xyz"]
    ds = build_dataset(_cfg(root))
    xyz = ds[0].xyz_m.numpy()
    np.testing.assert_allclose(xyz[JOINT_NAMES.index("wrist")], rows[21], atol=1e-6)
    np.testing.assert_allclose(xyz[JOINT_NAMES.index("thumb_tip")], rows[22], atol=1e-6)
    np.testing.assert_allclose(xyz[JOINT_NAMES.index("thumb_cmc")], rows[25], atol=1e-6)
    np.testing.assert_allclose(xyz[JOINT_NAMES.index("little_mcp")], rows[41], atol=1e-6)
    assert not ds[0].vis[JOINT_NAMES.index("thumb_mcp")]  # the fixture hid RHD row 3 of the main hand


def test_mirrored_left_hand_equals_right_convention(rhd_root):
    root, truth = rhd_root
    ds = build_dataset(_cfg(root, mirror_left=True))
    right, left = ds[0], ds[1]
    assert left.hand_side == "left" and left.mirrored and not right.mirrored
    # frame 1's left hand is the camera-mirror of a right hand: mirrored back it must be that right hand
    np.testing.assert_allclose(left.xyz_m.numpy(), truth[1]["right_twin"], atol=1e-6)
    # cx = (W-1)/2 in the fixture, so the mirrored crop of the left twin is the crop of the right twin
    K = RHD_K
    assert K[0, 2] == (64 - 1) / 2
    err = np.abs(project(left.xyz_m.double().numpy(), left.K.double().numpy()) - left.uv_px.numpy()).max()
    assert err < 1.0


def test_depth_is_eq9_on_the_hand_mask(rhd_root):
    root, truth = rhd_root
    s = build_dataset(_cfg(root, mirror_left=False))[0]
    d, m = s.depth[0], s.depth_mask[0]
    assert m.any() and (d[~m] == 0).all()
    assert d[m].max() == pytest.approx(1.0) and d[m].min() == pytest.approx(0.0)
    # independent route: Eq. 9 from the written depth image and hand pixels at full resolution
    depth, hand = truth[0]["depth"], truth[0]["hand"]
    d_max, d_min = depth[hand].max(), depth[hand].min()
    src_uv = project(truth[0]["xyz"], RHD_K)
    for j in (0, 8, 12):  # wrist (far) and two finger tips (near)
        u0, v0 = np.round(src_uv[j]).astype(int)
        expected = (d_max - depth[v0, u0]) / (d_max - d_min)
        u1, v1 = np.round(s.uv_px[j].numpy()).astype(int)
        assert float(d[v1, u1]) == pytest.approx(expected, abs=0.1)


def test_labels_2d_hides_3d(rhd_root):
    root, _ = rhd_root
    s = build_dataset(_cfg(root, labels="2d"))[0]
    assert s.xyz_m is None and s.depth is not None


def test_forbidden_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    root = tmp_path / "rhd"
    make_rhd(root, sides=("right",))
    (root / "training" / "anno_training.pickle").write_bytes(pickle.dumps({0: Evil()}, protocol=2))
    with pytest.raises(DataError, match=r"anno_training\.pickle: refused pickle: forbidden class"):
        build_dataset(_cfg(root))
    assert not marker.exists()


def test_nan_joints_raise_or_skip(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root, sides=("right", "right"))
    path = root / "training" / "anno_training.pickle"
    with open(path, "rb") as f:
        anno = pickle.load(f)
    anno[1]["xyz"][5, 0] = np.nan
    path.write_bytes(pickle.dumps(anno, protocol=2))
    with pytest.raises(DataError, match=r"anno_training\.pickle: frame 1: non-finite"):
        build_dataset(_cfg(root))
    with pytest.warns(UserWarning, match="skipping bad sample"):
        ds = build_dataset(_cfg(root, skip_bad=True))
    assert len(ds) == 1 and ds.bad_count == 1


def test_missing_and_truncated_png(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root)
    (root / "training" / "color" / "00001.png").unlink()
    depth2 = root / "training" / "depth" / "00002.png"
    depth2.write_bytes(depth2.read_bytes()[:60])
    ds = build_dataset(_cfg(root))
    with pytest.raises(DataError, match=r"color/00001\.png: missing file"):
        ds[1]
    with pytest.raises(DataError, match=r"depth/00002\.png: (corrupt or truncated|not a readable)"):
        ds[2]
    skipping = build_dataset(_cfg(root, skip_bad=True))
    with pytest.warns(UserWarning, match="00001.png: missing file"):
        s = skipping[1]
    assert s.source.endswith("00000.png") and skipping.bad_count == 2  # 1 and 2 bad, wrapped to 0


def test_palette_mask_keeps_part_ids(tmp_path):
    from PIL import Image

    root = tmp_path / "rhd"
    make_rhd(root, sides=("left",))
    path = root / "training" / "mask" / "00000.png"
    ids = np.asarray(Image.open(path))
    pal = Image.fromarray(ids, mode="L").convert("P")  # same indices, stored as a palette image
    pal.putpalette([v for i in range(256) for v in (255 - i, i, 7)])
    pal.save(path)
    assert Image.open(path).mode == "P"
    s = build_dataset(_cfg(root, mirror_left=False))[0]
    assert s.hand_side == "left" and s.depth_mask.any()


def test_singular_K_is_one_line_error(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root, sides=("right",))
    path = root / "training" / "anno_training.pickle"
    with open(path, "rb") as f:
        anno = pickle.load(f)
    anno[0]["K"] = np.zeros((3, 3), np.float32)
    path.write_bytes(pickle.dumps(anno, protocol=2))
    with pytest.raises(DataError, match=r"anno_training\.pickle: frame 0 K: singular intrinsics"):
        build_dataset(_cfg(root))


def test_joints_behind_the_camera_are_refused_as_the_other_readers_do(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root, sides=("right", "right"))
    path = root / "training" / "anno_training.pickle"
    with open(path, "rb") as f:
        anno = pickle.load(f)
    anno[0]["xyz"] = anno[0]["xyz"] * np.array([1.0, 1.0, -1.0], np.float32)  # mirrored behind the camera
    path.write_bytes(pickle.dumps(anno, protocol=2))
    with pytest.raises(DataError, match=r"frame 0: joints behind the camera \(z <= 0\)"):
        build_dataset(_cfg(root))
    with pytest.warns(UserWarning, match="behind the camera"):
        ds = build_dataset(_cfg(root, skip_bad=True))
    assert len(ds) == 1


@pytest.mark.parametrize(("field", "value"), [("split", "validation"), ("split", "trian"), ("labels", "3D"),
                                              ("format", "rhd2")])
def test_a_mistyped_setting_is_refused_even_without_from_dict(field, value, tmp_path):
    from awhourglass.config import ConfigError

    kw = {"format": "stb", "root": str(tmp_path), field: value}
    with pytest.raises(ConfigError, match=rf"DatasetConfig\.{field} must be one of .*got '{value}'"):
        DatasetConfig(**kw)


def test_the_crop_margin_s_old_name_reads_as_it_and_crops_the_same(rhd_root, tmp_path):
    """``crop_scale`` (the key's name before the rename, in older YAML files, checkpoints' configs and packs) loads
    as ``crop_margin``; it is written under the new name only, and giving both is a one-line error."""
    root, _ = rhd_root
    old_yaml = tmp_path / "old.yaml"
    old_yaml.write_text(f"format: rhd\nroot: {root}\ninput_size: 32\ncrop_scale: 2.5\n")
    old = load_yaml(DatasetConfig, old_yaml)
    new = _cfg(root, crop_margin=2.5)
    assert old == new and "crop_scale" not in to_dict(old) and to_dict(old)["crop_margin"] == 2.5
    assert torch.equal(build_dataset(old)[0].image, build_dataset(new)[0].image)
    assert not torch.equal(build_dataset(new)[0].image, build_dataset(_cfg(root))[0].image)  # 2.5 is not 1.5
    with pytest.raises(ConfigError) as info:
        from_dict(DatasetConfig, {**to_dict(new), "crop_scale": 2.5})
    assert str(info.value) == "DatasetConfig: crop_scale is the old name of crop_margin; give crop_margin alone"
