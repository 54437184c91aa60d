"""The stacked hourglass (Newell et al. 2016) with latent 2.5D heads: the network of the AW Hourglass.

Layout (defaults: 64² input, stride-2 stem, 32² heatmaps, width 64, depth 3, 2 stacks)::

    image [0,1] → normalize → stem (3×3 convs, stride 2 or 4) → x
    for each stack:  f = Hourglass(x)            # pools to a bottleneck z (4² by default), skips at every scale
                     f = Residual → 1×1 conv-BN-ReLU
                     (FSSC: extra 3×3 convs c = convs(f))
                     heads = 1×1 conv(f or c) → 21 heatmap logits + 21 depth maps → latent 2.5D
                     x = x + 1×1(f) + 1×1(heads, or c for FSSC)       (not after the last stack)

Residual blocks are pre-activation ``BN-ReLU-3×3 conv`` pairs (3×3 convs at one width keep the work in
large matmuls). Batch-norm can be domain-specific (``ModelConfig.domain_bn``): each BN then holds one set of
statistics and affine parameters per domain and normalizes each sample with its domain's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch
from torch import nn

from awhourglass.geometry import decode_25d
from awhourglass.models.config import ModelConfig
from awhourglass.models.depth import DepthDecoder
from awhourglass.models.head import latent_25d
from awhourglass.skeleton import NUM_JOINTS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DomainBatchNorm2d(nn.Module):
    """BatchNorm2d with one set of statistics and affine parameters per domain (0 source, 1 target).

    ``forward(x, domain)``: ``domain`` is a ``(B,)`` tensor of each sample's domain; ``None`` means all samples are
    ``default_domain``.
    """

    def __init__(self, channels: int, num_domains: int = 2, default_domain: int = 1) -> None:
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_domains))
        self.default_domain = default_domain

    def forward(self, x: torch.Tensor, domain: DomainArg = None) -> torch.Tensor:
        if domain is None:
            return self.bns[self.default_domain](x)
        groups = domain if isinstance(domain, DomainGroups) else DomainGroups.of(domain, x.device)
        if len(groups.rows) == 1:
            return self.bns[groups.rows[0][0]](x)
        out = torch.empty_like(x)
        for d, idx in groups.rows:
            out[idx] = self.bns[d](x[idx])
        return out


@dataclass(frozen=True)
class DomainGroups:
    """The rows of each domain present in a batch, found once per forward (not once per BatchNorm).

    ``rows``: ``(domain, index)`` pairs, ascending domains; ``index`` is a ``(n,)`` int64 tensor on the
    features' device, or ``None`` when one domain holds every row.
    """

    rows: tuple[tuple[int, torch.Tensor | None], ...]

    @staticmethod
    def of(domain: torch.Tensor | Sequence[int], device: torch.device) -> DomainGroups:
        """Group ``domain`` (``(B,)``: host ints, no device sync; or a tensor, read once)."""
        ids = [int(d) for d in (domain.tolist() if isinstance(domain, torch.Tensor) else domain)]
        present = sorted(set(ids))
        if len(present) == 1:
            return DomainGroups(((present[0], None),))
        return DomainGroups(tuple(
            (d, torch.tensor([i for i, v in enumerate(ids) if v == d], dtype=torch.int64).to(device, non_blocking=True))
            for d in present))


# a batch's per-sample domains, as the layers take them: a (B,) tensor, host ints, or grouped rows
DomainArg = torch.Tensor | Sequence[int] | DomainGroups | None


def _norm(channels: int, domain_bn: bool) -> nn.Module:
    return DomainBatchNorm2d(channels) if domain_bn else nn.BatchNorm2d(channels)


def _bn(bn: nn.Module, x: torch.Tensor, domain: DomainArg) -> torch.Tensor:
    return bn(x, domain) if isinstance(bn, DomainBatchNorm2d) else bn(x)


class DomainSequential(nn.Sequential):
    """``nn.Sequential`` whose children also receive the per-sample ``domain`` (empty: the identity)."""

    def forward(self, x: torch.Tensor, domain: DomainArg = None) -> torch.Tensor:
        for module in self:
            x = module(x, domain)
        return x


class ConvBnReLU(nn.Sequential):
    """``conv → BN → ReLU`` (the children ``[conv, bn, relu]``, as an ``nn.Sequential`` keeps them)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, domain_bn: bool) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), _norm(cout, domain_bn),
                         nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, domain: DomainArg = None) -> torch.Tensor:
        conv, bn, relu = self
        return relu(_bn(bn, conv(x), domain))


