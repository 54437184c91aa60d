"""Write a still test clip for `awh predict VIDEO`: one generated hand frame, fresh pixel noise in every frame.

    python scripts/still_clip.py still.mp4 [--size 128] [--frames 60] [--fps 30] [--noise 8] [--seed 5] [--speed 0]

The hand never moves, so every frame-to-frame displacement of the predicted joints is jitter (docs/video.md).
``--speed V`` instead slides the frame sideways by V px a frame (wrapping around; at the middle frame it is where
it was generated), for the filter's lag. Also writes ``still.mp4.uv.npy``: the true 2D joints ``(21, 2)`` of the
generated (unshifted) frame, in pixels.
"""

from __future__ import annotations

import argparse

import av
import numpy as np

from awhourglass.synth.generate import generate_batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--size", type=int, default=128, help="frame side, pixels (the source domain is square)")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--noise", type=float, default=8.0, help="std of the per-frame Gaussian pixel noise (0-255)")
    p.add_argument("--seed", type=int, default=5, help="seed of the generated hand")
    p.add_argument("--speed", type=int, default=0, help="slide the frame right by this many px a frame")
    a = p.parse_args()
    b = generate_batch(1, "source", a.seed, size=a.size)
    rgb = b["rgb"][0].astype(np.float64)
    rng = np.random.default_rng(a.seed)
    with av.open(a.out, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=a.fps)
        s.width, s.height, s.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
        s.options = {"crf": "12"}  # near-lossless: the noise is the clip's, not the encoder's
        for k in range(a.frames):
            moved = np.roll(rgb, (k - a.frames // 2) * a.speed, axis=1)
            frame = np.clip(moved + rng.normal(0.0, a.noise, rgb.shape), 0, 255).astype(np.uint8)
            for packet in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    np.save(f"{a.out}.uv.npy", b["uv_px"][0])
    print(f"wrote {a.out}: {a.frames} frames {rgb.shape[1]}x{rgb.shape[0]} at {a.fps} fps (hand seed {a.seed})")


if __name__ == "__main__":
    main()
