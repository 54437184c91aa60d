"""Evaluate a checkpoint over a dataset (``awh eval``): run the network, score by the paper's protocol, draw figures.

Flow: samples (any indexable of :class:`~awhourglass.data.sample.Sample`, e.g. a dataset reader) →
:func:`run_model` (batched inference → :class:`ModelOutputs`: 2.5D joints, features, a few heatmaps) →
:func:`score_outputs` (:func:`awhourglass.eval.protocol.evaluate_25d`: GT scale + root depth, palm-relative
3D EPE, PCK/AUC, 2D EPE in crop pixels) → :func:`write_eval_outputs` (``results.json``, ``predictions.json`` +
``groundtruth.json`` in the documented format so the numbers can be re-scored with ``awh eval --pred``,
PCK curve, t-SNE of source vs target features, heatmaps, skeletons).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from awhourglass.checkpoint import crop_entry, load_checkpoint
from awhourglass.data.config import READERS, DatasetConfig
from awhourglass.data.loader import build_dataset
from awhourglass.data.sample import SOURCE, Sample, collate
from awhourglass.errors import AwhError
from awhourglass.eval import plots
from awhourglass.eval.predictions import score_prediction_file, write_ground_truth, write_predictions
from awhourglass.eval.protocol import evaluate_25d, lift_with_gt_scale_and_root
from awhourglass.eval.results import EvalResult, write_results_json
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.skeleton import DEFAULT_SCALE_BONE, PALM_CENTRE_JOINTS, palm_centre


@dataclass
class ModelOutputs:
    """Network outputs and labels over a dataset, in sample order (N samples).

    Attributes:
        ids: unique sample ids. uv_px: ``(N, 21, 2)`` predicted crop pixels. z_norm: ``(N, 21)``.
        K: ``(N, 3, 3)`` crop intrinsics. gt_xyz_m: ``(N, 21, 3)`` (NaN rows without 3D), gt_uv_px, vis.
        features: ``(N, D)`` flattened last-stack features (for t-SNE) or ``None``.
        confidence: ``(N,)`` mean heatmap concentration (see :func:`awhourglass.models.head.heatmap_confidence`).
        images, heatmaps: the first ``keep`` samples' crops ``(k, 3, S, S)`` and last-stack heatmaps.
        groups: each sample's group (:attr:`~awhourglass.data.sample.Sample.group`, ``""`` for most datasets).
    """

    ids: list[str]
    uv_px: np.ndarray
    z_norm: np.ndarray
    K: np.ndarray
    gt_xyz_m: np.ndarray
    gt_uv_px: np.ndarray
    vis: np.ndarray
    confidence: np.ndarray
    features: np.ndarray | None = None
    images: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 1, 1)))
    heatmaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 21, 1, 1)))
    groups: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def group_list(self) -> list[str]:
        """:attr:`groups`, or all ``""`` for outputs built without them."""
        return list(self.groups) if len(self.groups) == len(self) else [""] * len(self)

    def select(self, rows: Sequence[int]) -> ModelOutputs:
        """The outputs of ``rows`` (increasing sample indices); the kept crops and heatmaps follow their rows."""
        rows = list(rows)
        idx = np.asarray(rows, dtype=np.int64)
        kept = [r for r in rows if r < len(self.images)]
        groups = self.group_list()
        return ModelOutputs(
            ids=[self.ids[r] for r in rows], uv_px=self.uv_px[idx], z_norm=self.z_norm[idx], K=self.K[idx],
            gt_xyz_m=self.gt_xyz_m[idx], gt_uv_px=self.gt_uv_px[idx], vis=self.vis[idx],
            confidence=self.confidence[idx], features=None if self.features is None else self.features[idx],
            images=self.images[kept], heatmaps=self.heatmaps[kept], groups=[groups[r] for r in rows],
        )


def _unique_ids(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = n or f"sample{i}"
        if n in seen:
            n = f"{n}#{i}"
        seen[n] = i
        out.append(n)
    return out


@torch.no_grad()
def run_model(
    model: AWHourglassNet,
    samples: Sequence[Sample],
    batch_size: int = 64,
    keep: int = 4,
    features: bool = True,
    max_samples: int | None = None,
    progress: bool = True,
    desc: str = "eval",
) -> ModelOutputs:
    """Batched inference over ``samples`` in eval mode (the model's mode is restored afterwards)."""
    from awhourglass.models.head import heatmap_confidence

    n = len(samples) if max_samples is None else min(len(samples), max_samples)
    if n == 0:
        raise AwhError("the dataset holds no samples")
    was_training = model.training
    device = next(model.parameters()).device  # the samples are CPU tensors; the network may sit on a GPU
    model.eval()
    ids, uv, z, K, gxyz, guv, vis, conf, feats, groups = ([] for _ in range(10))
    imgs: list[np.ndarray] = []
    heats: list[np.ndarray] = []
    try:
        for start in tqdm(range(0, n, batch_size), desc=desc, unit="batch", disable=not progress):
            batch = collate([samples[i] for i in range(start, min(n, start + batch_size))])
            out = model(batch.image.to(device), domain=batch.domain.to(device))
            last = out.stacks[-1]
            ids += list(batch.source)
            groups += list(batch.group)
            uv.append(out.uv_px.double().cpu().numpy())
            z.append(out.z_norm.double().cpu().numpy())
            K.append(batch.K.double().numpy())
            gxyz.append(batch.xyz_m.double().numpy())
            guv.append(batch.uv_px.double().numpy())
            vis.append(batch.vis.numpy())
            conf.append(heatmap_confidence(last.heatmap).mean(1).double().cpu().numpy())
            if features:
                feats.append(last.features.flatten(1).float().cpu().numpy())
            k = keep - sum(len(i) for i in imgs)
            if k > 0:
                imgs.append(batch.image[:k].numpy())
                heats.append(last.heatmap[:k].cpu().numpy())
    finally:
        model.train(was_training)
    return ModelOutputs(
        ids=_unique_ids(ids),
        uv_px=np.concatenate(uv),
        z_norm=np.concatenate(z),
        K=np.concatenate(K),
        gt_xyz_m=np.concatenate(gxyz),
        gt_uv_px=np.concatenate(guv),
        vis=np.concatenate(vis).astype(bool),
        confidence=np.concatenate(conf),
        features=np.concatenate(feats) if features else None,
        images=np.concatenate(imgs) if imgs else np.zeros((0, 3, 1, 1)),
        heatmaps=np.concatenate(heats) if heats else np.zeros((0, 21, 1, 1)),
        groups=groups,
    )


def _without_root(gt_xyz_m: np.ndarray, bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> np.ndarray:
    """``(N,)`` bool: samples whose root (wrist, middle MCP) or scale bone has no finite 3D label."""
    return ~np.isfinite(gt_xyz_m[:, sorted({*PALM_CENTRE_JOINTS, *bone})]).all(axis=(1, 2))


def _check_3d(outputs: ModelOutputs) -> None:
    missing = _without_root(outputs.gt_xyz_m)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise AwhError(
            f"{int(missing.sum())} sample(s) have no 3D ground truth (e.g. {outputs.ids[i]!r}): "
            "3D evaluation needs 3D labels (load the dataset with labels: 3d; InterHand2.6M hands with an invalid "
            "wrist or middle MCP have none: --protocol interhand leaves them out)"
        )


def scoreable(outputs: ModelOutputs, protocol: str | None) -> ModelOutputs:
    """``outputs`` as scored under ``protocol``: ``interhand`` leaves out the hands without a labelled root or
    scale bone (they cannot be lifted; InterHand2.6M's evaluation drops hands whose root is invalid); the other
    protocols need every sample (:func:`score_outputs` raises)."""
    if protocol != "interhand":
        return outputs
    keep = np.flatnonzero(~_without_root(outputs.gt_xyz_m))
    if len(keep) == 0:
        raise AwhError("no sample has a labelled wrist and middle MCP: nothing to score in 3D")
    return outputs if len(keep) == len(outputs) else outputs.select(keep.tolist())


def score_outputs(outputs: ModelOutputs, model_cfg=None, protocol: str | None = None,
                  align: str | None = None) -> EvalResult:
    """:class:`ModelOutputs` lifted with GT scale + root depth, scored by ``protocol``/``align`` (default the
    paper's: palm-relative; :func:`~awhourglass.eval.protocol.protocol_settings`); 2D in crop pixels."""
    _check_3d(outputs)
    bone = model_cfg.scale_bone if model_cfg is not None else DEFAULT_SCALE_BONE
    return evaluate_25d(outputs.uv_px, outputs.z_norm, outputs.K, outputs.gt_xyz_m, outputs.vis,
                        gt_uv_px=outputs.gt_uv_px, bone=tuple(bone), protocol=protocol, align=align,
                        groups=outputs.group_list())


def lifted_xyz(outputs: ModelOutputs, model_cfg=None) -> np.ndarray:
    """Predicted camera-space joints ``(N, 21, 3)`` [m] lifted with GT scale + root depth (what is scored)."""
    _check_3d(outputs)
    bone = model_cfg.scale_bone if model_cfg is not None else DEFAULT_SCALE_BONE
    return lift_with_gt_scale_and_root(outputs.uv_px, outputs.z_norm, outputs.K, outputs.gt_xyz_m, tuple(bone))


def write_eval_outputs(
    out_dir: str | os.PathLike,
    outputs: ModelOutputs,
    result: EvalResult,
    model_cfg=None,
    source: ModelOutputs | None = None,
    label: str = "model",
    tsne_points: int = 2000,
    qualitative: int = 4,
) -> list[Path]:
    """``results.json``, predictions/ground-truth JSON and the figures; returns the figure paths."""
    out = Path(out_dir)
    write_results_json(out / "results.json", result)
    xyz = lifted_xyz(outputs, model_cfg)
    write_predictions(out / "predictions.json", outputs.ids, xyz, outputs.uv_px, meta={"method": label})
    write_ground_truth(out / "groundtruth.json", outputs.ids, outputs.gt_xyz_m, outputs.vis, outputs.gt_uv_px,
                       groups=outputs.group_list())
    figs = [plots.plot_pck_curves({label: result}, out / "pck.png")]
    if source is not None and source.features is not None and outputs.features is not None:
        feats = np.concatenate([source.features, outputs.features])
        dom = np.concatenate([np.zeros(len(source), int), np.ones(len(outputs), int)])
        figs.append(plots.plot_tsne(feats, dom, out / "tsne.png", max_points=tsne_points,
                                    title=f"t-SNE of last-stack features ({label})"))
    figs += qualitative_figures(out, outputs, xyz, min(qualitative, len(outputs.images)))
    return figs


def qualitative_figures(out: Path, outputs: ModelOutputs, xyz_m: np.ndarray, count: int,
                        prefix: str = "") -> list[Path]:
    """Heatmaps, 2D skeleton over the crop (GT dashed) and 3D skeleton (pred vs GT) of the first ``count``."""
    figs = []
    for i in range(count):
        img = outputs.images[i]
        figs.append(plots.plot_heatmap_grid(img, outputs.heatmaps[i], out / f"{prefix}heatmaps_{i}.png",
                                            uv_px=outputs.uv_px[i]))
        figs.append(plots.plot_skeleton_2d(img, outputs.uv_px[i], out / f"{prefix}skeleton2d_{i}.png",
                                           vis=outputs.vis[i], gt_uv_px=outputs.gt_uv_px[i]))
        figs.append(plots.plot_skeleton_3d({"prediction": xyz_m[i] - palm_centre(xyz_m[i]), "ground truth":
                                            outputs.gt_xyz_m[i] - palm_centre(outputs.gt_xyz_m[i])},
                                           out / f"{prefix}skeleton3d_{i}.png"))
    return figs


# --- datasets on disk --------------------------------------------------------------------------------------


# The crop side where only the labels are read (the reader still crops; the side moves no 3D label): a small one.
LABELS_ONLY_SIZE = 32


def load_dataset(root: str, fmt: str, split: str, input_size: int, max_samples: int | None = None,
                 domain: int | None = None, crop: tuple[float, float] | None = None):
    """A dataset reader (:mod:`awhourglass.data`) for evaluation: no augmentation, 3D labels, no depth.

    ``input_size``: the crop side (the evaluated network's input; :data:`LABELS_ONLY_SIZE` where only the labels
    are used). ``crop``: ``(crop_margin, min_crop_px)`` (the checkpoint's crop of the dataset's domain,
    :func:`checkpoint_crop`); None: the readers' default."""
    # DatasetConfig checks the format and split names (one rule for every command): plain strings go in
    fields: dict[str, Any] = {"format": fmt, "root": str(root), "split": split, "labels": "3d", "with_depth": False,
                              "max_samples": max_samples, "input_size": input_size}
    if crop is not None:
        fields.update(crop_margin=crop[0], min_crop_px=crop[1])
    cfg = DatasetConfig(**fields)
    if not Path(root).exists():
        raise AwhError(f"dataset folder {root} does not exist")
    return build_dataset(cfg, domain)


def checkpoint_crop(ckpt: dict[str, Any], path: str | os.PathLike[str], fmt: str,
                    domain: int | None = None) -> tuple[float, float] | None:
    """The crop a checkpoint's network saw for a dataset of format ``fmt``: its record of the format's domain
    (``domain``, else the format's default in ``data.config.READERS``); None for a pack (it fixes its own crop) or
    an unknown format (left to DatasetConfig's check)."""
    if domain is None:
        domain = READERS[fmt][2] if fmt in READERS else None
    if domain is None:
        return None
    return crop_entry(ckpt, path, "source" if domain == SOURCE else "target")


@dataclass
class EvalConfig:
    """What ``awh eval CKPT --data ...`` does.

    Attributes:
        checkpoint: model checkpoint. data, format, split: the evaluated dataset.
        out: output folder. source_data, source_format, source_split: optional source-domain dataset whose
            features are shown with the evaluated ones in the t-SNE figure.
        batch_size, max_samples: inference batch and an optional cap on the number of samples.
        tsne_points: samples in the t-SNE (half per domain). qualitative: samples with heatmap/skeleton figures.
        protocol, align: how the lifted joints are scored (:func:`~awhourglass.eval.protocol.protocol_settings`;
            default the paper's).
    """

    checkpoint: str
    data: str
    format: str
    split: str = "test"
    out: str = "awh_eval"
    source_data: str | None = None
    source_format: str = "rhd"
    source_split: str = "test"
    batch_size: int = 64
    max_samples: int | None = None
    tsne_points: int = 2000
    qualitative: int = 4
    progress: bool = True
    protocol: str | None = None
    align: str | None = None


def evaluate_checkpoint(cfg: EvalConfig) -> tuple[EvalResult, list[Path]]:
    """Run ``cfg.checkpoint`` over the dataset, score it and write the outputs to ``cfg.out``."""
    from awhourglass.models.load import network_from_dict

    ckpt = load_checkpoint(cfg.checkpoint)
    model = network_from_dict(ckpt, cfg.checkpoint).eval()
    size = model.cfg.input_size
    ds = load_dataset(cfg.data, cfg.format, cfg.split, size, cfg.max_samples,
                      crop=checkpoint_crop(ckpt, cfg.checkpoint, cfg.format))
    outputs = run_model(model, ds, cfg.batch_size, keep=cfg.qualitative, progress=cfg.progress,
                        desc=f"eval {cfg.format}")
    outputs = scoreable(outputs, cfg.protocol)
    result = score_outputs(outputs, model.cfg, cfg.protocol, cfg.align)
    source = None
    if cfg.source_data:
        half = max(1, cfg.tsne_points // 2)
        sds = load_dataset(cfg.source_data, cfg.source_format, cfg.source_split, size, half, domain=SOURCE,
                           crop=checkpoint_crop(ckpt, cfg.checkpoint, cfg.source_format, SOURCE))
        source = run_model(model, sds, cfg.batch_size, keep=0, progress=cfg.progress, desc="source features")
    figs = write_eval_outputs(cfg.out, outputs, result, model.cfg, source, label=Path(cfg.checkpoint).stem,
                              tsne_points=cfg.tsne_points, qualitative=cfg.qualitative)
    return result, figs


def evaluate_prediction_files(pred: str, gt: str, out: str | None = None, label: str = "predictions",
                              protocol: str | None = None, align: str | None = None):
    """Score a predictions JSON against a ground-truth JSON; with ``out``, write results.json and the PCK plot."""
    result = score_prediction_file(pred, gt, protocol=protocol, align_override=align)
    figs: list[Path] = []
    if out:
        write_results_json(Path(out) / "results.json", result)
        figs.append(plots.plot_pck_curves({label: result}, Path(out) / "pck.png"))
    return result, figs


def evaluate_predictions_on_dataset(pred: str, data: str, fmt: str, split: str, out: str,
                                    max_samples: int | None = None, label: str = "predictions",
                                    protocol: str | None = None, align: str | None = None):
    """Score a predictions JSON against the 3D labels of a dataset split (ids: the samples' source names);
    writes results.json and the PCK plot to ``out``."""
    from awhourglass.eval.predictions import PoseRecord

    ds = load_dataset(data, fmt, split, LABELS_ONLY_SIZE, max_samples=max_samples)
    n = len(ds) if max_samples is None else min(len(ds), max_samples)
    batch = collate([ds[i] for i in range(n)])
    ids = _unique_ids(list(batch.source))
    xyz = batch.xyz_m.double().numpy()
    drop = _without_root(xyz) if protocol == "interhand" else np.zeros(len(ids), bool)  # as :func:`scoreable`
    records = [PoseRecord(i, xyz[k], batch.vis[k].numpy().astype(bool), None, batch.group[k])
               for k, i in enumerate(ids) if not drop[k]]
    if not records:
        raise AwhError("no sample has a labelled wrist and middle MCP: nothing to score in 3D")
    result = score_prediction_file(pred, records, protocol=protocol, align_override=align,
                                   ignore_ids=[i for k, i in enumerate(ids) if drop[k]])
    write_results_json(Path(out) / "results.json", result)
    return result, [plots.plot_pck_curves({label: result}, Path(out) / "pck.png")]


_ALIGN_TEXT = {"root": "palm-relative", "wrist": "wrist-relative", "procrustes": "Procrustes-aligned",
               "none": "unaligned"}


def summary_lines(result: EvalResult) -> list[str]:
    """Human-readable lines of the main numbers."""
    lines = [
        f"samples {result.count}, joints scored {result.num_joints} (protocol {result.protocol or 'paper'}: "
        f"{_ALIGN_TEXT.get(result.align, result.align)}{', reflections allowed' if result.reflection else ''})",
        f"3D EPE mean {result.epe_mean_mm:.2f} mm, median {result.epe_median_mm:.2f} mm",
        f"AUC 0-30 mm {result.auc_0_30:.3f}, AUC 20-50 mm {result.auc_20_50:.3f}"
        + (f", AUC 0-50 mm (100 thresholds) {result.auc_0_50_100:.3f}" if result.auc_0_50_100 is not None else ""),
    ]
    if result.mpjpe_all_mm is not None:
        parts = [f"{name} {v:.2f} mm" for name, v in (("single", result.mpjpe_single_mm),
                                                       ("interacting", result.mpjpe_interacting_mm),
                                                       ("all", result.mpjpe_all_mm)) if v is not None]
        lines.append(f"MPJPE (InterHand2.6M, {_ALIGN_TEXT.get(result.align, result.align)}, pooled over valid "
                     f"joints): {', '.join(parts)}")
    if result.pa_epe_mean_mm is not None:
        lines.append(f"PA-EPE (Procrustes-aligned) mean {result.pa_epe_mean_mm:.2f} mm")
    if result.epe2d_mean_px is not None:
        pct = f", {result.epe2d_mean_pct:.1f} % of the hand's box" if result.epe2d_mean_pct is not None else ""
        lines.append(f"2D EPE mean {result.epe2d_mean_px:.2f} px, median {result.epe2d_median_px:.2f} px (crop){pct}")
    return lines
