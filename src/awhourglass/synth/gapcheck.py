"""Measure the domain gap of the embedded benchmark: ``python -m awhourglass.synth.gapcheck``.

A small CNN regresses the 21 2D joints in a hand crop. One copy is trained on the source domain
only, one on the target domain (at the default gap); both are scored on held-out target images
(and the source-only model on the source too, and on targets of several gap values). The mean
pose of each training set is the floor any model should beat. Scores: mean 2D error in percent
of the crop side and PCK at 10 % of the crop side. Minutes on two CPU cores; not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from awhourglass.atomic import atomic_write_text
from awhourglass.synth.generate import DEFAULT_GAP, LEFT, generate_batch


def crops(batch: dict[str, np.ndarray], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crops around the 2D joints (1.3 × their extent), left hands flipped to right.

    Returns images ``(N, 3, size, size)`` in [0, 1] and joints ``(N, 21, 2)`` in crop units [0, 1].
    """
    img = torch.as_tensor(batch["rgb"]).permute(0, 3, 1, 2).float() / 255.0
    h, w = img.shape[2:]
    uv = torch.as_tensor(batch["uv_px"], dtype=torch.float32)
    lo, hi = uv.min(1).values, uv.max(1).values
    centre, side = (lo + hi) / 2, 1.3 * (hi - lo).max(1).values.clamp_min(8.0)
    flip = torch.as_tensor(batch["side"] == LEFT)
    # Crop pixel centres → source pixel coordinates → grid_sample's [-1, 1] (align_corners=False).
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5  # crop fraction of the side, centred
    xs = centre[:, 0, None] + side[:, None] * torch.where(flip[:, None], -t[None], t[None])
    ys = centre[:, 1, None] + side[:, None] * t[None]
    gx = (xs + 0.5) / w * 2 - 1
    gy = (ys + 0.5) / h * 2 - 1
    grid = torch.stack([gx[:, None, :].expand(-1, size, -1), gy[:, :, None].expand(-1, -1, size)], -1)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    rel = (uv - centre[:, None]) / side[:, None, None]
    rel[..., 0] = torch.where(flip[:, None], -rel[..., 0], rel[..., 0])
    return out, rel + 0.5


class KeypointCNN(nn.Module):
    """Four stride-2 conv blocks and a linear head → 42 numbers (u, v per joint in crop units)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        layers, c = [], 3
        for out in (16, 32, 64, 64):
            layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * (size // 16) ** 2, 128), nn.ReLU(), nn.Linear(128, 42))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).view(-1, 21, 2) + 0.5


def make_set(domain: str, n: int, seed: int, size: int, crop: int, gap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` crops of ``domain`` (generated in chunks of 128)."""
    xs, ys = [], []
    for k, start in enumerate(range(0, n, 128)):
        b = generate_batch(min(128, n - start), domain, np.random.SeedSequence([seed, k]), size, gap)
        x, y = crops(b, crop)
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def train(x: torch.Tensor, y: torch.Tensor, steps: int, seed: int, crop: int) -> KeypointCNN:
    """Adam, batch 64, L1 on crop-unit coordinates, light colour jitter."""
    torch.manual_seed(seed)
    model = KeypointCNN(crop)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        xb = x[idx] * (0.8 + 0.4 * torch.rand(64, 3, 1, 1, generator=g))
        loss = (model(xb) - y[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def score(pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean 2D error (% of the crop side) and PCK at 10 % of the side."""
    err = torch.linalg.vector_norm(pred - y, dim=-1)
    return {"err_pct": round(100 * err.mean().item(), 2), "pck10": round((err <= 0.1).float().mean().item(), 3)}


def main(argv: list[str] | None = None) -> dict:
    """Run the check and print (and optionally write) a JSON summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=96, help="rendered image width")
    p.add_argument("--crop", type=int, default=64, help="crop side fed to the CNN")
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--gaps", default="0,0.25,0.5,0.75,1", help="target gaps at which the source-only model is scored")
    p.add_argument("--out", type=Path, default=None, help="write the JSON summary here")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: no OpenMP stalls on a shared machine)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[gapcheck {time.time() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    gaps = [float(g) for g in a.gaps.split(",")]
    src_x, src_y = make_set("source", a.n_train, 1, a.size, a.crop, DEFAULT_GAP)
    src_tx, src_ty = make_set("source", a.n_test, 2, a.size, a.crop, DEFAULT_GAP)
    tgt_x, tgt_y = make_set("target", a.n_train, 3, a.size, a.crop, DEFAULT_GAP)
    tests = {g: make_set("target", a.n_test, 4, a.size, a.crop, g) for g in gaps}
    tests.setdefault(DEFAULT_GAP, make_set("target", a.n_test, 4, a.size, a.crop, DEFAULT_GAP))
    t_data = time.time() - t0
    log(f"data ready: {len(src_x)} + {len(tgt_x)} training crops")
    src_model = train(src_x, src_y, a.steps, 0, a.crop)
    log("source-only model trained")
    tgt_model = train(tgt_x, tgt_y, a.steps, 0, a.crop)
    log("target model trained")
    tx, ty = tests[DEFAULT_GAP]
    with torch.no_grad():
        result = {
            "config": vars(a) | {"out": str(a.out), "default_gap": DEFAULT_GAP},
            "source_only_on_source": score(src_model(src_tx), src_ty),
            "source_only_on_target": {str(g): score(src_model(x), y) for g, (x, y) in sorted(tests.items())},
            "target_trained_on_target": score(tgt_model(tx), ty),
            "mean_pose_source_on_target": score(src_y.mean(0, keepdim=True).expand_as(ty), ty),
            "mean_pose_target_on_target": score(tgt_y.mean(0, keepdim=True).expand_as(ty), ty),
            "seconds": {"data": round(t_data, 1), "total": round(time.time() - t0, 1)},
            "torch_threads": torch.get_num_threads(),
        }
    text = json.dumps(result, indent=2)
    print(text)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(a.out, text + "\n")
    return result


if __name__ == "__main__":
    main()
