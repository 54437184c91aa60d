"""The one rule for image modes (data/io.py, docs/datasets.md "Image modes"), through the RHD and STB readers.

Each case rewrites one colour (or depth, or mask) file of a tiny dataset in another mode and reads it back through
the reader. What it must give is computed here by another route (the 8-bit picture it was made from, a palette
looked up with numpy, the JFIF formula), never by PIL's conversion. Modes PNG cannot hold (``I``, ``F``, ``PA``,
``CMYK``, ``YCbCr``, ``LAB``) are written as TIFF under the PNG's name: PIL opens a file by its content.
16-bit PNGs are written byte by byte here (PIL writes no 16-bit colour PNG).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import make_rhd, make_stb
from PIL import Image

from awhourglass.data.config import DatasetConfig
from awhourglass.data.io import DataError, load_image
from awhourglass.data.loader import build_dataset
from awhourglass.errors import PredictError
from awhourglass.formats.rhd import decode_rhd_depth
from awhourglass.formats.stb import decode_stb_depth

PNG_COLOUR_TYPE = {"grey": 0, "rgb": 2, "grey_alpha": 4, "rgba": 6}


def png16(path: Path, values: np.ndarray, kind: str) -> None:
    """A 16-bit PNG of ``values`` (uint16, (H, W) or (H, W, C)), written from the PNG spec, not by PIL."""
    h, w = values.shape[:2]
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, PNG_COLOUR_TYPE[kind], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def save(path: Path, im: Image.Image, tiff: bool = False) -> None:
    with open(path, "wb") as fh:  # the file keeps its name (…png): PIL identifies it by content
        im.save(fh, format="TIFF" if tiff else "PNG")


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 1].copy()  # any 8-bit grey picture will do: its green channel


def rgb3(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def palette_image(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices and a palette (256, 3) that reproduce ``rgb`` up to the palette's 8 levels per channel."""
    q = (rgb // 32).astype(np.int64)
    idx = (q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]) % 256  # 512 colours folded onto 256 entries
    pal = np.random.default_rng(1).integers(0, 256, (256, 3)).astype(np.uint8)
    return idx.astype(np.uint8), pal


def write_colour(path: Path, rgb: np.ndarray, mode: str) -> np.ndarray | str:
    """Replace ``path`` by the picture ``rgb`` in ``mode``; return the RGB its reader must give (±1), or, for a
    refused mode, the text its one-line error must hold."""
    grey = grey_of(rgb)
    alpha = np.random.default_rng(2).integers(0, 256, rgb.shape[:2]).astype(np.uint8)
    if mode == "RGB":
        save(path, Image.fromarray(rgb))
        return rgb
    if mode == "RGB;16":  # the 8-bit picture × 257: its 16-bit version
        png16(path, rgb.astype(np.uint16) * 257, "rgb")
        return rgb
    if mode == "RGB;16 any":  # every 16-bit value, not only multiples of 257: round(v / 257) within 1
        v = np.random.default_rng(3).integers(0, 65536, rgb.shape).astype(np.uint16)
        png16(path, v, "rgb")
        return np.round(v / 257.0).astype(np.uint8)
    if mode == "RGBA":
        save(path, Image.fromarray(np.dstack([rgb, alpha]), "RGBA"))
        return rgb  # alpha dropped, the colour as stored (not composited)
    if mode == "RGBA;16":
        png16(path, np.dstack([rgb, alpha]).astype(np.uint16) * 257, "rgba")
        return rgb
    if mode == "L":
        save(path, Image.fromarray(grey))
        return rgb3(grey)
    if mode == "LA":
        save(path, Image.fromarray(np.dstack([grey, alpha]), "LA"))
        return rgb3(grey)
    if mode == "LA;16":
        png16(path, np.dstack([grey, alpha]).astype(np.uint16) * 257, "grey_alpha")
        return rgb3(grey)
    if mode == "I;16":  # the tester's case: the picture as 16-bit grey, value × 257
        png16(path, grey.astype(np.uint16) * 257, "grey")
        return rgb3(grey)
    if mode == "I;16 any":
        v = np.random.default_rng(4).integers(256, 65536, grey.shape).astype(np.uint16)
        png16(path, v, "grey")
        return rgb3(np.round(v / 257.0).astype(np.uint8))
    if mode == "I":  # 32-bit integer (TIFF) holding 16-bit values
        save(path, Image.fromarray(grey.astype(np.int32) * 257, "I"), tiff=True)
        return rgb3(grey)
    if mode in ("P", "P+transparency", "PA"):
        idx, pal = palette_image(rgb)
        im = Image.fromarray(idx, "L").convert("P")  # the same indices, as a palette image
        im.putpalette(pal.ravel().tolist())
        if mode == "PA":
            pa = Image.new("PA", im.size)
            pa.putpalette(pal.ravel().tolist())
            pa.putdata(list(zip(idx.ravel().tolist(), alpha.ravel().tolist(), strict=True)))
            save(path, pa, tiff=True)
        elif mode == "P+transparency":
            with open(path, "wb") as fh:
                im.save(fh, format="PNG", transparency=int(idx[0, 0]))
        else:
            save(path, im)
        return pal[idx]  # looked up with numpy
    if mode == "1":
        bits = grey > 127
        save(path, Image.fromarray(bits))
        return rgb3(np.where(bits, 255, 0).astype(np.uint8))
    if mode == "CMYK":  # pure inks only, so any CMYK → RGB formula agrees: white, C/M/Y primaries, black
        inks = np.array([[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 0, 0], [0, 0, 255, 0], [0, 0, 0, 255]], np.uint8)
        pick = grey % 5
        save(path, Image.fromarray(inks[pick], "CMYK"), tiff=True)
        rgb_of_ink = np.array([[255, 255, 255], [0, 255, 255], [255, 0, 255], [255, 255, 0], [0, 0, 0]], np.uint8)
        return rgb_of_ink[pick]
    if mode == "YCbCr":
        ycc = np.random.default_rng(5).integers(16, 240, rgb.shape).astype(np.uint8)
        save(path, Image.fromarray(ycc, "YCbCr"), tiff=True)
        y, cb, cr = (ycc[..., k].astype(np.float64) for k in range(3))  # JFIF (ITU-R BT.601, full range)
        out = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                        y + 1.772 * (cb - 128)], -1)
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
    # --- refused ---
    if mode == "F":
        save(path, Image.fromarray(grey.astype(np.float32) / 255.0, "F"), tiff=True)
        return "mode F: 32-bit float"
    if mode == "I;16 8-bit values":  # PIL's convert("I;16") of an 8-bit image keeps 0…255: would read black
        png16(path, grey.astype(np.uint16), "grey")
        return "mode I;16: 16-bit with every value <= 255"
    if mode == "I negative":
        v = grey.astype(np.int32) * 257 - 70000
        save(path, Image.fromarray(v, "I"), tiff=True)
        return f"mode I: values {v.min()}…{v.max()} outside 16 bits"
    if mode == "LAB":
        save(path, Image.fromarray(rgb, "LAB"), tiff=True)
        return "mode LAB: not a colour mode read here"
    raise AssertionError(mode)


