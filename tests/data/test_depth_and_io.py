import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from awhourglass.data.depth import (
    denormalize_depth_eq9,
    hand_mask_from_depth,
    normalize_depth_eq9,
    register_depth,
)
from awhourglass.data.io import DataError, as_float_array, load_json, load_pickle_restricted, read_image
from awhourglass.formats.rhd import decode_rhd_depth, encode_rhd_depth
from awhourglass.formats.stb import decode_stb_depth, encode_stb_depth


def test_depth_png_codecs_by_hand_and_round_trip():
    px = np.array([[[1, 2, 0]]], np.uint8)
    assert decode_rhd_depth(px)[0, 0] == pytest.approx(5.0 * 258 / 65535)  # R is the top byte
    assert decode_stb_depth(px)[0, 0] == pytest.approx(0.513)  # mm = R + 256 G
    d = np.random.default_rng(0).uniform(0.1, 4.9, (5, 6)).astype(np.float32)
    assert np.abs(decode_rhd_depth(encode_rhd_depth(d)) - d).max() <= 5.0 / 65535
    assert np.abs(decode_stb_depth(encode_stb_depth(d)) - d).max() <= 0.0005 + 1e-6


def test_eq9_by_hand_and_inverse():
    depth = torch.tensor([[0.50, 0.60, 0.70], [0.0, 0.55, 2.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])  # 0.0 = no reading, excluded
    norm, used = normalize_depth_eq9(depth, mask)
    expected = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.75, 0.0]])
    assert torch.allclose(norm, expected) and used.tolist() == [[True, True, True], [False, True, False]]
    assert torch.allclose(denormalize_depth_eq9(norm, 0.7, 0.2)[used], depth[used])
    none, _ = normalize_depth_eq9(depth, torch.zeros_like(mask))
    assert none is None


def test_register_depth_identity_and_shift():
    K = np.array([[50.0, 0, 9.5], [0, 50.0, 7.5], [0, 0, 1]])
    d = np.zeros((16, 20), np.float32)
    d[5:9, 6:12] = 0.8
    same = register_depth(d, K, np.eye(3), np.zeros(3), K, d.shape)
    np.testing.assert_allclose(same, d, atol=1e-6)  # same camera: the same image
    # X_depth = X_colour + t with t = (+0.016, 0, 0) m: points move 1 px left in the colour image (50 px/m·0.8 m)
    moved = register_depth(d, K, np.eye(3), np.array([0.016, 0, 0]), K, d.shape)
    np.testing.assert_allclose(moved[:, :-1], d[:, 1:], atol=1e-6)
    # a colour camera with 1.5x the focal length sees the patch magnified, without holes
    K2 = K.copy()
    K2[0, 0] = K2[1, 1] = 75.0
    big = register_depth(d, K, np.eye(3), np.zeros(3), K2, d.shape)
    rows, cols = np.nonzero(big)
    assert (big[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] > 0).all()
    assert (cols.max() - cols.min() + 1) >= 1.4 * 6


def test_hand_mask_from_depth_band_and_box():
    d = np.full((30, 30), 1.5, np.float32)
    d[10:20, 10:20] = 0.5
    d[0:3, 0:3] = 0.5  # same depth but far outside the joints' box
    uv = np.array([[12.0, 12.0], [17.0, 17.0]] + [[15.0, 15.0]] * 19)
    m = hand_mask_from_depth(d, uv, np.ones(21, bool), band_m=0.1, margin=0.1)
    assert m[10:20, 10:20].all() and not m[0:3, 0:3].any() and m.sum() == 100


def test_read_image_errors(tmp_path):
    with pytest.raises(DataError, match=r"nope\.png: missing file"):
        read_image(tmp_path / "nope.png")
    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 7).save(p)
    assert read_image(p).shape == (40, 40, 3)
    p.write_bytes(p.read_bytes()[:50])
    with pytest.raises(DataError, match=r"a\.png: (corrupt or truncated|not a readable)"):
        read_image(p)
    (tmp_path / "t.txt").write_text("hello")
    with pytest.raises(DataError, match="not a readable image"):
        read_image(tmp_path / "t.txt")


def test_restricted_pickle_reads_arrays_in_every_protocol(tmp_path):
    data = {3: {"xyz": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.int64(4)}, "l": [1, 2.5, "s"]}
    for proto in (2, 4, 5):
        p = tmp_path / f"a{proto}.pickle"
        p.write_bytes(pickle.dumps(data, protocol=proto))
        out = load_pickle_restricted(p)
        assert np.array_equal(out[3]["xyz"], data[3]["xyz"]) and out["l"] == data["l"] and out[3]["n"] == 4


