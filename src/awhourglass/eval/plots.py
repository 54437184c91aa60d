"""Figures for reports: PCK curves, t-SNE of domain features, heatmap grids, 3D and 2D skeletons.

Every function draws on its own ``Figure`` with the Agg canvas (no pyplot, no display, no global backend
state), writes one PNG and returns its path.
Images are ``(H, W, 3)`` or ``(3, H, W)`` arrays / tensors, float in [0, 1] or uint8. Pixel coordinates
follow the package convention (pixel ``i``'s centre at ``i``), which is matplotlib's ``imshow`` default,
so joints are drawn exactly where they lie in the image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from awhourglass import metrics
from awhourglass.atomic import atomic_open
from awhourglass.eval.results import EvalResult
from awhourglass.skeleton import BONES, JOINT_NAMES, NUM_JOINTS, joint_colour

SOURCE_COLOUR, TARGET_COLOUR = "red", "blue"  # paper Fig. 6: red = source (synthetic), blue = target (real)


def new_figure(figsize: tuple[float, float], dpi: int = 100) -> Figure:
    """A matplotlib figure on its own Agg canvas (no pyplot state)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, **kwargs) -> Path:
    """Write ``fig`` as a PNG atomically (a reader never sees half a figure); returns ``path``."""
    path = Path(path)
    with atomic_open(path, "wb", fsync=False) as fh:
        fig.savefig(fh, format="png", **kwargs)
    return path


