"""The Python API and `awh predict`: geometry of the crop/lift chain, confidence, and bad inputs."""

from __future__ import annotations

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
from awhourglass.data.crop import crop_box, crop_resize
from awhourglass.models import AWHourglassNet, HourglassOutput, ModelConfig, StackOutput
from awhourglass.models.head import heatmap_confidence
from awhourglass.models.load import network_checkpoint

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
    bbox = (100, 60, 120, 120)  # integer square: the crop is exactly this box
    # Crop map derived by hand: crop pixel i covers original [x + i·s, x + (i+1)·s), s = 120/32.
    s = 120 / 32
    uv_crop = (uv - np.array([100.0, 60.0]) + 0.5) / s - 0.5
    bone = float(np.linalg.norm(xyz[0] - xyz[9]))
    z_norm = (xyz[:, 2] - 0.5 * (xyz[0, 2] + xyz[9, 2])) / bone
    est = api.HandPoseEstimator(FakeNet(uv_crop, z_norm))
    img = np.zeros((240, 320, 3), np.uint8)
    pred = est.predict(img, bbox=bbox, K=(500, 480, 160, 118), bone_mm=bone * 1000)
    assert pred.metric and pred.root_depth_ok and pred.bbox_source == "user"
    np.testing.assert_allclose(pred.uv_px, uv, atol=1e-3)
    expected_mm = (xyz - 0.5 * (xyz[0] + xyz[9])) * 1000
    np.testing.assert_allclose(pred.xyz, expected_mm, atol=0.05)
    # Without K/bone: scale-normalized, the scale bone has length 1.
    pred_n = est.predict(img, bbox=bbox)
    assert not pred_n.metric and pred_n.K_assumed
    assert np.linalg.norm(pred_n.xyz[0] - pred_n.xyz[9]) == pytest.approx(1.0, abs=1e-4)
    doc = pred_n.to_dict()
    assert doc["xyz_units"].startswith("scale-bone") and doc["K_assumed"] is True


def test_crop_resize_places_a_marker_where_the_affine_says():
    img = np.zeros((100, 150, 3), np.uint8)
    img[40:44, 90:94] = 255  # a 4×4 block centred at (91.5, 41.5)
    crop, A = crop_resize(img, 70, 20, 40, 40)  # 1:1 scale: a pure shift by (70, 20)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    assert (xs.mean(), ys.mean()) == pytest.approx((21.5, 21.5))
    np.testing.assert_allclose(geometry.apply_affine(A, np.array([[91.5, 41.5]])), [[21.5, 21.5]], atol=1e-9)
    # Whole-image square of a 150×100 image pads 25 rows above and below.
    x0, y0, side = crop_box(None, 150, 100)
    assert (x0, y0, side) == (0, -25, 150)


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
    right = est.predict(img)
    left = est.predict(img[:, ::-1].copy(), left_hand=True)
    np.testing.assert_allclose(left.uv_px[:, 0], 47 - right.uv_px[:, 0], atol=1e-4)
    np.testing.assert_allclose(left.uv_px[:, 1], right.uv_px[:, 1], atol=1e-4)
    np.testing.assert_allclose(left.xyz * [-1, 1, 1], right.xyz, atol=1e-4)


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
        assert doc["format"] == "awhourglass-prediction/1"
        assert isinstance(doc["hand_detected"], bool) and 0.0 <= doc["confidence"] <= 1.0
        assert doc["bbox_source"] == "whole_image" and doc["metric"] is False
        assert len(doc["uv_px"]) == 21 and len(doc["xyz_root_relative"]) == 21
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
    assert main(["predict", str(ckpt), str(img), "--K", "0,1,2,3", "--out", str(tmp_path)]) == 1
    assert "focal lengths must be positive" in capsys.readouterr().err
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
    pred = est.predict(rgb)  # a 32² image is the crop itself: affine = identity
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255.0)[None]
    with torch.no_grad():
        ref = est.model.eval()(x)
    np.testing.assert_allclose(pred.uv_px, ref.uv_px[0].numpy(), atol=1e-3)
    np.testing.assert_allclose(pred.heatmaps, ref.stacks[-1].heatmap[0].numpy(), atol=1e-5)