def test_restricted_pickle_refuses_other_classes(tmp_path):
    import collections

    p = tmp_path / "c.pickle"
    p.write_bytes(pickle.dumps(collections.Counter("ab")))
    with pytest.raises(DataError, match=r"c\.pickle: refused pickle: forbidden class collections\.Counter"):
        load_pickle_restricted(p)
    p.write_bytes(b"\x80\x02}q\x00")  # truncated
    with pytest.raises(DataError, match="corrupt pickle"):
        load_pickle_restricted(p)


def test_json_and_shape_checks(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{bad")
    with pytest.raises(DataError, match=r"x\.json: invalid JSON"):
        load_json(p)
    with pytest.raises(DataError, match=r"K: expected shape \(3, 3\), got \(2, 3\)"):
        as_float_array(np.zeros((2, 3)), (3, 3), p, "K")
    assert as_float_array([[1, 2, 3]] * 4, (-1, 3), p, "xyz").shape == (4, 3)


def test_image_modes_are_decoded_or_refused_by_name(tmp_path):
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)  # 0 … 63000, 16-bit
    Image.fromarray(ramp).save(tmp_path / "c16.png")
    assert Image.open(tmp_path / "c16.png").mode.startswith("I")
    rgb = read_image(tmp_path / "c16.png", "RGB")
    # on the 16-bit scale, neither clipped to white nor stretched to its maximum: round(v / 257) in every channel
    np.testing.assert_array_equal(rgb[..., 0], np.round(ramp / 257.0).astype(np.uint8))
    assert rgb.shape == (8, 8, 3) and (rgb[..., 0] == rgb[..., 2]).all() and rgb.min() == 0 and rgb.max() == 245
    with pytest.raises(DataError, match=r"c16\.png: depth PNG in mode I.*expected 8-bit RGB"):
        read_image(tmp_path / "c16.png", "depth")  # a 16-bit depth PNG is not RHD's/STB's packed format
    Image.fromarray((ramp // 256).astype(np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(DataError, match=r"grey\.png: depth PNG in mode L"):
        read_image(tmp_path / "grey.png", "depth")
    packed = encode_stb_depth(np.full((4, 4), 0.513))
    Image.fromarray(packed).save(tmp_path / "d.png")
    assert decode_stb_depth(read_image(tmp_path / "d.png", "depth"))[0, 0] == pytest.approx(0.513)


def test_eq9_one_image_path_equals_the_batched_path():
    """A single image takes a shorter route through Eq. 9; it must give the batched route's values exactly."""
    import torch

    from awhourglass.data.depth import normalize_depth_eq9

    g = torch.Generator().manual_seed(0)
    for bad in ([0.0, float("nan"), -1.0], [0.0, float("nan"), float("inf")]):  # finite max / an infinite reading
        d = torch.rand(1, 16, 16, generator=g) * 0.2 + 0.4
        d[0, 0, :3] = torch.tensor(bad)  # no reading, and values that are never used
        m = torch.rand(1, 16, 16, generator=g) > 0.3
        m[0, 0, :3] = True
        one, used = normalize_depth_eq9(d, m)
        both, used2 = normalize_depth_eq9(torch.cat([d, d]), torch.cat([m, m]))  # (2, H, W): the general route
        assert torch.equal(one, both[:1]) and torch.equal(used, used2[:1])
        assert not used[0, 0, :3].any() and float(one.max()) == 1.0 and float(one[used].min()) == 0.0
        flat, _ = normalize_depth_eq9(d[0], m[0])  # (H, W) too
        assert torch.equal(flat, one[0])


def test_check_intrinsics_numpy_matrix_route_agrees_with_the_general_one():
    import numpy as np
    import pytest
    import torch

    from awhourglass.geometry import check_intrinsics

    good = np.array([[500.0, 0, 320], [0, 480, 240], [0, 0, 1]])
    check_intrinsics(good)
    check_intrinsics(torch.tensor(good))
    for bad, msg in ((np.array([[np.nan, 0, 1], [0, 1, 1], [0, 0, 1]]), "non-finite"),
                     (np.array([[0.0, 0, 1], [0, 1, 1], [0, 0, 1]]), "fx or fy is zero"),
                     (np.array([[1.0, 0, 1], [0, 1, 1], [0, 0, 0]]), "determinant is zero")):
        for k in (bad, torch.tensor(bad), bad[None]):  # the numpy (3, 3) route, a tensor, a batch of one
            with pytest.raises(ValueError, match=msg):
                check_intrinsics(k)
