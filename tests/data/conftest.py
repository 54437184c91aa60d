"""Tiny datasets written in the real on-disk formats, field by field (docs/datasets.md), for the reader tests.

Each builder returns the ground truth it wrote (canonical, colour-camera metres) so tests can compare what
the readers give back against what was put in.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from awhourglass.formats.rhd import encode_rhd_depth
from awhourglass.formats.stb import encode_stb_depth
from awhourglass.geometry import project
from awhourglass.skeleton import canonical_to_mpd, canonical_to_rhd, canonical_to_stb, mirror_xyz


def right_hand_xyz(centre=(0.0, 0.0, 0.45), jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    """A plausible right hand, palm towards the camera, fingers up, canonical order, metres ``(21, 3)``."""
    j = np.zeros((21, 3))
    j[0] = (0.0, 0.045, 0.0)
    j[1:5] = [(-0.02, 0.03, 0.005), (-0.035, 0.015, 0.0), (-0.045, 0.0, -0.005), (-0.055, -0.015, -0.01)]
    for f, x in enumerate((-0.02, 0.0, 0.018, 0.034)):
        s = 5 + 4 * f
        j[s : s + 4] = [(x, 0.0, 0.0), (x, -0.03, -0.005), (x * 1.1, -0.05, -0.01), (x * 1.2, -0.065, -0.015)]
    j += np.random.default_rng(seed).normal(0, jitter, j.shape)
    return j + np.asarray(centre)


def render(uv: np.ndarray, z: np.ndarray, H: int, W: int, radius: float, bg_depth: float, seed: int = 0):
    """Disks at joint pixels: RGB (H, W, 3) uint8, depth (H, W) metres (bg elsewhere), hand (H, W) bool."""
    rng = np.random.default_rng(seed)
    img = rng.integers(20, 60, (H, W, 3)).astype(np.uint8)
    depth = np.full((H, W), bg_depth, np.float32)
    hand = np.zeros((H, W), bool)
    vv, uu = np.mgrid[0:H, 0:W]
    for k, ((u, v), d) in enumerate(zip(uv, z, strict=True)):
        disk = (uu - u) ** 2 + (vv - v) ** 2 <= radius**2
        img[disk] = (200, 80 + 8 * k, 60)
        depth[disk] = np.where(hand[disk], np.minimum(depth[disk], d), d)
        hand |= disk
    return img, depth, hand


def save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


# --- RHD -----------------------------------------------------------------------------------------------------------
RHD_SIZE = 64
RHD_K = np.array([[90.0, 0, (RHD_SIZE - 1) / 2], [0, 92.0, 30.0], [0, 0, 1]])


def make_rhd(root: Path, sub: str = "training", sides=("right", "left", "right")) -> list[dict]:
    """Write ``root/{sub}/{color,mask,depth}/%05d.png`` + ``root/{sub}/anno_{sub}.pickle``.

    Frame i holds a main hand of side ``sides[i]`` (left = mirror of the right hand of the same frame) and a
    small, far other hand. Returns per frame: side, canonical xyz of the main hand, the right-hand twin.
    """
    anno, truth = {}, []
    for i, side in enumerate(sides):
        right = right_hand_xyz(centre=(0.01, 0.0, 0.40), jitter=0.002, seed=i)
        main = right if side == "right" else mirror_xyz(right)
        other = right_hand_xyz(centre=(0.0, 0.0, 2.0), seed=99) * np.array([0.3, 0.3, 1.0])  # tiny far hand
        other = other if side == "left" else mirror_xyz(other)
        left_xyz, right_xyz = (other, main) if side == "right" else (main, other)
        xyz42 = canonical_to_rhd(left_xyz, right_xyz)
        uv42 = project(xyz42, RHD_K)
        vis42 = np.ones(42)
        vis42[21 * (side == "right") + 3] = 0  # one hidden joint of the main hand (RHD row 3 = thumb MCP)
        anno[i] = {
            "xyz": xyz42.astype(np.float32),
            "uv_vis": np.concatenate([uv42, vis42[:, None]], 1).astype(np.float32),
            "K": RHD_K.astype(np.float32),
        }
        img, depth, hand = render(project(main, RHD_K), main[:, 2], RHD_SIZE, RHD_SIZE, 3.0, 3.0, seed=i)
        mask = np.where(hand, 20 if side == "right" else 5, 1).astype(np.uint8)  # 1 = person/background
        mask[0:2, 0:2] = 5 if side == "right" else 20  # a few pixels of the other hand
        save_png(root / sub / "color" / f"{i:05d}.png", img)
        save_png(root / sub / "mask" / f"{i:05d}.png", mask)
        save_png(root / sub / "depth" / f"{i:05d}.png", encode_rhd_depth(depth))
        truth.append({"side": side, "xyz": main, "right_twin": right, "hand": hand, "depth": depth})
    with open(root / sub / f"anno_{sub}.pickle", "wb") as f:
        pickle.dump(anno, f, protocol=2)  # RHD was written by Python 2
    return truth


@pytest.fixture
def rhd_root(tmp_path):
    root = tmp_path / "RHD_published_v2"
    truth = make_rhd(root)
    return root, truth


# --- STB -----------------------------------------------------------------------------------------------------------
def rodrigues_np(r) -> np.ndarray:
    """Independent Rodrigues via the matrix exponential (tests compare the reader against it)."""
    from scipy.linalg import expm

    r = np.asarray(r, np.float64)
    Kx = np.array([[0, -r[2], r[1]], [r[2], 0, -r[0]], [-r[1], r[0], 0]])
    return expm(Kx)


def make_stb(
    root: Path,
    seqs=("B1Counting", "B2Random"),
    n: int = 2,
    size=(80, 60),
    intrinsics: dict | None = None,
    published: bool = False,
) -> dict:
    """Write ``labels/{seq}_SK.mat`` (handPara (3, 21, n), mm, depth frame) and ``{seq}/SK_{color,depth}_{i}.png``.

    Left hands (mirrors of :func:`right_hand_xyz`). The depth PNG is rendered in the depth camera's own pixel
    grid (``K_depth``). Without ``published``, small images and an ``intrinsics.json`` are written.
    """
    W, H = (640, 480) if published else size
    if published:
        K_c = np.array([[607.92271, 0, 314.78337], [0, 607.88192, 236.42484], [0, 0, 1]])
        K_d = np.array([[475.62768, 0, 336.41179], [0, 474.77709, 238.77962], [0, 0, 1]])
        rvec, t_mm = np.array([0.00531, -0.01196, 0.00301]), np.array([-24.0381, -0.4563, -1.2326])
    else:
        s = W / 640.0
        K_c = np.array([[607.9 * s, 0, 314.8 * s], [0, 607.9 * s, 236.4 * s], [0, 0, 1]])
        K_d = np.array([[475.6 * s, 0, 336.4 * s], [0, 474.8 * s, 238.8 * s], [0, 0, 1]])
        rvec, t_mm = np.array([0.02, -0.03, 0.01]), np.array([-24.0, -0.5, -1.2])
        intrinsics = intrinsics or {"width": W, "height": H, "color_K": K_c.tolist(), "depth_K": K_d.tolist(),
                                    "rvec_depth_from_color": rvec.tolist(), "t_depth_from_color_mm": t_mm.tolist(),
                                    "depth_png_registered_to_color": False}
        root.mkdir(parents=True, exist_ok=True)
        (root / "intrinsics.json").write_text(json.dumps(intrinsics))
    R = rodrigues_np(rvec)
    truth = {"K_color": K_c, "xyz": {}}
    for q, seq in enumerate(seqs):
        para = np.zeros((3, 21, n))
        for i in range(n):
            left_c = mirror_xyz(right_hand_xyz(centre=(0.02, 0.01, 0.45), jitter=0.002, seed=10 * q + i))
            xyz_d = left_c @ R.T + t_mm / 1000.0  # X_depth = R X_colour + t
            para[:, :, i] = (canonical_to_stb(xyz_d) * 1000.0).T
            uv_d = project(xyz_d, K_d)
            _, depth_d, _ = render(uv_d, xyz_d[:, 2], H, W, 0.012 * K_d[0, 0] / 0.45, 0.0, seed=i)
            img, _, _ = render(project(left_c, K_c), left_c[:, 2], H, W, 3.0, 0.0, seed=i)
            save_png(root / seq / f"SK_color_{i}.png", img)
            save_png(root / seq / f"SK_depth_{i}.png", encode_stb_depth(depth_d))
            truth["xyz"][(seq, i)] = left_c
        (root / "labels").mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(root / "labels" / f"{seq}_SK.mat", {"handPara": para})
    return truth


@pytest.fixture
def stb_root(tmp_path):
    root = tmp_path / "STB"
    return root, make_stb(root)


# --- FreiHAND ------------------------------------------------------------------------------------------------------
def make_freihand(root: Path, n: int = 2, size: int = 48) -> list[np.ndarray]:
    """``training_K.json``, ``training_xyz.json`` (FreiHAND order = canonical, m), ``training/rgb/%08d.jpg`` × 4."""
    K = np.array([[120.0, 0, 23.5], [0, 121.0, 24.0], [0, 0, 1]])
    xyz = [right_hand_xyz(centre=(0.0, 0.0, 0.6), jitter=0.002, seed=i) for i in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    (root / "training_K.json").write_text(json.dumps([K.tolist()] * n))
    (root / "training_xyz.json").write_text(json.dumps([x.tolist() for x in xyz]))
    for v in range(4):
        for i, x in enumerate(xyz):
            img, _, _ = render(project(x, K), x[:, 2], size, size, 2.0, 0.0, seed=v)
            p = root / "training" / "rgb" / f"{i + v * n:08d}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(p, quality=95)
    return xyz


# --- MPD -----------------------------------------------------------------------------------------------------------
def make_mpd(root: Path, frames: int = 2, size=(96, 72)) -> dict:
    """``annotated_frames/data_1/{f}_webcam_{c}.jpg`` + ``{f}_joints.txt`` (22 Leap rows, mm) and
    ``calibrations/data_1/webcam_{c}/{rvec,tvec}.pkl`` plus ``intrinsics.json``; 2 webcams."""
    W, H = size
    K = np.array([[100.0, 0, 47.5], [0, 100.0, 35.5], [0, 0, 1]])
    cams = {1: (np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 400.0])),
            2: (np.array([0.0, 0.3, 0.0]), np.array([20.0, 0.0, 420.0]))}
    seq = root / "annotated_frames" / "data_1"
    seq.mkdir(parents=True, exist_ok=True)
    (root / "intrinsics.json").write_text(json.dumps({"K": K.tolist(), "width": W, "height": H}))
    for c, (rvec, tvec) in cams.items():
        d = root / "calibrations" / "data_1" / f"webcam_{c}"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "rvec.pkl", "wb") as f:
            pickle.dump(rvec, f, protocol=2)
        with open(d / "tvec.pkl", "wb") as f:
            pickle.dump(tvec, f, protocol=2)
    truth = {"K": K, "cams": cams, "leap_mm": {}}
    for f in range(frames):
        leap_mm = right_hand_xyz(centre=(0.0, 0.0, 0.0), jitter=0.002, seed=f) * 1000.0
        rows = canonical_to_mpd(leap_mm)
        (seq / f"{f}_joints.txt").write_text("".join(f"{x:.4f} {y:.4f} {z:.4f}\n" for x, y, z in rows))
        truth["leap_mm"][f] = leap_mm
        for c, (rvec, tvec) in cams.items():
            X = leap_mm @ rodrigues_np(rvec).T + tvec
            img, _, _ = render(project(X, K), X[:, 2], H, W, 2.0, 0.0, seed=c)
            Image.fromarray(img).save(seq / f"{f}_webcam_{c}.jpg", quality=95)
    return truth
