"""InterHand2.6M (`--format interhand`): small files written field by field in its layout, read back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import right_hand_xyz
from PIL import Image

from awhourglass.cli import main
from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError
from awhourglass.data.loader import build_dataset
from awhourglass.data.sample import collate
from awhourglass.losses import z_l1_per_sample
from awhourglass.skeleton import mirror_xyz

FOCAL, PRINCPT = (210.0, 205.0), (80.5, 61.0)
CAMPOS = np.array([120.0, -340.0, 905.0])  # mm, world frame
INDEX_TIP = 8  # canonical index of the invalid joint of frame 0's right hand


def camrot() -> np.ndarray:
    """A proper rotation (not symmetric, so camrot and camrotᵀ differ)."""
    q, _ = np.linalg.qr(np.random.default_rng(7).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def to_interhand_rows(canon: np.ndarray) -> np.ndarray:
    """Canonical (21, D) → InterHand's per-hand order, written out here independently of the package: each
    finger tip → base (thumb, index, middle, ring, little), then the wrist in row 20."""
    rows = np.zeros_like(canon)
    rows[20] = canon[0]
    for f in range(5):
        for k in range(4):  # canonical 1 + 4f + k runs base → tip
            rows[4 * f + (3 - k)] = canon[1 + 4 * f + k]
    return rows


def pinhole(world_mm: np.ndarray) -> np.ndarray:
    """The expected pixels, from world coordinates, camrot, campos, focal and princpt."""
    cam = (camrot() @ (world_mm - CAMPOS).T).T
    return np.stack([FOCAL[0] * cam[:, 0] / cam[:, 2] + PRINCPT[0], FOCAL[1] * cam[:, 1] / cam[:, 2] + PRINCPT[1]], 1)


def world_of(xyz_cam_m: np.ndarray) -> np.ndarray:
    return (camrot().T @ (xyz_cam_m * 1000.0).T).T + CAMPOS  # inverse of X_cam = camrot · (X_world − campos)


def write_interhand(root, split: str = "test", folder: str | None = None):
    """Three frames of capture 0, camera 400262: a right hand (its index tip invalid), a left hand, and an
    interacting frame whose left wrist is invalid. Returns per frame: hand_type and the canonical camera-space
    hands ``{side: (xyz_m (21, 3), valid (21,))}`` written (invalid joints carry [1, 1, 1] mm)."""
    right = right_hand_xyz(centre=(0.01, 0.0, 0.5), jitter=0.002, seed=1)
    left = mirror_xyz(right_hand_xyz(centre=(0.0, 0.01, 0.55), jitter=0.002, seed=2))
    frames = []
    v = np.ones(21, bool)
    r_valid = v.copy()
    r_valid[INDEX_TIP] = False
    l_valid = v.copy()
    l_valid[0] = False
    frames.append(("right", {"right": (right, r_valid)}))
    frames.append(("left", {"left": (left, v)}))
    frames.append(("interacting", {"right": (right + 0.01, v), "left": (left - 0.01, l_valid)}))
    images, anns, joints = [], [], {}
    for i, (hand_type, hands) in enumerate(frames):
        world, valid = np.ones((42, 3)), np.zeros(42)
        for side, (xyz, ok) in hands.items():
            w = world_of(xyz)
            w[~ok] = 1.0  # InterHand's invalid joints
            sl = slice(0, 21) if side == "right" else slice(21, 42)
            world[sl], valid[sl] = to_interhand_rows(w), to_interhand_rows(ok[:, None].astype(float))[:, 0]
        name = f"Capture0/ROM01_No_Interaction/cam400262/image{1000 + i}.jpg"
        path = root / "images" / split / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((120, 160, 3), 40 * i, np.uint8)).save(path)
        images.append({"id": 10 + i, "file_name": name, "width": 160, "height": 120, "capture": 0, "subject": 1,
                       "seq_name": "ROM01_No_Interaction", "camera": "400262", "frame_idx": 1000 + i})
        anns.append({"id": 20 + i, "image_id": 10 + i, "bbox": [0, 0, 10, 10], "joint_valid": valid[:, None].tolist(),
                     "hand_type": hand_type, "hand_type_valid": 1})
        joints[str(1000 + i)] = {"world_coord": world.tolist(), "joint_valid": valid[:, None].tolist(),
                                 "hand_type": hand_type, "hand_type_valid": True}
    cams = {"0": {"campos": {"400262": CAMPOS.tolist()}, "camrot": {"400262": camrot().tolist()},
                  "focal": {"400262": list(FOCAL)}, "princpt": {"400262": list(PRINCPT)}}}
    ann_dir = root / "annotations" / (folder or split)
    ann_dir.mkdir(parents=True, exist_ok=True)
    for kind, doc in (("data", {"images": images, "annotations": anns}), ("camera", cams),
                      ("joint_3d", {"0": joints})):
        (ann_dir / f"InterHand2.6M_{split}_{kind}.json").write_text(json.dumps(doc))
    return frames


def _cfg(root, **kw):
    return DatasetConfig(format="interhand", root=str(root), split=kw.pop("split", "test"), input_size=64, **kw)


def test_hands_in_canonical_order_metres_projecting_onto_the_keypoints(tmp_path):
    frames = write_interhand(tmp_path)
    ds = build_dataset(_cfg(tmp_path, mirror_left=False))
    expected = [(t, side, hands[side]) for t, hands in frames for side in ("right", "left") if side in hands]
    assert len(ds) == 4 == len(expected)
    for i, (hand_type, side, (xyz, valid)) in enumerate(expected):
        raw = ds.read_raw(i)
        assert raw.hand_side == side and raw.group == ("interacting" if hand_type == "interacting" else "single")
        np.testing.assert_array_equal(raw.vis, valid)
        uv = pinhole(world_of(xyz))
        assert np.abs(raw.uv_px[valid] - uv[valid]).max() < 0.1
        assert np.isnan(raw.uv_px[~valid]).all()
        if valid[0]:
            np.testing.assert_allclose(raw.xyz_m[valid], xyz[valid], atol=1e-6)  # canonical order, mm → m
            assert np.isnan(raw.xyz_m[~valid]).all()
        else:
            assert raw.xyz_m is None  # no wrist: no root, 2D labels only
        assert raw.source.endswith(f"image{1000 + min(i, 2)}.jpg#{side}") and raw.image.shape == (120, 160, 3)


def test_interacting_frame_splits_and_invalid_joints_never_reach_the_loss(tmp_path):
    write_interhand(tmp_path)
    ds = build_dataset(_cfg(tmp_path))
    samples = [ds[i] for i in range(len(ds))]
    assert [(s.hand_side, s.group, s.mirrored) for s in samples] == [
        ("right", "single", False), ("left", "single", True), ("right", "interacting", False),
        ("left", "interacting", True)]
    s0 = samples[0]
    assert not s0.vis[INDEX_TIP] and torch.isnan(s0.xyz_m[INDEX_TIP]).all() and torch.isnan(s0.uv_px[INDEX_TIP]).all()
    assert torch.isfinite(s0.xyz_m[s0.vis]).all()
    for s in samples:  # the crop square is the valid joints' (the [1, 1, 1] joint would pull it far away)
        uv = s.uv_px[s.vis]
        centre = (uv.min(0).values + uv.max(0).values) / 2
        assert torch.allclose(centre, torch.full((2,), 31.5), atol=1e-3)
    batch = collate(samples)
    assert batch.has_3d.tolist() == [True, True, True, False] and batch.group[2:] == ["interacting"] * 2
    z = torch.zeros(4, 21, requires_grad=True)
    per = z_l1_per_sample(z, batch.xyz_m, batch.has_3d)
    assert torch.isfinite(per).all() and per[0] > 0 and per[3] == 0
    per.sum().backward()
    assert z.grad[0, INDEX_TIP] == 0 and torch.isfinite(z.grad).all()


def test_other_annotation_folders_and_the_val_split(tmp_path):
    write_interhand(tmp_path / "a", split="val", folder="all")
    ds = build_dataset(_cfg(tmp_path / "a", split="eval"))
    assert len(ds) == 4 and str(ds.files["val"]["data"].parent).endswith("annotations/all")
    write_interhand(tmp_path / "b", split="train", folder="machine_annot")
    assert len(build_dataset(_cfg(tmp_path / "b", split="all"))) == 4  # only train present
    with pytest.raises(DataError, match=r"InterHand2\.6M_test_"):
        build_dataset(_cfg(tmp_path / "b"))


def test_bad_annotations_name_file_and_item(tmp_path):
    write_interhand(tmp_path)
    path = tmp_path / "annotations" / "test" / "InterHand2.6M_test_data.json"
    doc = json.loads(path.read_text())
    doc["annotations"][1]["hand_type"] = "both"
    doc["annotations"][2]["joint_valid"] = doc["annotations"][2]["joint_valid"][:40]
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"InterHand2.6M_test_data.json: annotation 1 \(id 21\): hand_type"):
        build_dataset(_cfg(tmp_path))
    with pytest.warns(UserWarning, match="skipping bad sample"):
        ds = build_dataset(_cfg(tmp_path, skip_bad=True))
    assert len(ds) == 1 and ds.bad_count == 2 and "joint_valid" in ds.bad_files[1]
    cams = tmp_path / "annotations" / "test" / "InterHand2.6M_test_camera.json"
    doc = json.loads(cams.read_text())
    doc["0"]["focal"] = {}
    cams.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"InterHand2.6M_test_camera.json: annotation 0 \(id 20\): no focal"):
        build_dataset(_cfg(tmp_path, skip_bad=False))
    with pytest.raises(DataError, match="dataset folder"):
        build_dataset(_cfg(tmp_path / "nothing"))


def test_data_check_and_show_read_it(tmp_path, capsys):
    write_interhand(tmp_path / "ih")
    root = str(tmp_path / "ih")
    assert main(["data", "check", root, "--format", "interhand", "--split", "test", "--input-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "samples: 4" in out and "interacting_hands: 2" in out and "hands_2d_only: 1" in out
    assert "broken: 0" in out
    grid = tmp_path / "grid.png"
    assert main(["data", "show", root, "--format", "interhand", "--split", "test", "--out", str(grid), "--n", "4",
                 "--input-size", "64"]) == 0 and grid.stat().st_size > 0
    assert main(["data", "check", root, "--format", "interhand", "--split", "test", "--images",
                 str(tmp_path / "none")]) == 1  # images looked for there: broken files, not a traceback


def test_awh_eval_of_a_checkpoint_with_the_interhand_protocol(tmp_path, capsys):
    from awhourglass.errors import AwhError
    from awhourglass.eval.run import EvalConfig, evaluate_checkpoint
    from awhourglass.models import AWHourglassNet, ModelConfig
    from awhourglass.models.load import network_checkpoint

    write_interhand(tmp_path / "ih")
    torch.manual_seed(0)
    ckpt = tmp_path / "model.pt"
    torch.save(network_checkpoint(AWHourglassNet(ModelConfig(input_size=32, width=8, depth=2, num_stacks=1,
                                                             depth_out_size=16, depth_width=8))), ckpt)
    cfg = dict(checkpoint=str(ckpt), data=str(tmp_path / "ih"), format="interhand", split="test", qualitative=1,
               progress=False)
    with pytest.raises(AwhError, match="--protocol interhand leaves them out"):  # the left hand without a wrist
        evaluate_checkpoint(EvalConfig(**cfg, out=str(tmp_path / "paper")))
    result, _ = evaluate_checkpoint(EvalConfig(**cfg, out=str(tmp_path / "ev"), protocol="interhand"))
    assert result.count == 3 and result.protocol == "interhand"
    gt = json.loads((tmp_path / "ev" / "groundtruth.json").read_text())["samples"]
    pred = {s["id"]: s for s in json.loads((tmp_path / "ev" / "predictions.json").read_text())["samples"]}
    assert [s["group"] for s in gt] == ["single", "single", "interacting"]
    assert gt[0]["xyz_mm"][INDEX_TIP] is None and gt[0]["vis"][INDEX_TIP] == 0
    errs: dict[str, list[float]] = {"single": [], "interacting": []}
    for s in gt:  # wrist-relative errors pooled over valid joints, from the written files
        p, g = np.array(pred[s["id"]]["xyz_mm"]), s["xyz_mm"]
        for j, row in enumerate(g):
            if s["vis"][j]:
                errs[s["group"]].append(np.linalg.norm((p[j] - p[0]) - (np.array(row) - np.array(g[0]))))
    assert result.mpjpe_single_mm == pytest.approx(np.mean(errs["single"]), abs=1e-4)  # float32 crops
    assert result.mpjpe_interacting_mm == pytest.approx(np.mean(errs["interacting"]), abs=1e-4)
    assert result.mpjpe_all_mm == pytest.approx(np.mean(errs["single"] + errs["interacting"]), abs=1e-4)
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    for extra in (["--gt", str(tmp_path / "ev" / "groundtruth.json")],
                  ["--data", str(tmp_path / "ih"), "--format", "interhand", "--split", "test"]):
        out = tmp_path / f"re{len(extra)}"
        assert main(["eval", "--pred", str(tmp_path / "ev" / "predictions.json"), *extra, "--out", str(out),
                     "--protocol", "interhand"]) == 0, capsys.readouterr().err
        again = json.loads((out / "results.json").read_text())
        for key in ("mpjpe_single_mm", "mpjpe_interacting_mm", "mpjpe_all_mm", "epe_mean_mm"):
            assert again[key] == pytest.approx(saved[key], abs=1e-6)
    assert "MPJPE" in capsys.readouterr().out
