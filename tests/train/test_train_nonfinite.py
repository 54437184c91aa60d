"""A NaN/inf loss stops training with a message naming the loss and step, and writes no bad checkpoint."""

import pytest
import torch
from train_standins import make_parts_factory, tiny_config

from awhourglass.checkpoint import load_checkpoint
from awhourglass.train.loop import NonFiniteLossError
from awhourglass.train.run import fit


def _nan_at(factory, step, value):
    def build(cfg, dist):
        parts = factory(cfg, dist)
        inner = parts.adapt_loss

        def wrapped(batch, info):
            losses = inner(batch, info)
            if info.step == step:
                losses["l_z"] = losses["l_z"] * value
                losses["total"] = losses["total"] + losses["l_z"]
            return losses

        parts.adapt_loss = wrapped
        return parts

    return build


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_loss_stops_with_a_clear_message(tmp_path, value):
    cfg = tiny_config()
    with pytest.raises(NonFiniteLossError, match=r"loss 'l_z' is (nan|inf) at adapt step 4") as err:
        fit(cfg, tmp_path, resume=False, build_parts=_nan_at(make_parts_factory(), 3, value))
    assert "last good checkpoint" in str(err.value) and "adapt step 2" in str(err.value)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert (ckpt["phase"], ckpt["step"]) == ("adapt", 2)
    for state in ckpt["modules"].values():
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert not (tmp_path / "model.pt").exists()
    assert "NonFiniteLossError" in (tmp_path / "train.log").read_text()


def test_nonfinite_gradient_is_caught_too(tmp_path):
    """A finite loss whose gradient is inf (sqrt at 0) must not reach the weights."""

    def build(cfg, dist):
        parts = make_parts_factory()(cfg, dist)
        inner = parts.pretrain_loss

        def wrapped(batch, info):
            losses = inner(batch, info)
            if info.step == 2:
                losses["total"] = losses["total"] + torch.sqrt(losses["total"] * 0)
            return losses

        parts.pretrain_loss = wrapped
        return parts

    message = r"gradient norm of network loss 'total' is (nan|inf) at pretrain step 3"
    with pytest.raises(NonFiniteLossError, match=message):
        fit(tiny_config(), tmp_path, resume=False, build_parts=build)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert (ckpt["phase"], ckpt["step"]) == ("pretrain", 2)


def test_a_nonfinite_weight_stops_training_before_its_checkpoint(tmp_path):
    """A weight (here a buffer no loss reads, so no loss or gradient check sees it) that turns NaN stops the run at
    the next checkpoint, naming it; the last checkpoint written is the good one before."""

    def build(cfg, dist):
        parts = make_parts_factory()(cfg, dist)
        name, module = next(iter(parts.modules().items()))
        module.register_buffer("canary", torch.zeros(3))
        inner = parts.pretrain_loss

        def wrapped(batch, info):
            if info.step == 2:  # 0-based: pretrain step 3, after the checkpoint of step 2
                module.canary[1] = float("nan")
            return inner(batch, info)

        parts.pretrain_loss = wrapped
        build.name = name
        return parts

    with pytest.raises(NonFiniteLossError, match=r"weight (\w+)\.canary is not finite after pretrain step 4") as err:
        fit(tiny_config(), tmp_path, resume=False, build_parts=build)
    assert f"weight {build.name}.canary" in str(err.value)
    ckpt = load_checkpoint(tmp_path / "last.pt")  # the reader applies the same test: it would refuse a NaN one
    assert (ckpt["phase"], ckpt["step"]) == ("pretrain", 2)
