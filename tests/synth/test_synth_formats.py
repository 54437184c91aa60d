import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from awhourglass.cli import main
from awhourglass.formats.rhd import decode_rhd_depth, encode_rhd_depth
from awhourglass.formats.stb import decode_stb_depth, encode_stb_depth
from awhourglass.skeleton import rhd_to_canonical, stb_to_canonical
from awhourglass.synth import dataset, writers
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.synth.generate import LEFT, generate_batch


# --- a minimal reader of each format, written from docs/datasets.md (not from the writers)
def _read_rhd(root: Path, split: str):
    with open(root / split / f"anno_{split}.pickle", "rb") as fh:
        anno = pickle.load(fh)  # our own file, written by the test
    frames = []
    for fid in sorted(anno):
        rec = anno[fid]
        name = f"{fid:05d}.png"
        rgb = np.asarray(Image.open(root / split / "color" / name))
        mask = np.asarray(Image.open(root / split / "mask" / name))
        d = np.asarray(Image.open(root / split / "depth" / name)).astype(np.float64)
        depth = 5.0 * (d[..., 0] * 256 + d[..., 1]) / 65535
        frames.append((rec, rgb, mask, depth))
    return frames


def _rodrigues(r):
    theta = np.linalg.norm(r)
    k = r / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def _read_stb_colour_frame_m(root: Path, seq: str) -> np.ndarray:
    """handPara → canonical joints (N, 21, 3) in metres in the colour camera frame."""
    para = scipy.io.loadmat(root / "labels" / f"{seq}_SK.mat")["handPara"]
    assert para.shape[:2] == (3, 21)
    x_depth = para.transpose(2, 1, 0)  # (N, 21, 3) mm
    rot = _rodrigues(np.array([0.00531, -0.01196, 0.00301]))
    t = np.array([-24.0381, -0.4563, -1.2326])
    x_colour = (x_depth - t) @ rot  # Rᵀ (X_depth − t), row vectors
    return stb_to_canonical(x_colour / 1000.0)


def test_depth_encodings_by_hand():
    rhd = encode_rhd_depth(np.array([[1.0]]))
    assert rhd[0, 0].tolist() == [51, 51, 0]  # 1 m → 65535/5 = 13107 = 51·256 + 51
    stb = encode_stb_depth(np.array([[1.234, 0.0]]))
    assert stb[0, 0].tolist() == [210, 4, 0] and stb[0, 1].tolist() == [0, 0, 0]  # 1234 = 210 + 4·256
    d = np.random.default_rng(0).uniform(0, 4.9, (5, 7))
    assert np.abs(decode_rhd_depth(encode_rhd_depth(d)) - d).max() <= 5 / 65535 / 2 + 1e-7
    assert np.abs(decode_stb_depth(encode_stb_depth(d)) - d).max() <= 0.0005 + 1e-7


def test_rhd_round_trip(tmp_path):
    batch = generate_batch(6, "source", 21, 32)
    writers.prepare_rhd(tmp_path, "training")
    records = writers.write_rhd_images(tmp_path, "training", 0, batch)
    writers.write_rhd_annotations(tmp_path, "training", records)
    frames = _read_rhd(tmp_path, "training")
    assert len(frames) == 6
    for i, (rec, rgb, mask, depth) in enumerate(frames):
        assert rec["xyz"].shape == (42, 3) and rec["uv_vis"].shape == (42, 3) and rec["K"].shape == (3, 3)
        hand = "left" if batch["side"][i] == LEFT else "right"
        other = "right" if hand == "left" else "left"
        np.testing.assert_allclose(rhd_to_canonical(rec["xyz"], hand), batch["xyz_m"][i], atol=1e-4)
        np.testing.assert_array_equal(rhd_to_canonical(rec["uv_vis"], hand)[:, 2], batch["vis"][i])
        assert rhd_to_canonical(rec["uv_vis"], other)[:, 2].sum() == 0
        uv_other = rhd_to_canonical(rec["uv_vis"], other)[:, :2]
        assert np.all((uv_other[:, 0] < -32) | (uv_other[:, 0] > 64))  # far outside the image
        np.testing.assert_array_equal(rgb, batch["rgb"][i])
        np.testing.assert_array_equal(mask, batch["mask"][i])
        hand_ids = mask[mask >= 2]
        lo = 2 if hand == "left" else 18
        assert hand_ids.size and hand_ids.min() >= lo and hand_ids.max() <= lo + 15
        np.testing.assert_allclose(depth, batch["depth_m"][i], atol=5 / 65535)


def _read_stb_depth(path: Path) -> np.ndarray:
    d = np.asarray(Image.open(path)).astype(np.float64)
    return (d[..., 0] + 256 * d[..., 1]) / 1000  # mm = R + 256·G


