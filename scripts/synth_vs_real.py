"""Make docs/results/synth-vs-real.png: rows of source renders, target renders (gap 0.5) and real hand photos.

Run from the repository root: ``python scripts/synth_vs_real.py``. It reads the real photos from
``../shared/realdev`` (onehand10k/*.jpg with their JSON boxes, frames of the ASL video decoded with PyAV).
Every tile uses the same crop rule: a square around the joints, 1.5 × their bounding box's longer side, at 128 px.
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from awhourglass.synth.generate import generate_batch

REAL = Path("../shared/realdev")
TILE, N, MARGIN = 128, 6, 1.5


def crop(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    lo, hi = uv.min(0), uv.max(0)
    c, side = (lo + hi) / 2, MARGIN * (hi - lo).max()
    box = (c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2)
    return np.asarray(Image.fromarray(img).crop(tuple(round(b) for b in box)).resize((TILE, TILE), Image.BILINEAR))


def synth_row(domain: str) -> list[np.ndarray]:
    b = generate_batch(N, domain, 7, 256, gap=0.5)
    return [crop(b["rgb"][i], b["uv_px"][i][b["vis"][i]] if b["vis"][i].sum() > 3 else b["uv_px"][i])
            for i in range(N)]


def real_row() -> list[np.ndarray]:
    print(f"reading real photos from {REAL.resolve()}", file=sys.stderr)
    out = []
    anno = json.loads((REAL / "onehand10k" / "test_onehand10k.json").read_text())
    files = {im["id"]: im["file_name"] for im in anno["images"]}
    for a in anno["annotations"][:3]:
        kp = np.array(a["keypoints"], float).reshape(21, 3)
        img = np.asarray(Image.open(REAL / "onehand10k" / files[a["image_id"]]).convert("RGB"))
        out.append(crop(img, kp[kp[:, 2] > 0, :2]))
    import av

    kps = json.loads((REAL / "asl_video" / "asl_hand.full.json").read_text())
    want = {40, 160, 280}
    with av.open(str(REAL / "asl_video" / "asl_hand.25fps.mp4")) as box:
        for k, frame in enumerate(box.decode(video=0)):
            if k in want:
                out.append(crop(frame.to_ndarray(format="rgb24"), np.array(kps[k])[:, :2]))
    return out[:N]


def main() -> None:
    rows = [synth_row("source"), synth_row("target"), real_row()]
    grid = np.full((len(rows) * (TILE + 4), N * (TILE + 4), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            grid[r * (TILE + 4) : r * (TILE + 4) + TILE, c * (TILE + 4) : c * (TILE + 4) + TILE] = tile
    out = Path("docs/results/synth-vs-real.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out)
    print(f"wrote {out} (rows: source, target gap 0.5, real)")


if __name__ == "__main__":
    main()
