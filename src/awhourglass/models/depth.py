"""Depth regularizer (paper Eq. 10; Cai et al. 2018): the pose → depth decoder (Eq. 9 targets: data.depth)."""

from __future__ import annotations

import torch
from torch import nn

from awhourglass.skeleton import NUM_JOINTS


def masked_avg_pool(depth: torch.Tensor, mask: torch.Tensor, out_size: int, min_fraction: float = 0.5):
    """Downsample a masked depth image ``(B, 1, H, W)`` to ``out_size²`` averaging hand pixels only.

    A coarse pixel is on the hand when at least ``min_fraction`` of its fine pixels are. NaN/inf off the
    mask (e.g. a missing depth image) never reaches the output.

    Returns:
        ``(depth (B, 1, out, out), mask (B, 1, out, out) bool)``; depth is 0 off the mask.
    """
    if depth.dim() != 4 or depth.shape != mask.shape or depth.shape[-1] % out_size or depth.shape[-2] % out_size:
        raise ValueError(f"masked_avg_pool: depth {tuple(depth.shape)} and mask {tuple(mask.shape)} must be "
                         f"(B, 1, H, W) with H and W divisible by {out_size}")
    k = depth.shape[-1] // out_size, depth.shape[-2] // out_size
    m = mask.to(depth.dtype)
    d = torch.where(mask, depth, torch.zeros_like(depth))
    frac = nn.functional.avg_pool2d(m, (k[1], k[0]))
    mean = nn.functional.avg_pool2d(d, (k[1], k[0])) / frac.clamp_min(1e-12)
    out_mask = frac >= min_fraction
    return torch.where(out_mask, mean, torch.zeros_like(mean)), out_mask


class DepthDecoder(nn.Module):
    """Pose vector → normalized depth image of the hand (Cai et al. 2018: FC → transposed convs).

    Input: the ground-truth 2D joints (input-crop pixels, scaled to [-1, 1]) and the *predicted* normalized
    depths; output ``(B, 1, out_size, out_size)`` in (0, 1) via a sigmoid (Eq. 9 values lie in [0, 1]).
    """

    def __init__(self, input_size: int, out_size: int = 32, width: int = 32) -> None:
        super().__init__()
        self.input_size = input_size
        self.width = width
        n_up = (out_size // 4).bit_length() - 1
        self.fc = nn.Sequential(nn.Linear(NUM_JOINTS * 3, 256), nn.ReLU(inplace=True),
                                nn.Linear(256, width * 16), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for _ in range(n_up):
            layers += [nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.up = nn.Sequential(*layers)

    def forward(self, uv_px: torch.Tensor, z_norm: torch.Tensor) -> torch.Tensor:
        """``uv_px (B, 21, 2)`` ground-truth 2D [input px], ``z_norm (B, 21)`` predicted → ``(B, 1, S, S)``."""
        uv = torch.nan_to_num(uv_px.detach(), nan=0.0, posinf=0.0, neginf=0.0)
        uv = uv * (2.0 / self.input_size) - 1.0
        x = torch.cat([uv.flatten(1), z_norm], dim=1)
        x = self.fc(x).reshape(-1, self.width, 4, 4)
        return torch.sigmoid(self.up(x))
