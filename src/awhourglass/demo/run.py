"""``awh demo``: data → pretraining → every method from the same pretrained weights → evaluation → report.

The runs follow one another in this process; each seed's training images are rendered first by
``render_processes`` worker processes into ``cache/`` (read back by every method, deleted after the seed) and
everything else is written under ``cfg.out``::

    data/rhd, data/stb        test splits in their dataset formats (re-score with `awh eval`)
    runs/seed<k>/pretrain     phase 1 (source only): pretrain.pt, model.pt (= the source-only method)
    runs/seed<k>/<method>     phase 2 from that pretraining: model.pt, logs
    pck.png, tsne_*.png, qualitative_*.png, confidence.png
    results.json, report.md   the table (EPE mean/median, AUC 0–30, AUC 20–50 per method) from one JSON document
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awhourglass.atomic import atomic_write_text
from awhourglass.config import ConfigError, from_dict, to_dict
from awhourglass.data.sample import Sample
from awhourglass.demo.config import METHOD_LABELS, DemoConfig
from awhourglass.demo.constants import constant_hands, score_constants
from awhourglass.demo.data import read_split, write_test_sets
from awhourglass.demo.pretrained import (
    pretrain_source,
    read_manifest,
    run_streams,
    shipped_network,
    stream_parts_factory,
    stream_train_config,
)
from awhourglass.demo.stream import CHUNK, prerender
from awhourglass.eval import plots
from awhourglass.eval.realhands import default_realdev
from awhourglass.eval.realreport import RealHandsReport, realhands_report, write_realhands
from awhourglass.eval.report import LOSES, render_markdown, report_document
from awhourglass.eval.results import EvalResult, write_results_json
from awhourglass.eval.run import ModelOutputs, lifted_xyz, run_model, score_outputs
from awhourglass.models.config import ModelConfig
from awhourglass.skeleton import palm_centre
from awhourglass.train.config import MethodConfig, TrainConfig
from awhourglass.train.run import fit


class _Clock:
    """Elapsed-time stamps for the progress lines and the report."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}
        self.echo = echo

    def stamp(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - since
        self.echo(f"[{now - self.start:6.1f} s] {stage}: {now - since:.1f} s")
        return now


def adapt_config(cfg: DemoConfig, model: ModelConfig, method: str, seed: int, init_from: str) -> TrainConfig:
    """The library's training config of one method's phase 2 on the generated streams."""
    return stream_train_config(model, MethodConfig(name=method), seed, adapt_steps=cfg.adapt_steps,
                               batch_size=cfg.batch_size, adapt_lr=cfg.adapt_lr,
                               adapt_milestones=cfg.adapt_milestones, lr_gamma=cfg.lr_gamma, init_from=init_from,
                               num_workers=cfg.num_workers, progress=cfg.progress,
                               precision=cfg.training_precision())


def pretrained_network(cfg: DemoConfig, runs: Path, seed: int, echo: Callable[[str], None]) -> tuple[Path, ModelConfig]:
    """The phase-1 network every method starts from: the shipped one, or (``from_scratch``) trained now."""
    if cfg.from_scratch:
        p = cfg.pretrain
        echo(f"seed {seed}: pretraining on the source stream ({p.steps} steps of {p.batch_size})")
        path = pretrain_source(runs / "pretrain", cfg.model, p, seed=seed, image_size=cfg.image_size, gap=cfg.gap,
                               num_workers=cfg.num_workers, progress=cfg.progress,
                               precision=cfg.training_precision())
        return path, cfg.model
    path, manifest = shipped_network()
    model = from_dict(ModelConfig, manifest["model"])
    echo(f"pretrained source network: {path.name} ({manifest['steps']} steps, `{manifest['command']}`, "
         f"code {manifest['code_version']}, sha256 {manifest['sha256'][:12]}… verified)")
    return path, model


def _load_model(path: Path):
    from awhourglass.models.load import network_from_checkpoint

    return network_from_checkpoint(path)


def _no_hand_images(n: int, size: int, seed: int, image_size: int, gap: float) -> list[Sample]:
    """Hand-free inputs for the confidence check (:func:`~awhourglass.train.calibrate.hand_free_images`)."""
    from awhourglass.data.sample import TARGET
    from awhourglass.train.calibrate import hand_free_images

    images = hand_free_images(n, size, seed, image_size, gap)
    return [Sample(image=images[i], K=torch.eye(3), uv_px=torch.zeros(21, 2), vis=torch.ones(21, dtype=torch.bool),
                   domain=TARGET, source=f"nohand/{i}") for i in range(n)]


def run_demo(cfg: DemoConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole experiment of ``cfg``; returns the ``results.json`` document."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    clock = _Clock(echo)
    try:
        return _run(cfg, out, clock, echo)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: DemoConfig, out: Path, clock: _Clock, echo: Callable[[str], None]) -> dict[str, Any]:
    echo(f"awh demo: {cfg.seeds} seed(s), methods source-only + {', '.join(cfg.methods)}; output in {out}")
    t = time.perf_counter()
    src_root, tgt_root = write_test_sets(out / "data", cfg.seed, cfg.image_size, cfg.n_source_test,
                                         cfg.n_target_test, cfg.gap, progress=cfg.progress)
    t = clock.stamp("test splits written", t)

    results: dict[str, list[EvalResult]] = {m: [] for m in ["source_only", *cfg.methods]}
    outputs0: dict[str, ModelOutputs] = {}
    source0: dict[str, ModelOutputs] = {}
    paths0: dict[str, Path] = {}
    baselines: dict[str, EvalResult] = {}
    model_cfg = cfg.model
    for k in range(cfg.seeds):
        seed = cfg.seed + k
        runs = out / "runs" / f"seed{seed}"
        pre, model_cfg = pretrained_network(cfg, runs, seed, echo)
        t = clock.stamp(f"seed {seed}: pretrained network", t)
        if k == 0:
            size = model_cfg.input_size
            src_test = read_split(src_root, "rhd", "test", size)
            tgt_test = read_split(tgt_root, "stb", "test", size)
            constants = constant_hands(model_cfg, seed, cfg.n_constant, cfg.image_size, cfg.gap)
            baselines = score_constants(constants, tgt_test, model_cfg)
            t = clock.stamp(f"test splits read back ({len(src_test)} source RHD, {len(tgt_test)} target STB B1), "
                            "constant hands fitted", t)
        # every method of a seed reads the same stream positions: render each chunk once (deleted after the seed)
        cache = out / "cache" / f"seed{seed}"
        factory = stream_parts_factory(cfg.image_size, cfg.gap, cache_dir=cache)
        if cfg.render_processes > 0 and cfg.methods:
            streams = run_streams(adapt_config(cfg, model_cfg, cfg.methods[0], seed, str(pre)), cfg.image_size,
                                  cfg.gap, cache)
            n = prerender(streams, math.ceil(cfg.adapt_steps * (cfg.batch_size // 2) / CHUNK), cfg.render_processes)
            t = clock.stamp(f"seed {seed}: training streams rendered ({n} chunks of {CHUNK} images, "
                            f"{cfg.render_processes} processes)", t)
        models = {"source_only": pre}
        for method in cfg.methods:
            echo(f"seed {seed}: {METHOD_LABELS[method]} from the pretrained weights ({cfg.adapt_steps} steps of "
                 "fresh images)")
            fit(adapt_config(cfg, model_cfg, method, seed, str(pre)), runs / method, True, factory)
            models[method] = runs / method / "model.pt"
            t = clock.stamp(f"seed {seed}: {method}", t)
        for method, path in models.items():
            model = _load_model(path)
            o = run_model(model, tgt_test, batch_size=64, keep=cfg.qualitative, progress=False)
            r = score_outputs(o, model.cfg)
            if method != "source_only":
                write_results_json(path.parent / "target_test_results.json", r)
            results[method].append(r)
            if k == 0:
                outputs0[method] = o
                paths0[method] = path
                if method in ("source_only", "awh", "joint"):
                    source0[method] = run_model(model, src_test, batch_size=64, keep=0, progress=False)
            echo(f"  {METHOD_LABELS[method]:<20} EPE {r.epe_mean_mm:7.2f} mm  PA-EPE {r.pa_epe_mean_mm:6.2f} mm  "
                 f"2D {r.epe2d_mean_px:5.2f} px ({r.epe2d_mean_pct:4.1f} %)  AUC 0-30 {r.auc_0_30:.3f}")
        shutil.rmtree(cache, ignore_errors=True)
        t = clock.stamp(f"seed {seed}: evaluation", t)
    for name, r in baselines.items():
        echo(f"  {name:<20} EPE {r.epe_mean_mm:7.2f} mm  PA-EPE {r.pa_epe_mean_mm:6.2f} mm  "
             f"2D {r.epe2d_mean_px:5.2f} px ({r.epe2d_mean_pct:4.1f} %)")

    t = time.perf_counter()
    figures = _figures(cfg, out, results, outputs0, source0, model_cfg)
    t = clock.stamp("figures", t)
    conf = _confidence_check(cfg, out, outputs0, paths0, model_cfg)
    figures.append((conf["figure"], "Confidence behind `hand_detected` of the model used by `awh predict`: target "
                    "test crops (hands) against hand-free images, with the threshold."))
    t = time.perf_counter()
    real = _real_hands(cfg, out, paths0, echo)
    if real is not None:
        clock.stamp("real photographs scored", t)
    return _write_report(cfg, out, results, figures, clock, conf, baselines, model_cfg, real)


def realdev_folder(setting: str) -> Path | None:
    """The real-hands folder a demo setting names (``auto``, ``none`` or a path), or None to skip.

    Raises:
        ConfigError: a path was given and is not a folder.
    """
    if setting == "none":
        return None
    if setting == "auto":
        p = default_realdev(Path.cwd())
        return p if p.is_dir() else None
    p = Path(setting)
    if not p.is_dir():
        raise ConfigError(f"--realdev {setting}: not a folder")
    return p


def _real_hands(cfg: DemoConfig, out: Path, paths0: dict[str, Path],
                echo: Callable[[str], None]) -> RealHandsReport | None:
    """Score seed 0's models on the real photographs and write ``realhands/``; the report, or None when there is no
    folder to read."""
    folder = realdev_folder(cfg.realdev)
    if folder is None:
        echo("real photographs: none found (../shared/realdev or $AWH_REALDEV); skipped")
        return None
    ckpts = {METHOD_LABELS[m]: p for m, p in paths0.items()}
    report = realhands_report(ckpts, folder, every=cfg.realdev_every, out_dir=out / "realhands")
    write_realhands(report, out / "realhands")
    echo(report.markdown())
    return report


def _figures(cfg: DemoConfig, out: Path, results: dict[str, list[EvalResult]], outputs0: dict[str, ModelOutputs],
             source0: dict[str, ModelOutputs], model_cfg: ModelConfig) -> list[tuple[Path, str]]:
    """The report's figures as ``(path, caption)`` pairs."""
    curves = {}
    for m, rs in results.items():
        values = np.mean([r.pck_values for r in rs], axis=0)
        curves[METHOD_LABELS[m]] = (rs[0].pck_thresholds_mm, values)
    seeds = f"mean over {cfg.seeds} seeds" if cfg.seeds > 1 else "one seed"
    figs = [(plots.plot_pck_curves(curves, out / "pck.png", title="3D PCK on the target test split (B1)"),
             f"3D PCK curves of every method on the target test split (B1), {seeds}: the fraction of joints whose "
             "palm-relative 3D error is below each threshold; the legend gives each curve's AUC.")]
    for m, src in source0.items():
        tgt = outputs0[m]
        feats = np.concatenate([src.features, tgt.features])
        dom = np.concatenate([np.zeros(len(src), int), np.ones(len(tgt), int)])
        figs.append((plots.plot_tsne(feats, dom, out / f"tsne_{m}.png", max_points=cfg.tsne_points,
                                     title=f"t-SNE, {METHOD_LABELS[m]}: source (red) vs target (blue)"),
                     f"t-SNE of the last stack's bottleneck features of {METHOD_LABELS[m]} (seed {cfg.seed}) on "
                     "source test images (red) and target test images (blue), as the paper's Fig. 6."))
    for m in ("source_only", "awh"):
        if m not in outputs0:
            continue
        o = outputs0[m]
        xyz = lifted_xyz(o, model_cfg)
        for i in range(min(cfg.qualitative, len(o.images))):
            figs.append((plots.plot_skeleton_2d(o.images[i], o.uv_px[i], out / f"qualitative_{m}_{i}_2d.png",
                                                gt_uv_px=o.gt_uv_px[i]),
                         f"{METHOD_LABELS[m]}, target test sample {i}: predicted 2D skeleton over the input crop, "
                         "with the ground truth for comparison."))
            pred, gt = xyz[i] - palm_centre(xyz[i]), o.gt_xyz_m[i] - palm_centre(o.gt_xyz_m[i])
            figs.append((plots.plot_skeleton_3d({"prediction": pred, "ground truth": gt},
                                                out / f"qualitative_{m}_{i}_3d.png",
                                                title=f"{METHOD_LABELS[m]}, test sample {i}"),
                         f"{METHOD_LABELS[m]}, target test sample {i}: predicted and ground-truth 3D skeletons, "
                         "palm-relative (the prediction lifted with the ground-truth scale and root depth)."))
        if len(o.images):
            figs.append((plots.plot_heatmap_grid(o.images[0], o.heatmaps[0], out / f"heatmaps_{m}_0.png",
                                                 uv_px=o.uv_px[0]),
                         f"{METHOD_LABELS[m]}, target test sample 0: the input crop and the last stack's latent 2D "
                         "heatmap of each joint (spatial softmax), with the soft-argmax location."))
    return figs


def _confidence_check(cfg: DemoConfig, out: Path, outputs0: dict[str, ModelOutputs], paths0: dict[str, Path],
                      model_cfg: ModelConfig) -> dict[str, Any]:
    """Heatmap confidence of the AWH model (or the last method) on hand crops vs hand-free images.

    ``paths0``: the first seed's model file of each method (the same runs as ``outputs0``)."""
    from awhourglass.checkpoint import hand_threshold_entry, load_checkpoint
    from awhourglass.models.head import DEFAULT_HAND_THRESHOLD

    method = "awh" if "awh" in outputs0 else list(outputs0)[-1]
    model = _load_model(paths0[method])
    calibrated = hand_threshold_entry(load_checkpoint(paths0[method]), paths0[method])
    threshold = DEFAULT_HAND_THRESHOLD if calibrated is None else calibrated["threshold"]
    nohand = run_model(model, _no_hand_images(64, model_cfg.input_size, cfg.seed, cfg.image_size, cfg.gap),
                       keep=0, features=False,
                       progress=False)
    hand = outputs0[method].confidence
    fig = _plot_confidence(hand, nohand.confidence, threshold, out / "confidence.png",
                           METHOD_LABELS[method])
    return {
        "method": method,
        "threshold": threshold,
        "threshold_source": "default" if calibrated is None else "calibrated at training (held-out crops)",
        "hand_detected_rate_on_hands": float(np.mean(hand >= threshold)),
        "hand_detected_rate_on_no_hand": float(np.mean(nohand.confidence >= threshold)),
        "hand_median": float(np.median(hand)),
        "no_hand_median": float(np.median(nohand.confidence)),
        "figure": fig,
    }


def _plot_confidence(hand: np.ndarray, nohand: np.ndarray, threshold: float, path: Path, label: str) -> Path:
    fig = plots.new_figure((5, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    bins = np.linspace(0, 1, 41)
    # matplotlib's stubs take bins as a Sequence, not an array (which it reads)
    ax.hist(hand, bins=bins, alpha=0.6, label="target test crops (hands)")  # type: ignore[arg-type]
    ax.hist(nohand, bins=bins, alpha=0.6, label="hand-free: noise, flat, gradient, background")  # type: ignore[arg-type]
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("confidence (heatmap concentration, mean over joints)")
    ax.set_ylabel("images")
    ax.set_title(f"hand_detected, {label}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def _write_report(cfg: DemoConfig, out: Path, results: dict[str, list[EvalResult]], figures: list[tuple[Path, str]],
                  clock: _Clock, conf: dict[str, Any], baselines: dict[str, EvalResult],
                  model_cfg: ModelConfig, real: RealHandsReport | None = None) -> dict[str, Any]:
    doc = report_document({METHOD_LABELS[m]: rs for m, rs in results.items()}, baselines)
    total = time.perf_counter() - clock.start
    setup = {k: v for k, v in asdict(cfg).items() if k not in ("model", "progress", "out")}
    setup["model"] = to_dict(model_cfg)
    doc["demo"] = {
        "config": setup,
        "test_split": "target B1 (STB format), GT scale and root depth, palm-relative 3D EPE",
        "timings_s": {k: round(v, 1) for k, v in clock.stages.items()},
        "total_s": round(total, 1),
        "confidence_check": {k: v for k, v in conf.items() if k != "figure"},
        "torch_threads": cfg.threads,
        "cpu_count": os.cpu_count(),
        "training_precision": cfg.training_precision(),
    }
    if real is not None:
        doc["real_hands"] = real.to_dict()
    rel = [(Path(f).resolve().relative_to(out.resolve()), caption) for f, caption in figures]
    notes = _notes(cfg, doc, conf, total, model_cfg)
    if real is not None:
        notes += ("\n\n## Real photographs (measured, never trained on)\n\nEvery model of seed 0 on the real hands "
                  "of `realhands/` (overlays there; docs/evaluation.md), with the reference box as the crop:\n\n"
                  + real.markdown())
    md = render_markdown(doc, rel, title="awh demo: weakly supervised adaptation on the embedded benchmark",
                         sections=notes)
    atomic_write_text(out / "results.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    atomic_write_text(out / "report.md", md)
    return doc


def _notes(cfg: DemoConfig, doc: dict[str, Any], conf: dict[str, Any], total: float, m: ModelConfig) -> str:
    if cfg.from_scratch:
        p = cfg.pretrain
        pre = (f"pretrained here: {p.steps} steps of {p.batch_size} fresh source images (Adam {p.lr}, "
               f"×{p.lr_gamma} at steps {', '.join(map(str, p.milestones)) or 'none'})")
    else:
        manifest = read_manifest()
        pre = (f"the shipped network `{manifest['file']}` (sha256 verified): {manifest['steps']} steps of "
               f"{manifest.get('batch_size', '?')} fresh source images, made by `{manifest['command']}` at code "
               f"{manifest['code_version']}")
    lines = [
        "",
        "## Setup",
        "",
        "- Rows in italics are constant hands: the same hand predicted for every image, fitted on "
        f"{cfg.n_constant} training labels of each domain (plain mean of the palm-relative, scale-normalized poses "
        "and of the crops' 2D joints for EPE/AUC/2D; their generalized-Procrustes mean shape for PA-EPE), scored "
        f"by the same protocol. A method that does not beat the best constant on a metric is marked {LOSES}.",
        "- Training data: an endless stream of freshly rendered images (`awhourglass.demo.stream`), deterministic "
        "in the seed: source (RHD-like, 3D labels) and target (STB-like, B2–B6 poses; 2D labels and depth only, "
        f"3D for the oracle); no image is seen twice. Test: {cfg.n_target_test} target images of B1 (STB format, "
        f"`data/stb`), rendered at {cfg.image_size} px wide, generator gap {cfg.gap}.",
        f"- Network: {m.num_stacks}-stack hourglass, width {m.width}, depth {m.depth}, stem stride {m.stem_stride}, "
        f"{m.input_size}² input. Source-only is the pretrained network: {pre}. Every method then trains "
        f"{cfg.adapt_steps} steps of {cfg.batch_size // 2} source + {cfg.batch_size // 2} target images (Adam "
        f"{cfg.adapt_lr}, ×{cfg.lr_gamma} at steps {', '.join(map(str, cfg.adapt_milestones)) or 'none'}) from it.",
        f"- {cfg.seeds} seed(s) ({', '.join(str(cfg.seed + k) for k in range(cfg.seeds))}); with several seeds each "
        "cell is mean ± sample std. Protocol: predicted 2.5D lifted with the ground truth's scale bone and root "
        "depth, palm-relative EPE; PA-EPE after a per-hand similarity alignment; 2D error in crop pixels and as a "
        "percentage of the hand's box (docs/evaluation.md). The demo keeps each run's last step; `awh benchmark` "
        "picks checkpoints on a validation split.",
        f"- Hand confidence ({METHOD_LABELS[conf['method']]}): median {conf['hand_median']:.3f} on hand crops, "
        f"{conf['no_hand_median']:.3f} on hand-free images (noise, flat colours, gradients, hand-free quadrants "
        f"of target renders); with threshold {conf['threshold']:.3f} ({conf['threshold_source']}), hand_detected on "
        f"{100 * conf['hand_detected_rate_on_hands']:.0f}% of hands and "
        f"{100 * conf['hand_detected_rate_on_no_hand']:.0f}% of hand-free images.",
        f"- Wall time {total:.0f} s with {cfg.threads} torch thread(s) on {os.cpu_count()} CPU(s): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in doc["demo"]["timings_s"].items()) + ".",
        "",
        "Re-score any run: `awh eval <out>/runs/seed0/awh/model.pt --data <out>/data/stb --format stb`.",
        "",
    ]
    return "\n".join(lines)
