"""Bad dataset files through the CLI (issue 24 items 5 and 6): one line naming the file, no traceback.

``awh data check`` lists a per-sample fault as a broken file (exit 1) and stops at a file-level fault (exit 2);
``awh train`` stops at load, before any step, with the same line (exit 2). The datasets are the tiny ones of
conftest.py with one file edited.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import yaml
from conftest import make_freihand, make_mpd, make_rhd, make_stb

from awhourglass.cli import main
from awhourglass.config import to_dict
from awhourglass.data.config import DatasetConfig
from awhourglass.models import ModelConfig
from awhourglass.train.config import (
    AdaptPhaseConfig,
    MethodConfig,
    PhaseConfig,
    PhasesConfig,
    TrainConfig,
    TrainDataConfig,
)


def _edit_pickle(root: Path, fn) -> Path:
    path = root / "training" / "anno_training.pickle"
    with open(path, "rb") as fh:
        anno = pickle.load(fh)  # our own test file
    anno = fn(anno)
    path.write_bytes(pickle.dumps(anno, protocol=2))
    return path


def _set_K(value):
    def edit(anno):
        anno[0]["K"] = np.asarray(value, np.float32)
        return anno
    return edit


def _edit_intrinsics(root: Path, key: str, fn) -> Path:
    path = root / "intrinsics.json"
    doc = json.loads(path.read_text())
    doc[key] = fn(doc[key])
    path.write_text(json.dumps(doc))  # NaN is written as NaN, which JSON readers (and ours) accept
    return path


def _K_entry(i: int, j: int, value: float):
    def edit(K):
        K[i][j] = value
        return K
    return edit


def _handpara(root: Path, value) -> Path:
    path = root / "labels" / "B2Random_SK.mat"
    scipy.io.savemat(path, {"handPara": value})
    return path


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)  # an exception escaping here (a traceback) fails the test
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _check(root: Path, fmt: str, capsys, split: str | None = None) -> tuple[int, str, str]:
    split = split or ("train" if fmt == "rhd" else "all")  # the RHD fixture writes the training split only
    return _run(["data", "check", str(root), "--format", fmt, "--split", split], capsys)


# --- awh data check ---------------------------------------------------------------------------------------------

# (id, build(tmp) -> (dataset root, format, the file the line must name), exit code, text the line must hold)
CHECK_CASES = [
    ("stb-handpara-string", lambda t: (t / "stb", "stb", _handpara(_stb(t), "left hand")), 1,
     "B2Random_SK.mat: handPara: not a numeric array"),
    ("stb-handpara-cells", lambda t: (t / "stb", "stb", _handpara(_stb(t), np.array([[1.0, "x"]], object))), 1,
     "B2Random_SK.mat: handPara: not a numeric array"),
    ("stb-handpara-shape", lambda t: (t / "stb", "stb", _handpara(_stb(t), np.zeros((3, 20, 2)))), 1,
     "B2Random_SK.mat: handPara: expected shape (3, 21, N), got (3, 20, 2)"),
    ("stb-zero-focal", lambda t: (t / "stb", "stb", _edit_intrinsics(_stb(t), "color_K", _K_entry(0, 0, 0.0))), 2,
     "intrinsics.json: color_K: singular intrinsics"),
    ("stb-negative-focal", lambda t: (t / "stb", "stb", _edit_intrinsics(_stb(t), "depth_K", _K_entry(1, 1, -400))),
     2, "intrinsics.json: depth_K: focal lengths must be positive"),
    ("stb-nan-focal", lambda t: (t / "stb", "stb", _edit_intrinsics(_stb(t), "color_K", _K_entry(0, 0, np.nan))), 2,
     "intrinsics.json: color_K: contains non-finite values"),
    ("stb-nan-centre", lambda t: (t / "stb", "stb", _edit_intrinsics(_stb(t), "color_K", _K_entry(1, 2, np.nan))),
     2, "intrinsics.json: color_K: contains non-finite values"),
    ("stb-nan-translation", lambda t: (t / "stb", "stb", _edit_intrinsics(
        _stb(t), "t_depth_from_color_mm", lambda v: [np.nan, *v[1:]])), 2,
     "intrinsics.json: t_depth_from_color_mm: non-finite"),
    ("stb-width-text", lambda t: (t / "stb", "stb", _edit_intrinsics(_stb(t), "width", lambda v: "eighty")), 2,
     "intrinsics.json: width: expected a positive whole number"),
    ("stb-registered-text", lambda t: (t / "stb", "stb", _edit_intrinsics(
        _stb(t), "depth_png_registered_to_color", lambda v: "false")), 2,
     "intrinsics.json: depth_png_registered_to_color: expected true or false"),
    ("stb-no-frames", lambda t: (t / "stb", "stb", _no_frames(_stb(t))), 2, "no samples (stb, split all)"),
    ("rhd-empty-dict", lambda t: (t / "rhd", "rhd", _edit_pickle(_rhd(t), lambda a: {})), 2,
     "anno_training.pickle: no frames (an empty dict)"),
    ("rhd-singular-K", lambda t: (t / "rhd", "rhd", _edit_pickle(_rhd(t), _set_K(np.zeros((3, 3))))), 1,
     "anno_training.pickle: frame 0 K: singular intrinsics"),
    ("rhd-nan-K", lambda t: (t / "rhd", "rhd", _edit_pickle(_rhd(t), _set_K(
        [[90.0, 0, 31.5], [0, np.nan, 30], [0, 0, 1]]))), 1, "anno_training.pickle: frame 0 K: contains non-finite"),
    ("rhd-K-text", lambda t: (t / "rhd", "rhd", _edit_pickle(_rhd(t), lambda a: {**a, 0: {**a[0], "K": "K"}})), 1,
     "anno_training.pickle: frame 0 K: not a numeric array"),
]


def _stb(tmp: Path) -> Path:
    make_stb(tmp / "stb")
    return tmp / "stb"


def _rhd(tmp: Path) -> Path:
    make_rhd(tmp / "rhd")
    return tmp / "rhd"


def _no_frames(root: Path) -> Path:
    for seq in ("B1Counting", "B2Random"):
        scipy.io.savemat(root / "labels" / f"{seq}_SK.mat", {"handPara": np.zeros((3, 21, 0))})
    return root


@pytest.mark.parametrize(("build", "code", "text"), [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES])
def test_data_check_names_the_bad_file_in_one_line(tmp_path, capsys, build, code, text):
    root, fmt, bad_file = build(tmp_path)
    got, out, err = _check(root, fmt, capsys)
    assert got == code, out + err
    assert str(bad_file) in (out + err) and text in (out + err), out + err
    if code == 2:  # stopped: exactly one line on stderr, nothing else
        assert err.startswith("awh data: error: ") and err.count("\n") == 1 and out == "", err
    else:  # collected: the broken line, and the other samples still checked
        broken = [ln for ln in out.splitlines() if ln.startswith("  broken: ")]
        assert len(broken) == 1 and text in broken[0], out


def test_a_check_with_samples_and_no_fault_is_clean(tmp_path, capsys):
    """The same datasets unedited pass: each case above fails by its edit, not by its setup."""
    for root, fmt in ((_stb(tmp_path), "stb"), (_rhd(tmp_path), "rhd")):
        code, out, _ = _check(root, fmt, capsys)
        assert code == 0 and "broken: 0" in out and "checked: 0 " not in out


def test_an_empty_split_is_an_error_naming_the_folder_and_split(tmp_path, capsys):
    root = tmp_path / "stb"
    make_stb(root, seqs=("B1Counting",))  # the test sequence only: the train split (B2–B6) is empty
    code, _, err = _check(root, "stb", capsys, split="train")
    assert code == 2 and err.strip() == f"awh data: error: {root}: no samples (stb, split train)", err


def test_all_samples_bad_is_a_broken_check_that_lists_them(tmp_path, capsys):
    root = _rhd(tmp_path)
    _edit_pickle(root, lambda a: {k: {**v, "K": np.zeros((3, 3))} for k, v in a.items()})
    code, out, _ = _check(root, "rhd", capsys, split="train")
    assert code == 1 and "checked: 0 samples, broken: 3" in out
    assert out.count("anno_training.pickle: frame ") == 3


# --- awh train --------------------------------------------------------------------------------------------------


def _train_yaml(tmp: Path, rhd: Path, stb: Path) -> Path:
    cfg = TrainConfig(
        data=TrainDataConfig(source=DatasetConfig(format="rhd", root=str(rhd), input_size=32),
                             target=DatasetConfig(format="stb", root=str(stb), input_size=32)),
        model=ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=1, depth=2, depth_out_size=16,
                          depth_width=8),
        method=MethodConfig(name="awh", critic_steps=1, critic_width=8),
        phases=PhasesConfig(pretrain=PhaseConfig(steps=1, batch_size=2), adapt=AdaptPhaseConfig(steps=1, batch_size=2)),
        device="cpu", num_workers=0, progress=False)
    path = tmp / "train.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path


TRAIN_CASES = [
    ("rhd-empty-dict", lambda t: _edit_pickle(_rhd(t), lambda a: {}), "anno_training.pickle: no frames"),
    ("stb-handpara-string", lambda t: _handpara(_stb(t), "left hand"), "handPara: not a numeric array"),
    ("stb-nan-focal", lambda t: _edit_intrinsics(_stb(t), "color_K", _K_entry(0, 0, np.nan)),
     "intrinsics.json: color_K: contains non-finite"),
    ("stb-no-train-sequences", lambda t: _stb_test_only(t), "no samples (stb, split train)"),
]


def _stb_test_only(tmp: Path) -> Path:
    make_stb(tmp / "stb", seqs=("B1Counting",))
    return tmp / "stb"


@pytest.mark.parametrize(("edit", "text"), [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_train_stops_at_load_with_one_line_naming_the_file(tmp_path, capsys, edit, text):
    bad = edit(tmp_path)
    rhd = tmp_path / "rhd" if (tmp_path / "rhd").exists() else _rhd(tmp_path)
    stb = tmp_path / "stb" if (tmp_path / "stb").exists() else _stb(tmp_path)
    out_dir = tmp_path / "out"
    code, out, err = _run(["train", str(_train_yaml(tmp_path, rhd, stb)), "--out", str(out_dir)], capsys)
    assert code == 2, out + err
    line = err.strip()
    assert line.startswith("awh train: error: ") and "\n" not in line and str(bad) in line and text in line, err
    assert not any(out_dir.glob("**/*.pt"))  # stopped before training: no checkpoint


# --- the same faults in the other readers ----------------------------------------------------------------------


def _freihand_K(tmp: Path, value: float) -> Path:
    make_freihand(tmp / "frei")
    path = tmp / "frei" / "training_K.json"
    K = json.loads(path.read_text())
    K[1][0][0] = value  # sample 1's fx
    path.write_text(json.dumps(K))
    return path


def _mpd_intrinsics(tmp: Path) -> Path:
    make_mpd(tmp / "mpd")
    path = tmp / "mpd" / "intrinsics.json"
    doc = json.loads(path.read_text())
    doc["K"][1][1] = 0.0
    path.write_text(json.dumps(doc))
    return path


def _mpd_rvec(tmp: Path) -> Path:
    make_mpd(tmp / "mpd")
    path = tmp / "mpd" / "calibrations" / "data_1" / "webcam_2" / "rvec.pkl"
    path.write_bytes(pickle.dumps(np.array([0.0, np.nan, 0.0]), protocol=2))
    return path


def _mmpose_focal(tmp: Path) -> Path:
    from test_mmpose_reader import write_mmpose_rhd

    path, _ = write_mmpose_rhd(tmp / "mm")
    doc = json.loads(path.read_text())
    doc["images"][1]["cam_param"]["focal"] = [0.0, 300.0]
    path.write_text(json.dumps(doc))
    return path


OTHER_CASES = [  # (id, build(tmp) -> bad file, format, dataset path from the bad file, split, exit, text)
    ("freihand-zero-focal", lambda t: _freihand_K(t, 0.0), "freihand", lambda f: f.parent, "train", 1,
     "training_K.json: sample 1 K: singular intrinsics"),
    ("freihand-negative-focal", lambda t: _freihand_K(t, -120.0), "freihand", lambda f: f.parent, "train", 1,
     "training_K.json: sample 1 K: focal lengths must be positive"),
    ("mpd-zero-focal", _mpd_intrinsics, "mpd", lambda f: f.parent, "all", 2, "intrinsics.json: K: singular"),
    ("mpd-nan-rvec", _mpd_rvec, "mpd", lambda f: f.parents[3], "all", 1, "rvec.pkl: rvec: non-finite"),
    ("mmpose-rhd-zero-focal", _mmpose_focal, "mmpose-rhd", lambda f: f, "train", 1,
     "rhd_train.json: annotation 1 cam_param: singular intrinsics"),
]


@pytest.mark.parametrize(("build", "fmt", "root_of", "split", "code", "text"), [c[1:] for c in OTHER_CASES],
                         ids=[c[0] for c in OTHER_CASES])
def test_the_other_readers_name_the_file_of_a_bad_camera(tmp_path, capsys, build, fmt, root_of, split, code, text):
    bad = build(tmp_path)
    got, out, err = _run(["data", "check", str(root_of(bad)), "--format", fmt, "--split", split,
                          "--input-size", "32"], capsys)
    assert got == code and str(bad) in out + err and text in out + err, out + err


def test_unknown_sequences_are_a_config_error_not_a_traceback(tmp_path, capsys):
    root = _stb(tmp_path)
    opts = tmp_path / "opts.yaml"
    opts.write_text("sequences: [B9Random]\n")
    code, _, err = _run(["data", "check", str(root), "--format", "stb", "--config", str(opts)], capsys)
    assert code == 2 and err.startswith("awh data: error: DatasetConfig.sequences: STB sequences ['B9Random']")
