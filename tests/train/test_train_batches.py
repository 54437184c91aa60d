"""Step batches: a pure function of (seed, phase, step), sharded exactly, each domain cycling by epochs."""

import pytest
import torch
from train_standins import TinyDataset

from awhourglass.data.sample import SOURCE, TARGET
from awhourglass.train.batches import StepBatches, iterate_steps
from awhourglass.train.distributed import DistInfo


def _batches(rank=0, world=1, seed=5):
    domains = [TinyDataset(10, SOURCE, seed=1), TinyDataset(3, TARGET, seed=2)]
    return StepBatches(domains, [4, 2], seed, "adapt", DistInfo(rank, world))


def test_each_epoch_visits_every_sample_once():
    b = _batches()
    # 5 steps x 2 target samples = 10 positions = 3 full epochs of 3 + 1
    target = [idx for s in range(5) for d, idx, _ in b.indices(s) if d == 1]
    for e in range(3):
        assert sorted(target[3 * e : 3 * e + 3]) == [0, 1, 2]
    source = [idx for s in range(5) for d, idx, _ in b.indices(s) if d == 0]
    assert sorted(source[:10]) == list(range(10)) and sorted(source[10:20]) == list(range(10))
    assert source[:10] != source[10:20]  # reshuffled each epoch (probability of a tie: 1 / 10!)


def test_ranks_partition_the_single_process_batch():
    single = _batches().indices(7)
    shards = [_batches(r, 2).indices(7) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(single)
    assert not set(shards[0]) & set(shards[1])
    # same samples, same augmentation: per-slot seeding makes the images identical too
    full = _batches()[7].batch
    halves = [_batches(r, 2)[7].batch for r in range(2)]
    # single-process rows: source slots 0-3, target slots 4-5; rank r: source 2r, 2r+1 and target 4+r
    assert torch.equal(halves[0].image, full.image[[0, 1, 4]])
    assert torch.equal(halves[1].image, full.image[[2, 3, 5]])
    assert halves[1].source == [full.source[i] for i in (2, 3, 5)]


def test_batches_do_not_depend_on_start_or_global_rng():
    b = _batches()
    torch.manual_seed(0)
    first = [x.image for x in iterate_steps(b, 0, 4)]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    tail = [x.image for x in iterate_steps(_batches(), 2, 4)]
    assert torch.equal(torch.get_rng_state(), state), "loading batches moved the global RNG"
    assert all(torch.equal(a, c) for a, c in zip(first[2:], tail, strict=True))
    assert not torch.equal(first[0], first[1])


def test_augmentation_is_random_across_steps_but_fixed_per_seed():
    assert not torch.equal(_batches(seed=5)[0].batch.image, _batches(seed=6)[0].batch.image)
    assert torch.equal(_batches(seed=5)[0].batch.image, _batches(seed=5)[0].batch.image)


def test_workers_give_the_same_batches():
    main = [x.image for x in iterate_steps(_batches(), 0, 3, num_workers=0)]
    workers = [x.image for x in iterate_steps(_batches(), 0, 3, num_workers=2)]
    assert all(torch.equal(a, c) for a, c in zip(main, workers, strict=True))


def test_position_counts_epochs_and_offsets():
    pos = _batches().position(5)
    assert pos["epochs"] == [2, 3] and pos["offsets"] == [0, 1] and pos["sizes"] == [10, 3]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_file_is_the_same_one_line_error_with_or_without_workers(tmp_path, workers):
    from train_standins import write_tiny_synth

    from awhourglass.data.config import DatasetConfig
    from awhourglass.data.loader import build_dataset
    from awhourglass.errors import AwhError

    write_tiny_synth(tmp_path)
    for png in sorted((tmp_path / "rhd" / "training" / "color").glob("*.png")):
        png.write_bytes(b"")  # every image unreadable: the first batch must fail
    ds = build_dataset(DatasetConfig(format="rhd", root=str(tmp_path / "rhd"), input_size=32))
    steps = iterate_steps(StepBatches([ds], [2], 0, "pretrain", DistInfo()), 0, 2, workers)
    with pytest.raises(AwhError) as err:
        next(steps)
    assert type(err.value).__module__.startswith("awhourglass")
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and "color/" in lines[0] and "not a readable image" in lines[0], lines
