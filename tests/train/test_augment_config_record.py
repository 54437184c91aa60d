"""Augmentation in the training configs: the real-data configs switch the pixel-only augmentations on, the keys
are recorded in the config a checkpoint holds, and a checkpoint written before they existed still resumes."""

from pathlib import Path

import pytest

from awhourglass.checkpoint import CheckpointError
from awhourglass.config import to_dict
from awhourglass.data.config import AugmentConfig
from awhourglass.train.config import config_differences, load_train_config, with_defaults
from awhourglass.train.run import _check_resumable

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
NEW_KEYS = ("hue", "blur_prob", "blur_sigma_px", "noise_prob", "noise_std", "cutout_prob", "cutout_frac")


def test_rhd_stb_turns_the_pixel_augmentations_on_for_both_domains():
    cfg = load_train_config(CONFIGS / "rhd-stb.yaml")
    for ds in (cfg.data.source, cfg.data.target):
        a = ds.augment
        assert a.enabled and a.hue == 0.1 and a.blur_prob == 0.3 and a.blur_sigma_px == 2.0
        assert a.noise_prob == 0.3 and a.noise_std == 0.03 and a.cutout_prob == 0.2 and a.cutout_frac == 0.3
        assert a.rotation_deg == 30.0 and a.brightness == 0.2  # the geometric and colour settings as before
    recorded = to_dict(cfg)["data"]["target"]["augment"]  # what every checkpoint of the run records
    assert all(recorded[k] == getattr(cfg.data.target.augment, k) for k in NEW_KEYS)


def _old_record(cfg_dict: dict) -> dict:
    """The config dict as a checkpoint written before the pixel-only augmentations holds it (no such keys)."""
    old = to_dict(cfg_dict)
    for dom in ("source", "target"):
        if old["data"].get(dom):
            for k in NEW_KEYS:
                del old["data"][dom]["augment"][k]
    return old


@pytest.mark.parametrize("name", ["demo.yaml", "mpd.yaml"])
def test_a_checkpoint_without_the_new_keys_resumes_when_they_are_off(name):
    cfg = load_train_config(CONFIGS / name)
    for dom in ("source", "target"):  # today's run of the old settings: the new keys at their defaults (off)
        ds = getattr(cfg.data, dom)
        if ds is not None:
            for k in NEW_KEYS:
                setattr(ds.augment, k, getattr(AugmentConfig(), k))
    ours = to_dict(cfg)
    old = _old_record(ours)
    assert config_differences(ours, old)  # compared raw, the missing keys would look like differences
    assert config_differences(ours, with_defaults(old)) == []
    _check_resumable(ours, {"config": old}, Path("last.pt"))  # no error
    turned_on = to_dict(load_train_config(CONFIGS / name))
    if name == "mpd.yaml":  # switching the new augmentations on is a real difference: no silent resume
        with pytest.raises(CheckpointError, match="blur_prob"):
            _check_resumable(turned_on, {"config": old}, Path("last.pt"))
