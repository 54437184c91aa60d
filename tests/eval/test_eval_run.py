"""`awh eval` of a checkpoint on a tiny generated dataset, checked against a hand-written lift and the JSON route."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from awhourglass.cli import main
from awhourglass.eval.run import EvalConfig, evaluate_checkpoint
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.models.load import network_checkpoint, network_from_checkpoint
from awhourglass.synth.dataset import SynthConfig, write_dataset

TINY = ModelConfig(input_size=32, width=8, depth=2, num_stacks=1, depth_out_size=16, depth_width=8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalrun")
    write_dataset(SynthConfig(domain="target", n=12, out=str(root / "stb"), size=64, eval_fraction=0.5),
                  progress=False)
    write_dataset(SynthConfig(domain="source", n=8, out=str(root / "rhd"), size=64, eval_fraction=0.5),
                  progress=False)
    torch.manual_seed(0)
    ckpt = root / "model.pt"
    torch.save(network_checkpoint(AWHourglassNet(TINY)), ckpt)
    return root, ckpt


def test_eval_matches_a_hand_written_lift_and_the_prediction_files(setup, tmp_path):
    root, ckpt = setup
    cfg = EvalConfig(checkpoint=str(ckpt), data=str(root / "stb"), format="stb", split="test",
                     out=str(tmp_path / "ev"), source_data=str(root / "rhd"), source_split="test",
                     tsne_points=8, qualitative=2, progress=False)
    result, figs = evaluate_checkpoint(cfg)
    assert result.count == 6  # B1 = the test split: half of 12
    names = {p.name for p in figs}
    assert {"pck.png", "tsne.png", "heatmaps_0.png", "skeleton2d_1.png", "skeleton3d_1.png"} <= names
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["epe_mean_mm"] == result.epe_mean_mm

    # Independent route: re-run the network on the dataset's crops and lift by hand with GT scale + root depth.
    from awhourglass.eval.run import load_dataset

    ds = load_dataset(str(root / "stb"), "stb", "test", 32)
    model = network_from_checkpoint(ckpt)
    errs = []
    for i in range(len(ds)):
        s = ds[i]
        with torch.no_grad():
            out = model(s.image[None])
        uv, z = out.uv_px[0].double().numpy(), out.z_norm[0].double().numpy()
        gt = s.xyz_m.double().numpy()
        K = s.K.double().numpy()
        d = np.linalg.norm(gt[0] - gt[9])
        root_gt = 0.5 * (gt[0] + gt[9])
        Z = root_gt[2] + z * d
        X = (uv[:, 0] - K[0, 2]) / K[0, 0] * Z
        Y = (uv[:, 1] - K[1, 2]) / K[1, 1] * Z
        pred = np.stack([X, Y, Z], 1)
        pred -= 0.5 * (pred[0] + pred[9])
        errs.append(np.linalg.norm(pred - (gt - root_gt), axis=1) * 1000)
    assert result.epe_mean_mm == pytest.approx(float(np.mean(errs)), rel=1e-5)

    # The written predictions/ground truth re-score to the same numbers through `awh eval --pred`.
    assert main(["eval", "--pred", str(tmp_path / "ev" / "predictions.json"), "--gt",
                 str(tmp_path / "ev" / "groundtruth.json"), "--out", str(tmp_path / "re")]) == 0
    again = json.loads((tmp_path / "re" / "results.json").read_text())
    for key in ("epe_mean_mm", "epe_median_mm", "auc_0_30", "auc_20_50", "epe2d_mean_px"):
        assert again[key] == pytest.approx(saved[key], rel=1e-6, abs=1e-9)
    # ... and so do the predictions against the dataset's own labels (`awh eval --pred --data`)
    assert main(["eval", "--pred", str(tmp_path / "ev" / "predictions.json"), "--data", str(root / "stb"),
                 "--format", "stb", "--split", "test", "--out", str(tmp_path / "rd")]) == 0
    on_data = json.loads((tmp_path / "rd" / "results.json").read_text())
    for key in ("epe_mean_mm", "epe_median_mm", "auc_0_30", "auc_20_50"):
        assert on_data[key] == pytest.approx(saved[key], rel=1e-6, abs=1e-9)


def test_eval_cli_errors_are_one_line(setup, tmp_path, capsys):
    root, ckpt = setup
    assert main(["eval", str(ckpt), "--data", str(root / "stb")]) == 2
    assert "--format" in capsys.readouterr().err
    assert main(["eval", str(ckpt), "--data", str(tmp_path / "nope"), "--format", "stb"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", str(ckpt), "--data", str(root / "stb"), "--format", "xyz"]) == 2
    err = capsys.readouterr().err
    from awhourglass.data.config import READERS

    assert f"DatasetConfig.format must be one of {', '.join(READERS)}, got 'xyz'" in err
    assert "mmpose-freihand" in READERS and "pack" in READERS  # every format of `awh data` is one `awh eval` takes
    assert main(["eval", "--pred", str(tmp_path / "p.json")]) == 2
    assert "--gt" in capsys.readouterr().err
