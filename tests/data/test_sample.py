import torch

from awhourglass.data.sample import SOURCE, TARGET, Sample, collate


def _sample(with_3d, with_depth, domain):
    return Sample(
        image=torch.rand(3, 8, 8),
        K=torch.eye(3),
        uv_px=torch.rand(21, 2),
        vis=torch.ones(21, dtype=torch.bool),
        xyz_m=torch.rand(21, 3) if with_3d else None,
        depth=torch.rand(1, 8, 8) if with_depth else None,
        depth_mask=torch.ones(1, 8, 8, dtype=torch.bool) if with_depth else None,
        domain=domain,
        source=f"s{domain}",
    )


def test_collate_marks_missing_labels_explicitly():
    a, b = _sample(True, True, SOURCE), _sample(False, False, TARGET)
    batch = collate([a, b])
    assert len(batch) == 2
    assert batch.has_3d.tolist() == [True, False] and batch.has_depth.tolist() == [True, False]
    assert torch.equal(batch.xyz_m[0], a.xyz_m) and torch.isnan(batch.xyz_m[1]).all()
    assert torch.isnan(batch.depth[1]).all() and not batch.depth_mask[1].any()
    assert batch.domain.tolist() == [SOURCE, TARGET]


def test_select_keeps_rows_and_strings():
    batch = collate([_sample(True, True, SOURCE), _sample(False, False, TARGET), _sample(True, False, TARGET)])
    sub = batch.select(batch.domain == TARGET)
    assert len(sub) == 2 and sub.source == ["s1", "s1"] and sub.has_3d.tolist() == [False, True]


def test_mirrored_flag_collated_and_selected():
    a, b = _sample(True, True, SOURCE), _sample(False, False, TARGET)
    b.mirrored = True
    batch = collate([a, b])
    assert batch.mirrored == [False, True] and batch.select(batch.domain == TARGET).mirrored == [True]
    bare = collate([a, b])
    bare.mirrored = []  # a Batch built by hand without the field
    assert bare.select(bare.domain == TARGET).mirrored == []


def test_group_tag_collated_selected_and_empty_by_default():
    a, b = _sample(True, True, SOURCE), _sample(False, False, TARGET)
    assert a.group == ""
    b.group = "interacting"
    batch = collate([a, b])
    assert batch.group == ["", "interacting"] and batch.select([1]).group == ["interacting"]
    assert batch.to("cpu").group == batch.group
