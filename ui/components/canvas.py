"""Live 2D energy view: a Streamlit components-v2 element that draws on a <canvas>.

Python packs one frame into a few KB of little-endian binary (`encode_frame`); the browser decodes it
with a DataView and redraws the same canvas in place, so a `run_every=0.1` fragment animates at
~10 frames/s without remounting (a plotly chart remounts on each change); under serve.py it fetches them.

Frame format, version 1 (all little-endian; `decode_frame` below is the executable spec):

    offset  type      field
    0       4 bytes   magic b"EBL1"
    4       u8        version (1)
    5       u8        mode: 0 = "energy", 1 = "density"
    6       u16       n, the grid side
    8       u32       frame_id
    12      f32       extent (the box is [-extent, extent]^2)
    16      f32       vmin
    20      f32       vmax
    24      u16 x 6   N data, M negatives, C chains, T steps per chain, F arrows, title length in bytes
    36      ...       title, UTF-8
            n*n u8    grid, row-major, row i = y index (y up), quantised: vmin -> 0, vmax -> 255, clipped
            N*2 i16   data (x, y)
            M*2 i16   negatives (x, y)
            C*T*2 i16 trails (x, y), oldest first
            F*4 i16   field (x, y, dx, dy)

Every coordinate is stored as q = round(v / extent * 32767), clipped to [-32767, 32767]; -32768 marks
a missing trail point. Scatter points and arrows whose base lies outside the box (or is not finite)
are dropped; trail points are clipped into the box (a non-finite one becomes missing), so a chain that
ran off shows at the border.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import numpy as np

from ebm_core import views
from ui.components import js_source, minify

MODES = {name: i for i, name in enumerate(views.PICTURE_VIEWS)}  # the frame header's mode byte
MAGIC = b"EBL1"
VERSION = 1
Q = 32767  # int16 full scale for coordinates
MISSING = -32768  # int16 sentinel: a trail point that is not finite
_HEADER = struct.Struct("<4sBBHIfffHHHHHH")  # 36 bytes
_U16 = 65535


def encode_frame(*, grid: np.ndarray, extent: float, mode: str, vmin: float, vmax: float,
                 data: np.ndarray | None, negatives: np.ndarray | None, trails: np.ndarray | None,
                 field: np.ndarray | None, frame_id: int, title: str = "") -> bytes:
    """Pack one frame of the live view into the binary format described in the module docstring.

    Args:
        grid: (n, n) values at the centres of an n x n partition of the box; row i = y index
            (y increasing with i), column j = x index. Non-finite values: NaN and -inf -> vmin, +inf -> vmax.
        extent: half-width of the box [-extent, extent]^2.
        mode: "energy" (viridis-like map with iso-contours, low = dark) or "density" (white -> purple).
        vmin, vmax: colour range of the grid values; vmin maps to 0 and vmax to 255.
        data: (N, 2) data points, or None.
        negatives: (M, 2) negative samples, or None.
        trails: (C, T, 2) recent positions of C chains, oldest first, or None.
        field: (F, 4) arrows x, y, dx, dy in data units (already scaled by the caller), or None.
        frame_id: 0 <= frame_id < 2**32, shown by the browser as `data-frame` on the canvas.
        title: drawn above the plot.

    Raises:
        ValueError: naming the argument, for a bad shape, range or mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or not 2 <= grid.shape[0] <= 1024:
        raise ValueError(f"grid must be (n, n) with 2 <= n <= 1024, got shape {grid.shape}")
    if not (np.isfinite(extent) and extent > 0):
        raise ValueError(f"extent must be finite and > 0, got {extent}")
    if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin < vmax):
        raise ValueError(f"need finite vmin < vmax, got vmin={vmin}, vmax={vmax}")
    if not 0 <= int(frame_id) < 2**32:
        raise ValueError(f"frame_id must be in [0, 2**32), got {frame_id}")
    title_bytes = title.encode("utf-8")
    if len(title_bytes) > _U16:
        raise ValueError(f"title must be at most {_U16} UTF-8 bytes, got {len(title_bytes)}")

    # 1. grid -> uint8 over [vmin, vmax]
    g = np.nan_to_num(grid, nan=vmin, posinf=vmax, neginf=vmin)
    g = np.rint((np.clip(g, vmin, vmax) - vmin) * (255.0 / (vmax - vmin))).astype(np.uint8)
    # 2. layers -> int16; scatter points outside the box are dropped, trail points clipped
    x_data = _inside(_points(data, "data", 2), extent)
    x_neg = _inside(_points(negatives, "negatives", 2), extent)
    arrows = _inside(_points(field, "field", 4), extent)
    tr = _trails(trails, extent)
    counts = (len(x_data), len(x_neg), tr.shape[0], tr.shape[1], len(arrows))
    for name, k in zip(("data", "negatives", "trails chains", "trails steps", "field"), counts):
        if k > _U16:
            raise ValueError(f"{name}: at most {_U16} entries, got {k}")
    header = _HEADER.pack(MAGIC, VERSION, MODES[mode], grid.shape[0], int(frame_id), extent, vmin, vmax,
                          *counts, len(title_bytes))
    coords = [_quantise(a, extent) for a in (x_data, x_neg, arrows)]
    return b"".join([header, title_bytes, g.tobytes(), coords[0], coords[1], tr.tobytes(), coords[2]])


