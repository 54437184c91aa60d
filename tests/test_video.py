"""`awh predict` on videos (PyAV): one JSON line a frame, the overlay video, the carried box, smoothing vs jitter."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys

import numpy as np
import pytest

import test_api
from awhourglass import api
from awhourglass.cli import main
from awhourglass.data.crop import box_square
from awhourglass.demo.pretrained import SHIPPED
from awhourglass.drawing import draw_skeleton_rgb
from awhourglass.smoothing import OneEuroParams, jitter_px
from awhourglass.synth.generate import generate_batch
from awhourglass.video import VideoError, box_from_joints, is_video_source, predict_video

requires_av = pytest.mark.skipif(importlib.util.find_spec("av") is None,
                                 reason="PyAV missing: pip install 'awhourglass[video]'")
FRAMES, FPS, SIZE = 48, 30, 128
ckpt = test_api.ckpt  # the tiny random checkpoint fixture


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A still clip: one generated hand frame, independent pixel noise per frame, H.264 in an mp4."""
    import av

    rgb = generate_batch(1, "source", 7, size=SIZE)["rgb"][0]
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("clip") / "still.mp4"
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=FPS)
        s.width, s.height, s.pix_fmt = SIZE, SIZE, "yuv420p"
        for _ in range(FRAMES):
            noisy = np.clip(rgb + rng.normal(0.0, 8.0, rgb.shape), 0, 255).astype(np.uint8)
            for packet in s.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24")):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    return path


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@requires_av
def test_one_line_per_frame_the_overlay_video_and_the_summary(ckpt, clip, tmp_path):
    import av

    est = api.load(ckpt, threshold=0.0)  # a random network: call every frame a hand, so the box is always carried
    run = predict_video(est, clip, tmp_path, progress=False)
    docs = lines(run.jsonl)
    assert [d["frame"] for d in docs] == list(range(FRAMES))
    np.testing.assert_allclose([d["time_s"] for d in docs], np.arange(FRAMES) / FPS, atol=1e-3)
    for d in docs:  # everything of Prediction.to_dict, plus the smoothed joints
        assert d["format"] == api.PREDICTION_FORMAT and len(d["uv_px"]) == 21 and len(d["uv_px_smoothed"]) == 21
    with av.open(str(run.overlay)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == FRAMES and frames[0].shape == (SIZE, SIZE, 3)
    s = json.loads(run.summary_path.read_text())
    assert s == run.summary and s["frames"] == FRAMES and s["frame_size"] == [SIZE, SIZE]
    assert s["frame_rate_fps"] == FPS and s["box_restarts"] == 0
    raw = np.array([d["uv_px"] for d in docs])
    assert s["jitter_raw_px"] == pytest.approx(jitter_px(raw), abs=1e-3)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


@requires_av
def test_frame_k_uses_the_box_of_frame_k_minus_1(ckpt, clip, tmp_path):
    est = api.load(ckpt, threshold=0.0)
    docs = lines(predict_video(est, clip, tmp_path, smoothing=None, progress=False).jsonl)
    assert docs[0]["hand_box"] is None and docs[0]["bbox_source"] == "refined"  # frame 0: the hand is searched for
    for prev, d in itertools.pairwise(docs):
        uv = np.array(prev["uv_px"])
        lo, hi = uv.min(0), uv.max(0)
        expected = [lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)]
        assert d["hand_box_from"] == "previous_frame_joints" and d["bbox_source"] == "user"
        np.testing.assert_allclose(d["hand_box"], expected, atol=0.02)
        # and predict enlarged it by the training margin into the square it cropped
        centre, side = box_square(tuple(d["hand_box"]), SIZE, SIZE, est.crop_margin, est.min_crop_px)
        np.testing.assert_allclose(d["bbox"], [*(centre - side / 2), side, side], atol=0.02)


