"""The pretraining stream's augmentation: on by default, handed to the source stream only, recorded in the config."""

from awhourglass.config import from_dict, to_dict
from awhourglass.data.config import AugmentConfig
from awhourglass.demo.pretrained import (
    PRETRAIN_AUGMENT,
    PretrainSchedule,
    default_model,
    stream_data,
    stream_train_config,
)
from awhourglass.train.config import MethodConfig, TrainConfig


def test_the_shipped_recipe_augments_without_rotation_or_flip():
    a = PretrainSchedule().augment
    assert a.enabled and a.flip_prob == 0 and a.rotation_deg == 0
    assert a.blur_prob > 0 and a.noise_prob > 0 and a.cutout_prob > 0 and a.hue > 0
    assert PretrainSchedule.warm(100, "x.pt").augment == a


def test_stream_data_augments_only_what_is_enabled():
    m = default_model()
    src, tgt = stream_data(m, 0, 64, 0.5, False, PRETRAIN_AUGMENT, AugmentConfig())
    assert src.augment == PRETRAIN_AUGMENT and tgt.augment is None
    src, tgt = stream_data(m, 0, 64, 0.5, False)
    assert src.augment is None and tgt.augment is None


def test_the_train_config_records_the_stream_augmentation_and_reads_it_back():
    tc = stream_train_config(default_model(), MethodConfig(name="source_only"), 3, pretrain_steps=10,
                             source_augment=PRETRAIN_AUGMENT)
    assert tc.data.source.augment == PRETRAIN_AUGMENT and not tc.data.target.augment.enabled
    back = from_dict(TrainConfig, to_dict(tc))  # what a checkpoint's config becomes when it is read
    assert back.data.source.augment == PRETRAIN_AUGMENT
    plain = stream_train_config(default_model(), MethodConfig(name="joint"), 3, adapt_steps=10)
    assert plain.data.source.augment == AugmentConfig() and not plain.data.source.augment.enabled