def conv_bn_relu(cin: int, cout: int, k: int, stride: int, domain_bn: bool) -> ConvBnReLU:
    return ConvBnReLU(cin, cout, k, stride, domain_bn)


class Residual(nn.Module):
    """Pre-activation residual block: ``x + conv3(relu(bn(conv3(relu(bn(x))))))`` at constant width."""

    def __init__(self, channels: int, domain_bn: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(channels, domain_bn), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            _norm(channels, domain_bn), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
        )

    def forward(self, x: torch.Tensor, domain: DomainArg = None) -> torch.Tensor:
        bn1, relu1, conv1, bn2, relu2, conv2 = self.body
        return x + conv2(relu2(_bn(bn2, conv1(relu1(_bn(bn1, x, domain))), domain)))


class Hourglass(nn.Module):
    """One hourglass of ``depth`` poolings; returns ``(output, bottleneck)`` (bottleneck = innermost features)."""

    def __init__(self, depth: int, channels: int, domain_bn: bool = False) -> None:
        super().__init__()
        self.skip = Residual(channels, domain_bn)
        self.down = Residual(channels, domain_bn)
        self.inner = Hourglass(depth - 1, channels, domain_bn) if depth > 1 else Residual(channels, domain_bn)
        self.up = Residual(channels, domain_bn)

    def forward(self, x: torch.Tensor, domain: DomainArg = None) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.skip(x, domain)
        low = self.down(nn.functional.max_pool2d(x, 2), domain)
        if isinstance(self.inner, Hourglass):
            low, bottleneck = self.inner(low, domain)
        else:
            low = bottleneck = self.inner(low, domain)
        low = self.up(low, domain)
        return skip + nn.functional.interpolate(low, scale_factor=2.0, mode="nearest"), bottleneck


_Part = TypeVar("_Part", covariant=True)


class PerStack(Protocol[_Part]):
    """One part per stack, indexed by the stack: an ``nn.ModuleList``, or a list of fused parts."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> _Part: ...


# a part called with the per-sample domain (fused parts take it and ignore it), and one called without
DomainPart = Callable[[torch.Tensor, DomainArg], torch.Tensor]
Part = Callable[[torch.Tensor], torch.Tensor]


class StackedParts(Protocol):
    """What :func:`run_stacks` wires: :class:`AWHourglassNet` itself, or its BN-folded inference snapshot
    (:class:`~awhourglass.models.fused.FusedHourglass`), whose parts are called alike."""

    @property
    def stem(self) -> DomainPart: ...
    @property
    def hourglasses(self) -> PerStack[Callable[[torch.Tensor, DomainArg], tuple[torch.Tensor, torch.Tensor]]]: ...
    @property
    def post(self) -> PerStack[DomainPart]: ...
    @property
    def extra(self) -> PerStack[DomainPart]: ...
    @property
    def heads(self) -> PerStack[Part]: ...
    @property
    def remap_features(self) -> PerStack[Part]: ...
    @property
    def remap_heads(self) -> PerStack[Part]: ...
    @property
    def _fssc(self) -> bool: ...


def run_stacks(parts: StackedParts, x: torch.Tensor,
               domain: DomainArg = None) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The network's wiring, written once for the training forward and the inference snapshot.

    Args:
        parts: the network's parts (see :class:`StackedParts`).
        x: the normalized image ``(B, 3, S, S)``.
        domain: ``(B,)`` per-sample domain for domain-specific BatchNorm (``None``: the default domain).

    Yields:
        Per stack, in order: ``(f, bottleneck, heads)``: the stack's output features ``(B, C, h, w)``, its
        innermost features and its 1×1 head output ``(B, 42, h, w)`` (21 heatmap logits, 21 depth maps).
        The next stack's input is computed after the caller has taken the current stack's values.
    """
    x = parts.stem(x, domain)
    n = len(parts.hourglasses)
    for i in range(n):
        f, bottleneck = parts.hourglasses[i](x, domain)
        f = parts.post[i](f, domain)
        g = parts.extra[i](f, domain)
        heads = parts.heads[i](g)
        yield f, bottleneck, heads
        if i < n - 1:
            x = x + parts.remap_features[i](f) + parts.remap_heads[i](g if parts._fssc else heads)


