"""The real-hands report: checkpoints beside the constant mean hand and MediaPipe on ``../shared/realdev``.

Every method is given the same crop: the square the network was trained with around the reference box (the tight
box of the labelled reference joints; :func:`~awhourglass.data.crop.box_square` with the checkpoint's margin and
minimum side). The constant mean hand and MediaPipe use the first checkpoint's square. Scored per set by
:func:`awhourglass.eval.realscore.summarize`:

- a checkpoint: :func:`~awhourglass.eval.cropnet.predict_crops` (batched); where the set does not state the side, both
  mirrorings run and the more confident is kept (never chosen by the reference);
- the constant mean hand: the mean of the set's other hands' reference joints in crop-normalized coordinates
  (``(uv − crop centre) / crop side``; leave-one-out, for the video: every other frame scored), put in this hand's
  crop;
- MediaPipe: its landmark network on the same square at 224² (:mod:`awhourglass.eval.mediapipe_landmarks`), or
  "not installed".

Beside the scores, ``per_joint`` holds each method's mean error per joint and its mean signed offset in the
reference hand's own axes (:func:`~awhourglass.eval.realscore.per_joint`): a bias such as MCPs drawn towards the
wrist shows there, where an error norm hides its direction. ``per_hand`` holds each method's error per hand (% of
its box, in the order of ``sources``), so that the hands a network fails on can be found and opened: the markdown
names each method's hardest :data:`HARDEST_SHOWN`. ``mirror_image`` holds, per method, the share of hands it draws as
their mirror image (:func:`~awhourglass.eval.realscore.mirrored_hands`: palm read as back) and its error on those
hands and on the rest: one kind of failure that costs a whole hand.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from awhourglass import geometry
from awhourglass.atomic import atomic_open, atomic_write_text
from awhourglass.checkpoint import crop_entry, load_checkpoint
from awhourglass.data.crop import box_square, crop_rgb
from awhourglass.drawing import draw_skeleton_rgb
from awhourglass.eval.cropnet import SquareCrop, crop_square, model_network, predict_crops
from awhourglass.eval.mediapipe_landmarks import MP_INPUT_PX, MediaPipeLandmarks
from awhourglass.eval.realhands import SET_NAMES, RealDevError, iter_set, reference_box
from awhourglass.eval.realscore import (
    crop_normalized,
    hand_errors,
    leave_one_out_mean,
    mirrored_hands,
    per_joint,
    summarize,
)
from awhourglass.models.load import network_from_dict
from awhourglass.skeleton import JOINT_NAMES

REPORT_FORMAT = "awhourglass-realhands/1"
CONSTANT = "constant mean hand (leave-one-out)"
MEDIAPIPE = "MediaPipe landmarks (same crop)"
DISPLAY_PX = 256  # overlay panels
OFFSETS_SHOWN = 4  # joints per method in the markdown's offsets line (all 21 are in the JSON)
HARDEST_SHOWN = 3  # hands per method in the markdown's hardest-hands line (all are in the JSON's per_hand)
COLUMNS = (("mean_pct_box", "mean % box"), ("median_pct_box", "median % box"), ("pck10_pct", "PCK@10 %"),
           ("pck20_pct", "PCK@20 %"), ("mean_px", "mean px"))


@dataclass
class CheckpointModel:
    """A loaded checkpoint as the reports run it: its :data:`~awhourglass.eval.cropnet.Network` and training crop."""

    name: str
    network: Any
    input_size: int
    crop_margin: float
    min_crop_px: float


@dataclass
class RealHandsReport:
    """Per set: ``rows`` (method → scores of :func:`summarize`, or a one-line reason string), ``notes`` and the
    overlay PNGs written; ``mediapipe``: its version/model or why it did not run."""

    realdev: str
    every: int
    checkpoints: dict[str, str]
    mediapipe: str
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: dict[str, Any] | None = None
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": REPORT_FORMAT, "realdev": self.realdev, "every": self.every,
                "checkpoints": self.checkpoints, "mediapipe": self.mediapipe, "sets": self.sets,
                "search": self.search, "missing": self.missing}

    def markdown(self) -> str:
        """One table per set (plus the search line), as in ``realhands.md``."""
        lines = [f"# Real hands ({self.realdev}, every {self.every}. frame of the video)", ""]
        for name, s in self.sets.items():
            lines += [f"## {name} ({s['hands']} hands)", "", *table_lines(s["rows"]), ""]
            lines += [f"- {n}" for n in s["notes"]]
            lines += [f"- {offsets_line(method, pj)}" for method, pj in s["per_joint"].items()]
            lines += [f"- {hardest_line(method, e, s['sources'])}" for method, e in s["per_hand"].items()]
            lines += [f"- {mirrored_line(method, m)}" for method, m in s["mirror_image"].items()] + [""]
        if self.missing:
            lines += [f"- not in {self.realdev}: {', '.join(self.missing)}", ""]
        if self.search is not None:
            lines += ["## The search without a box (asl_video)", "", f"- {search_line(self.search)}", ""]
        return "\n".join(lines)


def table_lines(rows: Mapping[str, dict[str, float] | str]) -> list[str]:
    """The markdown table of one set's rows (method → scores, or a one-line reason)."""
    lines = ["| method | " + " | ".join(c for _, c in COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for method, row in rows.items():
        cells = [f"{row[k]:.1f}" for k, _ in COLUMNS] if isinstance(row, dict) else [row] + [""] * (len(COLUMNS) - 1)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def offsets_line(method: str, joints: dict[str, list[float | None]], top: int = OFFSETS_SHOWN) -> str:
    """The joints with the largest mean offset (:func:`~awhourglass.eval.realscore.per_joint`), as one line."""
    cells = [(math.hypot(a, c), name, a, c) for name, a, c in
             zip(JOINT_NAMES, joints["along_pct_box"], joints["across_pct_box"], strict=True)
             if a is not None and c is not None]
    shown = ", ".join(f"{name} {a:+.1f}/{c:+.1f}" for _, name, a, c in sorted(cells, reverse=True)[:top])
    return (f"{method}: largest mean offsets (% of box, along wrist→middle MCP / across towards the index MCP): "
            + (shown or "none (no hand has its wrist and MCPs labelled)"))


def hardest_line(method: str, per_hand: list[float], sources: list[str], top: int = HARDEST_SHOWN) -> str:
    """The ``top`` hands with the largest error (% of the box), as one line: ``source error`` pairs, worst first."""
    order = sorted(range(len(per_hand)), key=lambda i: per_hand[i], reverse=True)[:top]
    return f"{method}: hardest hands (% of box): " + ", ".join(f"{sources[i]} {per_hand[i]:.1f}" for i in order)


def mirrored_split(per_hand: np.ndarray, mirrored: np.ndarray) -> dict[str, float | int | None]:
    """Of the hands whose handedness is known (``mirrored`` 0 or 1, not NaN): how many, the % drawn mirrored, and the
    mean error (% of box) over the mirrored and over the other hands (None where there are none)."""
    known = np.isfinite(mirrored)
    flip, keep = known & (mirrored == 1), known & (mirrored == 0)

    def mean(sel: np.ndarray) -> float | None:
        return float(np.mean(per_hand[sel])) if sel.any() else None

    return {"hands": int(known.sum()), "pct": float(100.0 * flip.sum() / known.sum()) if known.any() else None,
            "error_mirrored_pct_box": mean(flip), "error_rest_pct_box": mean(keep)}


def mirrored_line(method: str, m: dict[str, Any]) -> str:
    """One line of :func:`mirrored_split`'s figures."""
    if not m["hands"]:
        return f"{method}: mirrored hands: none has its wrist, index and little MCP labelled"

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.1f}"

    return (f"{method}: drawn as the mirror image (palm read as back) in {m['pct']:.1f} % of {m['hands']} hands; "
            f"error there {f(m['error_mirrored_pct_box'])}, elsewhere {f(m['error_rest_pct_box'])} % of box")


def search_line(search: dict[str, Any]) -> str:
    """One line of the search's IoU figures."""
    if "error" in search:
        return f"search: {search['error']}"
    return (f"{search['checkpoint']}: found box vs reference box over {search['frames']} frames: median IoU "
            f"{search['median_iou']:.3f}, mean {search['mean_iou']:.3f}, IoU >= 0.5 in {search['pct_iou_ge_50']:.1f} %")


def load_models(checkpoints: Mapping[str, str | os.PathLike[str]], device: str) -> list[CheckpointModel]:
    """Load each checkpoint (display name → path) with the crop it was trained with for the real domain."""
    out = []
    for name, path in checkpoints.items():
        ckpt = load_checkpoint(path)
        crop_margin, min_crop_px = crop_entry(ckpt, path, "target")  # real photographs: the real domain's crop
        model = network_from_dict(ckpt, path).to(device).eval()
        out.append(CheckpointModel(name, model_network(model), model.cfg.input_size, crop_margin, min_crop_px))
    return out


def crop_u8(rgb: np.ndarray, A: np.ndarray, size: int) -> np.ndarray:
    """The crop ``A`` (frame → crop pixels) of ``rgb`` as ``(size, size, 3)`` uint8, as MediaPipe takes it."""
    return (crop_rgb(rgb, A, size).permute(1, 2, 0) * 255.0).round().byte().numpy()


def landmarks_in_frame(landmarks: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray, A: np.ndarray,
                       size: int = MP_INPUT_PX) -> np.ndarray:
    """Run a landmark network (crop ``(size, size, 3)`` uint8 → ``(21, 2)`` crop pixels) on the crop ``A`` of ``rgb``;
    its joints ``(21, 2)`` back in frame pixels."""
    return geometry.apply_affine(np.linalg.inv(A), np.asarray(landmarks(crop_u8(rgb, A, size)), np.float64))


def score_set(root: str | os.PathLike, set_name: str, models: list[CheckpointModel],
              mediapipe: MediaPipeLandmarks | str, every: int = 1, overlay_dir: str | os.PathLike | None = None,
              overlays: int = 3) -> dict[str, Any]:
    """Score one set (module docstring): ``{"hands", "rows", "per_joint", "per_hand", "mirror_image", "notes",
    "overlays", "sources"}``."""
    refs, labs, centres, sides, sources = [], [], [], [], []
    crops: dict[str, list[SquareCrop]] = {m.name: [] for m in models}
    mp_uv: list[np.ndarray] = []
    displays: list[tuple[np.ndarray, np.ndarray]] = []
    unknown = 0
    for hand in iter_set(root, set_name, every):
        H, W = hand.rgb.shape[:2]
        box = reference_box(hand.uv_px, hand.labelled)
        squares = [box_square(box, W, H, m.crop_margin, m.min_crop_px) for m in models]
        for m, (c, s) in zip(models, squares, strict=True):
            crops[m.name].append(crop_square(hand.rgb, c, s, m.input_size, hand.side))
        c0, s0 = squares[0]
        if not isinstance(mediapipe, str):
            A = geometry.crop_affine(c0, s0, MP_INPUT_PX)
            mp_uv.append(landmarks_in_frame(mediapipe, hand.rgb, A))
        if overlay_dir is not None:
            A = geometry.crop_affine(c0, s0, DISPLAY_PX)
            displays.append((crop_u8(hand.rgb, A, DISPLAY_PX), A))
        unknown += hand.side == "unknown"
        refs.append(hand.uv_px)
        labs.append(hand.labelled)
        centres.append(c0)
        sides.append(s0)
        sources.append(hand.source)
    if not refs:
        raise ValueError(f"realdev set {set_name} has no hands")
    # the networks run once the frames are cropped: batches instead of one crop at a time
    done = {m.name: predict_crops(crops.pop(m.name), m.network) for m in models}
    preds = {k: [p.uv_px for p in v] for k, v in done.items()}
    mirrored = {k: sum(p.mirrored for p in v) for k, v in done.items()}
    ref, lab = np.stack(refs), np.stack(labs)
    centre, side = np.stack(centres), np.asarray(sides)
    const = centre[:, None] + side[:, None, None] * leave_one_out_mean(crop_normalized(ref, centre, side), lab)
    methods: dict[str, np.ndarray | str] = {m.name: np.stack(preds[m.name]) for m in models}
    methods[CONSTANT] = const
    methods[MEDIAPIPE] = np.stack(mp_uv) if mp_uv else f"not run: {mediapipe}"
    rows = {k: (v if isinstance(v, str) else summarize(v, ref, lab)) for k, v in methods.items()}
    joints = {k: per_joint(v, ref, lab) for k, v in methods.items() if not isinstance(v, str)}
    per_hand = {k: [round(float(e), 3) for e in hand_errors(v, ref, lab)[0]]
                for k, v in methods.items() if not isinstance(v, str)}
    mirror_image = {k: mirrored_split(np.asarray(per_hand[k]), mirrored_hands(v, ref, lab))
                    for k, v in methods.items() if not isinstance(v, str)}
    n = len(ref)
    notes = [f"side stated for {n - unknown} of {n} hands" + (
        "; where not, each checkpoint ran on the crop and on its mirror and kept the more confident (" +
        ", ".join(f"{m.name}: mirrored in {mirrored[m.name]} of {unknown}" for m in models) + ")"
        if unknown else "; left hands mirrored in for the right-handed network")]
    written = []
    if overlay_dir is not None:
        for i in sorted({round(x) for x in np.linspace(0, n - 1, min(overlays, n))}):
            drawn = {"reference": ref[i], **{k: v[i] for k, v in methods.items() if not isinstance(v, str)}}
            written.append(str(_overlay(Path(overlay_dir) / f"{set_name}_{i:03d}.png", displays[i], drawn)))
    return {"hands": n, "rows": rows, "per_joint": joints, "per_hand": per_hand, "mirror_image": mirror_image,
            "notes": notes, "overlays": written, "sources": sources}


def _overlay(path: Path, display: tuple[np.ndarray, np.ndarray], skeletons: dict[str, np.ndarray]) -> Path:
    """Side-by-side panels of the crop: one skeleton each (labelled by its method)."""
    from PIL import Image

    crop, A = display
    short = {CONSTANT: "constant", MEDIAPIPE: "mediapipe"}
    panels = [draw_skeleton_rgb(crop, geometry.apply_affine(A, uv), label=short.get(k, k)[:40])
              for k, uv in skeletons.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb", fsync=False) as fh:
        Image.fromarray(np.concatenate(panels, 1)).save(fh, format="PNG")
    return path


def realhands_report(checkpoints: Mapping[str, str | os.PathLike[str]], realdev_dir: str | os.PathLike, every: int = 1,
                     out_dir: str | os.PathLike | None = None, mediapipe: bool = True, overlays: int = 3,
                     sets: tuple[str, ...] = SET_NAMES, device: str = "cpu") -> RealHandsReport:
    """Score ``checkpoints`` (display name → path) on the realdev sets beside the constant hand and MediaPipe (each
    run once). ``out_dir``: overlay PNGs go to ``out_dir/overlays`` (nothing else is written; see
    :func:`write_realhands`). ``every``: every K-th video frame."""
    if not checkpoints:
        raise ValueError("realhands_report needs at least one checkpoint")
    models = load_models(checkpoints, device)
    mp = MediaPipeLandmarks.open() if mediapipe else "switched off"
    try:
        report = RealHandsReport(str(realdev_dir), int(every), {k: str(v) for k, v in checkpoints.items()},
                                 mp if isinstance(mp, str) else f"mediapipe {mp.version} {mp.model}")
        overlay_dir = None if out_dir is None else Path(out_dir) / "overlays"
        present = [n for n in sets if (Path(realdev_dir) / n).is_dir()]
        if not present:
            raise RealDevError(f"{realdev_dir}: none of the real-hands sets {', '.join(sets)} is there")
        report.missing = [n for n in sets if n not in present]
        for name in present:
            report.sets[name] = score_set(realdev_dir, name, models, mp, every, overlay_dir, overlays)
    finally:
        if not isinstance(mp, str):
            mp.close()
    return report


def write_realhands(report: RealHandsReport, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``realhands.json`` and ``realhands.md`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "realhands.json", out / "realhands.md"
    atomic_write_text(js, json.dumps(report.to_dict(), indent=1) + "\n")
    atomic_write_text(md, report.markdown())
    return js, md
