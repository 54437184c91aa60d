"""The real-hands evaluation: readers on files written here, the scores against hand computations, the crop →
network → frame round trip, and (when ../shared/realdev is there) the shipped sets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from awhourglass.cli import main
from awhourglass.eval.cropnet import crop_square, predict_crops, predict_square
from awhourglass.eval.realhands import (
    RealDevError,
    default_realdev,
    iter_set,
    reference_box,
)
from awhourglass.eval.realreport import hardest_line, mirrored_line, mirrored_split
from awhourglass.eval.realscore import (
    box_iou,
    hand_axis_offsets,
    hand_errors,
    leave_one_out_mean,
    mirrored_hands,
    per_joint,
    summarize,
)
from awhourglass.models.config import ModelConfig
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.models.load import network_checkpoint

requires_av = pytest.mark.skipif(importlib.util.find_spec("av") is None,
                                 reason="PyAV missing: pip install 'awhourglass[video]'")
REPO = Path(__file__).resolve().parents[2]
REALDEV = default_realdev(REPO)
requires_realdev = pytest.mark.skipif(not REALDEV.is_dir(),
                                      reason=f"real-hands folder {REALDEV} absent (set AWH_REALDEV to point at it)")
TINY = ModelConfig(input_size=32, width=8, depth=2, num_stacks=1, depth_out_size=16, depth_width=8)


# --- scores ----------------------------------------------------------------------------------------------------


def test_hand_error_is_the_mean_distance_over_labelled_joints_over_the_box_side():
    ref = np.zeros((1, 21, 2))
    ref[0, :, 0] = np.arange(21) * 2.0  # box 40 px wide, 0 tall: side 40
    lab = np.ones((1, 21), bool)
    lab[0, 3] = False  # an unlabelled joint: its error must not count
    pred = ref.copy()
    pred[0, 0] += [3.0, 4.0]  # 5 px
    pred[0, 1] += [0.0, 10.0]  # 10 px
    pred[0, 3] += [100.0, 0.0]  # unlabelled
    pct, px = hand_errors(pred, ref, lab)
    assert px[0] == pytest.approx(15.0 / 20)
    assert pct[0] == pytest.approx(100.0 * (15.0 / 20) / 40.0)
    s = summarize(pred, ref, lab)
    # 10 % of 40 px = 4 px: joint 0 (5 px) and 1 (10 px) miss, the 18 other labelled joints are exact
    assert s["pck10_pct"] == pytest.approx(100.0 * 18 / 20)
    assert s["pck20_pct"] == pytest.approx(100.0 * 19 / 20)  # 8 px: joint 0 in
    assert s["mean_pct_box"] == s["median_pct_box"] == pytest.approx(pct[0])


def test_leave_one_out_mean_against_a_direct_computation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 21, 2))
    lab = rng.random((6, 21)) > 0.3
    lab[:, 7] = False
    lab[2, 7] = True  # joint 7 labelled in hand 2 only: no other hand has it → 0 for hand 2
    got = leave_one_out_mean(x, lab)
    for n in range(6):
        for j in range(21):
            others = [x[m, j] for m in range(6) if m != n and lab[m, j]]
            want = np.mean(others, axis=0) if others else np.zeros(2)
            assert got[n, j] == pytest.approx(want)
    assert np.all(got[2, 7] == 0.0) and got[0, 7] == pytest.approx(x[2, 7])


def _upright_right_hand() -> np.ndarray:
    """A reference hand in image pixels (v down): wrist at (50, 90), middle MCP straight up at (50, 50), the index
    MCP at the left (u 40), the little MCP at the right (u 62); the other joints spread up to a 60 × 80 px box."""
    uv = np.zeros((21, 2))
    uv[:, 0] = np.linspace(30.0, 90.0, 21)
    uv[:, 1] = np.linspace(90.0, 10.0, 21)
    uv[0], uv[9], uv[5], uv[17] = [50.0, 90.0], [50.0, 50.0], [40.0, 52.0], [62.0, 55.0]
    return uv  # box: u 30..90, v 10..90 → side 80 px


def test_hand_axis_offsets_by_hand_in_the_hands_own_axes():
    ref = _upright_right_hand()[None]
    lab = np.ones((1, 21), bool)
    up, towards_index = np.array([0.0, -1.0]), np.array([-1.0, 0.0])  # wrist → middle MCP; index side (u smaller)
    pred = ref + 4.0 * up + 2.0 * towards_index
    got = hand_axis_offsets(pred, ref, lab)
    assert got[0] == pytest.approx(np.tile([100 * 4.0 / 80, 100 * 2.0 / 80], (21, 1)))
    # the same hand mirrored (a left hand) and turned by 90°: the offsets, in its own axes, are unchanged
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    turn = lambda a: (a * [-1.0, 1.0]) @ R.T  # noqa: E731
    assert hand_axis_offsets(turn(pred), turn(ref), lab)[0] == pytest.approx(got[0])
    lab2 = lab.copy()
    lab2[0, 3] = False
    assert np.isnan(hand_axis_offsets(pred, ref, lab2)[0, 3]).all()
    assert np.isfinite(hand_axis_offsets(pred, ref, lab2)[0, 4]).all()
    lab2[0, 17] = False  # without the little MCP the across sign is unknown: the whole hand is NaN
    assert np.isnan(hand_axis_offsets(pred, ref, lab2)).all()


def test_mirrored_hands_by_hand():
    ref = _upright_right_hand()
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    turned = (ref - ref[0]) @ R.T * 0.5 + [200.0, 10.0]  # turned 90°, halved and moved: the same handedness
    mirrored = ref * [-1.0, 1.0]  # reflected left-right: palm read as back
    swapped = ref.copy()
    swapped[[5, 17]] = ref[[17, 5]]  # index and little MCP exchanged: thumb side drawn where the little finger is
    lab = np.ones((4, 21), bool)
    lab[3, 17] = False  # no little MCP in the reference: handedness unknown
    pred = np.stack([turned, mirrored, swapped, mirrored])
    got = mirrored_hands(pred, np.stack([ref] * 4), lab)
    assert got[:3].tolist() == [0.0, 1.0, 1.0] and np.isnan(got[3])
    # the sign by hand: (index MCP − wrist) × (little MCP − wrist) = (−10, −38) × (12, −35) = 350 + 456 > 0
    a, b = ref[5] - ref[0], ref[17] - ref[0]
    assert a.tolist() == [-10.0, -38.0] and b.tolist() == [12.0, -35.0] and a[0] * b[1] - a[1] * b[0] == 806.0


def test_mirrored_split_and_its_line_by_hand():
    m = mirrored_split(np.array([10.0, 20.0, 30.0, 40.0]), np.array([1.0, 0.0, np.nan, 1.0]))
    assert m == {"hands": 3, "pct": pytest.approx(200.0 / 3), "error_mirrored_pct_box": 25.0,
                 "error_rest_pct_box": 20.0}
    assert mirrored_line("net", m) == ("net: drawn as the mirror image (palm read as back) in 66.7 % of 3 hands; "
                                       "error there 25.0, elsewhere 20.0 % of box")
    none_flipped = mirrored_split(np.array([5.0, 7.0]), np.array([0.0, 0.0]))
    assert none_flipped["pct"] == 0.0 and none_flipped["error_mirrored_pct_box"] is None
    assert "error there –, elsewhere 6.0" in mirrored_line("net", none_flipped)
    unknown = mirrored_split(np.array([5.0]), np.array([np.nan]))
    assert unknown["hands"] == 0 and unknown["pct"] is None
    assert mirrored_line("net", unknown) == "net: mirrored hands: none has its wrist, index and little MCP labelled"


def test_per_joint_means_over_the_hands_that_have_the_joint():
    ref = np.stack([_upright_right_hand(), _upright_right_hand() + 7.0])
    lab = np.ones((2, 21), bool)
    lab[1, 20] = False
    lab[:, 19] = False
    pred = ref.copy()
    pred[0, :, 1] -= 8.0  # hand 0: every joint 8 px up (along +10 % of the 80 px box)
    pred[1, :, 0] += 4.0  # hand 1: 4 px to the little side; without joints 19, 20 its box is v 18..90: 72 px
    got = per_joint(pred, ref, lab)
    assert got["along_pct_box"][0] == pytest.approx(5.0) and got["across_pct_box"][0] == pytest.approx(-400 / 72 / 2)
    assert got["mean_pct_box"][0] == pytest.approx((10.0 + 400 / 72) / 2)
    assert got["along_pct_box"][20] == pytest.approx(10.0) and got["mean_pct_box"][20] == pytest.approx(10.0)
    assert got["mean_pct_box"][19] is None and got["along_pct_box"][19] is None


def test_box_iou_by_hand():
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert box_iou((0, 0, 4, 4), (1, 1, 2, 2)) == pytest.approx(4 / 16)


def test_reference_box_is_the_tight_box_of_the_labelled_joints():
    uv = np.full((21, 2), np.nan)
    lab = np.zeros(21, bool)
    uv[[0, 5, 9]] = [[10.0, 20.0], [30.0, 5.0], [15.0, 40.0]]
    lab[[0, 5, 9]] = True
    assert reference_box(uv, lab) == pytest.approx((10.0, 5.0, 20.0, 35.0))


# --- crop → network → frame ------------------------------------------------------------------------------------


def _brightest_point_network(only_left_half: bool = False):
    """A stand-in network: a one-hot heatmap at the brightest input pixel for every joint (confidence 1). With
    ``only_left_half`` it is sure only when that pixel lies in the left half of its input, and flat otherwise."""

    def run(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, _, S, _ = x.shape
        heat, uv = torch.zeros(B, 21, S, S), torch.zeros(B, 21, 2)
        for b in range(B):
            k = int(x[b].sum(0).flatten().argmax())
            v, u = divmod(k, S)
            if only_left_half and u >= S / 2:
                heat[b] = 1.0 / (S * S)
                uv[b] = (S - 1) / 2.0
            else:
                heat[b, :, v, u] = 1.0
                uv[b] = torch.tensor([float(u), float(v)])
        return heat, uv

    return run


@pytest.mark.parametrize("side", ["right", "left", "unknown"])
def test_a_known_point_maps_back_to_its_frame_pixel(side):
    rgb = np.zeros((80, 100, 3), np.uint8)
    rgb[30, 55] = 255  # frame pixel (u, v) = (55, 30), off the crop's centre column
    centre, S = np.array([49.5, 39.5]), 32  # side S: one frame pixel per crop pixel, on the grid
    p = predict_square(rgb, centre, float(S), _brightest_point_network(), S, side)
    assert p.uv_px == pytest.approx(np.tile([55.0, 30.0], (21, 1)), abs=1e-6)
    assert p.mirrored == (side == "left")


def test_unknown_side_keeps_the_more_confident_mirroring():
    rgb = np.zeros((80, 100, 3), np.uint8)
    rgb[30, 55] = 255  # right half of the crop: only the mirrored pass sees it in the left half
    p = predict_square(rgb, np.array([49.5, 39.5]), 32.0, _brightest_point_network(only_left_half=True), 32,
                       "unknown")
    assert p.mirrored and p.confidences["left"] > p.confidences["right"]
    assert p.uv_px == pytest.approx(np.tile([55.0, 30.0], (21, 1)), abs=1e-6)


def test_batched_crops_give_each_frame_its_own_point_and_mirroring():
    # five frames, each with its bright pixel elsewhere, sides mixed, in batches of 2 passes that split a crop's
    # two passes across batches: every crop still gets its own pixel back and its own choice of mirroring
    rng = np.random.default_rng(0)
    crops, expect = [], []
    for side in ("right", "unknown", "left", "unknown", "right"):
        rgb = np.zeros((80, 100, 3), np.uint8)
        u, v = int(rng.integers(36, 64)), int(rng.integers(26, 54))
        rgb[v, u] = 255
        crops.append(crop_square(rgb, np.array([49.5, 39.5]), 32.0, 32, side))
        expect.append((u, v, side == "left" or (side == "unknown" and u >= 50)))
    got = predict_crops(crops, _brightest_point_network(only_left_half=True), batch_size=2)
    assert sum(p.confidence == 1.0 for p in got) >= 3  # the unknown sides always, the others where they see it
    for p, (u, v, mirrored) in zip(got, expect, strict=True):
        assert p.mirrored == mirrored
        if p.confidence == 1.0:  # the pass that saw the pixel in its left half
            assert p.uv_px == pytest.approx(np.tile([u, v], (21, 1)).astype(float), abs=1e-6)


# --- readers on files written here -----------------------------------------------------------------------------


def _keypoints(rng, w, h, hidden=()):
    k = np.column_stack([rng.uniform(5, w - 5, 21), rng.uniform(5, h - 5, 21), np.ones(21)])
    k[list(hidden)] = 0.0
    return k


def _write_realdev(root: Path, frames: int = 4) -> dict:
    """A tiny realdev folder: 2 OneHand10K photos (one joint stored as 0,0,0), a COCO-WholeBody photo with a valid
    left hand and an invalid right one, and (with PyAV) a 4-frame mp4 with its landmark rows."""
    rng = np.random.default_rng(0)
    truth: dict = {}
    (root / "onehand10k").mkdir(parents=True)
    images, anns = [], []
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (60, 50, 3), dtype=np.uint8)).save(root / "onehand10k" / f"{i}.jpg")
        k = _keypoints(rng, 50, 60, hidden=(0,) if i == 0 else ())
        images.append({"id": 10 + i, "file_name": f"{i}.jpg", "width": 50, "height": 60})
        anns.append({"id": 20 + i, "image_id": 10 + i, "keypoints": k.ravel().tolist(), "bbox": [0, 0, 50, 60]})
        truth[f"onehand{i}"] = k
    (root / "onehand10k" / "test_onehand10k.json").write_text(json.dumps({"images": images, "annotations": anns}))
    (root / "coco_wholebody").mkdir()
    Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)).save(root / "coco_wholebody" / "a.jpg")
    left = _keypoints(rng, 90, 70)
    left[4, 2] = 0.0  # score 0: unlabelled
    coco = {"images": [{"id": 1, "file_name": "a.jpg"}],
            "annotations": [{"id": 5, "image_id": 1, "lefthand_valid": True, "lefthand_kpts": left.ravel().tolist(),
                             "righthand_valid": False, "righthand_kpts": [0.0] * 63}]}
    (root / "coco_wholebody" / "test_coco_wholebody.json").write_text(json.dumps(coco))
    truth["coco_left"] = left
    if importlib.util.find_spec("av") is not None:
        import av

        (root / "asl_video").mkdir()
        rows = [np.column_stack([rng.uniform(10, 50, (21, 2)), np.zeros(21)]).tolist() for _ in range(frames)]
        (root / "asl_video" / "asl_hand.full.json").write_text(json.dumps(rows))
        with av.open(str(root / "asl_video" / "asl_hand.25fps.mp4"), "w", format="mp4") as c:
            s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=25)
            s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
            for k in range(frames):
                frame = np.full((48, 64, 3), 40 * k, np.uint8)
                for packet in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    c.mux(packet)
            for packet in s.encode(None):
                c.mux(packet)
        truth["asl"] = np.asarray(rows)
    return truth


def test_the_coco_style_readers(tmp_path):
    truth = _write_realdev(tmp_path)
    hands = list(iter_set(tmp_path, "onehand10k"))
    assert len(hands) == 2 and all(h.side == "unknown" and h.rgb.shape == (60, 50, 3) for h in hands)
    assert not hands[0].labelled[0] and np.isnan(hands[0].uv_px[0]).all()  # the (0, 0, 0) joint
    assert hands[0].labelled[1:].all() and hands[1].labelled.all()
    assert hands[0].uv_px[1:] == pytest.approx(truth["onehand0"][1:, :2])
    (coco,) = list(iter_set(tmp_path, "coco_wholebody"))  # the invalid right hand is not read
    assert coco.side == "left" and coco.set_name == "coco_wholebody" and coco.rgb.dtype == np.uint8
    assert not coco.labelled[4] and coco.labelled.sum() == 20
    assert coco.uv_px[coco.labelled] == pytest.approx(truth["coco_left"][coco.labelled, :2])


@requires_av
def test_the_video_reader_pairs_frames_with_rows_and_takes_every_kth(tmp_path):
    truth = _write_realdev(tmp_path, frames=5)
    hands = list(iter_set(tmp_path, "asl_video", every=2))
    assert [h.source.split("#")[1] for h in hands] == ["frame0", "frame2", "frame4"]
    for h, k in zip(hands, (0, 2, 4), strict=True):
        assert h.rgb.shape == (48, 64, 3) and h.labelled.all() and h.side == "right"  # the video's one right hand
        assert abs(float(h.rgb.mean()) - 40 * k) < 6  # the frame decoded is frame k
        assert h.uv_px == pytest.approx(truth["asl"][k, :, :2] - 0.5)  # MediaPipe corners → pixel centres


@requires_av
def test_a_video_with_more_rows_than_frames_is_one_error(tmp_path):
    _write_realdev(tmp_path, frames=3)
    rows = json.loads((tmp_path / "asl_video" / "asl_hand.full.json").read_text())
    (tmp_path / "asl_video" / "asl_hand.full.json").write_text(json.dumps(rows + rows[:1]))
    with pytest.raises(RealDevError, match="3 frames decoded"):
        list(iter_set(tmp_path, "asl_video"))


def test_missing_or_broken_folders_are_one_line_errors(tmp_path):
    with pytest.raises(RealDevError, match="no such folder"):
        list(iter_set(tmp_path / "nowhere", "onehand10k"))
    with pytest.raises(RealDevError, match="no such folder"):
        list(iter_set(tmp_path, "coco_wholebody"))
    (tmp_path / "onehand10k").mkdir()
    (tmp_path / "onehand10k" / "test_onehand10k.json").write_text("{not json")
    with pytest.raises(RealDevError, match="invalid JSON"):
        list(iter_set(tmp_path, "onehand10k"))


@requires_av
def test_the_cli_writes_the_report_tables_and_overlays(tmp_path, capsys):
    _write_realdev(tmp_path / "realdev", frames=4)
    ckpt = tmp_path / "tiny.pt"
    torch.manual_seed(0)
    torch.save(network_checkpoint(AWHourglassNet(TINY)), ckpt)
    out = tmp_path / "out"
    assert main(["eval", str(ckpt), "--realdev", str(tmp_path / "realdev"), "--out", str(out), "--every", "2",
                 "--search"]) == 0
    doc = json.loads((out / "realhands.json").read_text())
    assert doc["sets"]["asl_video"]["hands"] == 2 and doc["sets"]["onehand10k"]["hands"] == 2
    assert doc["sets"]["coco_wholebody"]["hands"] == 1
    rows = doc["sets"]["onehand10k"]["rows"]
    assert set(rows) >= {"tiny.pt", "constant mean hand (leave-one-out)", "MediaPipe landmarks (same crop)"}
    assert 0.0 <= rows["tiny.pt"]["pck20_pct"] <= 100.0
    joints = doc["sets"]["onehand10k"]["per_joint"]["tiny.pt"]
    assert np.nanmean(np.asarray(joints["mean_pct_box"], float)) > 0 and len(joints["along_pct_box"]) == 21
    assert doc["search"]["frames"] == 2 and 0.0 <= doc["search"]["median_iou"] <= 1.0
    assert list((out / "overlays").glob("*.png"))
    # per hand: one error per hand, in the order of the sources, whose mean is the table's mean
    for name, s in doc["sets"].items():
        for method, errors in s["per_hand"].items():
            assert len(errors) == s["hands"] == len(s["sources"]), (name, method)
            assert np.mean(errors) == pytest.approx(s["rows"][method]["mean_pct_box"], abs=1e-3)
    asl = doc["sets"]["asl_video"]
    worst = asl["sources"][int(np.argmax(asl["per_hand"]["tiny.pt"]))]
    printed = capsys.readouterr().out
    assert "| tiny.pt |" in printed and "median IoU" in printed and "tiny.pt: largest mean offsets" in printed
    assert f"tiny.pt: hardest hands (% of box): {worst} " in printed
    # mirror images: per method, over the hands whose handedness is known, the share and the errors split by it
    for name, s in doc["sets"].items():
        assert set(s["mirror_image"]) == set(s["per_hand"]), name
        for method, m in s["mirror_image"].items():
            errors = np.asarray(s["per_hand"][method])
            assert 0 < m["hands"] <= s["hands"], (name, method)
            if m["hands"] < s["hands"]:  # some hand lacks its wrist or an MCP: the split covers only the others
                continue
            parts = [(m["error_mirrored_pct_box"], m["pct"]), (m["error_rest_pct_box"], 100.0 - m["pct"])]
            mean = sum(e * w for e, w in parts if e is not None) / 100.0
            assert mean == pytest.approx(errors.mean(), abs=1e-3), (name, method)
    assert asl["mirror_image"]["tiny.pt"]["hands"] == asl["hands"]  # the video's frames are fully labelled
    assert "tiny.pt: drawn as the mirror image (palm read as back) in " in printed


def test_hardest_line_names_the_worst_hands_first():
    line = hardest_line("net", [3.0, 12.5, 7.26, 1.0], ["a#0", "a#1", "a#2", "a#3"], top=2)
    assert line == "net: hardest hands (% of box): a#1 12.5, a#2 7.3"
    assert hardest_line("net", [4.0], ["only"]) == "net: hardest hands (% of box): only 4.0"


# --- the shipped sets (../shared/realdev) ----------------------------------------------------------------------


@requires_realdev
def test_the_realdev_sets_read_as_documented():
    one = list(iter_set(REALDEV, "onehand10k"))
    coco = list(iter_set(REALDEV, "coco_wholebody"))
    assert len(one) == 4 and len(coco) == 10
    assert {h.side for h in coco} == {"left", "right"} and {h.side for h in one} == {"unknown"}
    for h in one + coco:
        H, W = h.rgb.shape[:2]
        uv = h.uv_px[h.labelled]
        assert h.labelled.sum() >= 2 and (uv >= -1).all() and (uv[:, 0] <= W).all() and (uv[:, 1] <= H).all()


@requires_realdev
@requires_av
def test_the_realdev_video_has_a_row_per_frame():
    hands = list(iter_set(REALDEV, "asl_video", every=81))  # decodes all 325 frames, checks the count
    assert [h.source.split("#")[1] for h in hands] == ["frame0", "frame81", "frame162", "frame243", "frame324"]
    assert all(h.rgb.shape == (1080, 620, 3) for h in hands)
