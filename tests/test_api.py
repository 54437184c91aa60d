"""The Python API and `awh predict`: geometry of the crop/lift chain, confidence, and bad inputs."""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import awhourglass
from awhourglass import api, geometry
from awhourglass.cli import main
from awhourglass.data.crop import box_square, corner_square, crop_rgb, downscale_factor, search_squares
from awhourglass.demo.pretrained import SHIPPED
from awhourglass.models import AWHourglassNet, HourglassOutput, ModelConfig, StackOutput
from awhourglass.models.head import heatmap_confidence
from awhourglass.models.load import network_checkpoint
from awhourglass.skeleton import POPULATION_BONE_MM
from awhourglass.synth.generate import generate_batch

TINY = ModelConfig(input_size=32, width=8, depth=2, num_stacks=1, depth_out_size=16, depth_width=8)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch.save(network_checkpoint(AWHourglassNet(TINY)), path)
    return path


def hand_xyz() -> np.ndarray:
    """A plausible right hand (21, 3) [m] about 0.4 m in front of the camera."""
    rng = np.random.default_rng(3)
    xyz = rng.normal(0.0, 0.03, (21, 3))
    xyz[9] = xyz[0] + np.array([0.0, -0.09, 0.01])  # wrist → middle MCP ≈ 90 mm
    return xyz + np.array([0.02, 0.01, 0.4])


class FakeNet(AWHourglassNet):
    """Returns a fixed 2.5D output (what a perfect network would say for a known crop)."""

    def __init__(self, uv_crop: np.ndarray, z_norm: np.ndarray) -> None:
        super().__init__(TINY)
        self.uv = torch.tensor(uv_crop, dtype=torch.float32)[None]
        self.z = torch.tensor(z_norm, dtype=torch.float32)[None]
        self.seen: list[torch.Tensor] = []

    def forward(self, image, domain=None, K=None, bone_m=None, z_root_m=None, depth_uv_px=None):
        self.seen.append(image)
        h = TINY.heatmap_size
        heat = torch.zeros(1, 21, h, h)
        heat[..., 0, 0] = 1.0
        st = StackOutput(heat, heat, self.uv, self.z, torch.zeros(1, 8, 2, 2))
        return HourglassOutput(stacks=[st], uv_px=self.uv, z_norm=self.z)


