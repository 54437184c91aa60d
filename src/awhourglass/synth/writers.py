"""Write generated batches to disk in the original file formats of RHD (source) and STB (target).

RHD layout under ``root`` (the ``RHD_published_v2`` folder)::

    {training,evaluation}/{color,mask,depth}/%05d.png
    {training,evaluation}/anno_{training,evaluation}.pickle

STB layout under ``root``::

    B1Counting/SK_color_{i}.png, B1Counting/SK_depth_{i}.png, … (one folder per sequence)
    labels/B1Counting_SK.mat (key handPara, (3, 21, N) mm, STB joint order, SK depth-camera frame)
    intrinsics.json (only when the images are not 640×480)

Every file is written to a temporary name and renamed (``os.replace``), so an interrupted run leaves
no half-written file; annotation files are written once, after all images of their split/sequence.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from awhourglass.atomic import atomic_write_bytes
from awhourglass.formats.rhd import encode_rhd_depth
from awhourglass.formats.stb import (
    SK_COLOR_FXFYCXCY,
    SK_DEPTH_FXFYCXCY,
    SK_RVEC,
    SK_T_MM,
    STB_SIZE,
    encode_stb_depth,
    sk_extrinsics,
)
from awhourglass.skeleton import canonical_to_rhd, canonical_to_stb, mirror_xyz
from awhourglass.synth.domains import scaled_intrinsics

OTHER_HAND_OFFSET_M = np.array([2.0, 0.0, 0.0])  # where the non-rendered RHD hand is put (far out of view)


def _png(array: np.ndarray) -> bytes:
    # zlib level 1: three times faster than the default 6 for ~15 % larger files.
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# --- RHD
def rhd_record(xyz_m: np.ndarray, vis: np.ndarray, K: np.ndarray, side: int) -> dict[str, np.ndarray]:
    """One RHD annotation ``{'xyz' (42, 3), 'uv_vis' (42, 3), 'K' (3, 3)}`` (float32) from one rendered hand.

    The hand that was not rendered gets the rendered hand's mirror image shifted OTHER_HAND_OFFSET_M
    along x: far outside the image, all joints invisible.
    """
    other = mirror_xyz(xyz_m) + OTHER_HAND_OFFSET_M
    left, right = (xyz_m, other) if side == 0 else (other, xyz_m)
    vis_l, vis_r = (vis, np.zeros(21, bool)) if side == 0 else (np.zeros(21, bool), vis)
    xyz42 = canonical_to_rhd(left.astype(np.float64), right.astype(np.float64))
    vis42 = canonical_to_rhd(vis_l[:, None].astype(np.float64), vis_r[:, None].astype(np.float64))
    uv = xyz42[:, :2] / xyz42[:, 2:] * np.diag(K)[:2] + K[:2, 2]
    return {
        "xyz": xyz42.astype(np.float32),
        "uv_vis": np.concatenate([uv, vis42], axis=1).astype(np.float32),
        "K": K.astype(np.float32),
    }


def write_rhd_images(root: Path, split: str, start: int, batch: dict[str, np.ndarray]) -> list[dict]:
    """Write colour, mask and depth PNGs of a batch as frames ``start …``; return their annotation records."""
    records = []
    for i in range(batch["rgb"].shape[0]):
        name = f"{start + i:05d}.png"
        atomic_write_bytes(root / split / "color" / name, _png(batch["rgb"][i]), fsync=False)
        atomic_write_bytes(root / split / "mask" / name, _png(batch["mask"][i]), fsync=False)
        atomic_write_bytes(root / split / "depth" / name, _png(encode_rhd_depth(batch["depth_m"][i])), fsync=False)
        records.append(rhd_record(batch["xyz_m"][i], batch["vis"][i], batch["K"][i], int(batch["side"][i])))
    return records


def prepare_rhd(root: Path, split: str) -> None:
    """Create the split's colour/mask/depth folders."""
    for sub in ("color", "mask", "depth"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)


