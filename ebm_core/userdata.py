"""Your own 2D data: a CSV of x,y points, a grayscale image, or points drawn with a brush.

Whatever the source, `points_dataset` turns the points into a `toy2d.Dataset` whose density is a
kernel density estimate: the points (at most MAX_CENTRES of them) each carry an isotropic Gaussian
of standard deviation `bandwidth`, with equal weights. That makes the data distribution a Gaussian
mixture, so `sample` draws from it exactly and `log_density` is exact, and the Playground's exact
KL(data || model) keeps its meaning for user data (FFJORD turns images into 2D densities the same
way: sample pixels by darkness, then jitter).

Points are first moved and scaled (aspect ratio kept) so they fill [-FIT, FIT]^2 along their longer
side; the dataset's box is [-EXTENT, EXTENT]^2, like the built-in datasets, with room for the kernel
tails. A CSV file's outliers are dropped first (`drop_outliers`): one stray point far away would
otherwise squash all the others into a dot.

Usage:
    pts = parse_csv(uploaded_bytes)                      # (n, 2) float64, or a ValueError to show
    pts, dropped = drop_outliers(pts)                    # without points far from the rest
    ds = points_dataset(pts)                             # a toy2d.Dataset named "custom"
    x = ds.sample(256, generator=torch.Generator().manual_seed(0))
    darkness = image_darkness(image_bytes)               # decode an image once; then, for any n:
    pts = load_image(darkness, n, generator=None)        # (n, 2) float32, fitted into the box
"""

import csv
import io
import math

import numpy as np
import torch

from . import toy2d

MIN_POINTS = 10
MAX_POINTS = 20_000  # the most points a drawn or loaded point set may hold
MAX_CENTRES = 2000  # mixture components kept: log_density costs O(B * centres)
FIT = 3.0  # half-width the points are scaled to fill
EXTENT = 4.0  # half-width of the dataset's box
DEFAULT_BANDWIDTH = 0.15  # in box units: the width of the eight Gaussians; 2.4 cells of a 128 grid
MAX_IMAGE_SIDE = 256  # images are shrunk to at most this many pixels a side before sampling
MAX_IMAGE_PIXELS = 50_000_000  # refuse larger images before decoding them
WHITE_LEVEL = 0.04  # darkness below this (about 10 of 255 grey levels) counts as white: JPEG noise
OUTLIER_K = 2.0  # a point this many widths of the data's middle beyond it is an outlier (see drop_outliers)


# ----------------------------------------------------------------------------------------------
# CSV