def _points(a: np.ndarray | None, name: str, width: int) -> np.ndarray:
    if a is None:
        return np.zeros((0, width))
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{name} must have shape (k, {width}), got {a.shape}")
    return a


def _inside(a: np.ndarray, extent: float) -> np.ndarray:
    """Rows whose first two columns are a finite point in the box; other columns must be finite too."""
    ok = np.isfinite(a).all(axis=1) & (np.abs(a[:, :2]) <= extent).all(axis=1)
    return a[ok]


def _quantise(a: np.ndarray, extent: float) -> bytes:
    return np.clip(np.rint(a * (Q / extent)), -Q, Q).astype("<i2").tobytes()


def _trails(trails: np.ndarray | None, extent: float) -> np.ndarray:
    """(C, T, 2) int16: clipped into the box; a point with a non-finite coordinate becomes MISSING."""
    if trails is None:
        return np.zeros((0, 0, 2), dtype="<i2")
    t = np.asarray(trails, dtype=np.float64)
    if t.ndim != 3 or t.shape[2] != 2:
        raise ValueError(f"trails must have shape (C, T, 2), got {t.shape}")
    bad = ~np.isfinite(t).all(axis=2, keepdims=True)  # (C, T, 1)
    q = np.clip(np.rint(np.where(bad, 0.0, t) * (Q / extent)), -Q, Q)
    return np.where(bad, MISSING, q).astype("<i2")


@dataclass(frozen=True)
class DecodedFrame:
    """A frame read back by `decode_frame`; coordinates in data units (float32)."""

    mode: str
    frame_id: int
    extent: float
    vmin: float
    vmax: float
    title: str
    grid: np.ndarray  # (n, n) uint8
    data: np.ndarray  # (N, 2)
    negatives: np.ndarray  # (M, 2)
    trails: np.ndarray  # (C, T, 2), NaN where missing
    field: np.ndarray  # (F, 4)


def decode_frame(frame: bytes) -> DecodedFrame:
    """Inverse of `encode_frame` (up to quantisation): the reference reader of the format."""
    if len(frame) < _HEADER.size:
        raise ValueError(f"frame has {len(frame)} bytes, shorter than the {_HEADER.size}-byte header")
    magic, version, mode, n, frame_id, extent, vmin, vmax, n_data, n_neg, c, t, f, n_title = \
        _HEADER.unpack_from(frame, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"not an EBL{VERSION} frame: magic={magic!r}, version={version}")
    o = _HEADER.size
    title = frame[o:o + n_title].decode("utf-8")
    o += n_title
    grid = np.frombuffer(frame, np.uint8, n * n, o).reshape(n, n)
    o += n * n
    layers = []
    for shape in ((n_data, 2), (n_neg, 2), (c, t, 2), (f, 4)):
        k = int(np.prod(shape))
        q = np.frombuffer(frame, "<i2", k, o).reshape(shape)
        layers.append(np.where(q == MISSING, np.nan, q * (extent / Q)).astype(np.float32))
        o += 2 * k
    if o != len(frame):
        raise ValueError(f"frame has {len(frame)} bytes, header describes {o}")
    mode_name = {v: k for k, v in MODES.items()}[mode]
    return DecodedFrame(mode_name, frame_id, extent, vmin, vmax, title, grid, *layers)


# ---------------------------------------------------------------------------------------------------
# Browser side. State lives on parentElement (a ShadowRoot), so updates only redraw. Drawing waits for
# the next animation frame and uses only the newest frame. `data-mounts` on the canvas counts how often a
# canvas was built for this Streamlit key on this page (stays 1 while updates arrive in place);
# `data-draws` counts redraws, `data-frame` is the frame id drawn last, `data-mode` its view and `data-src`
# the URL it was fetched from (empty for a pushed frame).

# (more than one line: Streamlit takes a one-line string with "[" in it for a file path)
_CSS = (".ebm-live-canvas{width:100%;height:100%;display:flex;justify-content:center;position:relative}"
        "canvas{display:block}\n"
        ".ebm-live-canvas[data-empty]::before{content:'Building the model and the exact density grid…';"
        "align-self:center;opacity:.7}\n"
        ".ebm-live-canvas .png{position:absolute;top:0;right:0;font:12px sans-serif;padding:2px 8px;cursor:pointer;"
        "border:1px solid rgba(49,51,63,.2);border-radius:6px;background:#fff;color:#31333f;opacity:.75}"
        ".ebm-live-canvas .png:hover{opacity:1}.ebm-live-canvas[data-empty] .png{display:none}")

_JS = js_source("canvas.js")  # the element's JavaScript, beside this file


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("ebm_live_canvas", css=_CSS, js=minify(_JS))


def live_canvas(frame: bytes, *, key: str, height: int | str = 520) -> None:
    """Mount the live canvas on the first call for `key`; later calls with new frames only redraw it."""
    _component()(key=key, data=frame, height=height)


def live_canvas_stream(src: str, *, key: str, height: int | str = 520) -> None:
    """Mount the live canvas and let it fetch frames from `src` itself (see ui/frame_route.py): GET
    src + "&after=<X-Frame-Key>" answers a frame, or 204 when nothing is newer."""
    _component()(key=key, data={"src": src}, height=height)