def _depth_at(depth_m, xyz, K, vis):
    """|depth image at the projected visible joints − joint z| for joints inside the image."""
    h, w = depth_m.shape
    uvw = xyz[vis] @ K.T
    u, v = np.round(uvw[:, :2] / uvw[:, 2:]).astype(int).T
    ok = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    return list(np.abs(depth_m[v[ok], u[ok]] - xyz[vis, 2][ok]))


def test_stb_round_trip_registered_depth(tmp_path):
    batch = generate_batch(5, "target", 4, 48, gap=0.0)
    (tmp_path / "B1Counting").mkdir()
    (tmp_path / "labels").mkdir()
    writers.write_stb_images(tmp_path, "B1Counting", 0, batch)
    writers.write_stb_labels(tmp_path, "B1Counting", batch["xyz_m"])
    writers.write_stb_intrinsics(tmp_path, 48, 36)
    xyz = _read_stb_colour_frame_m(tmp_path, "B1Counting")
    np.testing.assert_allclose(xyz, batch["xyz_m"], atol=1e-4)
    intr = json.loads((tmp_path / "intrinsics.json").read_text())
    assert (intr["width"], intr["height"]) == (48, 36) and intr["depth_png_registered_to_color"] is True
    K_c, K_d = np.array(intr["color_K"]), np.array(intr["depth_K"])
    # Scaled by 48/640 with pixel centres at integers: c' = (c + ½)·s − ½.
    np.testing.assert_allclose(K_c[0], [607.92271 * 0.075, 0, (314.78337 + 0.5) * 0.075 - 0.5], rtol=1e-9)
    np.testing.assert_allclose(K_d[1], [0, 474.77709 * 0.075, (238.77962 + 0.5) * 0.075 - 0.5], rtol=1e-9)
    np.testing.assert_allclose(batch["K"][0], K_c, rtol=1e-6)
    np.testing.assert_allclose(intr["rvec_depth_from_color"], [0.00531, -0.01196, 0.00301])
    close = []
    for i in range(5):
        depth_m = _read_stb_depth(tmp_path / "B1Counting" / f"SK_depth_{i}.png")
        np.testing.assert_allclose(depth_m, batch["depth_m"][i], atol=0.0005 + 1e-6)
        close += _depth_at(depth_m, xyz[i], K_c, batch["vis"][i])
    assert len(close) > 20 and np.mean(np.array(close) < 0.03) > 0.9


def test_stb_sensor_depth_is_the_depth_cameras_view(tmp_path):
    batch = generate_batch(5, "target", 4, 48, gap=0.0, sensor_depth=True)
    (tmp_path / "B1Random").mkdir()
    (tmp_path / "labels").mkdir()
    writers.write_stb_images(tmp_path, "B1Random", 0, batch)
    writers.write_stb_labels(tmp_path, "B1Random", batch["xyz_m"])
    # handPara is in the depth camera frame: project it with the (scaled) SK depth intrinsics.
    para = scipy.io.loadmat(tmp_path / "labels" / "B1Random_SK.mat")["handPara"]
    x_depth = stb_to_canonical(para.transpose(2, 1, 0) / 1000.0)
    s = 48 / 640
    K_d = np.array([[475.62768 * s, 0, (336.41179 + 0.5) * s - 0.5], [0, 474.77709 * s, (238.77962 + 0.5) * s - 0.5]])
    K_d = np.vstack([K_d, [0, 0, 1]])
    close = []
    for i in range(5):
        depth_m = _read_stb_depth(tmp_path / "B1Random" / f"SK_depth_{i}.png")
        np.testing.assert_allclose(depth_m, batch["sensor_depth_m"][i], atol=0.0005 + 1e-6)
        close += _depth_at(depth_m, x_depth[i], K_d, batch["vis"][i])
    assert len(close) > 20 and np.mean(np.array(close) < 0.03) > 0.9
    assert not np.array_equal(batch["sensor_depth_m"], batch["depth_m"])  # a different camera


def test_stb_sizes_need_intrinsics_only_when_not_640(tmp_path):
    assert writers.write_stb_intrinsics(tmp_path, 640, 480) is None
    assert not (tmp_path / "intrinsics.json").exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("domain", ["source", "target"])
def test_same_seed_same_bytes(tmp_path, domain):
    # The target writes 12 sequences for --split both; the evaluation split (2 sequences) is enough here.
    split = "both" if domain == "source" else "evaluation"
    args = ["synth", "--domain", domain, "--n", "13", "--size", "32", "--split", split, "--no-progress"]
    assert main([*args, "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--seed", "5", "--out", str(tmp_path / "b")]) == 0
    assert main([*args, "--seed", "6", "--out", str(tmp_path / "c")]) == 0
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and a != c
    assert not any(".tmp" in k for k in a)


