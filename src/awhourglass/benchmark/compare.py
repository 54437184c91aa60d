"""``awh benchmark --stage compare``: every method from one pretrained network, over paired seeds.

Per seed ``k`` (the unit of replication: every method of seed ``k`` reads the same fresh-image streams in the
same order) and method: phase 2 from the pretrained weights, scored every ``eval_every`` steps on the target
**validation** split with its 2D labels only (what the weakly supervised setting has); the step with the lowest
validation 2D error is kept (:func:`select_step`). Only after every run of the seed is chosen are the kept
networks scored on the test split. Then, per method: mean ± 95 % CI over seeds, paired differences to joint
training with 95 % CIs, the constant hands, and the alignment measures of :mod:`awhourglass.eval.alignment`.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awhourglass.atomic import atomic_write_text
from awhourglass.benchmark.config import BENCHMARK_METHODS, BenchmarkConfig
from awhourglass.checkpoint import atomic_save, load_checkpoint, slim
from awhourglass.config import from_dict, to_dict
from awhourglass.data.sample import Sample, collate
from awhourglass.demo.constants import constant_hands, score_constants
from awhourglass.demo.data import read_split
from awhourglass.demo.pretrained import (
    shipped_network,
    stream_parts_factory,
    stream_train_config,
)
from awhourglass.eval import alignment, plots
from awhourglass.eval.protocol import evaluate_25d
from awhourglass.eval.report import render_markdown, report_document
from awhourglass.eval.results import EvalResult
from awhourglass.eval.run import run_model, score_outputs
from awhourglass.models.config import ModelConfig
from awhourglass.models.hourglass import AWHourglassNet
from awhourglass.models.load import graft_network, network_checkpoint, network_from_checkpoint
from awhourglass.train.config import MethodConfig
from awhourglass.train.run import fit

# The compare stage's methods of one seed read the same stream positions: each chunk is rendered once into this
# folder under --out (removed when the stage ends).
STREAM_CACHE = "stream-cache"


def method_config(name: str, choice: dict[str, Any] | None = None) -> MethodConfig:
    """The :class:`MethodConfig` of a benchmark method name (``fss``/``fssc`` = AWH with first-stack supervision;
    ``fssc`` also changes the network, :func:`method_start`), with a tuning ``choice`` applied (``lambda``: the
    weight of the method's domain term; ``critic_steps``)."""
    base = (MethodConfig(name="awh", intermediate=("src_2d", "src_3d", "tgt_2d")) if name in ("fss", "fssc")
            else MethodConfig(name=name))
    choice = choice or {}
    if "lambda" in choice:
        base = replace(base, **{("lambda_dann" if base.uses_domain_classifier else "lambda_wd"): choice["lambda"]})
    if "critic_steps" in choice:
        base = replace(base, critic_steps=int(choice["critic_steps"]))
    return base


def method_label(name: str) -> str:
    """The report label of a benchmark method: its config's label from the method table, and FSSC's first-stack
    design (a network option, not a method's)."""
    return method_config(name).label + (", FSSC first stack (extra convs)" if name == "fssc" else "")


LABELS = {name: method_label(name) for name in ("source_only", *BENCHMARK_METHODS)}


def method_start(method: str, model: ModelConfig, pretrained: Path, out: Path) -> tuple[ModelConfig, Path]:
    """The network config and the weights phase 2 of ``method`` starts from.

    Every method starts from the pretrained network, except FSSC (paper Fig. 3), whose first stack has
    ``fssc_convs`` extra 3×3 convolutions that its supervision and the remap to the next stack read: it starts
    from the same weights in every tensor the two designs share, and its extra convolutions and that remap are
    freshly initialized (``models.load.graft_network``, seeded; written once to ``out/fssc_init.pt``). The paper
    pretrains FSSC as its own network; that would cost this benchmark another pretraining (≈ 80 min here).
    """
    if method != "fssc":
        return model, pretrained
    cfg = replace(model, first_stack_design="fssc")
    path = out / "fssc_init.pt"
    if not path.is_file():
        net, fresh = graft_network(network_from_checkpoint(pretrained), cfg)
        atomic_save(network_checkpoint(net, {"grafted_from": str(pretrained), "fresh_tensors": fresh}), path)
    return cfg, path


def tune_grid_rows(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The setting of the tuning row with the lowest validation 2D error (the earliest row on ties)."""
    if not rows:
        raise ValueError("tune_grid_rows: no tuning runs")
    best = min(enumerate(rows), key=lambda ir: (ir[1]["val_2d_px"], ir[0]))[1]
    return dict(best["choice"])


def tune_method(cfg: BenchmarkConfig, model: ModelConfig, method: str, init_from: Path, out: Path,
                val: Sequence[Sample], echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Choose ``method``'s phase-2 rate, then the weight of its domain term, then its critic steps (where it has
    them), one setting at a time from the best so far, by the lowest validation 2D error any checkpoint of a
    run reaches (the weakly supervised setting's labels; the test split is never read). Runs use
    ``cfg.tune_seed``'s streams. Returns ``{"choice": {...}, "runs": [{"choice", "val_2d_px", "step"}, ...]}``.
    """
    steps = cfg.tune_steps or cfg.adapt_steps
    milestones = tuple(round(m * steps / cfg.adapt_steps) for m in cfg.adapt_milestones)
    short = replace(cfg, adapt_steps=steps, adapt_milestones=milestones, eval_every=min(cfg.eval_every, steps))
    mc = method_config(method)
    # start from the defaults, written out, so that a grid value equal to a default reuses the run made with it
    choice: dict[str, Any] = {"adapt_lr": cfg.adapt_lr}
    grids: list[tuple[str, Sequence[Any]]] = [("adapt_lr", cfg.lr_grid)]
    if mc.uses_critic or mc.uses_domain_classifier:
        choice["lambda"] = mc.lambda_dann if mc.uses_domain_classifier else mc.lambda_wd
        grids.append(("lambda", cfg.lambda_grid))
    if mc.uses_critic:
        choice["critic_steps"] = mc.critic_steps
        grids.append(("critic_steps", cfg.critic_steps_grid))
    rows: list[dict[str, Any]] = []
    for key, values in grids:
        tried = []
        for value in values:
            trial = {**choice, key: value}
            done = next((r for r in rows if r["choice"] == trial), None)
            if done is None:
                name = "_".join(f"{k}{v:g}" for k, v in sorted(trial.items()))
                _, curve = adapt_with_selection(short, model, method, cfg.tune_seed, init_from,
                                                out / method / name, val, choice=trial)
                step = select_step(curve)
                done = {"choice": trial, "val_2d_px": min(r["val_2d_px"] for r in curve), "step": step}
                rows.append(done)
                echo(f"tune {LABELS[method]} {trial}: val 2D {done['val_2d_px']:.3f} px (step {step})")
            tried.append(done)
        choice = tune_grid_rows(tried)
    return {"choice": choice, "runs": rows}


def select_step(curve: Sequence[dict[str, float]]) -> int:
    """The step whose validation 2D error is lowest (the earliest on ties): reads ``val_2d_px`` only."""
    if not curve:
        raise ValueError("select_step: no validation scores")
    return int(min(curve, key=lambda r: (r["val_2d_px"], r["step"]))["step"])


def adapt_with_selection(cfg: BenchmarkConfig, model: ModelConfig, method: str, seed: int, init_from: Path,
                         run_dir: Path, val: Sequence[Sample],
                         choice: dict[str, Any] | None = None) -> tuple[Path, list[dict[str, float]]]:
    """Phase 2 of ``method``; returns the kept checkpoint (lowest validation 2D error) and the validation curve.

    ``choice``: a tuning setting (``adapt_lr``, ``lambda``, ``critic_steps``; :func:`tune_method`). The curve also
    holds ``val_epe_mm`` (palm-relative 3D error on the validation split) for the learning-curve figure;
    selection never reads it. A finished run (``val_curve.json`` + ``best.pt``) is reused, so an
    interrupted benchmark continues where it stopped; an unfinished one is run again.
    """
    choice = choice or {}
    tc = stream_train_config(model, method_config(method, choice), seed, adapt_steps=cfg.adapt_steps,
                             batch_size=cfg.batch_size, adapt_lr=float(choice.get("adapt_lr", cfg.adapt_lr)),
                             adapt_milestones=cfg.adapt_milestones,
                             lr_gamma=cfg.lr_gamma, init_from=str(init_from), num_workers=cfg.num_workers,
                             ckpt_every=cfg.eval_every, log_every=cfg.eval_every, progress=cfg.progress,
                             device=cfg.device)
    curve: list[dict[str, float]] = []
    best, done = run_dir / "best.pt", run_dir / "val_curve.json"
    if done.is_file() and best.is_file():  # finished in an earlier, interrupted benchmark: keep it
        return best, json.loads(done.read_text())
    if run_dir.exists():  # an unfinished run: its validation curve was in memory, so run it again whole
        shutil.rmtree(run_dir)
    base = stream_parts_factory(cfg.image_size, cfg.gap, cache_dir=Path(cfg.out) / STREAM_CACHE)

    def factory(train_cfg, dist):
        parts = base(train_cfg, dist)
        net = parts.network["model"]

        def on_checkpoint(phase: str, step: int) -> None:
            if phase != "adapt":
                return
            o = run_model(net, val, batch_size=64, keep=0, features=False, progress=False)
            err2d = float(np.linalg.norm(o.uv_px - o.gt_uv_px, axis=-1)[o.vis].mean())
            row = {"step": step, "val_2d_px": err2d, "val_epe_mm": score_outputs(o, model).epe_mean_mm}
            curve.append(row)
            if select_step(curve) == step:
                atomic_save(slim(load_checkpoint(run_dir / "last.pt")), best)

        parts.on_checkpoint = on_checkpoint
        return parts

    fit(tc, run_dir, False, factory)
    atomic_write_text(done, json.dumps(curve) + "\n")
    return best, curve


def critic_input(model: AWHourglassNet, samples: Sequence[Sample]) -> np.ndarray:
    """The last stack's critic-tap features ``(N, C, H, W)`` of ``samples`` (eval mode)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(samples), 64):
            b = collate(list(samples[i:i + 64]))
            dev = next(model.parameters()).device
            out.append(model(b.image.to(dev), domain=b.domain.to(dev)).features[-1].float().cpu().numpy())
    return np.concatenate(out)


def measures(model: AWHourglassNet, src: Sequence[Sample], tgt: Sequence[Sample], probe_steps: int,
             seed: int) -> dict[str, Any]:
    """Alignment measures of a network on held-out source/target images, and its depth-only error."""
    fs, ft = critic_input(model, src), critic_input(model, tgt)
    o = run_model(model, tgt, batch_size=64, keep=0, features=False, progress=False)
    depth_only = evaluate_25d(o.gt_uv_px, o.z_norm, o.K, o.gt_xyz_m, o.vis, bone=model.cfg.scale_bone)
    sep = alignment.alpha_separability(fs, ft)
    return {"domain_probe_acc": alignment.domain_probe_accuracy(fs, ft, seed=seed),
            "mmd": alignment.linear_mmd(fs, ft),
            "heldout_critic": alignment.heldout_critic(fs, ft, steps=probe_steps, seed=seed),
            "depth_only_epe_mm": depth_only.epe_mean_mm,
            "alpha": sep["alpha"], "separability": sep["separability"], "alpha_sep_spearman": sep["spearman"]}


def t_interval(values: Sequence[float]) -> dict[str, float]:
    """Mean and 95 % Student-t confidence half-width of ``values`` (half-width NaN for one value)."""
    from scipy import stats

    v = np.asarray(values, np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "ci95": float("nan"), "n": len(v)}
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return {"mean": mean, "ci95": half, "n": len(v)}


def nan_if_none(value: float | None) -> float:
    """``value``, NaN for a score that could not be computed (None)."""
    return float("nan") if value is None else value


def paired_differences(per_seed: dict[str, list[float]], reference: str = "joint") -> dict[str, dict[str, float]]:
    """Per method, the mean and 95 % CI of ``method − reference`` over seeds (paired by seed)."""
    ref = per_seed[reference]
    return {m: t_interval([a - b for a, b in zip(v, ref, strict=True)]) for m, v in per_seed.items() if m != reference}


def run_compare(cfg: BenchmarkConfig, pretrained: str | None = None,
                echo: Callable[[str], None] = print) -> dict[str, Any]:
    """The compare stage; writes ``results.json``, ``report.md`` and figures under ``cfg.out``."""
    from awhourglass.synth.dataset import SynthConfig, write_dataset

    out = Path(cfg.out)
    start = time.perf_counter()
    if pretrained is None:
        path, manifest = shipped_network()
        model_cfg = from_dict(ModelConfig, manifest["model"])
    else:
        path = Path(pretrained)
        model_cfg = from_dict(ModelConfig, load_checkpoint(path)["config"]["model"])
    size = model_cfg.input_size
    data = out / "data"
    # validation and test: target images of different seeds (STB format, B1), source test (RHD evaluation)
    splits = {"stb-val": ("target", cfg.n_target_val, cfg.data_seed + 500_000),
              "stb": ("target", cfg.n_target_test, cfg.data_seed), "rhd": ("source", cfg.n_source_test, cfg.data_seed)}
    for name, (domain, n, seed) in splits.items():
        if not (data / name).exists():
            write_dataset(SynthConfig(domain=domain, n=n, out=str(data / name), seed=seed, size=cfg.image_size,
                                      split="evaluation", gap=cfg.gap), progress=cfg.progress)
    val = read_split(data / "stb-val", "stb", "test", size)
    echo(f"awh benchmark: {cfg.seeds} seeds × {len(cfg.methods)} methods from {path}")

    starts = {m: method_start(m, model_cfg, path, out) for m in cfg.methods}
    tuning = ({m: tune_method(cfg, starts[m][0], m, starts[m][1], out / "tune", val, echo) for m in cfg.methods}
              if cfg.tune else {})
    runs: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in ("source_only", *cfg.methods)}
    for k in range(cfg.seeds):
        seed = cfg.data_seed + k
        for method in cfg.methods:
            run_dir = out / "runs" / f"seed{seed}" / method
            t = time.perf_counter()
            choice = tuning[method]["choice"] if method in tuning else None
            m_cfg, m_init = starts[method]
            kept, curve = adapt_with_selection(cfg, m_cfg, method, seed, m_init, run_dir, val, choice=choice)
            runs[method][seed] = {"kept": str(kept), "step": select_step(curve), "curve": curve}
            echo(f"seed {seed} {LABELS[method]}: kept step {select_step(curve)} (val 2D "
                 f"{min(r['val_2d_px'] for r in curve):.2f} px), {time.perf_counter() - t:.0f} s")
        runs["source_only"][seed] = {"kept": str(path), "step": 0, "curve": []}
        shutil.rmtree(Path(cfg.out) / STREAM_CACHE, ignore_errors=True)  # this seed's renders are read by all

    # Selection is over: only now is the test split read.
    test = read_split(data / "stb", "stb", "test", size)
    src_test = read_split(data / "rhd", "rhd", "test", size)
    results: dict[str, list[EvalResult]] = {m: [] for m in runs}
    for method, by_seed in runs.items():
        for seed, run in by_seed.items():
            net = network_from_checkpoint(run["kept"])
            r = score_outputs(run_model(net, test, batch_size=64, keep=0, features=False, progress=False), model_cfg)
            results[method].append(r)
            run["test"] = r.to_dict()
            run["measures"] = measures(net, src_test, test, cfg.probe_steps, seed)
    baselines = score_constants(constant_hands(model_cfg, cfg.data_seed, cfg.n_constant, cfg.image_size, cfg.gap),
                                test, model_cfg)
    doc = report_document({LABELS[m]: rs for m, rs in results.items()}, baselines)
    per_seed = {m: [r.epe_mean_mm for r in rs] for m, rs in results.items()}
    # (PA-EPE is None where a test hand has fewer than 3 visible joints: NaN here, as t_interval always read it)
    per_seed_pa = {m: [nan_if_none(r.pa_epe_mean_mm) for r in rs] for m, rs in results.items()}
    doc["benchmark"] = {
        "config": {**asdict(cfg), "model": to_dict(model_cfg)},
        "pretrained": str(path),
        "ci95_epe_mm": {LABELS[m]: t_interval(v) for m, v in per_seed.items()},
        "ci95_pa_epe_mm": {LABELS[m]: t_interval(v) for m, v in per_seed_pa.items()},
        "paired_vs_joint_epe_mm": ({LABELS[m]: d for m, d in paired_differences(per_seed).items()}
                                   if "joint" in per_seed else {}),
        "paired_vs_joint_pa_epe_mm": ({LABELS[m]: d for m, d in paired_differences(per_seed_pa).items()}
                                      if "joint" in per_seed else {}),
        "tuning": {LABELS[m]: t for m, t in tuning.items()},
        "runs": {LABELS[m]: {str(s): r for s, r in by_seed.items()} for m, by_seed in runs.items()},
        "total_s": round(time.perf_counter() - start, 1),
    }
    figures = _figures(out, runs)
    md = render_markdown(doc, [(p.relative_to(out), c) for p, c in figures],
                         title="awh benchmark: every method from one pretrained network, paired seeds",
                         sections=_summary(doc))
    atomic_write_text(out / "results.json", json.dumps(doc, indent=2, allow_nan=True) + "\n")
    atomic_write_text(out / "report.md", md)
    echo(f"wrote {out / 'report.md'} ({doc['benchmark']['total_s']:.0f} s)")
    return doc


def _fmt(d: dict[str, float], dec: int = 2) -> str:
    return f"{d['mean']:+.{dec}f} ± {d['ci95']:.{dec}f}" if math.isfinite(d["ci95"]) else f"{d['mean']:+.{dec}f}"


def _summary(doc: dict[str, Any]) -> str:
    b = doc["benchmark"]
    lines = ["", "## Intervals, paired differences, alignment", "",
             "| Method | EPE mean ± 95 % CI (mm) | PA-EPE ± 95 % CI (mm) | Δ EPE vs joint (paired, mm) | "
             "Δ PA-EPE vs joint (mm) | kept steps | domain probe acc. | MMD | held-out critic W | depth-only EPE (mm) "
             "| ρ(α, separability) |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for name, ci in b["ci95_epe_mm"].items():
        runs = b["runs"][name].values()
        meas = [r["measures"] for r in runs]
        d = b["paired_vs_joint_epe_mm"].get(name)
        dp = b["paired_vs_joint_pa_epe_mm"].get(name)
        lines.append(
            f"| {name} | {ci['mean']:.2f} ± {ci['ci95']:.2f} | {b['ci95_pa_epe_mm'][name]['mean']:.2f} ± "
            f"{b['ci95_pa_epe_mm'][name]['ci95']:.2f} | {_fmt(d) if d else '–'} | {_fmt(dp) if dp else '–'} | "
            f"{', '.join(str(r['step']) for r in runs)} | {np.mean([m['domain_probe_acc'] for m in meas]):.3f} | "
            f"{np.mean([m['mmd'] for m in meas]):.3f} | "
            f"{np.mean([m['heldout_critic']['heldout'] for m in meas]):.3f} | "
            f"{np.mean([m['depth_only_epe_mm'] for m in meas]):.2f} | "
            f"{np.nanmean([m['alpha_sep_spearman'] for m in meas]):+.2f} |")
    lines += ["", "CIs: Student t over seeds. Δ: method − joint training, per seed (same data streams), then the "
              "mean and its 95 % CI: an interval that contains 0 does not separate the two. Kept steps: chosen on "
              "the target validation split by 2D error only. Alignment measures on held-out test features of the "
              "critic's tap (last stack bottleneck), mean over seeds.", ""]
    return "\n".join(lines)


def _figure(width_in: float, panels: int):
    fig = plots.new_figure((width_in, 3.3))
    return fig, [fig.add_subplot(1, panels, i + 1) for i in range(panels)]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    return plots.save_figure(fig, path)


def _figures(out: Path, runs: dict[str, dict[int, dict[str, Any]]]) -> list[tuple[Path, str]]:
    figs = []
    fig, (ax1, ax2) = _figure(9, 2)
    for method, by_seed in runs.items():
        curves = [r["curve"] for r in by_seed.values() if r["curve"]]
        if not curves:
            continue
        steps = [row["step"] for row in curves[0]]
        ax1.plot(steps, np.mean([[row["val_2d_px"] for row in c] for c in curves], 0), label=LABELS[method])
        ax2.plot(steps, np.mean([[row["val_epe_mm"] for row in c] for c in curves], 0), label=LABELS[method])
    ax1.set(xlabel="adaptation step", ylabel="val 2D error (px)", title="selection criterion")
    ax2.set(xlabel="adaptation step", ylabel="val palm-relative EPE (mm)", title="3D error (not used to select)")
    ax1.legend(fontsize=6)
    figs.append((_save(fig, out / "learning_curves.png"),
                 "Learning curves on the target validation split, mean over seeds: the 2D error that picks "
                 "the checkpoint (left) and the palm-relative 3D error, shown only (right)."))
    fig, (ax,) = _figure(5, 1)
    for method, by_seed in runs.items():
        alphas = np.concatenate([r["measures"]["alpha"] for r in by_seed.values()])
        ax.hist(alphas, bins=np.linspace(0, 1, 26), histtype="step", label=LABELS[method])
    ax.set(xlabel="α (Eq. 5) of a bottleneck channel", ylabel="channels", title="α on held-out test features")
    ax.legend(fontsize=6)
    figs.append((_save(fig, out / "alpha_hist.png"),
                 "Histogram of the Eq. 5 channel weights α of each method's bottleneck features on held-out "
                 "source vs target test images (all seeds)."))
    return figs


__all__ = ["adapt_with_selection", "measures", "method_config", "method_start", "paired_differences",
           "run_compare", "select_step", "t_interval"]