COLOUR_MODES = ["RGB", "RGB;16", "RGB;16 any", "RGBA", "RGBA;16", "L", "LA", "LA;16", "I;16", "I;16 any", "I",
                "P", "P+transparency", "PA", "1", "CMYK", "YCbCr",
                "F", "I;16 8-bit values", "I negative", "LAB"]


def _rhd(tmp_path):
    root = tmp_path / "rhd"
    make_rhd(root, sides=("right",))
    ds = lambda: build_dataset(DatasetConfig(format="rhd", root=str(root), input_size=32))  # noqa: E731
    return root / "training" / "color" / "00000.png", root, ds


def _stb(tmp_path):
    root = tmp_path / "stb"
    make_stb(root, seqs=("B1Counting",), n=1)
    ds = lambda: build_dataset(DatasetConfig(format="stb", root=str(root), split="all", input_size=32))  # noqa: E731
    return root / "B1Counting" / "SK_color_0.png", root, ds


@pytest.mark.parametrize("dataset", ["rhd", "stb"])
@pytest.mark.parametrize("mode", COLOUR_MODES)
def test_a_colour_image_in_any_mode_reads_as_its_8_bit_picture_or_is_refused_by_name(tmp_path, dataset, mode):
    path, _, dataset_of = (_rhd if dataset == "rhd" else _stb)(tmp_path)
    rgb = np.asarray(Image.open(path).convert("RGB"))  # the 8-bit picture the fixture wrote
    expected = write_colour(path, rgb, mode)
    ds = dataset_of()
    if isinstance(expected, str):
        with pytest.raises(DataError) as err:
            ds.read_raw(0)
        msg = str(err.value)
        assert msg.startswith(str(path)) and expected in msg and "\n" not in msg, msg
        return
    got = ds.read_raw(0).image
    assert got.shape == expected.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1, mode  # within 1/255


def test_the_testers_16_bit_grey_picture_is_no_longer_read_nearly_white(tmp_path):
    """Issue 24 item 2: the picture at most 179 must read at most 179 (±1), not stretched to 255."""
    path, _, dataset_of = _rhd(tmp_path)
    grey = np.minimum(grey_of(np.asarray(Image.open(path).convert("RGB"))), 179)
    grey[0, 0] = 179
    png16(path, grey.astype(np.uint16) * 257, "grey")
    got = dataset_of().read_raw(0).image
    assert int(got.max()) == 179 and np.abs(got[..., 0].astype(int) - grey).max() == 0


