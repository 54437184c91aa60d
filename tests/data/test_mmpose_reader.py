"""MMPose's COCO-style RHD file (`--format mmpose-rhd`), written field by field, and RHD without mask PNGs."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from conftest import make_rhd, render, right_hand_xyz, save_png

from awhourglass.cli import main
from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset
from awhourglass.geometry import project
from awhourglass.skeleton import (
    JOINT_NAMES,
    canonical_to_rhd_hand,
    mirror_xyz,
    rhd_hand_to_canonical,
)

K = np.array([[300.0, 0.0, 159.5], [0.0, 305.0, 160.5], [0.0, 0.0, 1.0]])


def test_rhd_hand_order_round_trip_and_by_name():
    x = np.random.default_rng(0).normal(size=(21, 3))
    np.testing.assert_array_equal(rhd_hand_to_canonical(canonical_to_rhd_hand(x)), x)
    rhd = canonical_to_rhd_hand(np.arange(21.0)[:, None])[:, 0].astype(int)
    # RHD per hand: wrist, then thumb tip, IP, MCP, CMC, then index tip → MCP, ...
    names = [JOINT_NAMES[i] for i in rhd[:9]]
    assert names == ["wrist", "thumb_tip", "thumb_ip", "thumb_mcp", "thumb_cmc", "index_tip", "index_dip",
                     "index_pip", "index_mcp"]


def write_mmpose_rhd(root, flat: bool = False):
    """Three hands on two 320² images: a right hand, a left hand, and a right hand with flat keypoints
    (annotation 2, when ``flat``); the images under ``training/color/`` beside ``annotations/``."""
    hands = [("right", right_hand_xyz(centre=(0.01, 0.0, 0.5))),
             ("left", mirror_xyz(right_hand_xyz(centre=(0.0, 0.01, 0.55), jitter=0.002, seed=1))),
             ("right", right_hand_xyz(centre=(-0.02, 0.0, 0.6), jitter=0.002, seed=2))]
    images = [{"file_name": f"training/color/{i:05d}.png", "height": 320, "width": 320, "id": i,
               "cam_param": {"focal": [K[0, 0], K[1, 1]], "princpt": [K[0, 2], K[1, 2]]}} for i in range(2)]
    anns = []
    for k, (side, xyz) in enumerate(hands):
        uv = project(xyz, K)
        vis = np.ones(21)
        vis[7] = 0  # one occluded joint
        kp = np.concatenate([canonical_to_rhd_hand(uv), canonical_to_rhd_hand(vis[:, None])], 1)
        anns.append({"id": k, "image_id": min(k, 1), "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 10, 10],
                     "keypoints": kp.reshape(-1).tolist() if (flat and k == 2) else kp.tolist(),
                     "joint_cam": (canonical_to_rhd_hand(xyz) * 1000.0).tolist(), "hand_type": side})
    for i in range(2):
        img, _, _ = render(project(hands[i][1], K), np.ones(21), 320, 320, 4.0, 0.0, seed=i)
        save_png(root / "training" / "color" / f"{i:05d}.png", img)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    path = root / "annotations" / "rhd_train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "hand"}]}))
    return path, hands


def _cfg(path, **kw):
    return DatasetConfig(format="mmpose-rhd", root=str(path), input_size=64, **kw)


def test_canonical_metres_projecting_onto_the_keypoints(tmp_path):
    path, hands = write_mmpose_rhd(tmp_path / "rhd", flat=True)
    ds = build_dataset(_cfg(path, mirror_left=False))
    assert len(ds) == 3
    for i, (side, xyz) in enumerate(hands):
        raw = ds.read_raw(i)
        assert raw.hand_side == side
        np.testing.assert_allclose(raw.xyz_m, xyz, atol=1e-12)  # canonical order, mm → m
        assert np.abs(project(raw.xyz_m, raw.K) - raw.uv_px).max() < 0.1
        assert not raw.vis[7] and raw.vis.sum() == 20 and raw.depth_m is None  # no depth/ beside color/
        assert raw.source.endswith(f"training/color/{min(i, 1):05d}.png")  # found under the JSON's parent
    s = build_dataset(_cfg(path))[1]  # the left hand, mirrored to the right-hand convention as RHD's
    assert s.mirrored and s.hand_side == "left"


def test_bad_annotations_are_one_line_or_skipped(tmp_path):
    path, _ = write_mmpose_rhd(tmp_path / "rhd")
    doc = json.loads(path.read_text())
    doc["annotations"][1]["hand_type"] = "both"
    doc["annotations"][2]["joint_cam"] = doc["annotations"][2]["joint_cam"][:20]
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="hand_type"):
        build_dataset(_cfg(path))
    ds = build_dataset(_cfg(path, skip_bad=True))
    assert len(ds) == 1 and ds.bad_count == 2
    with pytest.raises(DataError, match="annotation JSON"):
        build_dataset(_cfg(tmp_path / "nothing.json"))


def test_data_check_and_show_read_it(tmp_path, capsys):
    path, _ = write_mmpose_rhd(tmp_path / "rhd")
    assert main(["data", "check", str(path), "--format", "mmpose-rhd", "--input-size", "64"]) == 0
    assert "3" in capsys.readouterr().out
    out = tmp_path / "grid.png"
    assert main(["data", "show", str(path), "--format", "mmpose-rhd", "--out", str(out), "--n", "3",
                 "--input-size", "64"]) == 0 and out.stat().st_size > 0
    # --images points elsewhere: the files are looked for there
    assert main(["data", "check", str(path), "--format", "mmpose-rhd", "--images", str(tmp_path / "none")]) == 1


def test_rhd_without_mask_pngs_reads_when_depth_is_not_used(tmp_path):
    root = tmp_path / "rhd"
    truth = make_rhd(root)
    for p in (root / "training" / "mask").glob("*.png"):
        p.unlink()
    anno_path = root / "training" / "anno_training.pickle"
    anno = pickle.loads(anno_path.read_bytes())
    for i, t in enumerate(truth):  # the small far hand is not visible (so the main hand has more visible joints)
        other = slice(0, 21) if t["side"] == "right" else slice(21, 42)
        anno[i]["uv_vis"][other, 2] = 0
    anno_path.write_bytes(pickle.dumps(anno, protocol=2))
    ds = build_dataset(DatasetConfig(format="rhd", root=str(root), input_size=32, with_depth=False,
                                     mirror_left=False))
    for i, t in enumerate(truth):
        raw = ds.read_raw(i)  # the hand chosen by its visible joints
        assert raw.hand_side == t["side"] and raw.mask is None and raw.depth_m is None
    with pytest.raises(DataError, match="missing"):
        build_dataset(DatasetConfig(format="rhd", root=str(root), input_size=32))[0]


def test_mmpose_freihand_2d_keypoints_in_canonical_order(tmp_path, capsys):
    from awhourglass.skeleton import canonical_to_freihand

    root = tmp_path / "freihand"
    rng = np.random.default_rng(3)
    uv = 40 + 140 * rng.random((2, 21, 2))
    images, anns = [], []
    for i in range(2):
        name = f"training/rgb/{i:08d}.jpg"
        img, _, _ = render(uv[i], np.ones(21), 224, 224, 3.0, 0.0, seed=i)
        save_png(root / name, img)
        images.append({"file_name": name, "height": 224, "width": 224, "id": 10 + i})
        kp = np.concatenate([canonical_to_freihand(uv[i]), np.full((21, 1), 2.0)], 1)
        anns.append({"id": i, "image_id": 10 + i, "keypoints": kp.reshape(-1).tolist(), "bbox": [0, 0, 9, 9]})
    (root / "annotations").mkdir()
    path = root / "annotations" / "freihand_train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    cfg = DatasetConfig(format="mmpose-freihand", root=str(path), input_size=64, labels="2d")
    ds = build_dataset(cfg)
    for i in range(2):
        raw = ds.read_raw(i)
        np.testing.assert_allclose(raw.uv_px, uv[i], atol=1e-9)  # FreiHAND order → canonical
        assert raw.xyz_m is None and raw.vis.all() and raw.hand_side == "right"
    s = ds[0]
    assert s.xyz_m is None and s.image.shape == (3, 64, 64)
    with pytest.raises(DataError, match="labels: 2d"):
        build_dataset(DatasetConfig(format="mmpose-freihand", root=str(path), input_size=64))
    assert main(["data", "check", str(path), "--format", "mmpose-freihand", "--config",
                 str(_labels2d(tmp_path))]) == 0


def _labels2d(tmp_path):
    p = tmp_path / "opts.yaml"
    p.write_text("labels: 2d\ninput_size: 64\n")  # the reader options only: format and root come from flags
    return p