@dataclass
class StackOutput:
    """Output of one stack: ``heatmap``/``depthmap`` ``(B, 21, h, w)``, ``uv_px (B, 21, 2)`` input-crop pixels,
    ``z_norm (B, 21)`` normalized root-relative depth, ``features`` z ``(B, C, h', w')`` exposed for adaptation."""

    heatmap: torch.Tensor
    depthmap: torch.Tensor
    uv_px: torch.Tensor
    z_norm: torch.Tensor
    features: torch.Tensor


@dataclass
class HourglassOutput:
    """Network output. ``uv_px``/``z_norm`` are the last stack's; ``xyz_m (B, 21, 3)`` metres when K and the
    bone length were given; ``depth_pred (B, 1, S, S)`` when ground-truth 2D for the depth regularizer was given."""

    stacks: list[StackOutput]
    uv_px: torch.Tensor
    z_norm: torch.Tensor
    xyz_m: torch.Tensor | None = None
    depth_pred: torch.Tensor | None = None

    @property
    def features(self) -> list[torch.Tensor]:
        """Bottleneck (or output, per ``ModelConfig.feature_point``) features of every stack."""
        return [s.features for s in self.stacks]

    @property
    def heatmaps(self) -> list[torch.Tensor]:
        return [s.heatmap for s in self.stacks]