def test_cli_writes_the_rhd_layout(tmp_path):
    assert (
        main(["synth", "--domain", "source", "--n", "10", "--size", "32", "--out", str(tmp_path), "--no-progress"]) == 0
    )
    for split, n in (("training", 9), ("evaluation", 1)):
        frames = _read_rhd(tmp_path, split)
        assert len(frames) == n
        for rec, rgb, mask, _ in frames:
            assert rgb.shape == (32, 32, 3) and mask.shape == (32, 32)
            proj = rec["xyz"] @ rec["K"].T.astype(np.float64)
            np.testing.assert_allclose(proj[:, :2] / proj[:, 2:], rec["uv_vis"][:, :2], rtol=1e-4, atol=1e-3)


def test_cli_writes_the_stb_layout(tmp_path):
    assert (
        main(["synth", "--domain", "target", "--n", "24", "--size", "32", "--out", str(tmp_path), "--no-progress"]) == 0
    )
    train = [f"B{b}{k}" for b in range(2, 7) for k in ("Counting", "Random")]
    total = 0
    for seq in [*train, "B1Counting", "B1Random"]:
        n = len(scipy.io.loadmat(tmp_path / "labels" / f"{seq}_SK.mat")["handPara"][0, 0])
        assert n == len(list((tmp_path / seq).glob("SK_color_*.png"))) == len(list((tmp_path / seq).glob("SK_depth_*")))
        assert Image.open(tmp_path / seq / "SK_color_0.png").size == (32, 24)
        total += n
    assert total == 24
    assert (tmp_path / "intrinsics.json").exists()


def test_interrupted_run_leaves_no_annotation(tmp_path, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return generate_batch(*args, **kwargs)

    monkeypatch.setattr(dataset, "CHUNK", 4)
    monkeypatch.setattr(dataset, "generate_batch", failing)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(SynthConfig("source", 10, str(tmp_path), size=32, split="training"), progress=False)
    assert len(list((tmp_path / "training" / "color").glob("*.png"))) == 4
    assert not (tmp_path / "training" / "anno_training.pickle").exists()
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--domain", "nope", "--n", "3"], "unknown domain"),
        (["--domain", "source", "--n", "0"], "positive"),
        (["--domain", "source", "--n", "2", "--gap", "2"], "gap"),
        (["--domain", "source", "--n", "2", "--split", "test"], "split"),
        (["--domain", "source"], "--n is required"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, argv, message):
    assert main(["synth", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("awh synth: error:")


def test_cli_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["synth", "--domain", "source", "--n", "2", "--out", str(blocker / "sub"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write" in err and len(err.splitlines()) == 1


def test_library_rejects_bad_values():
    with pytest.raises(ValueError, match="domain"):
        generate_batch(2, "real", 0)
    with pytest.raises(ValueError, match="positive"):
        generate_batch(0, "source", 0)
    with pytest.raises(ValueError, match="size"):
        generate_batch(2, "source", 0, size=4)


def test_full_size_stb_is_exactly_stb(tmp_path):
    # At 640×480 nothing says the files are generated: no intrinsics.json, the published calibration
    # applies, and the depth PNG is the depth camera's own image.
    write_dataset(SynthConfig("target", 2, str(tmp_path), size=640, split="evaluation", gap=0.0), progress=False)
    assert not (tmp_path / "intrinsics.json").exists()
    K_d = np.array([[475.62768, 0, 336.41179], [0, 474.77709, 238.77962], [0, 0, 1]])
    close = []
    for seq in ("B1Counting", "B1Random"):
        para = scipy.io.loadmat(tmp_path / "labels" / f"{seq}_SK.mat")["handPara"]
        x_depth = stb_to_canonical(para.transpose(2, 1, 0) / 1000.0)[0]
        depth_m = _read_stb_depth(tmp_path / seq / "SK_depth_0.png")
        assert depth_m.shape == (480, 640)
        close += _depth_at(depth_m, x_depth, K_d, np.ones(21, bool))
    assert np.median(close) < 0.03


def test_thread_setting_is_restored():
    import torch

    before = torch.get_num_threads()
    a = generate_batch(3, "target", 8, 32, threads=1)
    assert torch.get_num_threads() == before
    b = generate_batch(3, "target", 8, 32, threads=None)
    for key in ("rgb", "depth_m", "mask", "xyz_m", "vis"):
        np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(ValueError, match="threads"):
        generate_batch(1, "source", 0, 32, threads=0)
