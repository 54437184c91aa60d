import numpy as np
import pytest
import torch

from awhourglass import skeleton as sk


def _hand(seed=0, n=3):
    return np.random.default_rng(seed).normal(size=(n, 21, 3))


def test_joint_names_and_parents():
    assert len(sk.JOINT_NAMES) == 21
    assert sk.JOINT_NAMES[0] == "wrist"
    assert sk.JOINT_NAMES[4] == "thumb_tip" and sk.JOINT_NAMES[9] == "middle_mcp"
    assert sk.JOINT_NAMES[20] == "little_tip"
    assert sk.PARENTS[:6] == (-1, 0, 1, 2, 3, 0)
    assert len(sk.BONES) == 20
    assert sk.finger_joints("ring") == (13, 14, 15, 16)


def test_rhd_order_by_hand():
    # RHD right hand: row 21 wrist, rows 22..25 thumb tip..CMC, rows 38..41 little tip..MCP.
    rows = np.arange(42, dtype=float)[:, None].repeat(2, axis=1)
    right = sk.rhd_to_canonical(rows, "right")
    assert right[0, 0] == 21
    assert list(right[1:5, 0]) == [25, 24, 23, 22]  # thumb CMC, MCP, IP, tip
    assert list(right[17:21, 0]) == [41, 40, 39, 38]
    left = sk.rhd_to_canonical(rows, "left")
    assert list(left[5:9, 0]) == [8, 7, 6, 5]


def test_rhd_round_trip():
    rows = np.random.default_rng(1).normal(size=(2, 42, 3))
    back = sk.canonical_to_rhd(sk.rhd_to_canonical(rows, "left"), sk.rhd_to_canonical(rows, "right"))
    np.testing.assert_array_equal(back, rows)


def test_stb_order_and_round_trip():
    stb = _hand(2)
    can = sk.stb_to_canonical(stb)
    np.testing.assert_array_equal(can[:, 4], stb[:, 20])  # thumb tip is STB's last row
    np.testing.assert_array_equal(can[:, 17], stb[:, 1])  # little MCP is STB row 1
    np.testing.assert_allclose(sk.palm_centre(can), stb[:, 0])
    np.testing.assert_allclose(sk.canonical_to_stb(can), stb, atol=1e-12)


def test_canonical_to_stb_round_trip():
    can = _hand(3)
    can[:, 0] = 2 * (0.5 * (can[:, 0] + can[:, 9])) - can[:, 9]
    np.testing.assert_allclose(sk.stb_to_canonical(sk.canonical_to_stb(can)), can, atol=1e-12)


def test_freihand_and_mpd_round_trip():
    can = _hand(4)
    np.testing.assert_array_equal(sk.freihand_to_canonical(sk.canonical_to_freihand(can)), can)
    rows = sk.canonical_to_mpd(can)
    assert rows.shape == (3, 22, 3)
    np.testing.assert_allclose(rows[:, 0], 0.5 * (can[:, 0] + can[:, 9]))
    np.testing.assert_array_equal(sk.mpd_to_canonical(rows), can)
    np.testing.assert_allclose(sk.canonical_to_mpd(sk.mpd_to_canonical(rows)), rows)


def test_torch_inputs_work_and_stay_torch():
    t = torch.randn(2, 42, 3)
    out = sk.rhd_to_canonical(t, "left")
    assert isinstance(out, torch.Tensor) and out.shape == (2, 21, 3)
    np.testing.assert_array_equal(out.numpy(), sk.rhd_to_canonical(t.numpy(), "left"))


def test_mirror_is_an_involution_and_flips_x():
    can = _hand(5)
    m = sk.mirror_xyz(can)
    np.testing.assert_array_equal(m[..., 0], -can[..., 0])
    np.testing.assert_array_equal(m[..., 1:], can[..., 1:])
    np.testing.assert_array_equal(sk.mirror_xyz(m), can)


@pytest.mark.parametrize(
    "fn,shape",
    [(sk.rhd_to_canonical, (21, 3)), (sk.stb_to_canonical, (20, 3)), (sk.mpd_to_canonical, (21, 3)),
     (sk.palm_centre, (22, 3))],
)
def test_wrong_joint_count_is_a_clear_error(fn, shape):
    args = (np.zeros(shape), "left") if fn is sk.rhd_to_canonical else (np.zeros(shape),)
    with pytest.raises(ValueError, match="joints"):
        fn(*args)


def test_bad_hand_name():
    with pytest.raises(ValueError, match="left"):
        sk.rhd_to_canonical(np.zeros((42, 3)), "both")


def test_check_joints_is_the_one_shape_rule():
    sk.check_joints(np.zeros((4, 21, 3)), "x", dim=3, batched=True)
    sk.check_joints(torch.zeros(2, 5, 21, 2), "x", dim=2)
    for shape, kw in [((21, 3), {"batched": True}), ((4, 21, 2), {"dim": 3}), ((4, 20, 3), {}),
                      ((3,), {}), ((2, 4, 21, 3), {"batched": True})]:
        with pytest.raises(ValueError, match=r"x: expected joints of shape"):
            sk.check_joints(np.zeros(shape), "x", **kw)
    assert sk.joint_colour(0) == "#000000" and sk.joint_colour(1) == sk.FINGER_COLOURS["thumb"]
    assert sk.joint_colour(20) == sk.FINGER_COLOURS["little"]


def test_interhand_order_by_name_and_round_trip():
    # InterHand2.6M per hand: thumb tip, IP, MCP, CMC (rows 0-3), index tip→MCP (4-7), …, little (16-19), wrist 20
    ih_names = [f"{f}_{p}" for f in sk.FINGERS for p in (("tip", "ip", "mcp", "cmc") if f == "thumb"
                                                         else ("tip", "dip", "pip", "mcp"))] + ["wrist"]
    rows = np.arange(42, dtype=float)[:, None].repeat(3, axis=1)
    for hand, offset in (("right", 0), ("left", 21)):
        canon = sk.interhand_to_canonical(rows, hand)[:, 0].astype(int) - offset
        assert [ih_names[i] for i in canon] == list(sk.JOINT_NAMES)
    x = np.random.default_rng(4).normal(size=(2, 42, 3))
    back = sk.canonical_to_interhand(sk.interhand_to_canonical(x, "right"), sk.interhand_to_canonical(x, "left"))
    np.testing.assert_array_equal(back, x)
    t = torch.from_numpy(x)
    assert torch.equal(sk.interhand_to_canonical(t, "left"), torch.from_numpy(sk.interhand_to_canonical(x, "left")))
    with pytest.raises(ValueError, match="right"):
        sk.interhand_to_canonical(x, "both")
    with pytest.raises(ValueError, match="joints"):
        sk.interhand_to_canonical(np.zeros((21, 3)), "right")