class AWHourglassNet(nn.Module):
    """Stacked hourglass + latent 2.5D heads + depth-regularizer decoder (see module docstring)."""

    mean: torch.Tensor  # ImageNet normalization, registered as buffers in __init__
    std: torch.Tensor

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ModelConfig()
        self.cfg = cfg
        c, dbn = cfg.width, cfg.domain_bn
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        stem: list[nn.Module] = [conv_bn_relu(3, c, 3, 1 if cfg.stem_stride == 1 else 2, dbn)]
        if cfg.stem_stride == 4:
            stem.append(conv_bn_relu(c, c, 3, 2, dbn))
        stem.append(Residual(c, dbn))
        self.stem = DomainSequential(*stem)
        n = cfg.num_stacks
        self.hourglasses = nn.ModuleList(Hourglass(cfg.depth, c, dbn) for _ in range(n))
        self.post = nn.ModuleList(DomainSequential(Residual(c, dbn), conv_bn_relu(c, c, 1, 1, dbn)) for _ in range(n))
        fssc = cfg.first_stack_design == "fssc" and cfg.fssc_convs > 0
        self.extra = nn.ModuleList(
            DomainSequential(*[conv_bn_relu(c, c, 3, 1, dbn) for _ in range(cfg.fssc_convs)]) if fssc and i < n - 1
            else DomainSequential()
            for i in range(n)
        )
        self.heads = nn.ModuleList(nn.Conv2d(c, 2 * NUM_JOINTS, 1) for _ in range(n))
        self.remap_features = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(n - 1))
        self.remap_heads = nn.ModuleList(nn.Conv2d(c if fssc else 2 * NUM_JOINTS, c, 1) for _ in range(n - 1))
        self.depth_decoder = DepthDecoder(cfg.input_size, cfg.depth_out_size, cfg.depth_width)
        self._fssc = fssc
        self._domain_bns = [m for m in self.modules() if isinstance(m, DomainBatchNorm2d)]
        # NHWC conv weights (and input, in forward) run every oneDNN convolution channels-last: +16-30 % inference,
        # +20 % training at batch 32 on a 2-core AVX-512 CPU (docs/performance.md). Outputs are unchanged.
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format

    @property
    def stride(self) -> int:
        return self.cfg.stem_stride

    def check_image(self, image: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``image`` is ``(B, 3, S, S)`` with S = ``cfg.input_size``."""
        s = self.cfg.input_size
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[2] != s or image.shape[3] != s:
            raise ValueError(f"image: expected shape (B, 3, {s}, {s}) RGB in [0, 1], got {tuple(image.shape)}")

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """``image (B, 3, S, S)`` in [0, 1] → ImageNet-normalized, channels-last (the stem's input)."""
        return ((image - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def forward(
        self,
        image: torch.Tensor,
        domain: torch.Tensor | Sequence[int] | None = None,
        K: torch.Tensor | None = None,
        bone_m: torch.Tensor | None = None,
        z_root_m: torch.Tensor | None = None,
        depth_uv_px: torch.Tensor | None = None,
    ) -> HourglassOutput:
        """Run the network.

        Args:
            image: ``(B, 3, S, S)`` RGB in [0, 1] (normalized inside).
            domain: ``(B,)`` 0/1 per sample, a tensor or host ints (host ints group the rows of domain-specific
                BatchNorm without a device sync); only used with ``domain_bn`` (``None`` → target statistics).
            K, bone_m, z_root_m: ``(B, 3, 3)`` crop intrinsics, ``(B,)`` scale-bone length [m] and optional root
                depth [m]; with K and bone_m the output carries metric ``xyz_m`` (:func:`geometry.decode_25d`).
            depth_uv_px: ``(B, 21, 2)`` ground-truth 2D joints: run the depth-regularizer decoder on them and the
                predicted depths (training only).
        """
        self.check_image(image)
        if domain is not None:
            shape = tuple(domain.shape) if isinstance(domain, torch.Tensor) else (len(domain),)
            if shape != (image.shape[0],):
                raise ValueError(f"domain: expected shape ({image.shape[0]},), got {shape}")
        groups = DomainGroups.of(domain, image.device) if self._domain_bns and domain is not None else None
        stacks: list[StackOutput] = []
        for f, bottleneck, heads in run_stacks(self, self.normalize(image), groups):
            # under autocast (bf16 training) the 2.5D decoding and everything downstream stay fp32; no-ops in fp32
            heads = heads.float()
            logits, depthmap = heads[:, :NUM_JOINTS], heads[:, NUM_JOINTS:]
            heatmap, uv_px, z_norm = latent_25d(logits, depthmap, self.stride)
            feats = (bottleneck if self.cfg.feature_point == "bottleneck" else f).float()
            stacks.append(StackOutput(heatmap, depthmap, uv_px, z_norm, feats))
        out = HourglassOutput(stacks=stacks, uv_px=stacks[-1].uv_px, z_norm=stacks[-1].z_norm)
        if depth_uv_px is not None:
            out.depth_pred = self.depth_decoder(depth_uv_px, out.z_norm).float()
        if K is not None and bone_m is not None:
            out.xyz_m = decode_25d(out.uv_px, out.z_norm, K, bone_m, z_root_m, bone=self.cfg.scale_bone,
                                   validate=False)
        return out

    @torch.no_grad()
    def copy_domain_bn(self, src: int = 0, dst: int = 1) -> None:
        """Copy domain ``src``'s BN statistics and affine parameters into domain ``dst`` (with ``domain_bn``),
        e.g. to start adaptation from source-only pretraining."""
        for m in self._domain_bns:
            m.bns[dst].load_state_dict(m.bns[src].state_dict())
