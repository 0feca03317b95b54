"""Your own data: CSV parsing and its messages, images and the brush as point sources, and the
KDE dataset whose log-density is exact."""

import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from devtools.memory import PEAK_PRELUDE
from ebm_core import density, userdata


def _csv(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


GOOD = [f"{0.1 * i},{-0.2 * i}" for i in range(12)]


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"  \n\n", "empty"),
    (_csv(["x,y"]), "0 points"),
    (_csv(GOOD[:3]), "3 points; at least 10"),
    (_csv(GOOD[:5] + ["1,2,3"] + GOOD[5:]), "Line 6 has 3 columns"),
    (_csv(GOOD[:5] + ["1"] + GOOD[5:]), "Line 6 has 1 column;"),
    (_csv(["x,y"] + GOOD[:4] + ["1.5,abc"] + GOOD[4:]), "Line 6, column 2 (y): 'abc' is not a number"),
    (_csv(GOOD[:2] + ["nan,1"] + GOOD[2:]), "Line 3, column 1 (x): 'nan' is not a finite number"),
    (_csv(GOOD[:2] + ["1,-inf"] + GOOD[2:]), "Line 3, column 2 (y): '-inf' is not a finite number"),
    (_csv(GOOD * 3), "at most 30"),
    (b"\xff\xfe\x00\x01garbage", "not a text"),
    (_csv(GOOD[:3] + [",2"] + GOOD[3:]), "Line 4, column 1 (x) is empty"),
    (_csv(["x;y"] + [f"{i},5;2" for i in range(12)]), "Line 2, column 1 (x): '0,5' is not a number. Use a dot"),
])
def test_bad_csv_says_what_is_wrong(data, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        userdata.parse_csv(data, max_rows=30)


@pytest.mark.parametrize("sep, header", [(",", "x,y"), (";", "x;y"), ("\t", ""), (" ", "# a comment"),
                                         (",", "x y")])
def test_generated_csv_round_trips(sep, header):
    pts = np.random.default_rng(0).normal(size=(500, 2)) * [3.0, 0.01] + [1e3, -2]
    lines = ([header] if header else []) + [f"{float(x)!r}{sep}{float(y)!r}" for x, y in pts]
    got = userdata.parse_csv(("\ufeff" + "\r\n".join(lines)).encode())  # BOM and Windows line ends too
    np.testing.assert_array_equal(got, pts)


def test_csv_quotes_trailing_separator_and_latin1_header():
    got = userdata.parse_csv(_csv([f'"{i}",{2 * i},' for i in range(10)]))
    np.testing.assert_array_equal(got, np.stack([np.arange(10.0), 2 * np.arange(10.0)], 1))
    latin1 = ("länge;höhe\n" + "\n".join(f"{i};{i}" for i in range(10))).encode("latin-1")
    assert userdata.parse_csv(latin1).shape == (10, 2)


def _png(pixels: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def test_black_square_gives_points_inside_it():
    img = np.full((40, 60), 255)
    img[10:20, 30:45] = 0  # rows 10-19 from the top, columns 30-44
    pts = userdata.image_to_points(_png(img), 3000, generator=torch.Generator().manual_seed(0))
    assert pts.shape == (3000, 2)
    x, y = pts[:, 0], pts[:, 1]
    assert x.min() >= 30 and x.max() <= 45
    assert y.min() >= 40 - 20 and y.max() <= 40 - 10  # y points up: row r covers [H - r - 1, H - r]
    assert x.std() > 3 and y.std() > 2  # jitter fills the square, not a lattice of pixel corners


def test_darker_pixels_get_more_points():
    img = np.full((10, 20), 255)
    img[:, :10] = 0  # black left half
    img[:, 10:] = 128  # grey right half: about half as dark
    pts = userdata.image_to_points(_png(img), 20000, generator=torch.Generator().manual_seed(1))
    share_left = float((pts[:, 0] < 10).mean())
    assert share_left == pytest.approx(1 / (1 + (1 - 128 / 255)), abs=0.02)


def test_transparent_pixels_count_as_white_and_bad_images_fail():
    rgba = np.zeros((8, 8, 4))  # fully transparent black: white once composited
    with pytest.raises(ValueError, match="no dark pixels"):
        userdata.image_to_points(_png(rgba, "RGBA"), 10)
    with pytest.raises(ValueError, match="no dark pixels"):
        userdata.image_to_points(_png(np.full((8, 8), 255)), 10)
    with pytest.raises(ValueError, match="not an image"):
        userdata.image_to_points(b"this is not a png", 10)
    with pytest.raises(ValueError, match="not an image"):
        userdata.image_to_points(_png(np.zeros((8, 8)))[:40], 10)  # truncated file


def test_brush_points_lie_in_the_discs():
    g = torch.Generator().manual_seed(0)
    pts = userdata.brush_points([0.0, 10.0], [0.0, 5.0], 0.5, 4000, generator=g)
    d = np.minimum(np.hypot(pts[:, 0], pts[:, 1]), np.hypot(pts[:, 0] - 10, pts[:, 1] - 5))
    assert pts.shape == (4000, 2) and d.max() <= 0.5
    assert float((d < 0.5 / math.sqrt(2)).mean()) == pytest.approx(0.5, abs=0.03)  # uniform over the disc area
    assert userdata.brush_points(1.0, 2.0, 0.1, 3).shape == (3, 2)
    with pytest.raises(ValueError, match="radius"):
        userdata.brush_points(0, 0, 0.0, 3)
    with pytest.raises(ValueError, match="same length"):
        userdata.brush_points([0, 1], [0], 1.0, 3)


def test_points_are_fitted_into_the_box():
    pts = np.array([[100.0, 10.0], [300.0, 20.0], [200.0, 15.0]] * 4)
    fitted = userdata.fit_to_box(pts)
    assert fitted[:, 0].min() == pytest.approx(-userdata.FIT) and fitted[:, 0].max() == pytest.approx(userdata.FIT)
    assert fitted[:, 1].max() == pytest.approx(-fitted[:, 1].min())  # centred
    assert fitted[:, 1].max() == pytest.approx(userdata.FIT * 10 / 200)  # aspect ratio kept
    ds = userdata.points_dataset(np.ones((20, 2)))  # all points at one place: one Gaussian at the centre
    assert float(ds.log_density(torch.zeros(1, 2))) == pytest.approx(-math.log(2 * math.pi * 0.15**2), rel=1e-6)


def _spiral(n: int) -> np.ndarray:
    t = np.linspace(0.5, 10, n)
    return np.stack([t * np.cos(t), t * np.sin(t)], 1)


@pytest.mark.parametrize("n, bandwidth", [(300, None), (5000, 0.3)])
def test_points_dataset_density_is_exact(n, bandwidth):
    ds = userdata.points_dataset(_spiral(n), bandwidth=bandwidth)
    assert ds.extent == userdata.EXTENT and ds.name == "custom"
    # log_density integrates to 1 (the box holds all but a sliver of the kernel tails)
    grid = density.make_grid(ds.extent, 160)
    lp = ds.log_density(grid.points.double())
    inside = float(lp.exp().sum() * grid.cell_area)
    assert inside == pytest.approx(1.0, abs=2e-3)
    # samples follow it: per-cell frequencies of 20000 samples against the density's cell masses
    x = ds.sample(20000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (20000, 2) and x.dtype == torch.float32
    as_model = density.GridDensity(-lp.view(160, 160), lp.view(160, 160), 0.0, max(1e-9, 1 - inside), True)
    assert density.sampler_bias(x, as_model, grid, bins=16) < 0.01


def test_points_dataset_bounds_its_mixture():
    ds = userdata.points_dataset(_spiral(20000))
    a = ds.log_density(torch.zeros(3, 2, dtype=torch.float64))
    b = userdata.points_dataset(_spiral(20000)).log_density(torch.zeros(3, 2, dtype=torch.float64))
    assert torch.equal(a, b)  # the subsample of centres is fixed
    with pytest.raises(ValueError, match="bandwidth"):
        userdata.points_dataset(_spiral(20), bandwidth=0.0)
    with pytest.raises(ValueError, match="shape"):
        userdata.points_dataset(np.zeros((5, 3)))


# ----------------------------------------------------------------------------------------------
# Large images: decoded small, once


def _big_png(path, w: int, h: int) -> None:
    """An RGB PNG of w x h pixels, a dark disc on white, written a row at a time (the test process
    never holds the image)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    z = zlib.compressobj(1)
    cols = np.arange(w)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        for r in range(h):
            row = np.full((w, 3), 255, np.uint8)
            row[(cols - w / 2) ** 2 + (r - h / 2) ** 2 < (min(w, h) / 3) ** 2] = (20, 20, 60)
            f.write(chunk(b"IDAT", z.compress(b"\x00" + row.tobytes())))
        f.write(chunk(b"IDAT", z.flush()) + chunk(b"IEND", b""))


DECODE = PEAK_PRELUDE + r"""
import sys, torch
sys.path.insert(0, sys.argv[1])
from ebm_core import userdata

data = open(sys.argv[2], "rb").read()
reset_peak()
before = status_mb("VmRSS")
pts = userdata.load_image(data, 1000, generator=torch.Generator().manual_seed(0))
assert pts.shape == (1000, 2)
print(status_mb("VmHWM") - before)
"""

DECODE_BOUND_MB = 260


def test_a_large_png_is_decoded_within_a_memory_bound(tmp_path):
    # A 7000 x 7000 RGB PNG (49 megapixels, under MAX_IMAGE_PIXELS): Pillow's decoded image alone
    # takes 4 bytes a pixel, 187 MB, and cannot be avoided. Measured peak growth: about 195 MB
    # (bench/results/upload_memory.md); before the fix, 795 MB (full-size RGBA copies). The bound
    # leaves 65 MB for the tiles and allocator slack, and fails on any further full-size copy of
    # 4 bytes a pixel (float32 grey, RGBA), which would add 187 MB.
    path = tmp_path / "big.png"
    _big_png(path, 7000, 7000)
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", DECODE, root, str(path)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    grew = float(out.stdout.strip().splitlines()[-1])
    assert grew < DECODE_BOUND_MB, f"decoding a 7000 x 7000 PNG grew the process by {grew:.0f} MB"


def test_image_darkness_is_small_and_sampling_it_needs_no_decoding(monkeypatch):
    img = np.full((1000, 600), 255)
    img[100:300, 200:500] = 0  # a black block, 200 rows from row 100, 300 columns from column 200
    data = _png(img)
    d = userdata.image_darkness(data)
    assert d.dtype == np.float32 and max(d.shape) <= userdata.MAX_IMAGE_SIDE
    assert d.shape == (250, 150)  # shrunk by the whole factor 4
    assert d.max() == 1.0 and float(d.sum()) == pytest.approx(200 * 300 / 16)  # mean darkness of each block
    opened = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(1))
    pts = userdata.load_image(d, 500, generator=torch.Generator().manual_seed(0))
    assert pts.shape == (500, 2) and not opened
    # the points lie on the block, 300 wide and 200 high: it fills the box along x, 2/3 of it along y
    assert np.ptp(pts[:, 0]) == pytest.approx(2 * userdata.FIT, rel=1e-5)
    assert np.ptp(pts[:, 1]) == pytest.approx(2 * userdata.FIT * 200 / 300, rel=0.05)


def test_image_darkness_of_a_very_wide_image_keeps_its_shape():
    img = np.full((2, 200_000), 255)
    img[:, 100_000:] = 0  # the right half black
    d = userdata.image_darkness(_png(img))
    assert d.shape == (1, 256)  # shrunk by 782: 256 blocks, the last one partly filled
    assert d[0, :127].max() == 0 and d[0, 128:].min() == 1.0 and 0 < d[0, 127] < 1


def test_image_darkness_handles_palette_transparency_and_jpeg():
    pal = Image.fromarray(np.repeat([[0, 1]], 8, axis=0).astype(np.uint8).repeat(4, axis=1), "P")  # (8, 8)
    pal.putpalette([0, 0, 0, 255, 255, 255])
    buf = io.BytesIO()
    pal.save(buf, format="GIF", transparency=0)  # the black half is transparent: white
    with pytest.raises(ValueError, match="no dark pixels"):
        userdata.image_darkness(buf.getvalue())
    img = np.full((2000, 3000), 255)
    img[500:1500, 1000:2000] = 0
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="JPEG", quality=90)
    d = userdata.image_darkness(buf.getvalue())
    assert max(d.shape) <= userdata.MAX_IMAGE_SIDE
    assert float(d.sum()) / d.size == pytest.approx(1 / 6, abs=0.01)  # a sixth of the image is black


# ----------------------------------------------------------------------------------------------
# Outliers and extreme values


def _ring(n: int, seed: int = 0) -> np.ndarray:
    t = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(t), np.sin(t)], 1)


def test_one_far_point_is_dropped_and_counted():
    pts = np.concatenate([_ring(200), [[1e30, 1e30]]])
    data = _csv([f"{float(x)!r},{float(y)!r}" for x, y in pts])
    fitted, dropped = userdata.load_csv(data)
    assert dropped == 1 and fitted.shape == (200, 2)
    np.testing.assert_allclose(np.ptp(fitted, axis=0), 2 * userdata.FIT, rtol=1e-3)  # the ring fills the box


@pytest.mark.parametrize("extra", [[[50.0, 0.0]], [[0.0, -40.0], [35.0, 35.0]]])
def test_drop_outliers_finds_a_few_far_points(extra):
    kept, dropped = userdata.drop_outliers(np.concatenate([_ring(100), extra]))
    assert dropped == len(extra) and len(kept) == 100 and np.abs(kept).max() <= 1


@pytest.mark.parametrize("points", [
    np.random.default_rng(0).normal(size=(20000, 2)),  # the Gaussian tails stay
    np.concatenate([_ring(800), _ring(200, 1) + 100]),  # a smaller cluster far away is data, not outliers
    np.concatenate([np.zeros((150, 2)), [[0.0, 1.0]] * 50]),  # most points at one place
    _spiral(300) * [1.0, 1e-3],  # a thin shape: the wider axis sets the scale
    np.stack([np.arange(12.0), np.zeros(12)], 1),  # few points, evenly spread
])
def test_drop_outliers_keeps_ordinary_data(points):
    kept, dropped = userdata.drop_outliers(points)
    assert dropped == 0 and len(kept) == len(points)


def test_too_few_points_after_dropping_outliers_is_an_error():
    rows = [f"{float(x)!r},{float(y)!r}" for x, y in _ring(10)] + ["1e30,1e30"]
    with pytest.raises(ValueError, match=r"Dropping 1 outlier point\(s\) far from the rest leaves 9; at least"):
        userdata.load_csv(_csv(rows[1:]))


@pytest.mark.parametrize("scale", [1e300, 1e307, 1.7e308, 1e-300, 5e-324])
def test_fit_to_box_survives_extreme_magnitudes(scale):
    pts = _ring(50) * [1.0, 0.5] + [0.5, 0.0]  # x in [-0.5, 1.5], y in [-0.5, 0.5]
    big = pts / np.abs(pts).max() * scale
    fitted = userdata.fit_to_box(big)
    assert np.isfinite(fitted).all()
    if scale > 1e-300:  # (5e-324 is a single subnormal step: all points coincide or lie on a lattice)
        np.testing.assert_allclose(fitted, userdata.fit_to_box(pts), atol=1e-9)


def test_csv_near_the_largest_floats_loads_in_place():
    rows = [f"{float(x)!r},{float(y)!r}" for x, y in _ring(40) * 1.7e308]
    fitted, dropped = userdata.load_csv(_csv(rows))
    assert dropped == 0 and np.isfinite(fitted).all()
    np.testing.assert_allclose(np.ptp(fitted, axis=0), 2 * userdata.FIT, rtol=0.05)  # not all at (0, 0)
    ds = userdata.points_dataset(userdata.parse_csv(_csv(rows)))  # the CLI's path: finite too
    assert torch.isfinite(ds.sample(100, generator=torch.Generator().manual_seed(0))).all()
