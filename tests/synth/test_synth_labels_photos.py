"""Labels reproject exactly (in memory and through the files), rendered depth is exact at joint pixels, and the
backgrounds are cut from the photographs."""

import numpy as np
import pytest
import torch
from PIL import Image

from awhourglass.data.config import DatasetConfig
from awhourglass.data.rhd import RHDDataset
from awhourglass.data.stb import STBDataset
from awhourglass.synth import kinematics as kin
from awhourglass.synth import photos, writers
from awhourglass.synth.generate import generate_batch
from awhourglass.synth.render import first_hit_depth, render_capsules

TOL_PX = 0.01


def _project(xyz, K):
    xyz, K = np.asarray(xyz, np.float64), np.asarray(K, np.float64)
    return xyz[..., :2] / xyz[..., 2:] * np.array([K[0, 0], K[1, 1]]) + K[:2, 2]


@pytest.mark.parametrize("domain", ["source", "target"])
def test_labels_reproject_in_memory(domain):
    b = generate_batch(32, domain, 5, 128)
    for i in range(32):
        err = np.abs(_project(b["xyz_m"][i], b["K"][i]) - b["uv_px"][i].astype(np.float64)).max()
        # float32 storage of xyz, K and uv costs ~1e-5 px at 128 px; 0.01 px leaves ample room.
        assert err <= TOL_PX, (i, err)


def test_labels_reproject_through_the_rhd_and_stb_files(tmp_path):
    src = generate_batch(6, "source", 8, 64)
    writers.prepare_rhd(tmp_path / "rhd", "training")
    recs = writers.write_rhd_images(tmp_path / "rhd", "training", 0, src)
    writers.write_rhd_annotations(tmp_path / "rhd", "training", recs)
    rhd = RHDDataset(DatasetConfig(format="rhd", root=str(tmp_path / "rhd"), split="train"))
    assert len(rhd) == 6
    for i in range(6):
        raw = rhd.read_raw(i)
        assert np.abs(_project(raw.xyz_m, raw.K) - raw.uv_px).max() <= TOL_PX
        assert np.abs(raw.uv_px - src["uv_px"][i]).max() <= TOL_PX  # and it is where the hand was rendered

    tgt = generate_batch(6, "target", 9, 64)
    root = tmp_path / "stb"
    (root / "B2Counting").mkdir(parents=True)
    (root / "labels").mkdir()
    writers.write_stb_images(root, "B2Counting", 0, tgt)
    writers.write_stb_labels(root, "B2Counting", tgt["xyz_m"])
    writers.write_stb_intrinsics(root, 64, 48)
    stb = STBDataset(DatasetConfig(format="stb", root=str(root), split="train"))
    assert len(stb) == 6
    for i in range(6):
        raw = stb.read_raw(i)
        assert np.abs(_project(raw.xyz_m, raw.K) - raw.uv_px).max() <= TOL_PX
        assert np.abs(raw.uv_px - tgt["uv_px"][i]).max() <= TOL_PX  # through mm, the depth frame and back


def _numpy_first_hit(d, p0, p1, r):
    """Independent first hit (ray parameter along ``d``, from the origin) with capsules: the distance from the ray
    point to a segment is convex along the ray, so golden-section search finds its minimum and bisection the first
    root before it."""
    def dist(t, a, b, rr):
        p = t * d
        ab = b - a
        s = np.clip(np.dot(p - a, ab) / np.dot(ab, ab), 0, 1)
        return np.linalg.norm(p - (a + s * ab)) - rr

    best = np.inf
    for a, b, rr in zip(p0, p1, r, strict=True):
        lo, hi = 0.02, 10.0
        g = (np.sqrt(5) - 1) / 2
        for _ in range(200):
            m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
            if dist(m1, a, b, rr) < dist(m2, a, b, rr):
                hi = m2
            else:
                lo = m1
        tmin = 0.5 * (lo + hi)
        if dist(tmin, a, b, rr) > 0:
            continue
        lo, hi = 0.02, tmin
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if dist(mid, a, b, rr) > 0 else (lo, mid)
        best = min(best, hi)
    return best