def parse_csv(data: bytes, *, max_rows: int = 20000) -> np.ndarray:
    """Points (n, 2) float64 from CSV bytes: two numeric columns x, y, one point a line.

    Accepts a header line (the first line, when none of its fields is a number), UTF-8 with or
    without a byte-order mark (Latin-1 as a fallback), blank lines and '#' comment lines, and ';'
    ',' tab or spaces as the separator (found from the second line, the first that is surely data).
    Raises ValueError with a message fit to show the user, naming the line and column of the first
    bad value.
    """
    if not data or not data.strip():
        raise ValueError("The file is empty: expected two columns of numbers, x and y, one point per line.")
    if b"\x00" in data:
        raise ValueError("The file is not a text CSV file (it holds binary data): expected two columns of numbers, "
                         "x and y.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # a header written by an older spreadsheet; numbers are ASCII anyway
    lines = [(i, s) for i, s in enumerate(text.splitlines(), start=1) if s.strip() and not s.lstrip().startswith("#")]
    if not lines:
        raise ValueError("The file is empty: expected two columns of numbers, x and y, one point per line.")
    if len(lines) > max_rows + 1:  # + 1: a header line does not count
        raise ValueError(f"The file has {len(lines)} rows; at most {max_rows} points are allowed. Keep a random "
                         f"subset of the points and upload again.")
    split = _splitter(lines[min(1, len(lines) - 1)][1])
    rows = [(i, split(s)) for i, s in lines]
    if not any(_is_number(f) for f in rows[0][1]):
        rows = rows[1:]  # a header such as "x,y"
    if len(rows) > max_rows:
        raise ValueError(f"The file has {len(rows)} points; at most {max_rows} are allowed. Keep a random subset "
                         f"of the points and upload again.")
    out = np.empty((len(rows), 2))
    for r, (line, fields) in enumerate(rows):
        if len(fields) != 2:
            raise ValueError(f"Line {line} has {len(fields)} column{'s' * (len(fields) != 1)}; every line needs "
                             f"exactly 2 (x and y).")
        for c, f in enumerate(fields):
            if not f:
                raise ValueError(f"Line {line}, column {c + 1} ({'xy'[c]}) is empty.")
            try:
                v = float(f)
            except ValueError:
                hint = " Use a dot as the decimal mark." if _is_number(f.replace(",", ".")) else ""
                raise ValueError(f"Line {line}, column {c + 1} ({'xy'[c]}): {f!r} is not a number.{hint}") from None
            if not math.isfinite(v):
                raise ValueError(f"Line {line}, column {c + 1} ({'xy'[c]}): {f!r} is not a finite number; remove "
                                 f"missing (NaN) and infinite values.")
            out[r, c] = v
    if len(out) < MIN_POINTS:
        raise ValueError(f"The file has {len(out)} point{'s' * (len(out) != 1)}; at least {MIN_POINTS} are needed "
                         f"to make a distribution.")
    return out


def _splitter(line: str):
    """A function splitting a line into fields, by the first of ';' ',' tab found in `line`, else by spaces."""
    for sep in (";", ",", "\t"):
        if sep in line:
            def split(s: str, sep=sep) -> list[str]:
                fields = [f.strip() for f in next(csv.reader([s], delimiter=sep))]
                return fields[:-1] if len(fields) > 1 and fields[-1] == "" else fields  # a trailing separator
            return split
    return lambda s: s.split()


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Images and the brush


def image_darkness(data: bytes) -> np.ndarray:
    """The darkness (H, W) float32 in [0, 1] of an image, at most MAX_IMAGE_SIDE pixels a side:
    what `darkness_points` samples from. Decode an upload once with this and keep the array.

    A pixel's darkness is 1 - grey/255 times its opacity (transparent counts as white; grey is
    Pillow's luma), averaged over the f x f block of source pixels it stands for, f the smallest
    whole factor that brings the longer side to MAX_IMAGE_SIDE or below; darkness below WHITE_LEVEL
    is 0. A JPEG is decoded at a reduced size (Pillow's draft). Other formats are decoded at full
    size in their own mode, 1 to 4 bytes a pixel (at most 4 x MAX_IMAGE_PIXELS bytes, 200 MB),
    then turned into darkness a strip of rows at a time, so no full-size converted or float copy
    is ever made. Raises ValueError for bytes that are not an image, an image that is too large,
    or one with no dark pixel.
    """
    from PIL import Image, UnidentifiedImageError  # Pillow is only needed here

    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)
    try:
        img = Image.open(io.BytesIO(data))
    except unreadable:
        raise ValueError("The file is not an image Pillow can read (try PNG or JPEG).") from None
    with img:
        if img.width * img.height > MAX_IMAGE_PIXELS:
            raise ValueError(f"The image is too large ({img.width} x {img.height} pixels); use one under "
                             f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels.")
        try:
            img.draft("L", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 size
            img.load()
            darkness = _block_darkness(img)
        except unreadable:
            raise ValueError("The file is not an image Pillow can read (try PNG or JPEG).") from None
    darkness[darkness < WHITE_LEVEL] = 0.0
    if not (darkness > 0).any():
        raise ValueError("The image has no dark pixels: draw the shape in a dark colour on a light background.")
    return darkness


def _block_darkness(img) -> np.ndarray:
    """Mean darkness (H / f, W / f) float32 of each f x f block of a loaded Pillow image; edge blocks
    average the pixels they have, as Image.reduce does. Computed a tile of at most _TILE_PIXELS
    pixels at a time (whole rows, or for very wide images parts of one row), so the working arrays
    stay small whatever the image's shape."""
    w, h = img.size
    f = max(1, -(-max(w, h) // MAX_IMAGE_SIDE))  # ceil: the smallest factor that fits; f <= _TILE_PIXELS
    ow, oh = -(-w // f), -(-h // f)
    tile_h = max(1, _TILE_PIXELS // w)
    tile_w = w if w <= _TILE_PIXELS else f * (_TILE_PIXELS // f)  # a whole number of blocks
    sums = np.zeros((oh, ow))
    for r0 in range(0, h, tile_h):
        r1 = min(h, r0 + tile_h)
        row_starts = np.unique(np.r_[0, np.arange(-(-r0 // f) * f, r1, f) - r0])  # where a block row begins
        for c0 in range(0, w, tile_w):
            tile = img.crop((c0, r0, min(w, c0 + tile_w), r1))
            if tile.mode not in _TO_LA:  # palette transparency, 16-bit, CMYK, ...: through RGBA
                tile = tile.convert("RGBA")
            la = np.asarray(tile.convert("LA"))  # (rows, cols, 2) uint8: grey and opacity
            d = (255 - la[..., 0].astype(np.uint16)) * la[..., 1]  # darkness x opacity x 255^2, uint16
            d = np.add.reduceat(d, np.arange(0, d.shape[1], f), axis=1, dtype=np.uint64)  # sums per block column
            d = np.add.reduceat(d, row_starts, axis=0)  # and per block row
            sums[r0 // f:r0 // f + len(d), c0 // f:c0 // f + d.shape[1]] += d
    rows = np.minimum(f, h - f * np.arange(oh))  # source pixels in each block row and column
    cols = np.minimum(f, w - f * np.arange(ow))
    return (sums / (np.outer(rows, cols) * 255.0**2)).astype(np.float32)


_TILE_PIXELS = 250_000  # pixels converted at a time: a few MB of working arrays
_TO_LA = {"1", "L", "LA", "RGB", "RGBA"}  # modes Pillow turns into LA directly (grey by luma, alpha kept)


def darkness_points(darkness: np.ndarray, n: int, *, generator: torch.Generator | None = None) -> np.ndarray:
    """n points (n, 2) float64 drawn from a darkness array (H, W) (see `image_darkness`): each point
    picks a pixel with probability proportional to its darkness and a uniform position inside it.

    Coordinates are in pixels with y pointing up: column c, row r (from the top) of an array H rows
    high covers [c, c + 1] x [H - r - 1, H - r].
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    weights = torch.from_numpy(np.asarray(darkness, dtype=np.float64))  # (H, W)
    if weights.ndim != 2 or not bool((weights > 0).any()):
        raise ValueError("The image has no dark pixels: draw the shape in a dark colour on a light background.")
    h, w = weights.shape
    k = torch.multinomial(weights.flatten(), n, replacement=True, generator=generator)  # (n,) pixel indices
    row, col = k // w, k % w
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)  # position inside the pixel
    x = col + u[:, 0]
    y = (h - 1 - row) + u[:, 1]
    return torch.stack([x, y], dim=1).numpy()


def image_to_points(data: bytes, n: int, *, generator: torch.Generator | None = None) -> np.ndarray:
    """n points (n, 2) float64 drawn from an image: darker pixels get proportionally more points.

    `image_darkness` then `darkness_points`: the image is turned grey (transparent counts as white)
    and shrunk to at most MAX_IMAGE_SIDE pixels a side; coordinates are in pixels of the shrunk
    image, y pointing up. Raises ValueError for bytes that are not an image, an image that is too
    large, or one with no dark pixel.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return darkness_points(image_darkness(data), n, generator=generator)


def brush_points(x, y, radius: float, n: int, *, generator: torch.Generator | None = None) -> np.ndarray:
    """n points (n, 2) float64 laid down by a round brush of `radius` at one or more positions.

    x, y: a position, or equal-length sequences of positions (a stroke). Each point picks a
    position at random and lands uniformly inside the disc of `radius` around it.
    """
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ys = np.atleast_1d(np.asarray(y, dtype=np.float64))
    if xs.ndim != 1 or xs.shape != ys.shape or len(xs) == 0:
        raise ValueError(f"x and y must be numbers or sequences of the same length, got shapes {xs.shape} and "
                         f"{ys.shape}")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise ValueError("x and y must be finite numbers")
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be positive and finite, got {radius}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    centres = torch.from_numpy(np.stack([xs, ys], axis=1))  # (m, 2)
    k = torch.randint(0, len(centres), (n,), generator=generator)
    r = radius * torch.rand(n, generator=generator, dtype=torch.float64).sqrt()  # sqrt: uniform over the disc
    theta = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    return (centres[k] + torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)).numpy()


# ----------------------------------------------------------------------------------------------
# Points -> dataset


def fit_to_box(points: np.ndarray) -> np.ndarray:
    """Points moved so their bounding box is centred at 0 and scaled (aspect kept) to fill [-FIT, FIT]
    along the longer side. A single location (zero spread) is only moved. Any finite input works,
    up to the largest floats (the arithmetic is done on the points scaled by a power of two, so it
    cannot overflow); ValueError if the result is not finite all the same."""
    p = _scaled(_check_points(points))
    lo, hi = p.min(axis=0), p.max(axis=0)
    half = float((hi - lo).max()) / 2
    out = (p - (lo / 2 + hi / 2)) / half * FIT if half > 0 else p - (lo / 2 + hi / 2)
    if not np.isfinite(out).all():
        raise ValueError("The points could not be scaled into the box (their values are too extreme).")
    return out


def drop_outliers(points: np.ndarray) -> tuple[np.ndarray, int]:
    """The points (n, 2) float64 without those far from the rest, and how many were dropped.

    "The rest" is the middle of the data along each axis: from the 5 % quantile to the 95 % one
    (rounded outwards to data points, so even among 10 points the lowest and highest are outside
    it). A point is dropped when a coordinate lies more than OUTLIER_K times the middle's width
    (the wider of the two axes') beyond it. For Gaussian data that is over 8 standard deviations
    out, so only points that would squash the rest into a corner of the fitted box go; a group of
    more than 5 % of the points is part of the middle and always stays. With no width (most points
    at one place) nothing is dropped.
    """
    p = _scaled(_check_points(points))
    lo = np.quantile(p, 0.05, axis=0, method="higher")
    hi = np.quantile(p, 0.95, axis=0, method="lower")
    width = float((hi - lo).max())
    if not width > 0:
        return np.asarray(points, dtype=np.float64), 0
    keep = ((p >= lo - OUTLIER_K * width) & (p <= hi + OUTLIER_K * width)).all(axis=1)
    return np.asarray(points, dtype=np.float64)[keep], int((~keep).sum())


def _scaled(p: np.ndarray) -> np.ndarray:
    """p times a power of two (exact) that brings its largest magnitude into [0.5, 1): sums and
    differences of such numbers cannot overflow."""
    top = float(np.abs(p).max())
    return np.ldexp(p, -math.frexp(top)[1]) if top > 0 else p


def points_dataset(points: np.ndarray, *, name: str = "custom", bandwidth: float | None = None,
                   label: str = "Your data", fit: bool = True) -> toy2d.Dataset:
    """A toy2d.Dataset from points (n, 2): fitted into the box (unless fit=False: points drawn in
    the box's own coordinates stay where they were drawn), then a Gaussian KDE of sd `bandwidth`.

    The density is the mixture (1/m) sum_i N(x; c_i, bandwidth^2 I) over centres c_i: the fitted
    points, or MAX_CENTRES of them picked at random (fixed seed, so the same points give the same
    dataset) when there are more. `sample` and `log_density` use the same mixture, so both are exact.
    bandwidth: in box units (the box is [-EXTENT, EXTENT]^2); default DEFAULT_BANDWIDTH.
    """
    bw = DEFAULT_BANDWIDTH if bandwidth is None else bandwidth
    if not (0 < bw <= 1.0):
        raise ValueError(f"bandwidth must be in (0, 1], got {bandwidth}")
    p = fit_to_box(points) if fit else _check_points(points)
    if len(p) > MAX_CENTRES:
        keep = torch.randperm(len(p), generator=torch.Generator().manual_seed(0))[:MAX_CENTRES]
        p = p[keep.numpy()]
    centres = torch.from_numpy(p)  # (m, 2) float64
    log_w = torch.full((len(centres),), -math.log(len(centres)), dtype=torch.float64)

    def sample(n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.randint(0, len(centres), (n,), generator=generator)
        return (centres[k] + bw * torch.randn(n, 2, generator=generator, dtype=torch.float64)).float()

    def log_density(x: torch.Tensor) -> torch.Tensor:
        return toy2d._log_gauss_mixture(x, centres.to(x.dtype), bw, log_w.to(x.dtype))

    return toy2d.Dataset(name, sample, log_density, EXTENT, label)


def _check_points(points) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {p.shape}")
    if len(p) == 0:
        raise ValueError("points is empty")
    if not np.isfinite(p).all():
        raise ValueError("points must be finite numbers")
    return p


# ----------------------------------------------------------------------------------------------
# The Playground's own-data panel: strokes of a brush, a CSV file, an image


def add_stroke(points: np.ndarray, centres: np.ndarray, *, brush: float, per_dab: int,
               generator: torch.Generator | None, extent: float = EXTENT,
               max_points: int = MAX_POINTS) -> tuple[np.ndarray, str | None]:
    """Append per_dab * k points scattered in discs of radius `brush` around the stroke's centres (k, 2).

    Points that land outside the box are dropped, and nothing is added beyond `max_points`.
    Returns the new (N', 2) float32 point set and a message when the cap cut the stroke short.
    """
    c = np.asarray(centres, dtype=np.float64).reshape(-1, 2)  # (k, 2)
    new = (brush_points(c[:, 0], c[:, 1], brush, per_dab * len(c), generator=generator)
           if len(c) else np.zeros((0, 2)))  # (per_dab * k, 2), each point around a random centre
    new = new[(np.abs(new) <= extent).all(axis=1)]
    room = max(0, max_points - len(points))
    note = None
    if len(new) > room:
        note = (f"The point set is full ({max_points:,} points): only {room:,} of this stroke's {len(new):,} "
                "points were added. Undo or Clear to draw more." if room else
                f"The point set is full ({max_points:,} points). Undo or Clear to draw more.")
        new = new[:room]
    return np.concatenate([points, new.astype(np.float32)]).reshape(-1, 2), note


def load_csv(data: bytes) -> tuple[np.ndarray, int]:
    """Points (N, 2) float32 from CSV bytes, outliers dropped (see `drop_outliers`), fitted into the
    box; and the number of outliers dropped. ValueError (with a message for the user) when the file
    cannot be used, or too few points are left."""
    points, dropped = drop_outliers(parse_csv(data, max_rows=MAX_POINTS))
    if len(points) < MIN_POINTS:
        raise ValueError(f"Dropping {dropped:,} outlier point(s) far from the rest leaves {len(points)}; at "
                         f"least {MIN_POINTS} points are needed to make a distribution.")
    return fit_to_box(points).astype(np.float32), dropped


def load_image(image: bytes | np.ndarray, n: int, *, generator: torch.Generator | None) -> np.ndarray:
    """n points (n, 2) float32 drawn from an image (darker = more points), fitted into the box.

    image: the file's bytes, or its darkness from `image_darkness` (decoded once: drawing again from
    the same upload then costs no decoding). ValueError when the image cannot be used."""
    darkness = image if isinstance(image, np.ndarray) else image_darkness(image)
    pixels = darkness_points(darkness, min(n, MAX_POINTS), generator=generator)
    return fit_to_box(pixels).astype(np.float32)
