"""Live 2D energy view: a Streamlit components-v2 element that draws on a <canvas>.

Python packs one frame into a few KB of little-endian binary (`encode_frame`); the browser decodes it
with a DataView and redraws the same canvas in place, so a `run_every=0.1` fragment animates at
~10 frames/s without remounting (see STREAMLIT_NOTES.md, "Live heatmap + scatter").

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
import re
import struct
from dataclasses import dataclass

import numpy as np

from ebm_core import views

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
_CSS = (".ebm-live-canvas{width:100%;height:100%;display:flex;justify-content:center}canvas{display:block}\n"
        ".ebm-live-canvas[data-empty]::before{content:'Building the model and the exact density grid…';"
        "align-self:center;opacity:.7}")

_JS = r"""
const MAGIC = 0x314c4245, MISS = -32768, LEVELS = 10;
const VIR = lut('440154472d7b3b528b2c728e21918c28ae805ec962addc30fde725');
const DEN = lut('ffffffe0ecf4bfd3e69ebcda8c96c68c6bb188419d810f7c4d004b');
const LINE = VIR.map((x, i) => {  // contour colour: lighter on dark, darker on light
  const c = i - i % 3, y = .3 * VIR[c] + .59 * VIR[c + 1] + .11 * VIR[c + 2];
  return y < 140 ? x + (255 - x) * .55 : x * .5;
});
const pack = a => Uint32Array.from({ length: 256 },  // RGBA bytes as little-endian 0xAABBGGRR
  (_, i) => 0xff000000 | a[3 * i + 2] << 16 | a[3 * i + 1] << 8 | a[3 * i]);