def test_rendered_depth_is_exact_at_joint_pixels():
    """Put each joint in turn on the optical axis through an integer pixel centre: the rendered depth there must
    equal the ray's first hit computed independently, and the pixel is on the hand exactly when that ray hits."""
    rng = np.random.default_rng(3)
    b = generate_batch(2, "source", 11, 64)
    shape = kin.HandShape(b["bone_length_m"], np.ones(2), np.ones(2))
    local = kin.body_points(kin.forward_kinematics(b["angles_rad"], shape), shape.scale, kin.sample_forearm_dir(rng, 2))
    checked = 0
    for n in range(2):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        pts = local[n] @ q.T
        for j in (0, 4, 8, 9, 12, 16, 20):
            cam = pts - pts[j] + np.array([0.0, 0.0, 0.4])  # joint j at (0, 0, 0.4): projects onto pixel (20, 15)
            K = np.array([[300.0, 0, 20.0], [0, 300.0, 15.0], [0, 0, 1]])
            t = torch.as_tensor(cam[None])
            p0, p1 = t[:, kin.CAPSULE_ENDS[:, 0]], t[:, kin.CAPSULE_ENDS[:, 1]]
            rad = torch.as_tensor(kin.CAPSULE_RADIUS_M[None], dtype=torch.float64)
            out = render_capsules(p0, p1, rad, torch.as_tensor(K[None]), 32, 40)
            rendered = out.depth_m[0, 15, 20].item()
            ours = _numpy_first_hit(np.array([0.0, 0.0, 1.0]), cam[kin.CAPSULE_ENDS[:, 0]],
                                    cam[kin.CAPSULE_ENDS[:, 1]], kin.CAPSULE_RADIUS_M)
            assert np.isfinite(rendered) and np.isfinite(ours)  # the joint lies inside the body: the ray hits
            assert rendered == pytest.approx(ours, abs=1e-9)
            assert rendered == pytest.approx(first_hit_depth(t[:, [j]], p0, p1, rad)[0, 0].item(), abs=1e-12)
            assert rendered < 0.4  # the surface is in front of the joint centre
            assert out.capsule[0, 15, 20].item() >= 0
            checked += 1
    assert checked == 14


# --- photographs
def test_every_listed_photo_is_installed_and_loads():
    missing = [p.path for p in photos.PHOTOS if photos.photo_path(p) is None]
    assert not missing, missing  # the packages are dependencies: all must be there (indices are into PHOTOS)
    loaded = photos.load_photos()
    assert len(loaded) == len(photos.PHOTOS)
    for img, gray in loaded:
        assert img.shape[0] == 3 and max(img.shape[1:]) <= photos.MAX_SIDE_PX and min(img.shape[1:]) >= 64
        assert float(img.std()) > 0.05  # a photograph, not a blank
        assert gray == bool(torch.allclose(img[0], img[1]) and torch.allclose(img[1], img[2]))


class _IdentityRng:
    """Stands in for the generator: picks photo ``index`` and the crop, and makes every colour shift the identity.
    Unknown draws raise, so a change in what photo_backgrounds draws fails loudly here."""

    def __init__(self, index, frac, px, py, flip):
        self.index, self.frac, self.pos, self.flip = index, frac, [px, py], flip

    def integers(self, lo, hi, size):
        return np.full(size, self.index)

    def uniform(self, lo=0.0, hi=1.0, size=None):
        table = {(0.25, 1.0): self.frac, (0.8, 1.2): 1.0, (0.6, 1.0): 1.0, (0.7, 1.25): 1.0, (0.7, 1.2): 1.0,
                 (0.5, 1.3): 1.0}
        if (lo, hi) == (0, 1) and self.pos and not isinstance(size, tuple):
            return np.full(size, self.pos.pop(0))
        if (lo, hi) == (0.0, 1.0) and not isinstance(size, tuple):  # the flip draw
            return np.full(size, 0.1 if self.flip else 0.9)
        return np.full(size, table[(lo, hi)])


def _pil_photo(i):
    with Image.open(photos.photo_path(photos.PHOTOS[i])) as im:
        im = im.convert("RGB")
        s = photos.MAX_SIDE_PX / max(im.size)
        if s < 1:
            im = im.resize((round(im.width * s), round(im.height * s)), Image.BILINEAR)
        return im