def to_hwc_image(image: object) -> np.ndarray:
    """An image as ``(H, W, 3)`` float in [0, 1] from ``(H, W, 3)``/``(3, H, W)``/``(H, W)``, uint8 or float."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3):
        raise ValueError(f"image: expected (H, W, 3), (3, H, W) or (H, W), got shape {np.asarray(image).shape}")
    if img.dtype == np.uint8:
        img = img.astype(np.float64) / 255.0
    img = np.asarray(img, dtype=np.float64)
    if not np.isfinite(img).all():
        raise ValueError("image: contains non-finite values")
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.clip(img, 0.0, 1.0)


# --- PCK curves --------------------------------------------------------------------------------------


def plot_pck_curves(
    curves: Mapping[str, EvalResult | tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str = "3D PCK",
    auc_range_mm: tuple[float, float] = (0.0, 30.0),
) -> Path:
    """Several runs' PCK curves on one figure; the legend shows each run's AUC over ``auc_range_mm``.

    Args:
        curves: label → :class:`EvalResult` or ``(thresholds_mm, pck_values)``.
        path: output PNG.
        auc_range_mm: the AUC shown in the legend is that of the curve restricted to this range
            (for an EvalResult over 0–30 / 20–50 mm: its stored ``auc_0_30`` / ``auc_20_50``).
    """
    if not curves:
        raise ValueError("plot_pck_curves: no curves given")
    lo, hi = auc_range_mm
    fig = new_figure((6, 4.5), 100)
    ax = fig.subplots()
    for label, c in curves.items():
        if isinstance(c, EvalResult):
            t, v = np.asarray(c.pck_thresholds_mm), np.asarray(c.pck_values)
            stored = {(0.0, 30.0): c.auc_0_30, (20.0, 50.0): c.auc_20_50}.get((float(lo), float(hi)))
        else:
            t, v = (np.asarray(x, dtype=np.float64) for x in c)
            stored = None
        if t.ndim != 1 or t.shape != v.shape or t.size < 2:
            raise ValueError(f"plot_pck_curves: curve {label!r} needs matching 1D thresholds and values")
        if stored is None:
            keep = (t >= lo - 1e-9) & (t <= hi + 1e-9)
            if keep.sum() < 2:
                raise ValueError(f"plot_pck_curves: curve {label!r} has < 2 thresholds in {auc_range_mm} mm")
            stored = metrics.auc(t[keep], v[keep])
        ax.plot(t, v, linewidth=2, label=f"{label} (AUC {lo:g}–{hi:g} mm = {stored:.3f})")
    ax.axvspan(lo, hi, color="0.9", zorder=0)
    ax.set_xlabel("error threshold (mm)")
    ax.set_ylabel("3D PCK")
    ax.set_ylim(0.0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path, bbox_inches="tight")


# --- t-SNE -------------------------------------------------------------------------------------------


def tsne_embed(
    features: object,
    domains: object,
    max_points: int = 2000,
    seed: int = 0,
    perplexity: float = 30.0,
    threads: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """2D t-SNE of ``features (N, D)`` with ``domains (N,)`` (0 = source, 1 = target).

    Subsamples to at most ``max_points``, half from each domain where possible (paper Fig. 6: 2000
    samples, half/half), with a fixed seed. ``threads`` caps OpenMP threads (``None``: library default);
    the default 1 avoids oversubscription, which made t-SNE ~10× slower on a busy 2-core machine.
    Returns ``(embedding (M, 2), domains (M,))``.
    """
    # imported here: slow to import, needed only for this figure
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = metrics.as_numpy(features, "features")
    d = np.asarray(domains.detach().cpu().numpy() if hasattr(domains, "detach") else domains)
    if x.ndim != 2 or x.shape[0] < 3:
        raise ValueError(f"features: expected (N, D) with N >= 3, got {x.shape}")
    if d.shape != (x.shape[0],) or not np.isin(d, (0, 1)).all():
        raise ValueError(f"domains: expected ({x.shape[0]},) values 0 (source) / 1 (target), got shape {d.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features: contains non-finite values")
    rng = np.random.default_rng(seed)
    src, tgt = np.flatnonzero(d == 0), np.flatnonzero(d == 1)
    half = max_points // 2
    n_src = min(len(src), max(half, max_points - len(tgt)))
    n_tgt = min(len(tgt), max_points - n_src)
    idx = np.concatenate([rng.choice(src, n_src, replace=False), rng.choice(tgt, n_tgt, replace=False)])
    perp = float(min(perplexity, (len(idx) - 1) / 3.0))  # sklearn requires perplexity < n_samples
    with threadpool_limits(limits=threads):
        emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(x[idx])
    return emb, d[idx].astype(np.int64)


def plot_tsne(
    features: object,
    domains: object,
    path: str | os.PathLike,
    title: str = "t-SNE of features",
    max_points: int = 2000,
    seed: int = 0,
) -> Path:
    """Scatter the t-SNE of source (red) and target (blue) features (:func:`tsne_embed`)."""
    emb, d = tsne_embed(features, domains, max_points=max_points, seed=seed)
    fig = new_figure((5, 5), 100)
    ax = fig.subplots()
    for dom, colour, name in ((0, SOURCE_COLOUR, "source (synthetic)"), (1, TARGET_COLOUR, "target (real)")):
        sel = d == dom
        ax.scatter(emb[sel, 0], emb[sel, 1], s=4, c=colour, label=f"{name}, n={int(sel.sum())}", alpha=0.7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8, markerscale=3)
    return save_figure(fig, path, bbox_inches="tight")


# --- heatmaps ----------------------------------------------------------------------------------------


def plot_heatmap_grid(
    image: object,
    heatmaps: object,
    path: str | os.PathLike,
    uv_px: object | None = None,
    alpha: float = 0.6,
) -> Path:
    """The image, then one panel per joint with its heatmap overlaid (stretched over the whole image).

    Args:
        image: the network-input image.
        heatmaps: ``(21, h, w)`` per-joint maps (any range; each is min-max scaled for display). They are
            stretched over the image so that heatmap pixel ``i`` covers input pixels ``[i·s, (i+1)·s)``,
            ``s = W / w``: the convention of :func:`awhourglass.geometry.heatmap_to_input_px`.
        uv_px: optional ``(21, 2)`` joint pixels of ``image`` drawn as crosses.
    """
    img = to_hwc_image(image)
    hm = metrics.as_numpy(heatmaps, "heatmaps")
    if hm.ndim != 3 or hm.shape[0] != NUM_JOINTS:
        raise ValueError(f"heatmaps: expected ({NUM_JOINTS}, h, w), got {hm.shape}")
    if not np.isfinite(hm).all():
        raise ValueError("heatmaps: contains non-finite values")
    uv = None
    if uv_px is not None:
        uv = metrics.as_numpy(uv_px, "uv_px")
        if uv.shape != (NUM_JOINTS, 2):
            raise ValueError(f"uv_px: expected ({NUM_JOINTS}, 2), got {uv.shape}")
    H, W = img.shape[:2]
    extent = (-0.5, W - 0.5, H - 0.5, -0.5)  # the heatmap covers exactly the image's area
    cols = 6
    rows = int(np.ceil((NUM_JOINTS + 1) / cols))
    fig = new_figure((2 * cols, 2 * rows), 80)
    axes = fig.subplots(rows, cols)
    axes = axes.ravel()
    axes[0].imshow(img)
    axes[0].set_title("image", fontsize=8)
    for j in range(NUM_JOINTS):
        ax = axes[j + 1]
        m = hm[j]
        span = m.max() - m.min()
        ax.imshow(img)
        ax.imshow((m - m.min()) / span if span > 0 else np.zeros_like(m), cmap="jet", alpha=alpha, extent=extent)
        if uv is not None:
            ax.plot(uv[j, 0], uv[j, 1], "w+", markersize=8)
        ax.set_title(JOINT_NAMES[j], fontsize=8)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return save_figure(fig, path)


# --- skeletons ---------------------------------------------------------------------------------------


def _draw_bones(ax, pts: np.ndarray, vis: np.ndarray, linestyle: str = "-", linewidth: float = 2.0) -> None:
    """Bones coloured by finger; a bone is drawn only when both its joints are visible."""
    for parent, child in BONES:
        if vis[parent] and vis[child]:
            seg = pts[[parent, child]]
            ax.plot(*seg.T, color=joint_colour(child), linestyle=linestyle, linewidth=linewidth)


def plot_skeleton_3d(
    skeletons: Mapping[str, object] | object,
    path: str | os.PathLike,
    title: str = "3D hand",
    elev: float = -70.0,
    azim: float = -90.0,
) -> Path:
    """3D skeleton(s) ``(21, 3)`` in metres, drawn in millimetres; colours per finger.

    ``skeletons`` is one ``(21, 3)`` array or label → array (e.g. ``{"gt": ..., "pred": ...}``): the first
    is drawn solid, the others dashed. The default view looks roughly from the camera (y down). Joints that are
    NaN (unlabelled ground truth) are not drawn, nor their bones.
    """
    items = dict(skeletons) if isinstance(skeletons, Mapping) else {"hand": skeletons}
    if not items:
        raise ValueError("plot_skeleton_3d: no skeleton given")
    fig = new_figure((5, 5), 100)
    ax = fig.add_subplot(111, projection="3d")
    styles = ["-", "--", ":", "-."]
    all_pts = []
    for k, (label, xyz) in enumerate(items.items()):
        pts = metrics.as_numpy(xyz, f"skeleton {label!r}")
        known = np.isfinite(pts).all(-1) if pts.shape == (NUM_JOINTS, 3) else np.zeros(0, bool)
        if not known.any():
            raise ValueError(f"skeleton {label!r}: expected ({NUM_JOINTS}, 3) metres with finite joints, got "
                             f"{pts.shape}")
        pts = 1000.0 * pts
        all_pts.append(pts[known])
        _draw_bones(ax, pts, known, linestyle=styles[k % len(styles)])  # unlabelled (NaN) joints are left out
        ax.scatter(*pts[known].T, s=10, c=[joint_colour(int(j)) for j in np.flatnonzero(known)], depthshade=False)
        ax.plot([], [], "k" + styles[k % len(styles)], label=label)
    allp = np.concatenate(all_pts)
    centre, half = allp.mean(0), max(float(np.ptp(allp, axis=0).max()) / 2, 1.0)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_zlabel("z (mm)")
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(title, pad=20)
    if len(items) > 1:
        ax.legend(loc="upper right", fontsize=8)
    return save_figure(fig, path)


def plot_skeleton_2d(
    image: object,
    uv_px: object,
    path: str | os.PathLike,
    vis: object | None = None,
    gt_uv_px: object | None = None,
    scale: int = 4,
) -> Path:
    """2D skeleton over its image; the PNG is the image magnified ``scale`` times, without margins.

    Image coordinate ``u`` lands on output pixel column ``(u + 0.5) · scale``. ``gt_uv_px`` (optional)
    is drawn dashed in white under the prediction. Bones touching a joint with ``vis`` 0 are skipped.
    """
    img = to_hwc_image(image)
    H, W = img.shape[:2]
    uv = metrics.as_numpy(uv_px, "uv_px")
    if uv.shape != (NUM_JOINTS, 2):
        raise ValueError(f"uv_px: expected ({NUM_JOINTS}, 2), got {uv.shape}")
    v = metrics.check_vis(None if vis is None else np.asarray(metrics.as_numpy(vis, "vis"))[None], 1)[0]
    if not np.isfinite(uv[v]).all():
        raise ValueError("uv_px: non-finite values at visible joints")
    dpi = 100
    fig = new_figure((W * scale / dpi, H * scale / dpi), dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(img, interpolation="nearest")
    if gt_uv_px is not None:
        gt = metrics.as_numpy(gt_uv_px, "gt_uv_px")
        if gt.shape != (NUM_JOINTS, 2):
            raise ValueError(f"gt_uv_px: expected ({NUM_JOINTS}, 2), got {gt.shape}")
        for parent, child in BONES:
            if v[parent] and v[child]:
                ax.plot(*gt[[parent, child]].T, color="white", linestyle="--", linewidth=1.0)
    _draw_bones(ax, uv, v, linewidth=max(1.0, scale / 2))
    pts = uv[v]
    ax.scatter(pts[:, 0], pts[:, 1], s=scale * 3, c=[joint_colour(int(j)) for j in np.flatnonzero(v)], zorder=3)
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_axis_off()
    return save_figure(fig, path, dpi=dpi)