const VIR32 = pack(VIR), DEN32 = pack(DEN);
const DATA = ['#ffffff', 'rgba(15,23,42,.8)'], NEG = ['#ff7a1a', 'rgba(60,20,0,.85)'], CHAIN = '#ff2d95';
function lut(hex) {
  const a = hex.match(/../g).map(h => parseInt(h, 16)), k = a.length / 3 - 1, o = new Uint8Array(768);
  for (let i = 0; i < 256; i++) {
    const t = i / 255 * k, j = Math.min(k - 1, t | 0), f = t - j;
    for (let c = 0; c < 3; c++) o[3 * i + c] = a[3 * j + c] + (a[3 * j + 3 + c] - a[3 * j + c]) * f + .5;
  }
  return o;
}
export default function ({ data, parentElement: p }) {
  const s = p.__ebm || (p.__ebm = mount(p));
  if (data && data.byteLength) {  // a pushed frame
    s.src = s.frameSrc = null;
    s.frame = data;
    if (!s.raf) s.raf = requestAnimationFrame(() => { s.raf = 0; draw(s); });
  } else if (data && data.src) {  // a frame source to poll; a rerun (a click) polls again at once
    // a new run: drop a held request for the old one
    if (data.src !== s.src) { s.src = data.src; s.have = ''; if (s.busy) s.ctrl.abort(); }
    if (!s.busy) { clearTimeout(s.timer); poll(s); }
  }
  return () => { if (!s.root.isConnected) { s.ro.disconnect(); s.src = null; clearTimeout(s.timer); } };
}
// Pull loop: the next request leaves once the last frame is drawn (so a slow or hidden tab asks for
// less) and at most every MINW ms. The server holds a request until it has a newer frame, or
// answers 204 after half a second; then the next request leaves at once (a new run's first frame
// shows as soon as it exists).
const MINW = 83, MAXW = 0;
function poll(s) {
  const src = s.src, t0 = performance.now();
  s.timer = 0;
  if (!src || !s.root.isConnected) return;
  s.busy = true;
  const next = ms => { s.busy = false; if (s.src) s.timer = setTimeout(() => poll(s), ms); };
  let key = '';
  s.ctrl = new AbortController();
  fetch(src + '&after=' + encodeURIComponent(s.have), { cache: 'no-store', signal: s.ctrl.signal })
    .then(r => {
      key = r.headers.get('X-Frame-Key') || '';
      return r.status === 200 ? r.arrayBuffer() : r.status;
    })
    .then(b => {
      if (src !== s.src) return next(0);
      if (typeof b === 'number') {  // 204: no newer frame; 404: the run is gone (a rerun brings the next)
        if (b === 404) { s.busy = false; return; }
        return next(b === 204 ? MAXW : 2000);  // any other answer: a server in trouble, not to be hammered
      }
      s.frame = new Uint8Array(b);
      s.frameSrc = src;
      s.have = key;
      requestAnimationFrame(() => { draw(s); next(Math.max(0, MINW - (performance.now() - t0))); });
    })
    .catch(e => e.name === 'AbortError' ? next(0) : next(2000));  // aborted: the new source at once
}
function mount(p) {
  const root = document.createElement('div'), cv = document.createElement('canvas');
  root.className = 'ebm-live-canvas';
  root.dataset.empty = 1;
  cv.setAttribute('role', 'img');
  const h = p.host || p, el = h.closest && h.closest('[class*="st-key-"]');  // per Streamlit key
  const id = el ? [...el.classList].find(c => c.startsWith('st-key-')) : '', m = globalThis.__ebmLiveMounts ||= {};
  cv.dataset.mounts = m[id] = (m[id] || 0) + 1;
  cv.dataset.draws = 0;
  root.appendChild(cv);
  p.appendChild(root);
  const s = { root, cv, ctx: cv.getContext('2d'), off: document.createElement('canvas'), draws: 0, raf: 0 };
  s.ro = new ResizeObserver(() => s.frame && draw(s));
  s.ro.observe(root);
  return s;
}
function paint(s, g, n, mode, R, hw) {  // bilinear upscale of the n x n grid to R x R, LUT, contours
  const off = s.off;
  if (off.width !== R) {
    off.width = off.height = R;
    s.img = off.getContext('2d').createImageData(R, R);
    s.px = new Uint32Array(s.img.data.buffer);
    s.t = new Float32Array(R * R);
  }
  const t = s.t, ix = new Int32Array(R), fx = new Float32Array(R);
  for (let c = 0; c < R; c++) {
    const u = (c + .5) / R * n - .5, i = Math.min(n - 2, Math.max(0, Math.floor(u)));  // extrapolate at the rim
    ix[c] = i; fx[c] = u - i;
  }
  for (let r = 0, k = 0; r < R; r++) {
    const a = ix[R - 1 - r] * n, b = a + n, fy = fx[R - 1 - r];  // canvas row 0 = top = largest y
    for (let c = 0; c < R; c++, k++) {
      const i = ix[c], f = fx[c], lo = g[a + i] + (g[a + i + 1] - g[a + i]) * f;
      t[k] = Math.min(255, Math.max(0, lo + (g[b + i] + (g[b + i + 1] - g[b + i]) * f - lo) * fy));
    }
  }
  const sc = LEVELS / 255, w = hw + .5, px = s.px, lut = mode ? DEN : VIR, out = mode ? DEN32 : VIR32;
  for (let r = 0, k = 0; r < R; r++) for (let c = 0; c < R; c++, k++) {
    const x = t[k], i = (x + .5) | 0;
    px[k] = out[i];
    if (mode) continue;
    // anti-aliased iso-lines: |level offset| / |level gradient| = distance to the nearest line in pixels
    const lv = x * sc, m = (lv + .5) | 0, d = Math.abs(lv - m);
    if (m < 1 || m >= LEVELS) continue;
    const dx = c < R - 1 ? t[k + 1] - x : x - t[k - 1], dy = r < R - 1 ? t[k + R] - x : x - t[k - R];
    const g2 = (dx * dx + dy * dy) * sc * sc;
    if (d * d >= w * w * g2) continue;
    const al = Math.min(1, w - d / Math.sqrt(g2)) * .85, l = 3 * i;
    const mix = j => lut[l + j] + (LINE[l + j] - lut[l + j]) * al;
    px[k] = 0xff000000 | mix(2) << 16 | mix(1) << 8 | mix(0);
  }
  off.getContext('2d').putImageData(s.img, 0, 0);
}
function draw(s) {
  const d = s.frame, v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  if (v.getUint32(0, true) !== MAGIC) return;
  const mode = v.getUint8(5), n = v.getUint16(6, true), id = v.getUint32(8, true), ext = v.getFloat32(12, true);
  const [N, M, C, T, F, TL] = [24, 26, 28, 30, 32, 34].map(o => v.getUint16(o, true));
  const title = new TextDecoder().decode(d.subarray(36, 36 + TL)), g = d.subarray(36 + TL, 36 + TL + n * n);
  const oD = 36 + TL + n * n, oN = oD + 4 * N, oT = oN + 4 * M, oF = oT + 4 * C * T;
  const q = o => v.getInt16(o, true);
  // layout in CSS pixels: a square plot of side P with room for ticks and title
  const cs = getComputedStyle(s.root), fg = cs.color || '#31333f', ff = cs.fontFamily || 'sans-serif';
  const dpr = window.devicePixelRatio || 1, ml = 36, mr = 12, mb = 26, mt = title ? 34 : 12;
  const P = Math.max(80, Math.floor(Math.min((s.root.clientWidth || 520) - ml - mr,
    (s.root.clientHeight || 520) - mt - mb, 560 - ml - mr)));
  const cw = P + ml + mr, ch = P + mt + mb, cv = s.cv, ctx = s.ctx;
  if (cv.width !== Math.round(cw * dpr) || cv.height !== Math.round(ch * dpr)) {
    cv.width = Math.round(cw * dpr); cv.height = Math.round(ch * dpr);
    cv.style.width = cw + 'px'; cv.style.height = ch + 'px';
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cw, ch);
  const R = Math.min(720, Math.round(P * dpr));
  paint(s, g, n, mode, R, .65 * R / P);
  ctx.imageSmoothingEnabled = true; ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(s.off, ml, mt, P, P);
  const X = u => ml + (u / 32767 + 1) * P / 2, Y = u => mt + (1 - u / 32767) * P / 2;
  ctx.save();
  ctx.beginPath(); ctx.rect(ml, mt, P, P); ctx.clip();
  ctx.lineCap = ctx.lineJoin = 'round';
  if (F) {  // -grad E arrows
    ctx.beginPath();
    for (let i = 0, o = oF; i < F; i++, o += 8) {
      const x = X(q(o)), y = Y(q(o + 2)), ex = x + q(o + 4) / 32767 * P / 2, ey = y - q(o + 6) / 32767 * P / 2;
      const len = Math.hypot(ex - x, ey - y), h = Math.min(5, .4 * len), a = Math.atan2(ey - y, ex - x);
      if (len < .5) continue;
      ctx.moveTo(x, y); ctx.lineTo(ex, ey);
      ctx.moveTo(ex - h * Math.cos(a - .45), ey - h * Math.sin(a - .45)); ctx.lineTo(ex, ey);
      ctx.lineTo(ex - h * Math.cos(a + .45), ey - h * Math.sin(a + .45));
    }
    ctx.strokeStyle = mode ? 'rgba(30,27,75,.45)' : 'rgba(255,255,255,.5)'; ctx.lineWidth = 1.1; ctx.stroke();
  }
  const dots = (o, k, r, [fill, edge]) => {  // an edge disc under a fill disc reads on any background
    for (const [rr, col] of [[r + .9, edge], [r, fill]]) {
      ctx.beginPath();
      for (let i = 0; i < k; i++) {
        const x = X(q(o + 4 * i)), y = Y(q(o + 4 * i + 2));
        ctx.moveTo(x + rr, y); ctx.arc(x, y, rr, 0, 6.2832);
      }
      ctx.fillStyle = col; ctx.fill();
    }
  };
  dots(oD, N, 2, DATA);
  dots(oN, M, 2.4, NEG);
  for (let c = 0; c < C; c++) {  // chains: fading polylines, oldest faint, with a halo, dot at the head
    let prev = null, head = null;
    for (let t = 0; t < T; t++) {
      const o = oT + 4 * (c * T + t), u = q(o);
      if (u === MISS) { prev = null; continue; }
      const pt = [X(u), Y(q(o + 2))];
      if (prev) for (const [w, col, al] of [[3.4, '#fff', .35], [1.8, CHAIN, 1]]) {
        ctx.globalAlpha = al * (.25 + .75 * t / (T - 1));
        ctx.beginPath(); ctx.moveTo(...prev); ctx.lineTo(...pt); ctx.lineWidth = w; ctx.strokeStyle = col; ctx.stroke();
      }
      prev = head = pt;
    }
    ctx.globalAlpha = 1;
    if (head) {
      ctx.beginPath(); ctx.arc(head[0], head[1], 3.6, 0, 6.2832);
      ctx.fillStyle = CHAIN; ctx.fill(); ctx.lineWidth = 1.4; ctx.strokeStyle = '#fff'; ctx.stroke();
    }
  }
  ctx.restore();
  // frame, integer ticks (left and bottom), title
  ctx.strokeStyle = ctx.fillStyle = fg; ctx.lineWidth = 1;
  ctx.globalAlpha = .7;
  ctx.strokeRect(ml - .5, mt - .5, P + 1, P + 1);
  const raw = ext / 4, p10 = 10 ** Math.floor(Math.log10(raw)), m = raw / p10;
  const step = Math.max(ext >= 1 ? 1 : 0, (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p10);
  ctx.font = `12px ${ff}`;
  ctx.beginPath();
  const ticks = [];
  for (let u = Math.ceil(-ext / step - 1e-9) * step; u <= ext + 1e-9; u += step) ticks.push(u);
  for (const u of ticks) {
    const x = Math.round(ml + (u / ext + 1) * P / 2) + .5, y = Math.round(mt + (1 - u / ext) * P / 2) - .5;
    ctx.moveTo(x, mt + P); ctx.lineTo(x, mt + P + 4); ctx.moveTo(ml - 4, y); ctx.lineTo(ml, y);
  }
  ctx.stroke();
  ctx.globalAlpha = .85;
  for (const u of ticks) {
    const lab = (Math.abs(u) < 1e-9 ? '0' : +u.toFixed(2) + '').replace('-', '\u2212');
    ctx.textAlign = 'center'; ctx.textBaseline = 'top'; ctx.fillText(lab, ml + (u / ext + 1) * P / 2, mt + P + 7);
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle'; ctx.fillText(lab, ml - 7, mt + (1 - u / ext) * P / 2);
  }
  ctx.globalAlpha = 1;
  if (title) {
    ctx.font = `600 15px ${ff}`; ctx.textAlign = 'left'; ctx.textBaseline = 'alphabetic';
    ctx.fillText(title, ml, mt - 12, P);
  }
  // legend: only the layers present
  const items = [[N, 'data'], [M, 'negatives'], [C, 'chains'], [F, '\u2212\u2207E']].filter(e => e[0]);
  if (items.length) {
    ctx.font = `12px ${ff}`;
    const w = 30 + Math.max(...items.map(e => ctx.measureText(e[1]).width)), h = 8 + 18 * items.length;
    const x0 = ml + P - w - 8, y0 = mt + 8;
    ctx.fillStyle = 'rgba(255,255,255,.88)'; ctx.strokeStyle = 'rgba(0,0,0,.2)';
    ctx.beginPath(); ctx.roundRect(x0 + .5, y0 + .5, w, h, 4); ctx.fill(); ctx.stroke();
    items.forEach(([, lab], i) => {
      const y = y0 + 13 + 18 * i, x = x0 + 13;
      ctx.beginPath();
      if (lab === 'chains') {
        ctx.moveTo(x - 7, y); ctx.lineTo(x + 3, y); ctx.strokeStyle = CHAIN; ctx.lineWidth = 1.8; ctx.stroke();
        ctx.beginPath(); ctx.arc(x + 3, y, 3.2, 0, 6.2832); ctx.fillStyle = CHAIN; ctx.fill();
      } else if (lab === 'data' || lab === 'negatives') {
        const [fill, edge] = lab === 'data' ? DATA : NEG;
        ctx.arc(x, y, 3.6, 0, 6.2832); ctx.fillStyle = edge; ctx.fill();
        ctx.beginPath(); ctx.arc(x, y, 2.7, 0, 6.2832); ctx.fillStyle = fill; ctx.fill();
      } else {
        ctx.moveTo(x - 7, y); ctx.lineTo(x + 5, y);
        ctx.moveTo(x + 1, y - 3); ctx.lineTo(x + 5, y); ctx.lineTo(x + 1, y + 3);
        ctx.strokeStyle = '#334155'; ctx.lineWidth = 1.3; ctx.stroke();
      }
      ctx.fillStyle = '#1f2937'; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
      ctx.fillText(lab, x0 + 24, y + .5);
    });
  }
  cv.setAttribute('aria-label', title || 'energy landscape');
  cv.dataset.frame = id;
  cv.dataset.mode = mode ? 'density' : 'energy';
  cv.dataset.src = s.frameSrc || '';  // the source of the frame drawn (a new run has a new token)
  delete s.root.dataset.empty;
  cv.dataset.draws = ++s.draws;
}
"""


def _minify(js: str) -> str:
    """Light minification: drop comments, indentation and spaces around punctuation.

    So string literals in `_JS` must not rely on a space next to punctuation.
    """
    lines = (re.sub(r"\s+//\s.*$|^\s*//.*$", "", line).strip() for line in js.splitlines())
    return "\n".join(re.sub(r" *([-=+*/<>!?:,;{}()[\]&|]) *", r"\1", line) for line in lines if line)


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("ebm_live_canvas", css=_CSS, js=_minify(_JS))


def live_canvas(frame: bytes, *, key: str, height: int = 520) -> None:
    """Mount the live canvas on the first call for `key`; later calls with new frames only redraw it."""
    _component()(key=key, data=frame, height=height)


def live_canvas_stream(src: str, *, key: str, height: int = 520) -> None:
    """Mount the live canvas and let it fetch frames from `src` itself (see ui/frame_route.py): GET
    src + "&after=<X-Frame-Key>" answers a frame, or 204 when nothing is newer."""
    _component()(key=key, data={"src": src}, height=height)
