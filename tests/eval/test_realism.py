"""MediaPipe on our renders: the upright crop, the way back to frame pixels, the offsets and the constant hand,
checked with stand-in landmark networks whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from awhourglass import geometry
from awhourglass.cli import main
from awhourglass.eval.realism import (
    CONSTANT_ROW,
    MEDIAPIPE_ROW,
    realism_report,
    score_renders,
    upright_affine,
)
from awhourglass.eval.realscore import box_sides_px
from awhourglass.models.config import ModelConfig
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.models.load import network_checkpoint
from awhourglass.synth.generate import LEFT, generate_batch

SIZE = 224


@pytest.fixture(scope="module")
def batch():
    return generate_batch(6, "source", seed=11, size=96)


def _labels_in_crops(b):
    """Each image's labels in its upright crop, in order (what a perfect landmark network answers)."""
    lab = np.ones(21, bool)
    H, W = b["rgb"].shape[1:3]
    return [geometry.apply_affine(upright_affine(uv, lab, W, H, SIZE), uv.astype(np.float64)) for uv in b["uv_px"]]


def test_the_upright_crop_turns_the_hand_up_and_keeps_the_training_square(batch):
    H, W = batch["rgb"].shape[1:3]
    for uv in batch["uv_px"].astype(np.float64):
        A = upright_affine(uv, np.ones(21, bool), W, H, SIZE)
        c = geometry.apply_affine(A, uv)
        d = c[9] - c[0]  # wrist → middle MCP in the crop
        assert abs(d[0]) < 1e-6 * np.linalg.norm(d) + 1e-9 and d[1] < 0  # straight up (v grows downwards)
        lo, hi = uv.min(0), uv.max(0)
        side = 1.5 * max(hi - lo)  # CROP_MARGIN 1.5 around the tight box (the hands here exceed MIN_CROP_PX)
        assert np.linalg.norm(A[:2, :2] @ [1.0, 0.0]) == pytest.approx(SIZE / side)  # pure turn and scale
        centre = geometry.apply_affine(A, ((lo + hi) / 2)[None])[0]
        assert centre == pytest.approx([(SIZE - 1) / 2] * 2)


def test_a_perfect_landmark_network_scores_zero_and_a_shifted_one_its_shift(batch):
    answers = iter(_labels_in_crops(batch))
    got = score_renders(batch, lambda crop: next(answers), SIZE)
    assert got["rows"][MEDIAPIPE_ROW]["mean_pct_box"] == pytest.approx(0.0, abs=1e-6)
    # 3 crop px up in every upright crop = 3·side/224 frame px along the wrist → middle-MCP axis
    up = np.array([0.0, -3.0])
    answers = iter([a + up for a in _labels_in_crops(batch)])
    got = score_renders(batch, lambda crop: next(answers), SIZE)
    uv = batch["uv_px"].astype(np.float64)
    sides = 1.5 * np.ptp(uv, axis=1).max(-1)
    want = 100.0 * 3.0 * sides / SIZE / box_sides_px(uv, np.ones(uv.shape[:2], bool))  # = 100·3·1.5/224 each
    pj = got["per_joint"][MEDIAPIPE_ROW]
    assert pj["along_pct_box"] == pytest.approx([want.mean()] * 21)
    assert pj["across_pct_box"] == pytest.approx([0.0] * 21, abs=1e-9)
    assert got["rows"][MEDIAPIPE_ROW]["mean_pct_box"] == pytest.approx(want.mean())


def test_the_constant_is_the_other_hands_mean_in_this_hands_upright_crop(batch):
    got = score_renders(batch, "not installed", SIZE)
    assert got["rows"][MEDIAPIPE_ROW] == "not run: not installed"
    crops = _labels_in_crops(batch)
    mirrored = [np.column_stack([(SIZE - 1) - c[:, 0], c[:, 1]]) if s == LEFT else c
                for c, s in zip(crops, batch["side"], strict=True)]
    H, W = batch["rgb"].shape[1:3]
    uv = batch["uv_px"].astype(np.float64)
    errs = []
    for i in range(len(uv)):
        mean = np.mean([m for k, m in enumerate(mirrored) if k != i], axis=0)
        if batch["side"][i] == LEFT:
            mean[:, 0] = (SIZE - 1) - mean[:, 0]
        frame = geometry.apply_affine(np.linalg.inv(upright_affine(uv[i], np.ones(21, bool), W, H, SIZE)), mean)
        errs.append(np.linalg.norm(frame - uv[i], axis=-1).mean() / np.ptp(uv[i], axis=0).max() * 100)
    assert got["rows"][CONSTANT_ROW]["mean_pct_box"] == pytest.approx(np.mean(errs))
    assert len(set(batch["side"].tolist())) == 2  # both sides present: the mirroring was exercised


def test_the_report_runs_checkpoints_beside_and_the_cli_writes_it(tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    tiny = ModelConfig(input_size=32, width=8, depth=2, num_stacks=1, depth_out_size=16, depth_width=8)
    torch.save(network_checkpoint(AWHourglassNet(tiny)), ckpt)
    doc = realism_report(3, {"tiny": ckpt}, image_px=64, landmarks="switched off")
    assert set(doc["domains"]) == {"source", "target"}
    for d in doc["domains"].values():
        assert d["images"] == 3 and set(d["rows"]) == {MEDIAPIPE_ROW, CONSTANT_ROW, "tiny"}
        assert 0.0 <= d["rows"]["tiny"]["pck20_pct"] <= 100.0
    with pytest.raises(ValueError, match="at least 2"):
        realism_report(1, landmarks="switched off")
    assert main(["eval", str(ckpt), "--realism", "1"]) == 2
    assert "at least 2 images" in capsys.readouterr().err
    assert main(["eval", "--realism", "2", "--out", str(tmp_path / "out")]) == 0
    written = json.loads((tmp_path / "out" / "realism.json").read_text())
    assert written["format"] == "awhourglass-realism/1" and written["domains"]["target"]["images"] == 2
    assert "## source (2 generated images)" in (tmp_path / "out" / "realism.md").read_text()