@pytest.mark.parametrize("flip", [False, True])
def test_identity_colour_shift_reproduces_a_crop_of_the_photo(flip):
    i = [p.path for p in photos.PHOTOS].index("data/astronaut.png")  # 512 × 512
    im = _pil_photo(i)
    h, w = 96, 128
    # A crop exactly the render's size (96 × 128 pixels of a 512² photo), so no resampling.
    frac, px, py = h / min(im.height, im.width * h / w), 0.3, 0.7
    bg, idx = photos.photo_backgrounds(_IdentityRng(i, frac, px, py, flip), 1, h, w)
    assert idx.tolist() == [i]
    y0, x0 = round(py * (im.height - h)), round(px * (im.width - w))
    crop = im.crop((x0, y0, x0 + w, y0 + h))
    if flip:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    np.testing.assert_allclose(bg[0].numpy(), np.asarray(crop, np.float32) / 255, atol=2e-6)


def test_photo_draws_downscale_like_pil():
    i = [p.path for p in photos.PHOTOS].index("data/coffee.png")
    im = _pil_photo(i)
    h, w = 48, 64  # the whole photo's width-limited crop, scaled down ~8×
    bg, _ = photos.photo_backgrounds(_IdentityRng(i, 1.0, 0.5, 0.5, False), 1, h, w)
    side = min(im.height, im.width * h / w)
    ch, cw = round(side), round(side * w / h)
    y0, x0 = round(0.5 * (im.height - ch)), round(0.5 * (im.width - cw))
    ref = np.asarray(im.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BILINEAR), np.float32) / 255
    assert np.abs(bg[0].numpy() - ref).mean() < 0.01


def test_backgrounds_are_photos_and_match_their_photo():
    from skimage.feature import match_template
    src = generate_batch(40, "source", 2, 64)
    tgt = generate_batch(12, "target", 2, 64)
    both = np.concatenate([src["background_photo"], tgt["background_photo"]])
    assert 0.6 < np.mean(both >= 0) < 0.95  # mostly photographs (3 in 4 drawn), some plain walls
    assert src["background_photo"].max() < len(photos.PHOTOS)
    # Which photo is it? Search each photo (both flips, 10 zooms covering the 25–100 % crops) for the best
    # normalised cross-correlation with the image, the hand filled in with the background mean.
    gray = [p.mean(0).numpy() for p, _ in photos.load_photos()]
    wins, tried = 0, 0
    for i in np.flatnonzero(src["background_photo"] >= 0)[:8]:
        img = src["rgb"][i].astype(np.float64).mean(-1)
        hand = src["mask"][i] > 0
        img[hand] = img[~hand].mean()
        scores = []
        for g in gray:
            best = -1.0
            for zoom in np.geomspace(64 / (0.25 * min(g.shape)), 64 / min(g.shape), 10):
                t = torch.as_tensor(g)[None, None]
                size = (max(64, round(g.shape[0] * zoom)), max(64, round(g.shape[1] * zoom)))
                z = torch.nn.functional.interpolate(t, size=size, mode="bilinear", antialias=True)[0, 0].numpy()
                for zz in (z, z[:, ::-1]):
                    best = max(best, float(match_template(zz, img).max()))
            scores.append(best)
        tried += 1
        wins += int(np.argmax(scores) == src["background_photo"][i])
    assert tried == 8 and wins >= 6, (wins, tried)


def test_background_indices_name_photos_even_when_one_is_missing(monkeypatch):
    # A missing file is skipped when loading; the index generate_batch reports must still name the PHOTOS entry.
    real = photos.photo_path
    missing = photos.PHOTOS[0]
    monkeypatch.setattr(photos, "photo_path", lambda src: None if src == missing else real(src))
    photos.load_photos.cache_clear()
    photos.loaded_ids.cache_clear()
    try:
        _, idx = photos.photo_backgrounds(np.random.default_rng(0), 64, 8, 8)
        assert 0 not in set(idx.tolist()) and set(idx.tolist()) <= set(range(1, len(photos.PHOTOS)))
        assert len(set(idx.tolist())) > 3
    finally:
        photos.load_photos.cache_clear()
        photos.loaded_ids.cache_clear()
