import numpy as np
import pytest

from awhourglass.skeleton import BONES, finger_joints
from awhourglass.synth import kinematics as kin
from awhourglass.synth.generate import LEFT, generate_batch
from awhourglass.synth.poses import POSE_MODES, sample_articulation


def _angle(a, b):
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.arccos(np.clip(cos, -1.0, 1.0))


@pytest.fixture(scope="module")
def batch():
    return generate_batch(48, "source", 3, 32)


def test_bone_lengths_within_human_ranges(batch):
    j = batch["xyz_m"].astype(np.float64)
    lengths = np.stack([np.linalg.norm(j[:, c] - j[:, p], axis=-1) for p, c in BONES], axis=1)
    np.testing.assert_allclose(lengths, batch["bone_length_m"], atol=2e-6)  # float32 joints
    ratio = lengths / kin.NOMINAL_BONE_LENGTH_M
    lo, hi = kin.BONE_LENGTH_FACTOR_RANGE
    assert ratio.min() >= lo - 1e-5 and ratio.max() <= hi + 1e-5
    # Independent anthropometric bounds (children of about 8 years to large adults): palm length (wrist to middle
    # MCP, about 60 mm at 8 years) and middle-finger length (about 55 mm at 8 years).
    palm = np.linalg.norm(j[:, 9] - j[:, 0], axis=-1)
    middle = sum(np.linalg.norm(j[:, a + 1] - j[:, a], axis=-1) for a in (9, 10, 11))
    assert 0.058 <= palm.min() and palm.max() <= 0.115
    assert 0.055 <= middle.min() and middle.max() <= 0.12
    # Hands differ from each other.
    assert palm.std() > 0.003


@pytest.mark.parametrize("mode", POSE_MODES)
def test_sampled_angles_within_limits(mode):
    a = sample_articulation(np.random.default_rng(0), 500, mode)
    lo, hi = kin.ANGLE_LIMITS_RAD[..., 0], kin.ANGLE_LIMITS_RAD[..., 1]
    assert np.all(a >= lo - 1e-12) and np.all(a <= hi + 1e-12)
    assert a.std(axis=0).min() > 0.01  # every parameter varies


def test_hinge_angles_match_parameters_and_limits(batch):
    j = batch["xyz_m"].astype(np.float64)
    a = batch["angles_rad"]
    for f, finger in enumerate(("thumb", "index", "middle", "ring", "little")):
        base, b1, b2, tip = finger_joints(finger)
        v1, v2, v3 = j[:, b1] - j[:, base], j[:, b2] - j[:, b1], j[:, tip] - j[:, b2]
        # The last two joints of every finger are hinges about one shared axis: the angle between
        # consecutive bones is the flexion parameter, and the three phalanges stay in one plane.
        np.testing.assert_allclose(_angle(v1, v2), np.abs(a[:, f, 2]), atol=2e-3)
        np.testing.assert_allclose(_angle(v2, v3), np.abs(a[:, f, 3]), atol=2e-3)
        hi = np.deg2rad(kin.ANGLE_LIMITS_DEG[f, 2:, 1]) + 2e-3
        assert np.all(_angle(v1, v2) <= hi[0]) and np.all(_angle(v2, v3) <= hi[1])
        planar = np.abs(np.einsum("ni,ni->n", np.cross(v1, v2), v3))
        assert planar.max() < 1e-6 * 50  # m³, float32 joints
        if f > 0:
            bend = (a[:, f, 2] > 0.2) & (a[:, f, 3] > 0.2)
            same_way = np.einsum("ni,ni->n", np.cross(v1, v2), np.cross(v2, v3))
            assert np.all(same_way[bend] > 0)  # curls one way, never an S


def test_handedness_matches_side_label():
    b = generate_batch(64, "source", 5, 32, pose_mode="random")
    j = b["xyz_m"].astype(np.float64)
    # A right hand flexes its fingers about an axis pointing from the little finger to the index
    # (right-hand rule: cross(proximal, middle) ∥ little → index); a mirror image reverses it.
    radial = j[:, 5] - j[:, 17]
    expected = np.where(b["side"] == LEFT, -1.0, 1.0)
    checked = 0
    for fi, f in enumerate(("index", "middle", "ring", "little"), start=1):
        mcp, pip, dip, _ = finger_joints(f)
        axis = np.cross(j[:, pip] - j[:, mcp], j[:, dip] - j[:, pip])
        s = np.sign((axis * radial).sum(1))
        flexed = b["angles_rad"][:, fi, 2] > 0.4
        assert np.all(s[flexed] == expected[flexed])
        checked += flexed.sum()
    assert checked > 50 and 0 < (b["side"] == LEFT).sum() < 64


def test_forward_kinematics_rejects_bad_shapes():
    shape = kin.sample_shape(np.random.default_rng(0), 2)
    with pytest.raises(ValueError, match=r"\(N, 5, 4\)"):
        kin.forward_kinematics(np.zeros((2, 4, 4)), shape)
