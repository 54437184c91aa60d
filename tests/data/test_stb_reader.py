import json

import numpy as np
import pytest
import scipy.io
from conftest import make_stb, rodrigues_np

from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset
from awhourglass.data.sample import TARGET
from awhourglass.formats.stb import SK_RVEC
from awhourglass.geometry import project, rodrigues
from awhourglass.skeleton import JOINT_NAMES, mirror_xyz


def _cfg(root, **kw):
    kw.setdefault("input_size", 32)
    return DatasetConfig(format="stb", root=str(root), **kw)


def test_paper_split_and_explicit_sequences(stb_root):
    root, _ = stb_root
    train = build_dataset(_cfg(root))
    test = build_dataset(_cfg(root, split="test"))
    assert train.domain == TARGET
    assert train.sequences == ["B2Random"] and test.sequences == ["B1Counting"]
    assert len(train) == 2 and len(test) == 2
    assert build_dataset(_cfg(root, split="all", sequences=("B1Counting",))).sequences == ["B1Counting"]
    with pytest.raises(ValueError, match="not found"):
        build_dataset(_cfg(root, sequences=("B9Random",)))


def test_joints_in_colour_frame_canonical_and_mirrored(stb_root):
    root, truth = stb_root
    ds = build_dataset(_cfg(root, split="all", mirror_left=True))
    for i, key in enumerate(ds.frames):
        s = ds[i]
        assert s.hand_side == "left" and s.mirrored
        # fixture: left hand = mirror of a right hand in the colour camera; mirrored back it is that right hand
        np.testing.assert_allclose(s.xyz_m.numpy(), mirror_xyz(truth["xyz"][key]), atol=1e-5)
        err = np.abs(project(s.xyz_m.double().numpy(), s.K.double().numpy()) - s.uv_px.numpy()).max()
        assert err < 1.0
    unmirrored = build_dataset(_cfg(root, split="all", mirror_left=False))[0]
    np.testing.assert_allclose(unmirrored.xyz_m.numpy(), truth["xyz"][ds.frames[0]], atol=1e-5)


def test_palm_to_wrist_convention(stb_root):
    root, _ = stb_root
    ds = build_dataset(_cfg(root, split="test", mirror_left=False))
    para = scipy.io.loadmat(root / "labels" / "B1Counting_SK.mat")["handPara"][:, :, 0].T / 1000.0  # (21, 3) depth
    intr = json.loads((root / "intrinsics.json").read_text())
    R, t = rodrigues_np(intr["rvec_depth_from_color"]), np.asarray(intr["t_depth_from_color_mm"]) / 1000.0
    colour = (para - t) @ R  # X_colour = R^T (X_depth - t)
    xyz = ds[0].xyz_m.double().numpy()
    # STB rows: 0 palm, 1-4 little (MCP -> tip), 5-8 ring, 9-12 middle, 13-16 index, 17-20 thumb
    np.testing.assert_allclose(xyz[JOINT_NAMES.index("middle_mcp")], colour[9], atol=1e-6)
    np.testing.assert_allclose(xyz[JOINT_NAMES.index("thumb_tip")], colour[20], atol=1e-6)
    np.testing.assert_allclose(xyz[JOINT_NAMES.index("little_mcp")], colour[1], atol=1e-6)
    np.testing.assert_allclose(xyz[0], 2 * colour[0] - colour[9], atol=1e-6)  # wrist = 2 palm - middle MCP


def test_published_calibration_and_registered_depth(tmp_path):
    root = tmp_path / "stb"
    truth = make_stb(root, seqs=("B1Random",), n=1, published=True)
    assert not (root / "intrinsics.json").exists()
    ds = build_dataset(_cfg(root, split="test", input_size=48, mirror_left=False))
    np.testing.assert_allclose(ds.calib.K_color, truth["K_color"])
    s = ds[0]
    np.testing.assert_allclose(s.xyz_m.numpy(), truth["xyz"][("B1Random", 0)], atol=1e-5)
    # depth registered from the depth camera lands on the joints in the colour crop
    on = [bool(s.depth_mask[0, round(v), round(u)]) for u, v in s.uv_px.numpy()]
    assert sum(on) >= 19
    assert s.depth[s.depth_mask].max() == pytest.approx(1.0) and (s.depth[~s.depth_mask] == 0).all()


def test_rodrigues_matches_matrix_exponential():
    np.testing.assert_allclose(rodrigues(SK_RVEC), rodrigues_np(SK_RVEC), atol=1e-12)
    np.testing.assert_allclose(rodrigues([0.0, 0.0, np.pi / 2]) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_intrinsics_json_overrides_published(stb_root):
    root, truth = stb_root
    ds = build_dataset(_cfg(root))
    np.testing.assert_allclose(ds.calib.K_color, truth["K_color"])
    assert ds.depth_frame == "depth"  # the fixture's json says its depth PNGs are not registered
    (root / "intrinsics.json").write_text(json.dumps({"K_colour": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}))
    with pytest.raises(DataError, match=r"intrinsics\.json: unknown key"):
        build_dataset(_cfg(root))
    (root / "intrinsics.json").write_text(json.dumps({"width": 81, "height": 60}))
    with pytest.raises(DataError, match=r"SK_color_0\.png: size 80x60 but intrinsics\.json says 81x60"):
        build_dataset(_cfg(root))[0]


def test_wrong_mat_shape_and_missing_variable(stb_root):
    root, _ = stb_root
    bad = root / "labels" / "B2Random_SK.mat"
    scipy.io.savemat(bad, {"handPara": np.zeros((21, 3, 2))})
    with pytest.raises(DataError, match=r"B2Random_SK\.mat: handPara: expected shape \(3, 21, N\), got \(21, 3, 2\)"):
        build_dataset(_cfg(root))
    with pytest.warns(UserWarning, match="skipping bad sample"):
        ds = build_dataset(_cfg(root, split="all", skip_bad=True))
    assert ds.sequences == ["B1Counting", "B2Random"] and len(ds) == 2 and ds.bad_count == 1
    scipy.io.savemat(bad, {"joints": np.zeros((3, 21, 2))})
    with pytest.raises(DataError, match="no 'handPara' variable"):
        build_dataset(_cfg(root))


def test_nan_frame_and_corrupt_depth_png(stb_root):
    root, _ = stb_root
    path = root / "labels" / "B2Random_SK.mat"
    para = scipy.io.loadmat(path)["handPara"]
    para[0, 3, 1] = np.nan
    scipy.io.savemat(path, {"handPara": para})
    with pytest.raises(DataError, match=r"B2Random_SK\.mat: frame 1: non-finite"):
        build_dataset(_cfg(root))
    depth = root / "B1Counting" / "SK_depth_0.png"
    depth.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 4)
    ds = build_dataset(_cfg(root, split="test"))
    with pytest.raises(DataError, match=r"SK_depth_0\.png: "):
        ds[0]
    assert build_dataset(_cfg(root, split="test", with_depth=False))[0].depth is None
