import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from PIL import Image

from awhourglass.eval import plots
from awhourglass.eval.results import evaluate_arrays
from awhourglass.skeleton import FINGER_COLOURS


def _png(path):
    assert path.exists() and path.suffix == ".png"
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float64) / 255.0


def _not_blank(img, min_colours=10):
    assert img.std() > 0.02
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= min_colours


def _hand_xyz():
    # an open right hand in metres: fingers fanning out upwards (y down in the camera) from the wrist
    xyz = np.zeros((21, 3))
    for f in range(5):
        ang = np.deg2rad(-60 + 30 * f)
        for k in range(4):
            r = 0.03 + 0.02 * k
            xyz[1 + 4 * f + k] = [r * np.sin(ang), -r * np.cos(ang), 0.005 * k]
    return xyz + np.array([0.0, 0.0, 0.5])


def test_pck_curves_two_runs(tmp_path):
    rng = np.random.default_rng(0)
    gt = rng.normal(scale=0.03, size=(5, 21, 3))
    good = evaluate_arrays(gt + rng.normal(scale=0.005, size=gt.shape), gt)
    bad = evaluate_arrays(gt + rng.normal(scale=0.02, size=gt.shape), gt)
    t = np.linspace(0, 50, 11)
    path = plots.plot_pck_curves({"good": good, "bad": bad, "raw": (t, t / 50)}, tmp_path / "pck.png")
    _not_blank(_png(path))
    with pytest.raises(ValueError, match="no curves"):
        plots.plot_pck_curves({}, tmp_path / "x.png")


def test_tsne_separates_two_clusters(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(150, 16))
    b = rng.normal(size=(150, 16)) + 12.0
    feats = np.concatenate([a, b])
    dom = np.array([0] * 150 + [1] * 150)
    emb, d = plots.tsne_embed(feats, dom, max_points=200, seed=0)
    assert emb.shape == (200, 2) and (d == 0).sum() == 100 and (d == 1).sum() == 100
    # separated: every point is nearer its own domain's centroid than the other one's
    c0, c1 = emb[d == 0].mean(0), emb[d == 1].mean(0)
    own = np.where(d[:, None] == 0, emb - c0, emb - c1)
    other = np.where(d[:, None] == 0, emb - c1, emb - c0)
    assert (np.linalg.norm(own, axis=1) < np.linalg.norm(other, axis=1)).all()
    path = plots.plot_tsne(torch.tensor(feats), torch.tensor(dom), tmp_path / "tsne.png", max_points=200)
    img = _png(path)
    _not_blank(img)
    red = (img[..., 0] > 0.8) & (img[..., 1] < 0.4) & (img[..., 2] < 0.4)
    blue = (img[..., 2] > 0.8) & (img[..., 0] < 0.4) & (img[..., 1] < 0.4)
    assert red.sum() > 50 and blue.sum() > 50  # red = source, blue = target


def test_tsne_rejects_bad_domains():
    with pytest.raises(ValueError, match="domains"):
        plots.tsne_embed(np.zeros((10, 3)), np.full(10, 2))


def test_heatmap_grid(tmp_path):
    img = np.full((32, 32, 3), 0.5)
    yy, xx = np.mgrid[:8, :8]
    hm = np.stack([np.exp(-((xx - j % 8) ** 2 + (yy - j // 3) ** 2)) for j in range(21)])
    path = plots.plot_heatmap_grid(torch.tensor(img).permute(2, 0, 1), hm, tmp_path / "hm.png", uv_px=np.ones((21, 2)))
    _not_blank(_png(path))
    with pytest.raises(ValueError, match=r"heatmaps: expected \(21, h, w\)"):
        plots.plot_heatmap_grid(img, hm[:20], tmp_path / "x.png")


def test_skeleton_3d(tmp_path):
    xyz = _hand_xyz()
    path = plots.plot_skeleton_3d({"gt": xyz, "pred": xyz + 0.005}, tmp_path / "s3d.png")
    img = _png(path)
    _not_blank(img)
    thumb = np.array(to_rgb(FINGER_COLOURS["thumb"]))
    assert (np.abs(img - thumb).sum(-1) < 0.1).sum() > 20  # the thumb's colour is drawn
    with pytest.raises(ValueError, match=r"\(21, 3\)"):
        plots.plot_skeleton_3d(xyz[:20], tmp_path / "x.png")
    masked = xyz.copy()
    masked[1:5] = np.nan  # an unlabelled thumb (InterHand2.6M's invalid joints): drawn without it
    img = _png(plots.plot_skeleton_3d({"gt": masked}, tmp_path / "m.png"))
    _not_blank(img)
    assert (np.abs(img - thumb).sum(-1) < 0.1).sum() == 0
    with pytest.raises(ValueError, match="finite joints"):
        plots.plot_skeleton_3d(np.full((21, 3), np.nan), tmp_path / "n.png")


def test_skeleton_2d_lands_on_the_right_pixels(tmp_path):
    # Black 64×64 image; the thumb lies along row v = 10 from u = 10 to u = 50, the index along column
    # u = 40 from v = 20 to 60. At scale s, image coordinate c lands on output pixel (c + 0.5)·s.
    uv = np.full((21, 2), 5.0)
    uv[0] = [5.0, 5.0]
    uv[1:5] = [[10, 10], [20, 10], [35, 10], [50, 10]]
    uv[5:9] = [[40, 20], [40, 30], [40, 45], [40, 60]]
    vis = np.zeros(21, dtype=bool)
    vis[1:9] = True
    s = 4
    path = plots.plot_skeleton_2d(np.zeros((64, 64, 3), np.uint8), uv, tmp_path / "s2d.png", vis=vis, scale=s)
    img = _png(path)
    assert img.shape == (64 * s, 64 * s, 3)
    thumb = np.array(to_rgb(FINGER_COLOURS["thumb"]))
    index = np.array(to_rgb(FINGER_COLOURS["index"]))
    row = int((10 + 0.5) * s)
    assert np.abs(img[row, int((28 + 0.5) * s)] - thumb).sum() < 0.15
    col = int((40 + 0.5) * s)
    assert np.abs(img[int((38 + 0.5) * s), col] - index).sum() < 0.15
    # away from any bone the image stays black; wrist bones are hidden because the wrist is masked
    assert img[int((32 + 0.5) * s), int((10 + 0.5) * s)].sum() < 0.05
    assert img[int((7.5 + 0.5) * s), int((7.5 + 0.5) * s)].sum() < 0.05
