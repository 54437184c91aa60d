"""Handshapes of the manual alphabet, held-up orientations and nails: each checked against what it claims in
hand-local millimetres or camera directions, not against the numbers that define it."""

import numpy as np
import torch

from awhourglass.skeleton import INDEX_MCP, MIDDLE_MCP, THUMB_CMC
from awhourglass.synth import kinematics as kin
from awhourglass.synth import poses
from awhourglass.synth.render import render_capsules
from awhourglass.synth.style import _nails

THUMB, INDEX, MIDDLE = (tuple(range(j, j + 4)) for j in (THUMB_CMC, INDEX_MCP, MIDDLE_MCP))  # base → tip


def _joints_mm(angles_rad: np.ndarray) -> np.ndarray:
    shape = kin.HandShape(kin.NOMINAL_BONE_LENGTH_M[None].copy(), np.ones(1), np.ones(1))
    return kin.forward_kinematics(angles_rad[None], shape)[0] * 1000.0


def test_letters_are_within_the_limits_and_all_different():
    a = np.stack([poses.letter_angles(k) for k in poses.ASL_LETTERS])
    assert np.array_equal(kin.clip_angles(a), a)
    flat = a.reshape(len(a), -1)
    gaps = np.linalg.norm(flat[:, None] - flat[None], axis=-1) + np.eye(len(a)) * 1e9
    # the closest pairs differ in one finger (M, N) or in the spread of two (U, V): ≥ 12° over the 20 angles
    assert gaps.min() > np.deg2rad(10.0)


def test_letter_thumbs_lie_where_the_alphabet_puts_them():
    # hand-local: +y towards the fingers, +z out of the back of the hand, thumb on -x
    tip, ip = THUMB[3], THUMB[2]
    a = _joints_mm(poses.letter_angles("A"))
    # A: a fist with the thumb up along the side of the index finger, not in front of the fingers
    assert a[tip, 0] < a[INDEX[1], 0] - 10.0 and a[tip, 1] > a[INDEX[1], 1]
    s = _joints_mm(poses.letter_angles("S"))
    # S: the thumb lies across the front (palmar side) of the curled index and middle fingers
    assert s[tip, 2] < min(s[INDEX[1], 2], s[MIDDLE[1], 2]) - 10.0
    assert s[tip, 0] > s[INDEX[1], 0] and s[ip, 0] < s[tip, 0]
    for letter in ("O", "F"):  # thumb and index tips meet
        o = _joints_mm(poses.letter_angles(letter))
        assert np.linalg.norm(o[tip] - o[INDEX[3]]) < 10.0
    x = _joints_mm(poses.letter_angles("X"))
    # X: the index finger stands up from the knuckle and hooks over: PIP above the MCP, tip below the PIP
    assert x[INDEX[1], 1] > x[INDEX[0], 1] + 30.0 and x[INDEX[3], 1] < x[INDEX[1], 1] - 10.0
    b = _joints_mm(poses.letter_angles("B"))
    # B: four straight fingers side by side, thumb folded in front of the palm
    assert all(b[f[3], 1] > b[f[0], 1] + 60.0 for f in (INDEX, MIDDLE))
    assert b[tip, 2] < -20.0


def test_the_mixed_mode_draws_letters_in_the_stated_share(monkeypatch):
    monkeypatch.setattr(poses, "LETTER_SHARE", 1.0)
    a = poses.sample_articulation(np.random.default_rng(0), 400, "mixed", template_prob=1.0)
    letters = np.stack([poses.letter_angles(k) for k in poses.ASL_LETTERS]).reshape(len(poses.ASL_LETTERS), -1)
    rms = np.sqrt(((a.reshape(400, 1, -1) - letters[None]) ** 2).mean(-1)).min(1)
    assert np.rad2deg(rms).max() < 10.0  # 7° noise per angle, clipped at the limits
    monkeypatch.setattr(poses, "LETTER_SHARE", 0.0)
    b = poses.sample_articulation(np.random.default_rng(0), 400, "mixed", template_prob=1.0)
    rms_b = np.sqrt(((b.reshape(400, 1, -1) - letters[None]) ** 2).mean(-1)).min(1)
    assert (np.rad2deg(rms_b) < 10.0).mean() < 0.5  # only the gestures that equal a letter (fist ≈ S …)