@requires_av
def test_smoothing_lowers_the_jitter_and_leaves_the_raw_track_alone(clip, tmp_path):
    est = api.load(SHIPPED)  # a trained network: it holds a still hand still, so what moves is the noise
    on = lines(predict_video(est, clip, tmp_path / "on", progress=False).jsonl)
    off = lines(predict_video(est, clip, tmp_path / "off", smoothing=None, progress=False).jsonl)
    raw_on, raw_off = np.array([d["uv_px"] for d in on]), np.array([d["uv_px"] for d in off])
    np.testing.assert_array_equal(raw_on, raw_off)  # the carried box follows the raw joints: same raw track
    assert all(d["uv_px_smoothed"] is None for d in off) and all(d["hand_detected"] for d in on)
    smoothed = np.array([d["uv_px_smoothed"] for d in on])
    np.testing.assert_array_equal(smoothed[0], raw_on[0])  # the filter's first sample passes unchanged
    assert jitter_px(smoothed) < jitter_px(raw_off)
    # In the first ~20 frames the carried box settles from the search onto the hand (it shrinks from frame to frame:
    # a real motion of the crop, which smoothing follows with a lag); after that what moves the joints is the pixel
    # noise, and smoothing removes much of it (measured on this clip: whole 1.39 → 0.78 px, settled half 0.72 → 0.42).
    settled = slice(FRAMES // 2, None)
    assert jitter_px(raw_on[settled]) > 0.2  # the noise does move the joints, so the comparison means something
    assert jitter_px(smoothed[settled]) < 0.7 * jitter_px(raw_off[settled]), (jitter_px(smoothed[settled]),
                                                                               jitter_px(raw_off[settled]))


@requires_av
def test_a_lost_hand_restarts_the_box_and_the_filter(ckpt, clip, tmp_path):
    est = api.load(ckpt, threshold=1.0)  # no frame reaches it: the hand is lost on every frame
    run = predict_video(est, clip, tmp_path, max_frames=5, smoothing=OneEuroParams(), progress=False)
    docs = lines(run.jsonl)
    assert len(docs) == 5 and run.summary["box_restarts"] == 4 and run.summary["frames_hand_detected"] == 0
    assert "max_frames" in run.summary["stopped"]
    for d in docs:
        assert d["hand_box"] is None and d["hand_box_from"] == "search" and not d["hand_detected"]
        assert d["uv_px_smoothed"] == d["uv_px"]


@requires_av
def test_the_cli_runs_a_video_and_reports_the_jitter(ckpt, clip, tmp_path, capsys):
    rc = main(["predict", str(ckpt), str(clip), "--out", str(tmp_path), "--max-frames", "6", "--threshold", "0",
               "--min-cutoff", "0.5", "--beta", "0"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert len(lines(tmp_path / "still.jsonl")) == 6
    assert "jitter" in out and "raw" in out and "smoothed" in out
    s = json.loads((tmp_path / "still_summary.json").read_text())
    assert s["smoothing"]["min_cutoff_hz"] == 0.5 and s["smoothing"]["beta_per_px"] == 0.0
    assert (tmp_path / "still_overlay.mp4").stat().st_size > 0


@requires_av
def test_a_missing_camera_is_one_line(ckpt, tmp_path, capsys):
    rc = main(["predict", str(ckpt), "97", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "camera 97" in err and len(err.splitlines()) == 1, err
    with pytest.raises(VideoError, match="camera 97"):
        predict_video(api.load(ckpt), 97, tmp_path, progress=False)
    assert not list(tmp_path.iterdir())


@requires_av
def test_a_file_that_is_not_a_video_is_one_line(ckpt, tmp_path, capsys):
    bad = tmp_path / "junk.mp4"
    bad.write_bytes(b"not a video at all")
    rc = main(["predict", str(ckpt), str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "junk.mp4" in err and len(err.splitlines()) == 1, err


def test_without_pyav_the_error_says_how_to_install_it(ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError
    rc = main(["predict", str(ckpt), str(tmp_path / "clip.mp4"), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "pip install 'awhourglass[video]'" in err and len(err.splitlines()) == 1, err


def test_video_inputs_are_recognised_and_alone(ckpt, tmp_path, capsys):
    assert is_video_source("a/b.MP4") and is_video_source("0") and is_video_source("/dev/video2")
    assert not is_video_source("photo.jpg") and not is_video_source("-1")
    rc = main(["predict", str(ckpt), "a.mp4", "b.png", "--out", str(tmp_path)])
    assert rc == 2 and "on its own" in capsys.readouterr().err


def test_box_from_joints():
    uv = np.array([[10.0, 20.0], [30.0, 25.0]] + [[20.0, 22.0]] * 19)
    assert box_from_joints(uv, 64, 64) == (10.0, 20.0, 20.0, 5.0)
    assert box_from_joints(np.full((21, 2), 5.0), 64, 64) == (5.0, 5.0, 1.0, 1.0)  # a point: 1 px sides
    assert box_from_joints(uv + 100.0, 64, 64) is None  # outside the image: lost
    assert box_from_joints(np.full((21, 2), np.nan), 64, 64) is None


def test_draw_skeleton_rgb_draws_on_a_copy_of_the_same_size():
    rgb = np.zeros((48, 64, 3), np.uint8)
    uv = np.stack([np.linspace(5, 58, 21), np.linspace(5, 42, 21)], axis=1)
    out = draw_skeleton_rgb(rgb, uv, (2.0, 2.0, 40.0, 40.0), "hand conf 0.50")
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert out[int(uv[10, 1]), int(uv[10, 0])].any() and not rgb.any()


@requires_av
def test_ctrl_c_ends_the_video_early_and_still_writes_the_outputs(ckpt, clip, tmp_path, monkeypatch):
    est = api.load(ckpt, threshold=0.0)
    real, calls = est.predict, []

    def predict(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(est, "predict", predict)
    run = predict_video(est, clip, tmp_path, progress=False)
    assert len(lines(run.jsonl)) == 3 and run.summary["frames"] == 3 and "interrupted" in run.summary["stopped"]
    import av

    with av.open(str(run.overlay)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3
