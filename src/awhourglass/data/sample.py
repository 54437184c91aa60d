"""The one sample type every dataset produces, and the batch the models and training loops consume.

Joints are in the canonical order (:mod:`awhourglass.skeleton`), right-hand convention (left hands
are mirrored at the dataset edge), metres. Missing labels are explicit: ``None`` in a
:class:`Sample`, and NaN plus a ``has_*`` flag in a :class:`Batch` — never zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from awhourglass.skeleton import NUM_JOINTS

SOURCE, TARGET = 0, 1  # domain ids: synthetic source, real target


@dataclass
class Sample:
    """One cropped hand.

    Attributes:
        image: ``(3, H, W)`` float32 RGB in [0, 1], the network-size crop.
        K: ``(3, 3)`` float32 intrinsics of the crop (original K carried through crop/resize/flip).
        uv_px: ``(21, 2)`` float32 joint pixels in the crop (OpenCV pixel-centre convention).
        vis: ``(21,)`` bool, joint visible / labelled in 2D.
        xyz_m: ``(21, 3)`` float32 camera-space joints in metres, or ``None`` (no 3D label).
        depth: ``(1, H, W)`` float32 normalized depth of the hand, paper Eq. 9:
            ``(d_max − d) / d_range`` on hand pixels, 0 elsewhere; or ``None`` (no depth image).
        depth_mask: ``(1, H, W)`` bool hand pixels of ``depth``; ``None`` when ``depth`` is.
        hand_side: ``"left"`` or ``"right"``: the hand as recorded, before any mirroring.
        domain: :data:`SOURCE` or :data:`TARGET`.
        source: where the sample came from (file path and frame), for error messages and reports.
        mirrored: the crop is mirrored relative to the recording (a left hand under ``mirror_left``, or a
            flip augmentation); the hand shown is ``hand_side`` if False, the other side if True.
        group: the evaluation group of the recording: InterHand2.6M's ``"single"`` (a one-hand frame) or
            ``"interacting"`` (one hand of a two-hand frame); ``""`` for datasets without groups.
        pending: pixel work left to the batch (``augment.on_batch``; a
            :class:`~awhourglass.data.crop.PendingPixels`), None when ``image`` is finished. While the crop's
            resampling is pending, ``image`` is the stored ``(3, H, W)`` uint8 picture.
    """

    image: torch.Tensor
    K: torch.Tensor
    uv_px: torch.Tensor
    vis: torch.Tensor
    xyz_m: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    depth_mask: torch.Tensor | None = None
    hand_side: str = "right"
    domain: int = SOURCE
    source: str = ""
    mirrored: bool = False
    group: str = ""
    pending: Any = None


class Samples(Protocol):
    """What training and evaluation read samples from by position: a dataset of :mod:`awhourglass.data`, a list
    of samples, a view of either, or an endless stream.

    The key is an index, or for a dataset with ``takes_seed`` also ``(index, seed[, batch_finishes])``
    (:class:`~awhourglass.data.base.HandDataset`).
    """

    def __len__(self) -> int: ...

    def __getitem__(self, key: Any, /) -> Sample: ...


@dataclass
class Batch:
    """A collated batch of :class:`Sample` (B samples).

    Attributes:
        image: ``(B, 3, H, W)``; K: ``(B, 3, 3)``; uv_px: ``(B, 21, 2)``; vis: ``(B, 21)`` bool.
        xyz_m: ``(B, 21, 3)``, NaN rows where ``has_3d`` is False.
        has_3d: ``(B,)`` bool.
        depth: ``(B, 1, H, W)``, NaN where ``has_depth`` is False; depth_mask: ``(B, 1, H, W)`` bool.
        has_depth: ``(B,)`` bool.
        domain: ``(B,)`` int64.
        hand_side, source, group: per-sample strings; mirrored: per-sample bools (see :class:`Sample`).
        domains: ``domain`` as host ints (filled by :func:`collate`), so that training reads a batch's domains
            without a device sync (:meth:`domain_ids`).
        pending: per-sample pixel work left to the batch (``Sample.pending``), or empty when there is none;
            :func:`awhourglass.data.pending.finish_batch` does it and empties it. While crops are pending,
            ``image`` is ``(B, 3, H, W)`` uint8 stored pictures.
    """

    image: torch.Tensor
    K: torch.Tensor
    uv_px: torch.Tensor
    vis: torch.Tensor
    xyz_m: torch.Tensor
    has_3d: torch.Tensor
    depth: torch.Tensor
    depth_mask: torch.Tensor
    has_depth: torch.Tensor
    domain: torch.Tensor
    hand_side: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    mirrored: list[bool] = field(default_factory=list)
    domains: list[int] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Move every tensor to ``device``."""
        moved: dict[str, Any] = {
            k: (v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v)
            for k, v in self.__dict__.items()
        }
        return Batch(**moved)

    def domain_ids(self) -> list[int]:
        """Each row's domain as host ints: :attr:`domains`, or (a hand-built batch without it) read from ``domain``."""
        return list(self.domains) if len(self.domains) == len(self) else self.domain.tolist()

    def rows_of(self, domain: int) -> list[int]:
        """The rows of ``domain``, from the host copy (no device sync)."""
        return [i for i, d in enumerate(self.domain_ids()) if d == domain]

    def select(self, index: torch.Tensor | Sequence[int]) -> Batch:
        """Sub-batch of the rows ``index``: a bool mask or int indices, or host row numbers (no device sync)."""
        if isinstance(index, torch.Tensor):
            if index.dtype == torch.bool:
                index = index.nonzero(as_tuple=True)[0]
            rows = index.tolist()
        else:
            rows = list(index)
            index = torch.tensor(rows, dtype=torch.int64).to(self.image.device, non_blocking=True)
        # a per-sample list left empty by a hand-built Batch (e.g. ``mirrored``) stays empty
        fields: dict[str, Any] = {
            k: (v[index] if isinstance(v, torch.Tensor) else ([v[i] for i in rows] if v else []))
            for k, v in self.__dict__.items()
        }
        return Batch(**fields)

    def pin_memory(self) -> Batch:
        """Pinned copy, so a DataLoader with ``pin_memory=True`` accepts this type."""
        pinned: dict[str, Any] = {
            k: (v.pin_memory() if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()
        }
        return Batch(**pinned)


def collate(samples: Sequence[Sample]) -> Batch:
    """Stack samples into a :class:`Batch`, turning missing labels into NaN + flags."""
    if not samples:
        raise ValueError("collate: empty list of samples")
    image = torch.stack([s.image for s in samples])
    _, _, H, W = image.shape
    first = samples[0].pending
    if first is not None and first.inv_px is not None:  # stored pictures: the labels are of the network crop
        H = W = first.out_size
    # missing depth rows take the shape of the others (a pack's stored depth while its warp is pending)
    depth_shape = next((tuple(s.depth.shape) for s in samples if s.depth is not None), (1, H, W))
    nan3 = torch.full((NUM_JOINTS, 3), float("nan"))
    nan_depth = torch.full(depth_shape, float("nan"))
    no_mask = torch.zeros(depth_shape, dtype=torch.bool)
    return Batch(
        image=image,
        K=torch.stack([s.K for s in samples]),
        uv_px=torch.stack([s.uv_px for s in samples]),
        vis=torch.stack([s.vis.bool() for s in samples]),
        xyz_m=torch.stack([s.xyz_m if s.xyz_m is not None else nan3 for s in samples]),
        has_3d=torch.tensor([s.xyz_m is not None for s in samples]),
        depth=torch.stack([s.depth if s.depth is not None else nan_depth for s in samples]),
        depth_mask=torch.stack([s.depth_mask.bool() if s.depth_mask is not None else no_mask for s in samples]),
        has_depth=torch.tensor([s.depth is not None for s in samples]),
        domain=torch.tensor([s.domain for s in samples], dtype=torch.int64),
        hand_side=[s.hand_side for s in samples],
        source=[s.source for s in samples],
        mirrored=[bool(s.mirrored) for s in samples],
        domains=[int(s.domain) for s in samples],
        group=[s.group for s in samples],
        pending=[s.pending for s in samples] if any(s.pending is not None for s in samples) else [],
    )
