"""The loop never hands the target's 3D labels to anything that could use them by accident.

With NaN in every target ``xyz_m`` the whole two-phase run stays finite. (The same check with the
real step functions lives in test_train_real_model.py.)
"""

import math

from train_standins import make_parts_factory, tiny_config

from awhourglass.checkpoint import load_checkpoint
from awhourglass.train.run import fit


def test_nan_target_xyz_keeps_training_finite(tmp_path):
    fit(tiny_config(), tmp_path, resume=False, build_parts=make_parts_factory(nan_target_xyz=True))
    rows = (tmp_path / "adapt.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert "l_z" in header and "critic_wd" in header
    for row in rows[1:]:
        values = dict(zip(header, row.split(","), strict=True))
        assert all(math.isfinite(float(values[k])) for k in header if k not in ("step",))
    assert load_checkpoint(tmp_path / "model.pt")["step"] == 6


def test_the_check_can_fail(tmp_path):
    """A step function that does read the target's 3D labels is caught by the same run."""
    import pytest

    from awhourglass.train.loop import NonFiniteLossError

    def leaky(cfg, dist):
        parts = make_parts_factory(nan_target_xyz=True)(cfg, dist)
        inner = parts.adapt_loss

        def wrapped(batch, info):
            losses = inner(batch, info)
            losses["total"] = losses["total"] + batch.xyz_m.mean()  # uses target 3D
            return losses

        parts.adapt_loss = wrapped
        return parts

    with pytest.raises(NonFiniteLossError):
        fit(tiny_config(), tmp_path, resume=False, build_parts=leaky)