def test_held_up_hands_point_up_and_show_palm_or_back_in_the_stated_share():
    rot = poses.held_up_rotation(np.random.default_rng(1), 4000, 0.3, 45.0, 30.0, 40.0)
    fingers_cam = rot[:, :, 1]  # hand-local +y in the camera frame (image y points down)
    up = np.rad2deg(np.arccos(np.clip(-fingers_cam[:, 1], -1, 1)))
    assert up.max() < 45.0 + 30.0 + 40.0 and np.median(up) < 35.0
    back = rot[:, 2, 2] < 0  # the back of the hand (local +z) faces the lens
    assert abs(back.mean() - 0.3) < 0.03

    def frac_up(r: np.ndarray) -> float:
        return float((np.rad2deg(np.arccos(np.clip(-r[:, 1, 1], -1, 1))) < 30.0).mean())

    # the source mixes HELD_UP_SHARE held-up hands with uniform rotations, which put the fingers within 30° of up
    # for (1 - cos 30°) / 2 = 6.7 % of hands
    held = frac_up(poses.held_up_rotation(np.random.default_rng(3), 20000, 0.5, 70.0, 45.0, 60.0))
    expect = poses.HELD_UP_SHARE * held + (1 - poses.HELD_UP_SHARE) * (1 - np.cos(np.pi / 6)) / 2
    assert abs(frac_up(poses.source_rotation(np.random.default_rng(2), 20000)) - expect) < 0.01


def _render_nails(view: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nail map and hit mask of an open flat right hand, 0.6 m in front of a camera looking along ``view``."""
    angles = np.zeros((1, 5, 4))
    shape = kin.HandShape(kin.NOMINAL_BONE_LENGTH_M[None].copy(), np.ones(1), np.ones(1))
    pts = kin.body_points(kin.forward_kinematics(angles, shape), shape.scale, np.array([[0.0, -1.0, 0.0]]))[0]
    cam = (pts - pts[9]) @ view.T + np.array([0.0, 0.0, 0.6])
    side = 200
    K = np.array([[500.0, 0, 99.5], [0, 500.0, 99.5], [0, 0, 1]])
    t = torch.as_tensor(cam[None], dtype=torch.float32)
    out = render_capsules(t[:, kin.CAPSULE_ENDS[:, 0]], t[:, kin.CAPSULE_ENDS[:, 1]],
                          torch.as_tensor(kin.CAPSULE_RADIUS_M[None], dtype=torch.float32),
                          torch.as_tensor(K[None], dtype=torch.float32), side, side)
    nail_dir = (view @ kin.phalanx_frames(angles)[0, :, 2, :, 2].T).T[None]
    cap = out.capsule.clamp_min(0)
    part = torch.as_tensor(kin.CAPSULE_PART)[cap]  # no hit (-1) reads capsule 0: the thumb's first phalanx
    joint_at_p0 = torch.as_tensor(kin.CAPSULE_ENDS[:, 0] < kin.NUM_JOINTS)[cap]
    nail = _nails(nail_dir, out.normal, out.axis_t, part, joint_at_p0)[0].numpy()
    tips = cam[[4, 8, 12, 16, 20]]
    return nail, (tips[:, :2] / tips[:, 2:] * 500.0 + 99.5)


def test_nails_show_on_the_back_of_the_fingertips_only():
    back, tips_uv = _render_nails(np.diag([1.0, -1.0, -1.0]))  # the camera sees the back of the hand
    palm, palm_tips = _render_nails(np.eye(3))
    # from the palm side no finger shows a nail; only the thumb, turned on its side in a flat hand, its edge
    pv, pu = np.nonzero(palm > 0)
    assert len(pv) < 30
    assert (np.linalg.norm(np.stack([pu, pv], 1)[:, None] - palm_tips[None], axis=-1).argmin(1) == 0).all()
    vv, uu = np.nonzero(back > 0.5)
    assert len(vv) > 50
    # every nail pixel lies within a distal phalanx's length (≈ 2.5 cm → 21 px here) of a fingertip, and each of
    # the four fingers has one (the thumb of a flat hand shows its side)
    d = np.linalg.norm(np.stack([uu, vv], 1)[:, None] - tips_uv[None], axis=-1)
    assert d.min(1).max() < 21.0
    assert all((d[:, f] < 10.0).any() for f in range(1, 5))