def test_predict_recovers_known_hand_through_crop_and_lift():
    xyz = hand_xyz()
    K = np.array([[500.0, 0, 160.0], [0, 480.0, 118.0], [0, 0, 1]])
    uv = geometry.project(xyz, K)
    bbox = (100, 60, 120, 120)  # the hand's box; the crop square adds the 1.5 margin: side 180 around (160, 120)
    # Crop map derived by hand: the square [160 ± 90] × [120 ± 90] spans the 32 crop pixels [-0.5, 31.5].
    uv_crop = (uv - np.array([160.0, 120.0])) * 32 / 180 + 15.5
    bone = float(np.linalg.norm(xyz[0] - xyz[9]))
    z_norm = (xyz[:, 2] - 0.5 * (xyz[0, 2] + xyz[9, 2])) / bone
    est = api.HandPoseEstimator(FakeNet(uv_crop, z_norm), fast=False)
    img = np.zeros((240, 320, 3), np.uint8)
    pred = est.predict(img, bbox=bbox, K=(500, 480, 160, 118), bone_mm=bone * 1000)
    assert pred.metric and pred.root_depth_ok and pred.bbox_source == "user"
    assert pred.bbox == pytest.approx((70.0, 30.0, 180.0, 180.0))
    np.testing.assert_allclose(pred.uv_px, uv, atol=1e-3)
    expected_mm = (xyz - 0.5 * (xyz[0] + xyz[9])) * 1000
    np.testing.assert_allclose(pred.xyz, expected_mm, atol=0.05)
    # camera space: with the true K and bone the closed-form root depth puts the hand where it was
    np.testing.assert_allclose(pred.xyz_cam, xyz * 1000, atol=0.05)
    doc = pred.to_dict()
    assert doc["assumptions"] == {"K": "given", "bone_mm": "given"}
    assert doc["rests_on"]["xyz_camera_mm"][:2] == ["K given", "bone_mm given"]
    # Without K/bone: the population-mean bone and the assumed camera, and the JSON says so.
    pred_n = est.predict(img, bbox=bbox)
    assert not pred_n.metric and pred_n.K_assumed and pred_n.bone_assumed
    assert np.linalg.norm(pred_n.xyz_norm[0] - pred_n.xyz_norm[9]) == pytest.approx(1.0, abs=1e-4)
    assert np.linalg.norm(pred_n.xyz[0] - pred_n.xyz[9]) == pytest.approx(POPULATION_BONE_MM, abs=1e-3)
    np.testing.assert_allclose(pred_n.xyz, pred_n.xyz_norm * POPULATION_BONE_MM, atol=1e-9)
    doc = pred_n.to_dict()
    assert doc["K_assumed"] is True and doc["bone_assumed"] is True and doc["bone_mm"] == POPULATION_BONE_MM
    assert doc["assumptions"]["K"].startswith("assumed: focal length max(W, H)")
    assert doc["assumptions"]["bone_mm"].startswith(f"assumed: population mean {POPULATION_BONE_MM:g} mm")
    assert doc["rests_on"]["xyz_root_relative_mm"] == ["K assumed", "bone_mm assumed"]
    assert doc["rests_on"]["xyz_scale_normalized"] == ["K assumed"]
    # the assumed camera: focal max(W, H) = 320, principal point at the centre of the 320×240 image
    np.testing.assert_allclose(pred_n.K, [[320, 0, 159.5], [0, 320, 119.5], [0, 0, 1]])
    # the assumed camera-space hand: its bone is the population mean and it projects onto the 2D joints
    cam = pred_n.xyz_cam
    assert np.linalg.norm(cam[0] - cam[9]) == pytest.approx(POPULATION_BONE_MM, rel=1e-6)
    np.testing.assert_allclose(geometry.project(cam, pred_n.K), pred_n.uv_px, atol=1e-6)
    # K given, bone not: the camera is given, the millimetres still rest on the assumed bone
    pred_k = est.predict(img, bbox=bbox, K=(500, 480, 160, 118))
    assert pred_k.to_dict()["rests_on"]["xyz_root_relative_mm"] == ["K given", "bone_mm assumed"]
    np.testing.assert_allclose(pred_k.xyz, expected_mm / (bone * 1000) * POPULATION_BONE_MM, atol=0.05)


def test_crop_rgb_places_a_marker_where_the_affine_says():
    img = np.zeros((100, 150, 3), np.uint8)
    img[40:44, 90:94] = 255  # a 4×4 block centred at (91.5, 41.5)
    A = geometry.crop_affine((89.5, 39.5), 40.0, 40)  # 1:1 scale: a pure shift, (89.5, 39.5) → (19.5, 19.5)
    crop = crop_rgb(img, A, 40)[0].numpy()
    ys, xs = np.nonzero(crop > 0.5)
    assert (xs.mean(), ys.mean()) == pytest.approx((21.5, 21.5))
    np.testing.assert_allclose(geometry.apply_affine(A, np.array([[91.5, 41.5]])), [[21.5, 21.5]], atol=1e-9)
    # Whole-image square of a 150×100 image: centred, side 150 (25 black rows above and below).
    centre, side = box_square(None, 150, 100, 1.5, 16.0)
    assert tuple(centre) == (74.5, 49.5) and side == 150.0


