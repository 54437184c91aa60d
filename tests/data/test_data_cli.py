import numpy as np
import pytest
from conftest import make_rhd, make_stb
from PIL import Image

from awhourglass.cli import main


def test_check_counts_and_broken_files(tmp_path, capsys):
    root = tmp_path / "rhd"
    make_rhd(root)
    assert main(["data", "check", str(root), "--format", "rhd"]) == 0
    out = capsys.readouterr().out
    assert "samples: 3" in out and "broken: 0" in out
    (root / "training" / "color" / "00001.png").write_bytes(b"not a png")
    assert main(["data", "check", str(root), "--format", "rhd"]) == 1
    out = capsys.readouterr().out
    assert "broken: 1" in out and "color/00001.png: not a readable image" in out


def test_check_reports_bad_labels_instead_of_stopping(tmp_path, capsys):
    import scipy.io

    root = tmp_path / "stb"
    make_stb(root)
    scipy.io.savemat(root / "labels" / "B2Random_SK.mat", {"handPara": np.zeros((2, 21, 2))})
    assert main(["data", "check", str(root), "--format", "stb", "--split", "all"]) == 1
    out = capsys.readouterr().out
    assert "B2Random_SK.mat: handPara: expected shape (3, 21, N)" in out and "samples: 2" in out


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "none"), "--format", "stb"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("awh data: error:") and "labels: missing folder" in err and "\n" not in err


def test_show_writes_a_grid(tmp_path, capsys):
    root = tmp_path / "stb"
    make_stb(root)
    out = tmp_path / "g" / "grid.png"
    assert main(["data", "show", str(root), "--format", "stb", "--split", "all", "--out", str(out), "--n", "3",
                 "--input-size", "32"]) == 0
    grid = np.asarray(Image.open(out))
    # 3 tiles of (crop + depth) = 2 * 64 px wide each at scale 2, one row
    assert grid.shape == (64, 3 * 128, 3)
    assert (grid[:, :64] > 0).any() and grid[:, 64:128].max() == 255  # Eq. 9 depth reaches 1 on the hand


def test_the_crop_side_is_the_flag_else_the_config_files_else_128(tmp_path, capsys):
    """``--input-size`` wins over the ``--config`` file's ``input_size``, which wins over the command's default;
    the grid's tiles are twice the crop side (crop and depth side by side, at scale 2)."""
    root = tmp_path / "stb"
    make_stb(root)
    opts = tmp_path / "reader.yaml"
    opts.write_text("input_size: 24\n")

    def height(*extra):
        out = tmp_path / "grid.png"
        assert main(["data", "show", str(root), "--format", "stb", "--split", "all", "--out", str(out), "--n", "1",
                     *extra]) == 0
        capsys.readouterr()
        return np.asarray(Image.open(out)).shape[0]

    assert height("--config", str(opts), "--input-size", "40") == 80
    assert height("--config", str(opts)) == 48
    assert height() == 256


def test_check_limit_must_be_positive_and_eval_split_typos_are_refused(tmp_path, capsys):
    root = tmp_path / "rhd"
    make_rhd(root)
    for bad in ("0", "-3"):
        assert main(["data", "check", str(root), "--format", "rhd", "--limit", bad]) == 2
        assert capsys.readouterr().err.strip() == f"awh data: error: --limit must be >= 1 samples, got {bad}"
    assert main(["data", "check", str(root), "--format", "rhd", "--limit", "2"]) == 0
    assert "checked: 2 samples" in capsys.readouterr().out
    stb = tmp_path / "stb"
    make_stb(stb)
    assert main(["eval", "--pred", str(tmp_path / "p.json"), "--data", str(stb), "--format", "stb",
                 "--split", "validation"]) == 2
    assert "DatasetConfig.split must be one of train, test, eval, all, got 'validation'" in capsys.readouterr().err


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims ``width × height`` and holds no pixels: a decompression bomb's shape."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))


def test_a_decompression_bomb_and_a_zero_byte_mat_are_broken_files_not_tracebacks(tmp_path, capsys):
    root = tmp_path / "rhd"
    make_rhd(root)
    _png_header_only(root / "training" / "color" / "00001.png", 100_000, 100_000)
    assert main(["data", "check", str(root), "--format", "rhd"]) == 1
    out = capsys.readouterr().out
    assert "broken: 1" in out and "color/00001.png: image too large (" in out, out
    stb = tmp_path / "stb"
    make_stb(stb)
    (stb / "labels" / "B2Random_SK.mat").write_bytes(b"")
    assert main(["data", "check", str(stb), "--format", "stb", "--split", "all"]) == 1
    assert "B2Random_SK.mat: not a readable .mat file" in capsys.readouterr().out


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    from awhourglass.data.io import DataError, read_image

    path = tmp_path / "big.png"
    _png_header_only(path, 13_000, 12_000)  # 156 M pixels: over our 150 M, under PIL's own bomb limit
    expected = r"big\.png: image too large \(13000x12000 = 156 M pixels; the limit is 150 M\)"
    with pytest.raises(DataError, match=expected):
        read_image(path, "RGB")
