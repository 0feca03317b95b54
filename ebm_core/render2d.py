"""A 2D frame as a picture, in numpy and Pillow only: what the Playground's canvas draws (the energy with
its iso-lines, or the density exp(-E)/Z; data, negatives, chain trails, the -grad E arrows), for the
recorded training's GIF, MP4 and HTML exports (export.py), on the page and from the command line.

The colours are the canvas's (ui/components/canvas.js): viridis for the energy, white to purple indexed
by the square root of the density, data white, negatives orange, chains sky blue, each with a dark rim,
so they read on a projector and for every kind of colour vision. The energy's colour range is that of
`figures.playground.view_grid`, computed here without plotly:

    pic = picture(energy, log_z, extent, view="energy", density_max=dmax, x_data=..., x_neg=..., trails=...)
    # (size, size, 3) uint8, row 0 at the top (largest y)
"""

import math

import numpy as np
from PIL import Image, ImageDraw

ENERGY_SPAN = 12.0  # as figures.playground: at most this many nats above the minimum get colours
LEVELS = 10  # iso-lines of the energy view
VIEWS = ("energy", "density")


def _lut(hexes: str) -> np.ndarray:
    stops = np.array([int(hexes[i:i + 2], 16) for i in range(0, len(hexes), 2)], np.float64).reshape(-1, 3)
    t = np.linspace(0, len(stops) - 1, 256)
    j = np.minimum(len(stops) - 2, t.astype(int))
    f = (t - j)[:, None]
    return (stops[j] + (stops[j + 1] - stops[j]) * f + 0.5).astype(np.uint8)


VIRIDIS = _lut("440154472d7b3b528b2c728e21918c28ae805ec962addc30fde725")
DENSITY = _lut("ffffffe0ecf4bfd3e69ebcda8c96c68c6bb188419d810f7c4d004b")[
    np.round(255 * np.sqrt(np.arange(256) / 255)).astype(int)]  # colour spent on low densities
DATA, DATA_RIM = (255, 255, 255), (15, 23, 42)
NEG, NEG_RIM = (255, 140, 26), (60, 20, 0)
CHAIN, CHAIN_RIM = (56, 189, 248), (8, 20, 40)


def scaled(energy: np.ndarray, log_z: float, view: str, density_max: float) -> np.ndarray:
    """The grid on [0, 1] for the colour table: the energy above its minimum over its 98th percentile
    (within [1, ENERGY_SPAN] nats), or exp(-E)/Z over 1.15 x the data density's peak."""
    e = np.nan_to_num(np.asarray(energy, np.float64), nan=0.0, posinf=1e6, neginf=-1e6)
    if view == "density":
        p = np.exp(-(e - e.min())) * math.exp(-e.min() - log_z)
        return np.clip(p / (1.15 * density_max), 0, 1)
    rel = e - e.min()
    span = float(np.clip(np.percentile(rel, 98), 1.0, ENERGY_SPAN))
    return np.clip(rel / span, 0, 1)