def test_crop_rgb_antialiases_a_strong_downscale():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (384, 384, 3), dtype=np.uint8)
    A = geometry.crop_affine((191.5, 191.5), 384.0, 64)  # 6×: crop pixel i is the centre of source block i
    assert downscale_factor(A) == 6
    blocks = img.astype(np.float64).reshape(64, 6, 64, 6, 3).mean((1, 3)) / 255.0  # the 6×6 means, by hand
    np.testing.assert_allclose(crop_rgb(img, A, 64).permute(1, 2, 0).numpy(), blocks, atol=1e-5)
    from awhourglass.data.crop import warp  # point sampling alone keeps the noise: it aliases
    naive = warp(torch.from_numpy(img).permute(2, 0, 1).float() / 255, A, 64).permute(1, 2, 0).numpy()
    assert np.abs(naive - blocks).mean() > 0.05
    # up to 2× nothing is pre-filtered: the training crops are the plain bilinear warp
    A2 = geometry.crop_affine((191.5, 191.5), 120.0, 64)
    assert downscale_factor(A2) == 1
    plain = warp(torch.from_numpy(img).permute(2, 0, 1).float() / 255, A2, 64).clamp(0, 1)
    assert torch.equal(crop_rgb(img, A2, 64), plain)


def test_a_large_image_is_cut_to_the_crop_first_with_the_same_result():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (1200, 1300, 3), dtype=np.uint8)
    A = geometry.crop_affine((400.0, 300.0), 500.0, 64)  # 7× shrink inside the first 1000 pixels
    small = np.ascontiguousarray(big[:1000, :1000])
    np.testing.assert_allclose(crop_rgb(big, A, 64).numpy(), crop_rgb(small, A, 64).numpy(), atol=1e-5)


def test_predict_feeds_the_network_what_evaluation_feeds_it(tmp_path):
    """A photo with the box of its 2D labels gives the same network input as the evaluation path."""
    from awhourglass.data.crop import RawSample, make_sample
    from awhourglass.synth.generate import generate_batch

    b = generate_batch(3, "target", np.random.SeedSequence(4), 128, 0.5)
    for i in range(3):
        uv, K = b["uv_px"][i], b["K"][i]
        raw = RawSample(image=b["rgb"][i], K=K, uv_px=uv, vis=np.ones(21, bool), xyz_m=b["xyz_m"][i],
                        depth_m=None, mask=None, hand_side="right", source=f"render {i}")
        sample = make_sample(raw, input_size=TINY.input_size)  # the reader's crop: 1.5 × the joints' box
        net = FakeNet(np.zeros((21, 2)), np.zeros(21))
        lo, hi = uv.astype(np.float64).min(0), uv.astype(np.float64).max(0)  # the box of its 2D labels
        api.HandPoseEstimator(net, fast=False).predict(b["rgb"][i], bbox=(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
        # the same square up to one rounding of the box's corner (x + w): the inputs agree to float round-off
        np.testing.assert_allclose(net.seen[-1][0].numpy(), sample.image.numpy(), rtol=0, atol=1e-5, err_msg=str(i))
        assert not torch.equal(net.seen[-1][0], torch.zeros_like(sample.image))


def test_heatmap_confidence_by_hand():
    h = w = 8
    heat = torch.zeros(1, 3, h, w)
    heat[0, 0, 3, 4] = 1.0  # one-hot: no spread
    heat[0, 1] = 1.0 / (h * w)  # flat: the spread of a flat map
    heat[0, 2, 5, 2] = heat[0, 2, 5, 3] = 0.5  # two neighbours: var_u = 0.25, var_v = 0 -> spread 0.5
    conf = heatmap_confidence(heat)[0]
    flat = np.sqrt(2 * (64 - 1) / 12)  # a flat 8-pixel axis has variance (8² − 1)/12
    assert conf[0] == pytest.approx(1.0)
    assert conf[1] == pytest.approx(0.0, abs=1e-6)
    assert conf[2] == pytest.approx(1 - 0.5 / flat, rel=1e-6)


def test_left_hand_is_the_mirror_of_the_right(ckpt):
    est = awhourglass.load(ckpt)
    rng = np.random.default_rng(0)
    img = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
    right = est.predict(img, refine=False)
    left = est.predict(img[:, ::-1].copy(), left_hand=True, refine=False)
    np.testing.assert_allclose(left.uv_px[:, 0], 47 - right.uv_px[:, 0], atol=1e-4)
    np.testing.assert_allclose(left.uv_px[:, 1], right.uv_px[:, 1], atol=1e-4)
    np.testing.assert_allclose(left.xyz * [-1, 1, 1], right.xyz, atol=1e-4)
    np.testing.assert_allclose(left.xyz_cam * [-1, 1, 1], right.xyz_cam, atol=1e-3)


def test_import_is_light_and_load_is_exported():
    code = "import sys, awhourglass; assert 'torch' not in sys.modules; print(callable(awhourglass.load))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims ``width × height`` (no pixel data): only the size check may read it."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))