def write_rhd_annotations(root: Path, split: str, records: list[dict]) -> Path:
    """Atomically write ``{split}/anno_{split}.pickle`` = ``{frame_id: record}``."""
    path = root / split / f"anno_{split}.pickle"
    atomic_write_bytes(path, pickle.dumps(dict(enumerate(records)), protocol=2))
    return path


# --- STB
STB_SEQUENCES = {
    "training": tuple(f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random")),
    "evaluation": ("B1Counting", "B1Random"),
}


def write_stb_images(root: Path, seq: str, start: int, batch: dict[str, np.ndarray]) -> None:
    """Write ``SK_color_{i}.png`` and ``SK_depth_{i}.png`` of a batch.

    The depth PNG is ``sensor_depth_m`` when the batch has it (the SK depth camera's own image, as in
    STB), else ``depth_m`` (registered to the colour image; say so in ``intrinsics.json``).
    """
    depth = batch["sensor_depth_m"] if "sensor_depth_m" in batch else batch["depth_m"]
    for i in range(batch["rgb"].shape[0]):
        atomic_write_bytes(root / seq / f"SK_color_{start + i}.png", _png(batch["rgb"][i]), fsync=False)
        atomic_write_bytes(root / seq / f"SK_depth_{start + i}.png", _png(encode_stb_depth(depth[i])), fsync=False)


def stb_hand_para(xyz_colour_m: np.ndarray) -> np.ndarray:
    """Canonical left hands ``(N, 21, 3)`` m, colour frame → ``handPara (3, 21, N)`` mm, STB order, depth frame."""
    rot, t_m = sk_extrinsics()
    stb = canonical_to_stb(np.asarray(xyz_colour_m, dtype=np.float64))
    depth_frame = stb @ rot.T + t_m
    return np.ascontiguousarray((depth_frame * 1000.0).transpose(2, 1, 0))


def _fixed_mat_header(data: bytes) -> bytes:
    # savemat stamps the creation time into the 116-byte text header; a fixed text keeps runs byte-identical.
    text = b"MATLAB 5.0 MAT-file, written by awhourglass.synth"
    return text.ljust(116, b" ") + data[116:]


def write_stb_labels(root: Path, seq: str, xyz_colour_m: np.ndarray) -> Path:
    """Atomically write ``labels/{seq}_SK.mat`` with ``handPara (3, 21, N)`` in mm."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"handPara": stb_hand_para(xyz_colour_m)}, do_compression=False)
    path = root / "labels" / f"{seq}_SK.mat"
    atomic_write_bytes(path, _fixed_mat_header(buf.getvalue()))
    return path


def write_stb_intrinsics(root: Path, width: int, height: int) -> Path | None:
    """Write ``intrinsics.json`` when the images are not STB's 640×480 (else nothing; returns the path or None).

    The STB SK intrinsics scaled by ``width/640`` (pixel centres at integers), STB's unchanged
    extrinsics, and ``depth_png_registered_to_color: true``: at these sizes the depth PNGs are
    rendered in the colour camera (at 640×480 they are the depth camera's own images, as in STB).
    """
    if (width, height) == STB_SIZE:
        return None
    scale = width / STB_SIZE[0]
    info = {
        "width": width,
        "height": height,
        "color_K": scaled_intrinsics(SK_COLOR_FXFYCXCY, scale).tolist(),
        "depth_K": scaled_intrinsics(SK_DEPTH_FXFYCXCY, scale).tolist(),
        "rvec_depth_from_color": list(SK_RVEC),
        "t_depth_from_color_mm": list(SK_T_MM),
        "depth_png_registered_to_color": True,
        "note": "awh synth: STB SK intrinsics scaled by width/640; handPara in the SK depth camera frame "
        "(X_depth = R X_color + t, mm); SK_depth PNGs rendered in the colour camera (registered).",
    }
    path = root / "intrinsics.json"
    atomic_write_bytes(path, (json.dumps(info, indent=2) + "\n").encode())
    return path
