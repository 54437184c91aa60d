import json
import os
import pickle

import numpy as np
import pytest
from conftest import make_freihand, make_mpd, rodrigues_np

from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset
from awhourglass.geometry import project
from awhourglass.skeleton import JOINT_NAMES


def _cfg(fmt, root, **kw):
    return DatasetConfig(format=fmt, root=str(root), input_size=32, **kw)


def test_freihand_versions_and_geometry(tmp_path):
    root = tmp_path / "frei"
    xyz = make_freihand(root, n=2)
    ds = build_dataset(_cfg("freihand", root))
    assert len(ds) == 8 and ds.describe()["versions"] == [0, 1, 2, 3]
    assert ds.image_path(5).name == "00000005.jpg"  # version 2 of sample 1 with N = 2: 1 + 2*2
    s = ds[5]
    assert s.hand_side == "right" and not s.mirrored and s.depth is None
    np.testing.assert_allclose(s.xyz_m.numpy(), xyz[1], atol=1e-6)
    assert np.abs(project(s.xyz_m.double().numpy(), s.K.double().numpy()) - s.uv_px.numpy()).max() < 1.0
    assert len(build_dataset(_cfg("freihand", root, freihand_versions=(0,)))) == 2


def test_freihand_bad_inputs(tmp_path):
    root = tmp_path / "frei"
    make_freihand(root, n=2)
    xyz = json.loads((root / "training_xyz.json").read_text())
    xyz[1][3][0] = float("nan")
    (root / "training_xyz.json").write_text(json.dumps(xyz))
    with pytest.raises(DataError, match=r"training_xyz\.json: sample 1: non-finite"):
        build_dataset(_cfg("freihand", root))
    (root / "training_xyz.json").write_text(json.dumps(xyz[:1]))
    with pytest.raises(DataError, match=r"1 joint sets but 2 intrinsics"):
        build_dataset(_cfg("freihand", root))
    (root / "training_K.json").write_text(json.dumps([[1, 2]]))
    with pytest.raises(DataError, match=r"training_K\.json: K: expected shape \(N, 3, 3\)"):
        build_dataset(_cfg("freihand", root))


def test_mpd_camera_model(tmp_path):
    root = tmp_path / "mpd"
    truth = make_mpd(root, frames=2)
    ds = build_dataset(_cfg("mpd", root, split="all"))
    assert len(ds) == 4  # 2 frames x 2 webcams
    for i, (_, f, cam) in enumerate(ds.items):
        s = ds[i]
        rvec, tvec = truth["cams"][cam]
        expected = (truth["leap_mm"][f] @ rodrigues_np(rvec).T + tvec) / 1000.0  # X_cam = R X_leap + t, metres
        np.testing.assert_allclose(s.xyz_m.numpy(), expected, atol=1e-5)
        assert np.abs(project(s.xyz_m.double().numpy(), s.K.double().numpy()) - s.uv_px.numpy()).max() < 1.0


def test_mpd_rows_palm_dropped(tmp_path):
    root = tmp_path / "mpd"
    truth = make_mpd(root, frames=1)
    rows = np.loadtxt(root / "annotated_frames" / "data_1" / "0_joints.txt")
    assert rows.shape == (22, 3)
    # row 0 palm, row 1 wrist, rows 2-5 thumb base -> tip
    np.testing.assert_allclose(rows[1], truth["leap_mm"][0][JOINT_NAMES.index("wrist")], atol=1e-3)
    np.testing.assert_allclose(rows[5], truth["leap_mm"][0][JOINT_NAMES.index("thumb_tip")], atol=1e-3)


def test_mpd_bad_files(tmp_path):
    root = tmp_path / "mpd"
    make_mpd(root, frames=1)
    joints = root / "annotated_frames" / "data_1" / "0_joints.txt"
    joints.write_text("\n".join(["1 2 3"] * 21))
    ds = build_dataset(_cfg("mpd", root, split="all"))
    with pytest.raises(DataError, match=r"0_joints\.txt: joints: expected shape \(22, 3\), got \(21, 3\)"):
        ds[0]
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (root / "calibrations" / "data_1" / "webcam_1" / "rvec.pkl").write_bytes(pickle.dumps(Evil()))
    joints.write_text("\n".join(["1 2 3"] * 22))
    with pytest.raises(DataError, match=r"rvec\.pkl: refused pickle"):
        ds[0]
    assert not marker.exists()
    (root / "intrinsics.json").unlink()
    with pytest.raises(DataError, match=r"intrinsics\.json: missing file"):
        build_dataset(_cfg("mpd", root, split="all"))