def test_cli_bad_inputs_give_clear_answers_never_tracebacks(ckpt, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 48), (128, 128, 128)).save(blank)
    gray = tmp_path / "gray.png"
    Image.fromarray((np.random.default_rng(1).random((40, 30)) * 255).astype(np.uint8), "L").save(gray)
    big = tmp_path / "big.jpg"
    Image.new("RGB", (3000, 2000), (90, 60, 40)).save(big, quality=50)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    huge = tmp_path / "huge.png"
    _png_header_only(huge, 30000, 20000)
    out = tmp_path / "out"
    rc = main(["predict", str(ckpt), str(blank), str(gray), str(big), str(text), str(huge), "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 1
    assert "Traceback" not in cap.out + cap.err
    assert "notes.png: not an image file" in cap.err
    assert "huge.png: image too large" in cap.err
    assert "2 of 5 image(s) failed" in cap.err
    for stem in ("blank", "gray", "big"):
        doc = json.loads((out / f"{stem}.json").read_text())
        assert doc["format"] == "awhourglass-prediction/2"
        assert isinstance(doc["hand_detected"], bool) and 0.0 <= doc["confidence"] <= 1.0
        assert doc["bbox_source"] == "refined" and doc["metric"] is False
        assert len(doc["uv_px"]) == 21 and len(doc["xyz_root_relative_mm"]) == 21 and len(doc["xyz_camera_mm"]) == 21
        assert doc["refinement"]["passes"] >= 2 and doc["hand_threshold_source"] == "default"
        assert Image.open(out / f"{stem}_overlay.png").size[0] <= 1024
    gdoc = json.loads((out / "gray.json").read_text())
    assert any("grayscale" in n for n in gdoc["notes"])
    assert json.loads((out / "big.json").read_text())["image_size"] == [3000, 2000]
    # A blank image is no hand for this (untrained) model: its heatmaps are nearly flat.
    assert json.loads((out / "blank.json").read_text())["hand_detected"] is False


def test_cli_bad_flags_and_checkpoints(ckpt, tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32)).save(img)
    assert main(["predict", str(ckpt), str(img), "--bbox", "1,2,3"]) == 2
    assert "--bbox: expected 4" in capsys.readouterr().err
    # a flag that holds for every image is refused once, before any image: exit 2, nothing written
    assert main(["predict", str(ckpt), str(img), "--K", "0,1,2,3", "--out", str(tmp_path / "k")]) == 2
    assert "--K: " in (err := capsys.readouterr().err) and "focal lengths must be positive" in err
    assert not (tmp_path / "k").exists()
    assert main(["predict", str(ckpt), str(img), "--bbox", "100,100,5,5", "--out", str(tmp_path)]) == 1
    assert "outside the 32x32 image" in capsys.readouterr().err
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"garbage")
    assert main(["predict", str(bogus), str(img)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.pt"), str(img)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_runs_the_fused_path_with_the_eager_networks_output(ckpt):
    """predict() uses the BN-folded snapshot; its 2D output equals the eager network's on the same crop."""
    est = api.load(ckpt)
    assert est.fast is not None
    with torch.no_grad():  # non-trivial BN statistics, so a fold that ignored them would differ
        for m in est.model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    est = api.HandPoseEstimator(est.model)
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pred = est.predict(rgb, refine=False)  # the whole 32² image is the crop itself: affine = identity
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255.0)[None]
    with torch.no_grad():
        ref = est.model.eval()(x)
    np.testing.assert_allclose(pred.uv_px, ref.uv_px[0].numpy(), atol=1e-3)
    np.testing.assert_allclose(pred.heatmaps, ref.stacks[-1].heatmap[0].numpy(), atol=1e-5)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_a_non_finite_threshold_is_one_line(tmp_path, capsys, bad):
    ckpt = tmp_path / "m.pt"
    torch.save(network_checkpoint(AWHourglassNet(TINY)), ckpt)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    assert main(["predict", str(ckpt), str(img), f"--threshold={bad}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"awh predict: error: threshold must be a finite confidence, got {float(bad)!r}"
    assert not (tmp_path / "o").exists()


def test_cli_takes_a_box_that_starts_left_of_the_image(ckpt, tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32)).save(img)
    out = tmp_path / "out"
    assert main(["predict", str(ckpt), str(img), "--bbox", "-10,4,30,20", "--out", str(out)]) == 0
    doc = json.loads((out / "a.json").read_text())
    assert doc["bbox_source"] == "user"
    # the hand box (-10, 4, 30, 20) with the recorded margin: a square of 1.5 × 30 = 45 px centred on (5, 14)
    x, y, side, _ = doc["bbox"]
    assert (x, y, side) == pytest.approx((5 - 22.5, 14 - 22.5, 45.0))
    assert main(["predict", str(ckpt), str(img), "--bbox=-10,4,30,20", "--out", str(tmp_path / "o2")]) == 0
    assert json.loads((tmp_path / "o2" / "a.json").read_text())["bbox"] == doc["bbox"]


def test_attach_negative_values_only_touches_number_lists_of_those_options():
    from awhourglass.cli import attach_negative_values

    assert attach_negative_values(["predict", "m.pt", "--bbox", "-1,2,3,4", "x.png"]) == [
        "predict", "m.pt", "--bbox=-1,2,3,4", "x.png"]
    assert attach_negative_values(["predict", "--K", "-5e2,600,320,240"]) == ["predict", "--K=-5e2,600,320,240"]
    assert attach_negative_values(["predict", "--bbox", "--left"]) == ["predict", "--bbox", "--left"]
    assert attach_negative_values(["eval", "--out", "-10,4"]) == ["eval", "--out", "-10,4"]


def test_search_squares_and_square_iou_by_hand():
    squares = search_squares(100, 100, fractions=(1 / 2,))
    assert len(squares) == 1 + 9  # the whole image, then a 3 × 3 grid of half-overlapping 50-pixel squares
    assert tuple(squares[0][0]) == (49.5, 49.5) and squares[0][1] == 100.0
    centres = np.array([c for c, _ in squares[1:]])
    assert sorted(set(centres[:, 0])) == pytest.approx([24.5, 49.5, 74.5])  # flush with the edges, step 25
    assert all(s == 50.0 for _, s in squares[1:])
    # a 4:3 frame: the squares of side 1/3 of 300 = 100 cover both axes edge to edge
    wide = np.array([c for c, s in search_squares(300, 225, fractions=(1 / 3,))[1:]])
    assert wide[:, 0].min() == pytest.approx(49.5) and wide[:, 0].max() == pytest.approx(249.5)
    assert wide[:, 1].min() == pytest.approx(49.5) and wide[:, 1].max() == pytest.approx(174.5)
    # two 2-pixel squares one pixel apart overlap in 2 of 6 pixels²; disjoint squares not at all
    assert geometry.square_iou((0, 0), 2.0, (1, 0), 2.0) == pytest.approx(1 / 3)
    assert geometry.square_iou((0, 0), 2.0, (5, 5), 2.0) == 0.0
    assert geometry.square_iou((3, 4), 7.0, (3, 4), 7.0) == pytest.approx(1.0)


def test_predict_finds_a_small_off_centre_hand_in_a_full_frame():
    """The shipped source network, no box: the search and re-crops end on the hand's training crop."""
    est = awhourglass.load(SHIPPED)
    frames = generate_batch(12, "source", seed=21, size=256, distance_scale=2.0, centre_jitter=0.25)
    ious, moved = [], []
    for i in range(12):
        uv, left = frames["uv_px"][i], bool(frames["side"][i] == 0)
        centre_gt, side_gt = corner_square(uv.min(0), uv.max(0), est.crop_margin, est.min_crop_px)
        assert side_gt < 0.5 * 256  # the hand is small in the frame
        pred = est.predict(frames["rgb"][i], left_hand=left)
        assert pred.bbox_source == "refined" and 2 <= pred.refinement["passes"] <= api.REFINE_MAX_PASSES
        x, y, s, _ = pred.bbox
        ious.append(geometry.square_iou((x + s / 2, y + s / 2), s, centre_gt, side_gt))
        # the same crop given as a box (the hand's box: the crop square without its margin) is the same prediction
        m = est.crop_margin
        again = est.predict(frames["rgb"][i], bbox=(x + s / 2 - s / (2 * m), y + s / 2 - s / (2 * m), s / m, s / m),
                            left_hand=left)
        np.testing.assert_allclose(again.uv_px, pred.uv_px, atol=1e-3)
        np.testing.assert_allclose(again.xyz_norm, pred.xyz_norm, atol=1e-4)
        # against the crop of the true joints' box: the 2D answers differ by a fraction of the hand's crop
        boxed = est.predict(frames["rgb"][i], bbox=(*uv.min(0), *(uv.max(0) - uv.min(0))), left_hand=left)
        moved.append(float(np.linalg.norm(pred.uv_px - boxed.uv_px, axis=1).mean()) / side_gt)
    ious, moved = np.array(ious), np.array(moved)
    assert np.median(ious) >= 0.5 and (ious >= 0.5).mean() >= 2 / 3, ious.round(2)
    assert np.median(moved[ious >= 0.5]) <= 0.1, moved.round(3)


class SameJointsNet(FakeNet):
    """The same crop joints in every crop of a batch (a network that always sees the hand at one place)."""

    def forward(self, image, domain=None, K=None, bone_m=None, z_root_m=None, depth_uv_px=None):
        out = super().forward(image[:1])
        b = image.shape[0]
        st = out.stacks[0]
        st = StackOutput(st.heatmap.expand(b, -1, -1, -1), st.heatmap.expand(b, -1, -1, -1),
                         st.uv_px.expand(b, -1, -1), st.z_norm.expand(b, -1), st.features.expand(b, -1, -1, -1))
        return HourglassOutput(stacks=[st], uv_px=st.uv_px, z_norm=st.z_norm)


def test_each_recrop_is_the_widened_training_crop_around_the_last_joints():
    uv_crop = np.zeros((21, 2))
    uv_crop[:, 0] = np.linspace(10.0, 22.0, 21)  # 12 crop pixels wide
    uv_crop[:, 1] = np.linspace(24.0, 8.0, 21)  # 16 tall: the longer side
    est = api.HandPoseEstimator(SameJointsNet(uv_crop, np.zeros(21)), fast=False)
    pred = est.predict(np.zeros((96, 128, 3), np.uint8), max_passes=4)
    boxes = pred.refinement["pass_boxes"]
    assert len(boxes) == 4  # each box is 0.8625 of the last (IoU 0.74 < 0.9): never stable
    for (x, y, s, _), nxt in itertools.pairwise(boxes):
        # by hand: crop pixel (u, v) is original pixel centre + (u - 15.5) * s / 32; the joints' box is
        # [16 - 15.5, ...]: its middle (16, 16) in the crop, its longer side 16 * s / 32
        cx, cy = x + s / 2 + (16.0 - 15.5) * s / 32, y + s / 2 + (16.0 - 15.5) * s / 32
        side = 1.5 * 1.15 * 16.0 * s / 32
        np.testing.assert_allclose(nxt, [cx - side / 2, cy - side / 2, side, side], atol=0.011)