DEPTH_MODES = {"RGB": True, "RGBA": True, "RGB;16": False, "L": False, "I;16": False, "P": False, "LA": False}


@pytest.mark.parametrize("dataset", ["rhd", "stb"])
@pytest.mark.parametrize(("mode", "read"), DEPTH_MODES.items())
def test_a_depth_png_is_packed_8_bit_rgb_or_refused_by_name(tmp_path, dataset, mode, read):
    if dataset == "rhd":
        _, root, dataset_of = _rhd(tmp_path)
        path, decode = root / "training" / "depth" / "00000.png", decode_rhd_depth
    else:
        _, root, dataset_of = _stb(tmp_path)
        path, decode = root / "B1Counting" / "SK_depth_0.png", decode_stb_depth
    packed = np.asarray(Image.open(path))
    assert packed.ndim == 3 and packed.shape[2] == 3  # the fixture writes 8-bit RGB
    if mode == "RGB":
        pass
    elif mode == "RGBA":
        save(path, Image.fromarray(np.dstack([packed, np.full(packed.shape[:2], 255, np.uint8)]), "RGBA"))
    elif mode == "RGB;16":
        png16(path, packed.astype(np.uint16) * 257, "rgb")
    elif mode == "I;16":
        png16(path, packed[..., 0].astype(np.uint16) + 256 * packed[..., 1].astype(np.uint16), "grey")  # one value
    elif mode == "L":
        save(path, Image.fromarray(packed[..., 0]))
    elif mode == "P":
        save(path, Image.fromarray(packed).quantize(16))
    else:
        save(path, Image.fromarray(packed[..., :2], "LA"))
    ds = dataset_of()
    if read:
        if dataset == "rhd":  # RHD's depth is in the colour camera: compare the decoded depth directly
            raw = ds.read_raw(0)
            np.testing.assert_array_equal(raw.depth_m, decode(packed))
        else:  # STB registers it into the colour camera: only check it reads
            assert ds.read_raw(0).depth_m is not None
        return
    with pytest.raises(DataError) as err:
        ds.read_raw(0)
    msg = str(err.value)
    assert msg.startswith(str(path)) and f"depth PNG in mode {mode}:" in msg and "8-bit RGB" in msg, msg


@pytest.mark.parametrize(("mode", "read"), [("L", True), ("P", True), ("RGB", True), ("I;16", False),
                                            ("LA", False), ("1", False)])
def test_an_rhd_mask_holds_8_bit_part_ids_or_is_refused_by_name(tmp_path, mode, read):
    _, root, dataset_of = _rhd(tmp_path)
    path = root / "training" / "mask" / "00000.png"
    ids = np.asarray(Image.open(path))
    assert ids.ndim == 2  # the fixture writes L
    if mode == "P":
        im = Image.fromarray(ids, "L").convert("P")
        im.putpalette([v for i in range(256) for v in (255 - i, i, 7)])  # colours that are not the ids
        save(path, im)
    elif mode == "RGB":
        save(path, Image.fromarray(np.dstack([ids, ids // 2, ids // 3])))
    elif mode == "I;16":
        png16(path, ids.astype(np.uint16) * 257, "grey")
    elif mode == "LA":
        save(path, Image.fromarray(np.dstack([ids, ids]), "LA"))
    elif mode == "1":
        save(path, Image.fromarray(ids > 10))
    ds = dataset_of()
    if read:
        raw = ds.read_raw(0)
        right = (ids >= 18) & (ids <= 33)  # the fixture's main hand is right: part ids 18–33
        np.testing.assert_array_equal(raw.mask, right)
        return
    with pytest.raises(DataError) as err:
        ds.read_raw(0)
    assert str(err.value).startswith(str(path)) and f"label PNG in mode {mode}:" in str(err.value)


def test_predict_reads_a_users_image_by_the_same_rule(tmp_path):
    """``load_image`` (the API's and ``awh predict``'s reader) decodes files and PIL images as the readers do."""
    from awhourglass.data.io import read_image

    rgb = np.random.default_rng(6).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    for mode in ("I;16", "RGB;16 any", "P+transparency", "LA;16"):
        path = tmp_path / f"{mode.replace(';', '_').replace(' ', '_')}.png"
        expected = write_colour(path, rgb, mode)
        loaded = load_image(path)
        assert np.array_equal(loaded.rgb, read_image(path)), mode
        assert np.abs(loaded.rgb.astype(int) - expected.astype(int)).max() <= 1, mode
        assert loaded.notes, mode  # it says what was done
    path = tmp_path / "f.png"
    write_colour(path, rgb, "F")
    with pytest.raises(PredictError, match=r"f\.png: .*mode F: 32-bit float"):
        load_image(path)
    with pytest.raises(PredictError, match=r"^image: .*mode F"):
        load_image(Image.open(path))
