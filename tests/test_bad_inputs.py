"""Bad input to every command: exit code 2 (1 for predict's per-image errors), one line naming the file or
field, no traceback, nothing written.

Each case builds its own bad input beside a small good world (generated RHD/STB data, a tiny checkpoint, a good
training config). The checkpoint cases (9 bad checkpoints × 5 commands) are in tests/test_checkpoint.py; faults
(kill -9, a full disk, Ctrl-C, a second run on a directory) in tests/train/.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from awhourglass.cli import main
from awhourglass.config import to_dict
from awhourglass.data.config import DatasetConfig
from awhourglass.eval.predictions import write_ground_truth, write_predictions
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.models.load import network_checkpoint
from awhourglass.synth.dataset import SynthConfig, write_dataset
from awhourglass.train.config import (
    AdaptPhaseConfig,
    MethodConfig,
    PhaseConfig,
    PhasesConfig,
    TrainConfig,
    TrainDataConfig,
)

TINY = ModelConfig(input_size=32, stem_stride=2, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=8)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("world")
    write_dataset(SynthConfig(domain="source", n=6, out=str(base / "rhd"), size=64, split="both"), progress=False)
    write_dataset(SynthConfig(domain="target", n=6, out=str(base / "stb"), size=64, split="both"), progress=False)
    torch.manual_seed(0)
    torch.save(network_checkpoint(AWHourglassNet(TINY)), base / "model.pt")
    cfg = TrainConfig(
        data=TrainDataConfig(source=DatasetConfig(format="rhd", root=str(base / "rhd"), input_size=32),
                             target=DatasetConfig(format="stb", root=str(base / "stb"), input_size=32)),
        model=TINY, method=MethodConfig(name="awh", critic_steps=1, critic_width=8),
        phases=PhasesConfig(pretrain=PhaseConfig(steps=1, batch_size=4), adapt=AdaptPhaseConfig(steps=1, batch_size=4)),
        device="cpu", num_workers=1, progress=False)
    (base / "train.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    rng = np.random.default_rng(0)
    xyz = rng.normal(0, 0.03, (3, 21, 3)) + np.array([0, 0, 0.5])
    write_ground_truth(base / "gt.json", ["a", "b", "c"], xyz)
    write_predictions(base / "pred.json", ["a", "b", "c"], xyz + 0.001)
    Image.new("RGB", (40, 30), (90, 60, 50)).save(base / "photo.png")
    return {"base": base}


def _train_yaml(world, tmp: Path, **change) -> Path:
    """The good training config with dotted keys changed (``"phases.adapt.lr": -1``) or removed (value ...)."""
    doc = yaml.safe_load((world["base"] / "train.yaml").read_text())
    for dotted, value in change.items():
        *parents, leaf = dotted.split("__")
        d = doc
        for k in parents:
            d = d.setdefault(k, {})
        if value is ...:
            d.pop(leaf, None)
        else:
            d[leaf] = value
    path = tmp / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _rhd_with(world, tmp: Path, edit) -> Path:
    """A copy of the RHD data with ``edit(root)`` applied (a file broken, removed, replaced)."""
    root = _copy_tree(world["base"] / "rhd", tmp / "rhd")
    edit(root)
    return root


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _pickle_edit(root: Path, fn) -> None:
    import pickle

    path = root / "training" / "anno_training.pickle"
    with open(path, "rb") as fh:
        anno = pickle.load(fh)  # our own test file
    fn(anno)
    with open(path, "wb") as fh:
        pickle.dump(anno, fh)


def _first_frame(anno: dict) -> dict:
    return anno[sorted(anno)[0]]


def _nan_xyz(anno):
    _first_frame(anno)["xyz"][0, 0] = np.nan


def _behind_camera(anno):
    _first_frame(anno)["xyz"][:, 2] = -0.5


def _string_keys(anno):
    k = sorted(anno)[0]
    anno[f"frame{k}"] = anno.pop(k)


def _bad_K(anno):
    _first_frame(anno)["K"] = np.zeros((3, 3))


# (id, argv(world, tmp) -> list[str], expected exit code, text the one line must hold, folder that must stay
# empty or absent: "out" = tmp/"out")
CASES = [
    # --- synth ---
    ("synth-negative-n", lambda w, t: _synth(t, "--n", "-3"), 2, "--n", "out"),
    ("synth-zero-n", lambda w, t: _synth(t, "--n", "0"), 2, "--n", "out"),
    ("synth-bad-domain", lambda w, t: ["synth", "--domain", "moon", "--n", "2", "--out", str(t / "out")], 2,
     "domain", "out"),
    ("synth-size-zero", lambda w, t: _synth(t, "--size", "0"), 2, "size", "out"),
    ("synth-gap-out-of-range", lambda w, t: _synth(t, "--gap", "3"), 2, "gap", "out"),
    ("synth-bad-split", lambda w, t: _synth(t, "--split", "tarin"), 2, "split", "out"),
    ("synth-eval-fraction", lambda w, t: _synth(t, "--eval-fraction", "1.5"), 2,
     "eval", "out"),
    ("synth-out-is-a-file", lambda w, t: ["synth", "--domain", "source", "--n", "2", "--out",
                                          str(w["base"] / "photo.png")], 2, "photo.png", None),
    # --- data check / show ---
    ("data-missing-root", lambda w, t: ["data", "check", str(t / "nope"), "--format", "rhd"], 2, "nope", None),
    ("data-root-is-a-file", lambda w, t: ["data", "check", str(w["base"] / "photo.png"), "--format", "rhd"], 2,
     "photo.png", None),
    ("data-limit-negative", lambda w, t: ["data", "check", str(w["base"] / "rhd"), "--format", "rhd", "--limit", "-3"],
     2, "--limit", None),
    ("data-wrong-format", lambda w, t: ["data", "check", str(w["base"] / "rhd"), "--format", "stb"], 2, "SK.mat",
     None),
    ("data-config-missing", lambda w, t: ["data", "check", str(w["base"] / "rhd"), "--format", "rhd", "--config",
                                          str(t / "none.yaml")], 2, "none.yaml", None),
    ("data-config-unknown-key", lambda w, t: ["data", "check", str(w["base"] / "rhd"), "--format", "rhd", "--config",
                                              _write(t / "c.yaml", "colour_space: hsv\n")], 2, "colour_space", None),
    ("data-config-binary", lambda w, t: ["data", "check", str(w["base"] / "rhd"), "--format", "rhd", "--config",
                                         _write_bytes(t / "c.yaml", b"\xff\xfe\x00")], 2, "c.yaml", None),
    ("data-show-n-zero", lambda w, t: ["data", "show", str(w["base"] / "rhd"), "--format", "rhd", "--n", "0",
                                       "--out", str(t / "out")], 2, "--n", "out"),
    ("data-input-size-zero", lambda w, t: ["data", "check", str(w["base"] / "rhd"), "--format", "rhd", "--input-size",
                                           "0"], 2, "input_size", None),
    ("data-rhd-nan-joints", lambda w, t: ["data", "check", str(_rhd_with(w, t, lambda r: _pickle_edit(r, _nan_xyz))),
                                          "--format", "rhd", "--split", "train"], 1, "non-finite", None),
    ("data-rhd-behind-camera", lambda w, t: ["data", "check", str(_rhd_with(w, t, lambda r: _pickle_edit(
        r, _behind_camera))), "--format", "rhd", "--split", "train"], 1, "behind the camera", None),
    ("data-rhd-string-frame-keys", lambda w, t: ["data", "check", str(_rhd_with(w, t, lambda r: _pickle_edit(
        r, _string_keys))), "--format", "rhd", "--split", "train"], 2, "frame keys must be integer", None),
    ("data-rhd-singular-K", lambda w, t: ["data", "check", str(_rhd_with(w, t, lambda r: _pickle_edit(r, _bad_K))),
                                          "--format", "rhd", "--split", "train"], 1, "singular", None),
    ("data-rhd-zero-byte-pickle", lambda w, t: ["data", "check", str(_rhd_with(
        w, t, lambda r: _zero(r / "training" / "anno_training.pickle"))), "--format", "rhd", "--split", "train"], 2,
     "anno_training.pickle", None),
    ("data-rhd-zero-byte-colour", lambda w, t: ["data", "check", str(_rhd_with(
        w, t, lambda r: _zero(_first(r, "training/color/*.png")))), "--format", "rhd", "--split", "train"], 1,
     "color/", None),
    ("data-rhd-zero-byte-mask", lambda w, t: ["data", "check", str(_rhd_with(
        w, t, lambda r: _zero(_first(r, "training/mask/*.png")))), "--format", "rhd", "--split", "train"], 1,
     "mask/", None),
    ("data-rhd-missing-colour", lambda w, t: ["data", "check", str(_rhd_with(
        w, t, lambda r: _first(r, "training/color/*.png").unlink())), "--format", "rhd", "--split", "train"], 1,
     "color/", None),
    ("data-rhd-16bit-depth", lambda w, t: ["data", "check", str(_rhd_with(
        w, t, lambda r: _sixteen_bit(_first(r, "training/depth/*.png")))), "--format", "rhd", "--split", "train"], 1,
     "depth/", None),
    ("data-stb-zero-byte-mat", lambda w, t: ["data", "check", str(_stb_with(
        w, t, lambda r: _zero(_first(r, "labels/*_SK.mat")))), "--format", "stb", "--split", "all"], 1, ".mat", None),
    ("data-stb-split-typo", lambda w, t: ["data", "check", str(w["base"] / "stb"), "--format", "stb", "--split",
                                          "validation"], 2, "split", None),
    # --- train ---
    ("train-missing-config", lambda w, t: ["train", str(t / "none.yaml"), "--out", str(t / "out")], 2, "none.yaml",
     "out"),
    ("train-config-is-a-folder", lambda w, t: ["train", str(w["base"] / "rhd"), "--out", str(t / "out")], 2, "rhd",
     "out"),
    ("train-binary-config", lambda w, t: ["train", _write_bytes(t / "b.yaml", b"\x00\xff\xfe"), "--out",
                                          str(t / "out")], 2, "b.yaml", "out"),
    ("train-not-yaml", lambda w, t: ["train", _write(t / "b.yaml", "a: [1, 2\n"), "--out", str(t / "out")], 2,
     "not valid YAML", "out"),
    ("train-top-level-list", lambda w, t: ["train", _write(t / "b.yaml", "- 1\n- 2\n"), "--out", str(t / "out")], 2,
     "mapping", "out"),
    ("train-unknown-key", lambda w, t: ["train", str(_train_yaml(w, t, colour="red")), "--out", str(t / "out")], 2,
     "colour", "out"),
    ("train-no-data", lambda w, t: ["train", str(_train_yaml(w, t, data=...)), "--out", str(t / "out")], 2, "data",
     "out"),
    ("train-negative-lr", lambda w, t: ["train", str(_train_yaml(w, t, optimizer__lr=-1e-3)), "--out",
                                        str(t / "out")], 2, "optimizer.lr", "out"),
    ("train-nan-lr", lambda w, t: ["train", str(_train_yaml(w, t, phases__adapt__lr=float("nan"))), "--out",
                                   str(t / "out")], 2, "phases.adapt.lr", "out"),
    ("train-critic-lr-zero", lambda w, t: ["train", str(_train_yaml(w, t, method__critic_lr=0.0)), "--out",
                                           str(t / "out")], 2, "method.critic_lr", "out"),
    ("train-negative-lambda", lambda w, t: ["train", str(_train_yaml(w, t, method__lambda_wd=-0.1)), "--out",
                                            str(t / "out")], 2, "method.lambda_wd", "out"),
    ("train-unknown-method", lambda w, t: ["train", str(_train_yaml(w, t, method__name="awesome")), "--out",
                                           str(t / "out")], 2, "method.name", "out"),
    ("train-critic-steps-zero", lambda w, t: ["train", str(_train_yaml(w, t, method__critic_steps=0)), "--out",
                                              str(t / "out")], 2, "critic_steps", "out"),
    ("train-negative-steps", lambda w, t: ["train", str(_train_yaml(w, t, phases__pretrain__steps=-1)), "--out",
                                           str(t / "out")], 2, "phases.pretrain.steps", "out"),
    ("train-target-fraction", lambda w, t: ["train", str(_train_yaml(w, t, phases__adapt__target_fraction=1.0)),
                                            "--out", str(t / "out")], 2, "target_fraction", "out"),
    ("train-bad-split", lambda w, t: ["train", str(_train_yaml(w, t, data__source__split="trian")), "--out",
                                      str(t / "out")], 2, "split", "out"),
    ("train-bad-stem-stride", lambda w, t: ["train", str(_train_yaml(w, t, model__stem_stride=3)), "--out",
                                            str(t / "out")], 2, "stem_stride", "out"),
    ("train-size-mismatch", lambda w, t: ["train", str(_train_yaml(w, t, model__input_size=64)), "--out",
                                          str(t / "out")], 2, "input_size", "out"),
    ("train-missing-data-root", lambda w, t: ["train", str(_train_yaml(w, t, data__source__root=str(t / "nope"))),
                                              "--out", str(t / "out")], 2, "nope", None),
    ("train-override-missing", lambda w, t: ["train", str(w["base"] / "train.yaml"), "--override", str(t / "o.yaml"),
                                             "--out", str(t / "out")], 2, "o.yaml", "out"),
    ("train-init-from-missing", lambda w, t: ["train", str(_train_yaml(w, t, init_from=str(t / "w.pt"))), "--out",
                                              str(t / "out")], 2, "w.pt", None),
    ("train-worker-zero-byte-colour", lambda w, t: ["train", str(_train_yaml(
        w, t, data__source__root=str(_rhd_with(w, t, lambda r: [_zero(p) for p in r.glob("training/color/*.png")])))),
        "--out", str(t / "out")], 2, "not a readable image", None),
    # --- eval --data / --pred ---
    ("eval-no-data-or-pred", lambda w, t: ["eval", str(w["base"] / "model.pt")], 2, "--data", None),
    ("eval-data-without-format", lambda w, t: ["eval", str(w["base"] / "model.pt"), "--data", str(w["base"] / "stb")],
     2, "--format", None),
    ("eval-bad-format", lambda w, t: ["eval", str(w["base"] / "model.pt"), "--data", str(w["base"] / "stb"),
                                      "--format", "xyz", "--out", str(t / "out")], 2, "format", "out"),
    ("eval-missing-data", lambda w, t: ["eval", str(w["base"] / "model.pt"), "--data", str(t / "nope"), "--format",
                                        "stb", "--out", str(t / "out")], 2, "nope", "out"),
    ("eval-split-typo", lambda w, t: ["eval", str(w["base"] / "model.pt"), "--data", str(w["base"] / "stb"),
                                      "--format", "stb", "--split", "tset", "--out", str(t / "out")], 2, "split",
     "out"),
    ("eval-max-samples-zero", lambda w, t: ["eval", str(w["base"] / "model.pt"), "--data", str(w["base"] / "stb"),
                                            "--format", "stb", "--max-samples", "0", "--out", str(t / "out")], 2,
     "max", "out"),
    ("eval-pred-without-gt", lambda w, t: ["eval", "--pred", str(w["base"] / "pred.json")], 2, "--gt", None),
    ("eval-pred-missing", lambda w, t: ["eval", "--pred", str(t / "p.json"), "--gt", str(w["base"] / "gt.json")], 2,
     "p.json", None),
    ("eval-pred-not-json", lambda w, t: ["eval", "--pred", _write(t / "p.json", "{oops"), "--gt",
                                         str(w["base"] / "gt.json")], 2, "p.json", None),
    ("eval-pred-nested", lambda w, t: ["eval", "--pred", _write(t / "p.json", "[" * 100000 + "]" * 100000), "--gt",
                                       str(w["base"] / "gt.json")], 2, "p.json", None),
    ("eval-pred-wrong-format-tag", lambda w, t: ["eval", "--pred", _json(t / "p.json", {"format": "other/1",
                                                                                        "samples": []}),
                                                 "--gt", str(w["base"] / "gt.json")], 2, "p.json", None),
    ("eval-pred-nan", lambda w, t: ["eval", "--pred", _nan_pred(w, t / "p.json"), "--gt", str(w["base"] / "gt.json")],
     2, "p.json", None),
    ("eval-pred-unknown-id", lambda w, t: ["eval", "--pred", _renamed_pred(w, t / "p.json"), "--gt",
                                           str(w["base"] / "gt.json")], 2, "zzz", None),
    ("eval-pred-wrong-joint-count", lambda w, t: ["eval", "--pred", _short_pred(w, t / "p.json"), "--gt",
                                                  str(w["base"] / "gt.json")], 2, "p.json", None),
    ("eval-gt-is-predictions", lambda w, t: ["eval", "--pred", str(w["base"] / "pred.json"), "--gt",
                                             str(w["base"] / "pred.json")], 2, "pred.json", None),
    # --- predict ---
    ("predict-missing-checkpoint", lambda w, t: ["predict", str(t / "m.pt"), str(w["base"] / "photo.png")], 2, "m.pt",
     None),
    ("predict-bbox-three-numbers", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(w["base"] / "photo.png"),
                                                 "--bbox", "1,2,3"], 2, "--bbox", None),
    ("predict-bbox-not-numbers", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(w["base"] / "photo.png"),
                                               "--bbox", "a,b,c,d"], 2, "--bbox", None),
    ("predict-bbox-nan", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(w["base"] / "photo.png"),
                                       "--bbox", "nan,1,2,3"], 2, "--bbox", None),
    ("predict-K-three-numbers", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(w["base"] / "photo.png"),
                                              "--K", "1,2,3"], 2, "--K", None),
    ("predict-threshold-nan", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(w["base"] / "photo.png"),
                                            "--threshold", "nan"], 2, "threshold", None),
    ("predict-bone-negative", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(w["base"] / "photo.png"),
                                            "--bone", "-90", "--K", "60,60,20,15"], 2, "--bone", None),
    ("predict-image-missing", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(t / "none.png"), "--out",
                                            str(t / "out")], 1, "none.png", None),
    ("predict-image-not-an-image", lambda w, t: ["predict", str(w["base"] / "model.pt"), _write(t / "x.png", "text"),
                                                 "--out", str(t / "out")], 1, "x.png", None),
    ("predict-image-truncated", lambda w, t: ["predict", str(w["base"] / "model.pt"), _truncated_png(w, t / "x.png"),
                                              "--out", str(t / "out")], 1, "x.png", None),
    ("predict-box-outside", lambda w, t: ["predict", str(w["base"] / "model.pt"), str(w["base"] / "photo.png"),
                                          "--bbox", "500,500,5,5", "--out", str(t / "out")], 1, "outside", None),
    # --- export ---
    ("export-missing-checkpoint", lambda w, t: ["export", str(t / "m.pt"), "--onnx", str(t / "out" / "m.onnx")], 2,
     "m.pt", "out"),
    ("export-not-a-checkpoint", lambda w, t: ["export", str(w["base"] / "photo.png"), "--onnx",
                                              str(t / "out" / "m.onnx")], 2, "photo.png", "out"),
    # --- bench / demo / benchmark flags ---
    ("bench-batch-zero", lambda w, t: ["bench", "--batch", "0", "--json", str(t / "out" / "b.json")], 2, "batch",
     "out"),
    ("bench-repeats-zero", lambda w, t: ["bench", "--repeats", "0", "--json", str(t / "out" / "b.json")], 2,
     "repeats", "out"),
    ("bench-threads-negative", lambda w, t: ["bench", "--threads=-1", "--json", str(t / "out" / "b.json")], 2,
     "threads", "out"),
    ("demo-seeds-zero", lambda w, t: ["demo", "--seeds", "0", "--out", str(t / "out")], 2, "--seeds", "out"),
    ("demo-threads-zero", lambda w, t: ["demo", "--threads", "0", "--out", str(t / "out")], 2, "threads", "out"),
    ("benchmark-seeds-zero", lambda w, t: ["benchmark", "--seeds", "0", "--out", str(t / "out")], 2, "--seeds", "out"),
    ("benchmark-pretrained-missing", lambda w, t: ["benchmark", "--pretrained", str(t / "p.pt"), "--seeds", "1",
                                                   "--out", str(t / "out")], 2, "p.pt", None),
]


def _snapshot(root: Path) -> set[tuple[str, int, int]]:
    """Every file and folder under ``root`` with its size and modification time."""
    return {(str(q), q.stat().st_size if q.is_file() else -1, q.stat().st_mtime_ns) for q in root.rglob("*")}


def _synth(t: Path, *flags: str) -> list[str]:
    return ["synth", "--domain", "source", "--n", "2", *flags, "--out", str(t / "out")]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _write_bytes(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _json(path: Path, doc) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def _pred_doc(world) -> dict:
    return json.loads((world["base"] / "pred.json").read_text())


def _nan_pred(world, path: Path) -> str:
    text = (world["base"] / "pred.json").read_text()
    doc = json.loads(text)
    key = "samples" if "samples" in doc else next(k for k, v in doc.items() if isinstance(v, list))
    first = doc[key][0]
    field = next(k for k, v in first.items() if isinstance(v, list))
    first[field][0][0] = "NaN"
    return _write(path, json.dumps(doc).replace('"NaN"', "NaN"))


def _renamed_pred(world, path: Path) -> str:
    doc = _pred_doc(world)
    key = "samples" if "samples" in doc else next(k for k, v in doc.items() if isinstance(v, list))
    doc[key][0]["id"] = "zzz"
    return _json(path, doc)


def _short_pred(world, path: Path) -> str:
    doc = _pred_doc(world)
    key = "samples" if "samples" in doc else next(k for k, v in doc.items() if isinstance(v, list))
    first = doc[key][0]
    field = next(k for k, v in first.items() if isinstance(v, list) and len(v) == 21)
    first[field] = first[field][:20]
    return _json(path, doc)


def _truncated_png(world, path: Path) -> str:
    data = (world["base"] / "photo.png").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _sixteen_bit(path: Path) -> None:
    Image.fromarray(np.full((64, 64), 3000, np.uint16)).save(path)


def _stb_with(world, tmp: Path, edit) -> Path:
    root = _copy_tree(world["base"] / "stb", tmp / "stb")
    edit(root)
    return root


@pytest.mark.parametrize(("argv", "code", "names", "untouched"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_it(world, tmp_path, capsys, monkeypatch, argv, code, names, untouched):
    monkeypatch.chdir(tmp_path)  # default output folders (./awh_eval, ...) would land here
    args = argv(world, tmp_path)
    before = _snapshot(tmp_path) | _snapshot(world["base"])
    capsys.readouterr()
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's own refusal: usage + one "error:" line, exit 2
        rc = exc.code
    cap = capsys.readouterr()
    err = cap.err
    assert "Traceback" not in err + cap.out, err
    # nothing written or changed: not in the case's folder (inputs, cwd, --out), not in the shared world; a
    # training stopped by a bad sample once running keeps only its config and the log saying why it stopped
    new = {Path(q[0]) for q in (_snapshot(tmp_path) | _snapshot(world["base"])) - before}
    if untouched is None and args[0] == "train" and new:
        out = Path(args[args.index("--out") + 1])
        assert new <= {out, out / "config.yaml", out / "train.log", out / ".awh.lock"}, sorted(new)
        assert "stopped:" in (out / "train.log").read_text().splitlines()[-1]
    else:
        assert not new, sorted(new)
    if args[:2] == ["data", "check"] and code == 1:  # the checker's report: every broken sample, a line each
        assert rc == 1, err
        broken = [line for line in cap.out.splitlines() if "broken:" in line and ": " in line.split("broken:")[1]]
        assert broken and any(names in line for line in broken), cap.out
        return
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", "  ", "\t"))]
    assert rc == code, err
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, err
    assert names in errors[0], err
    if untouched is not None:
        out = tmp_path / untouched
        assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


def test_the_suite_covers_every_command_with_enough_cases():
    assert {c[0].split("-")[0] for c in CASES} == {"synth", "data", "train", "eval", "predict", "export", "bench",
                                                  "demo", "benchmark"}
    assert len({c[0] for c in CASES}) == len(CASES) >= 75
