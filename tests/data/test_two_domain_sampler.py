from collections import Counter

import pytest

from awhourglass.data.sample import SOURCE, TARGET
from awhourglass.data.sampler import ShardedSampler, TwoDomainBatchSampler


def _all(sampler):
    return [b for b in sampler]


def test_half_source_half_target_smaller_repeated():
    s = TwoDomainBatchSampler(10, 3, 4, seed=1)
    batches = _all(s)
    assert len(batches) == len(s) == 5  # 10 samples per domain / 2 per batch
    for b in batches:
        assert [k[0] for k in b] == [SOURCE, SOURCE, TARGET, TARGET]
    src = Counter(k[1] for b in batches for k in b if k[0] == SOURCE)
    tgt = Counter(k[1] for b in batches for k in b if k[0] == TARGET)
    assert sorted(src) == list(range(10)) and set(src.values()) == {1}  # larger domain: each once
    assert sorted(tgt) == [0, 1, 2] and max(tgt.values()) - min(tgt.values()) <= 1  # 10 = 3+3+3+1
    assert sum(tgt.values()) == 10


def test_deterministic_given_seed_and_epoch():
    a, b = TwoDomainBatchSampler(7, 5, 4, seed=3), TwoDomainBatchSampler(7, 5, 4, seed=3)
    assert _all(a) == _all(b)
    a.set_epoch(1)
    assert _all(a) != _all(b)
    b.set_epoch(1)
    assert _all(a) == _all(b)
    assert _all(TwoDomainBatchSampler(7, 5, 4, seed=4)) != _all(TwoDomainBatchSampler(7, 5, 4, seed=3))


def test_ranks_split_batches_without_overlap():
    full = _all(TwoDomainBatchSampler(12, 4, 4, seed=0))
    shards = [_all(TwoDomainBatchSampler(12, 4, 4, seed=0, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 3
    assert shards[0] == full[0::2] and shards[1] == full[1::2]
    with pytest.raises(ValueError, match="no batch"):
        TwoDomainBatchSampler(2, 2, 4, world_size=2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        TwoDomainBatchSampler(4, 4, 3)
    with pytest.raises(ValueError, match="both domains"):
        TwoDomainBatchSampler(4, 0, 2)


def test_sharded_sampler_pads_for_training_and_not_for_eval():
    train = [list(ShardedSampler(5, shuffle=True, seed=0, rank=r, world_size=2)) for r in range(2)]
    assert len(train[0]) == len(train[1]) == 3
    assert {i for shard in train for i, _ in shard} == set(range(5))
    ev = [list(ShardedSampler(5, shuffle=False, rank=r, world_size=2, pad=False)) for r in range(2)]
    assert [i for i, _ in ev[0]] == [0, 2, 4] and [i for i, _ in ev[1]] == [1, 3]
    s = ShardedSampler(6, shuffle=True, seed=2)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first and sorted(i for i, _ in first) == list(range(6))