def _upscale(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear (size, size) of an (n, n) grid whose row 0 is the lowest y, flipped so row 0 is the top."""
    im = Image.fromarray(np.ascontiguousarray(grid[::-1], dtype=np.float32), mode="F")
    return np.asarray(im.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)


def background(energy: np.ndarray, log_z: float, view: str, density_max: float, size: int) -> np.ndarray:
    """The coloured landscape (size, size, 3) uint8, with LEVELS iso-lines in the energy view."""
    t = _upscale(scaled(energy, log_z, view, density_max), size)
    idx = np.clip((t * 255 + 0.5).astype(int), 0, 255)
    if view == "density":
        return DENSITY[idx]
    rgb = VIRIDIS[idx].astype(np.float64)
    level = np.floor(t * LEVELS)
    edge = np.zeros(t.shape, bool)  # a pixel whose right or lower neighbour is on another level
    edge[:, :-1] |= (level[:, 1:] != level[:, :-1]) & (np.maximum(level[:, 1:], level[:, :-1]) < LEVELS)
    edge[:-1, :] |= (level[1:, :] != level[:-1, :]) & (np.maximum(level[1:, :], level[:-1, :]) < LEVELS)
    light = (rgb @ np.array([0.3, 0.59, 0.11])) < 140  # lighter lines on dark colours, darker on light
    line = np.where(light[..., None], rgb + (255 - rgb) * 0.55, rgb * 0.5)
    rgb[edge] = line[edge]
    return rgb.astype(np.uint8)


def picture(energy: np.ndarray, log_z: float, extent: float, *, view: str = "energy", density_max: float = 1.0,
            x_data: np.ndarray | None = None, x_neg: np.ndarray | None = None, trails=None,
            arrows: bool = False, size: int = 480) -> np.ndarray:
    """One frame: the view's background and the layers given (points (N, 2); trails, chains of (T, 2)
    points each; arrows from the energy grid's own gradient), on a (size, size, 3) uint8 picture of
    [-extent, extent]^2. Points that are not finite are left out."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if not 64 <= size <= 2048:
        raise ValueError(f"size must be in [64, 2048], got {size}")
    energy = np.asarray(energy)
    im = Image.fromarray(background(energy, log_z, view, density_max, size))
    draw = ImageDraw.Draw(im)
    k = size / 480  # the canvas's sizes are for a 480-pixel plot

    def xy(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, np.float64).reshape(-1, 2)
        p = p[np.isfinite(p).all(axis=1)]
        return np.stack([(p[:, 0] + extent) / (2 * extent) * size, (extent - p[:, 1]) / (2 * extent) * size], 1)

    if arrows:
        _arrows(draw, energy, extent, size, k, dark=view == "density")
    for pts, r, fill, rim in ((x_data, 2.0, DATA, DATA_RIM), (x_neg, 2.6, NEG, NEG_RIM)):
        if pts is None or len(pts) == 0:
            continue
        for rr, col in ((r + 1.0, rim), (r, fill)):
            for x, y in xy(pts):
                draw.ellipse((x - rr * k, y - rr * k, x + rr * k, y + rr * k), fill=col)
    for chain in trails if trails is not None else ():
        line = [tuple(p) for p in xy(chain)]
        if line:
            if len(line) > 1:
                draw.line(line, fill=CHAIN_RIM, width=max(1, round(4.5 * k)), joint="curve")
                draw.line(line, fill=CHAIN, width=max(1, round(2.2 * k)), joint="curve")
            x, y = line[-1]
            draw.ellipse((x - 3.2 * k, y - 3.2 * k, x + 3.2 * k, y + 3.2 * k), fill=CHAIN, outline=CHAIN_RIM)
    return np.asarray(im)


def arrow_lattice(energy: np.ndarray, extent: float, size: int, m: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """(bases, tips), each (m*m, 2) pixel coordinates (x right, y down), of -grad E on an m x m lattice,
    from the grid's finite differences; lengths grow with |grad E| up to 90% of the lattice spacing
    (the 90th percentile saturates), as the live canvas draws them."""
    e = np.nan_to_num(np.asarray(energy, np.float64))
    n = e.shape[0]
    gy, gx = np.gradient(e, 2 * extent / n)  # rows are y
    spacing = size / (m + 1)
    cells = np.minimum(n - 1, ((np.arange(1, m + 1) / (m + 1)) * n).astype(int))
    rows, cols = np.meshgrid(cells, cells, indexing="ij")
    vx, vy = -gx[rows, cols].ravel(), -gy[rows, cols].ravel()
    norm = np.hypot(vx, vy)
    length = 0.9 * spacing * np.minimum(norm / (np.percentile(norm, 90) + 1e-12), 1.0)
    i, j = np.divmod(np.arange(m * m), m)
    bases = np.stack([(j + 1) * spacing, size - (i + 1) * spacing], 1)
    unit = np.stack([vx, -vy], 1) / (norm[:, None] + 1e-12)  # y grows downwards in the picture
    return bases, bases + unit * length[:, None]


def _arrows(draw: ImageDraw.ImageDraw, energy: np.ndarray, extent: float, size: int, k: float, dark: bool) -> None:
    colour = (30, 27, 75) if dark else (255, 255, 255)
    width = max(1, round(2 * k))
    for (x0, y0), (x1, y1) in zip(*arrow_lattice(energy, extent, size)):
        length = math.hypot(x1 - x0, y1 - y0)
        if length < 1:
            continue
        head = min(5 * k, 0.4 * length)
        a = math.atan2(y1 - y0, x1 - x0)
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=width)
        draw.line([(x1 - head * math.cos(a - 0.45), y1 - head * math.sin(a - 0.45)), (x1, y1),
                   (x1 - head * math.cos(a + 0.45), y1 - head * math.sin(a + 0.45))], fill=colour, width=width)
