"""STB depth registered once (`awh data prepare`): equal to on-the-fly registration, used only while valid."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import make_stb

import awhourglass.data.stb as stb_reader
from awhourglass.cli import main
from awhourglass.data.config import DatasetConfig
from awhourglass.data.depth import register_depth
from awhourglass.data.io import read_image
from awhourglass.data.stb import STBDataset
from awhourglass.data.stb_cache import CACHE_DIR, RegisteredDepthCache, prepare
from awhourglass.errors import AwhError
from awhourglass.formats.stb import decode_registered_depth, decode_stb_depth, encode_registered_depth


def _cfg(root, **kw):
    return DatasetConfig(format="stb", root=str(root), input_size=32, split="all", **kw)


def test_registered_depth_codec_round_trip_within_half_a_unit():
    d = np.array([[0.0, 0.4567891, 1.23456], [6.5535, 0.00004, 0.00006]])
    back = decode_registered_depth(encode_registered_depth(d))
    assert np.abs(back - d).max() <= 0.5e-4 + 1e-7 and back[0, 0] == 0.0
    assert back[1, 1] == 0.0 and back[1, 2] == pytest.approx(1e-4, abs=1e-7)  # 0.04 mm → 0, 0.06 mm → 0.1 mm
    with pytest.raises(ValueError, match=r"6\.5535"):
        encode_registered_depth(np.array([[7.0]]))


def test_prepared_depth_equals_registration_on_the_fly(tmp_path, monkeypatch):
    root = tmp_path / "stb"
    make_stb(root)
    n, folder = prepare(_cfg(root), progress=False)
    assert n == 4 and folder == root / CACHE_DIR and (folder / "manifest.json").is_file()
    ds = STBDataset(_cfg(root))
    assert ds.depth_cache is not None and len(ds.depth_cache.frames) == 4
    c = ds.calib
    for k in range(len(ds)):
        p = ds.paths(k)
        colour = read_image(p["color"], "RGB")
        fly = register_depth(decode_stb_depth(read_image(p["depth"], "depth")), c.K_depth, c.R, c.t_m, c.K_color,
                             colour.shape[:2])
        got = ds.read_raw(k).depth_m
        assert got.shape == fly.shape and ((got == 0) == (fly == 0)).all()  # the same holes
        assert np.abs(got - fly).max() <= 0.5e-4 + 1e-6 and (fly > 0).sum() > 50
    # the reader really takes the cache: with registration disabled it still reads every frame
    monkeypatch.setattr(stb_reader, "register_depth", lambda *a, **k: pytest.fail("registered on the fly"))
    assert all(ds.read_raw(k).depth_m is not None for k in range(len(ds)))


def test_a_changed_source_or_calibration_falls_back_to_registration(tmp_path, monkeypatch):
    root = tmp_path / "stb"
    make_stb(root)
    prepare(_cfg(root), progress=False)
    ds = STBDataset(_cfg(root))
    changed = ds.paths(1)["depth"]
    st = os.stat(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the source PNG was touched since
    calls = []
    real = stb_reader.register_depth
    monkeypatch.setattr(stb_reader, "register_depth", lambda *a, **k: calls.append(1) or real(*a, **k))
    for k in range(len(ds)):
        ds.read_raw(k)
    assert len(calls) == 1  # only the changed frame
    # another calibration: the whole cache is ignored
    intr = json.loads((root / "intrinsics.json").read_text())
    intr["t_depth_from_color_mm"][0] += 1.0
    (root / "intrinsics.json").write_text(json.dumps(intr))
    assert STBDataset(_cfg(root)).depth_cache is None
    # as is a manifest of another format, or a broken one
    other = STBDataset(_cfg(root)).calib
    (root / CACHE_DIR / "manifest.json").write_text("{not json")
    assert RegisteredDepthCache.open(root, other) is None


def test_already_registered_depth_has_nothing_to_prepare(tmp_path):
    root = tmp_path / "stb"
    make_stb(root)
    intr = json.loads((root / "intrinsics.json").read_text())
    (root / "intrinsics.json").write_text(json.dumps({**intr, "depth_png_registered_to_color": True}))
    with pytest.raises(AwhError, match="nothing to register"):
        prepare(_cfg(root), progress=False)
    assert not (root / CACHE_DIR).exists()


def test_cli_data_prepare(tmp_path, capsys):
    root = tmp_path / "stb"
    make_stb(root)
    assert main(["data", "prepare", str(root), "--format", "stb", "--no-progress"]) == 0
    assert "registered depth of 4 frames" in capsys.readouterr().out
    assert main(["data", "prepare", str(root), "--format", "rhd"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prepare" in err[0] and "stb" in err[0]
