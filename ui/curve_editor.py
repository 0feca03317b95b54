"""A 1D energy the user shapes by dragging control points: a `st.components.v2` element.

The browser draws the axes, the curve and one handle per control point in an SVG. Dragging a
handle (or clicking anywhere in the plot, which moves the nearest handle there) redraws the curve
locally at every mouse move and sends the new heights to Python once, on release, as the trigger
value `heights`, which reaches the page through the `on_change` callback. Keyboard: Tab to a
handle, arrows move it by 0.25, PageUp/PageDown by 1, Home/End to the limits; the heights go out
400 ms after the last key. The curve is the same monotone cubic spline with quadratic walls as
`ebm_core.theory.interpolate_curve`, written again in JavaScript so dragging needs no round trip;
the page's figures always come from the Python one.

State lives on `parentElement` (a ShadowRoot), so a rerun with new data only redraws. While a
handle is held, incoming data is ignored, so a slow rerun cannot yank the handle away. For tests,
the SVG carries `data-curve` (E at x = -4, -3.5, ..., 4 as drawn) and `data-sent` (heights sent).
"""

import functools
from collections.abc import Callable

_CSS = """
:host{display:block}
.ce{width:100%;font-family:Inter,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2937;user-select:none}
svg{display:block;touch-action:none;cursor:ns-resize}
.grid{stroke:#e5e7eb;stroke-width:1}
.axis{fill:none;stroke:#9ca3af;stroke-width:1}
.tick{font-size:15px;fill:#1f2937}
.title{font-size:17px;fill:#1f2937}
.hint{font-size:14px;fill:#6b7280}
.curve{fill:none;stroke:#1d4ed8;stroke-width:3.5;stroke-linejoin:round}
.handle{fill:#fff;stroke:#1d4ed8;stroke-width:3;cursor:grab;outline:none}
.handle:focus,.handle.active{fill:#1d4ed8;stroke:#1e3a8a}
.ring{fill:none;stroke:#93c5fd;stroke-width:4;opacity:0}
.ring.on{opacity:1}
.value{font-size:15px;font-weight:600;fill:#1e3a8a;paint-order:stroke;stroke:#fff;stroke-width:4px}
"""

_JS = r"""
const NS = 'http://www.w3.org/2000/svg', M = { l: 70, r: 20, t: 30, b: 55 };
function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function slopes(xk, yk) {  // Fritsch-Carlson; end slopes point into the walls
  const K = xk.length, h = [], dl = [], d = new Array(K).fill(0);
  for (let k = 0; k < K - 1; k++) { h[k] = xk[k + 1] - xk[k]; dl[k] = (yk[k + 1] - yk[k]) / h[k]; }
  for (let k = 1; k < K - 1; k++) if (dl[k - 1] * dl[k] > 0) {
    const w1 = 2 * h[k] + h[k - 1], w2 = h[k] + 2 * h[k - 1];
    d[k] = (w1 + w2) / (w1 / dl[k - 1] + w2 / dl[k]);
  }
  d[0] = Math.min(dl[0], 0); d[K - 1] = Math.max(dl[K - 2], 0);
  return d;
}
function energyAt(x, xk, yk, d, wall) {
  const K = xk.length, w2 = 2 * wall * wall;
  if (x < xk[0]) { const u = xk[0] - x; return yk[0] - d[0] * u + u * u / w2; }
  if (x > xk[K - 1]) { const u = x - xk[K - 1]; return yk[K - 1] + d[K - 1] * u + u * u / w2; }
  let k = 0;
  while (k < K - 2 && x >= xk[k + 1]) k++;
  const h = xk[k + 1] - xk[k], t = (x - xk[k]) / h;
  return (1 + 2 * t) * (1 - t) ** 2 * yk[k] + t * (1 - t) ** 2 * h * d[k]
    + t * t * (3 - 2 * t) * yk[k + 1] + t * t * (t - 1) * h * d[k + 1];
}
export default function ({ data, parentElement: p, setTriggerValue }) {
  const s = p.__ce || (p.__ce = mount(p));
  s.send = setTriggerValue;
  if (data && s.drag < 0 && !s.timer) {
    const same = s.cfg && JSON.stringify({ ...s.cfg, heights: 0 }) === JSON.stringify({ ...data, heights: 0 });
    s.cfg = data; s.h = data.heights.slice();
    if (!same) layout(s);
    update(s);
  }
  return () => { if (!s.root.isConnected) s.ro.disconnect(); };
}
function mount(p) {
  const root = document.createElement('div');
  root.className = 'ce';
  p.appendChild(root);
  const svg = el('svg', { role: 'group', 'aria-label': 'energy curve editor' }, root);
  svg.dataset.sent = 0;
  const s = { root, svg, drag: -1, focus: -1, timer: 0, w: 0 };
  s.ro = new ResizeObserver(() => { if (s.cfg && root.clientWidth !== s.w) { layout(s); update(s); } });
  s.ro.observe(root);
  const valueAt = ev => {
    const r = svg.getBoundingClientRect(), [lo, hi] = s.cfg.range, v = s.Y.inv(ev.clientY - r.top);
    return Math.min(hi, Math.max(lo, Math.round(v / 0.05) * 0.05));
  };
  svg.addEventListener('pointerdown', ev => {
    if (!s.cfg) return;
    const r = svg.getBoundingClientRect(), xv = s.X.inv(ev.clientX - r.left);
    let i = +(ev.target.dataset && ev.target.dataset.i);
    if (!(i >= 0)) i = s.cfg.xs.reduce((b, x, k) => Math.abs(x - xv) < Math.abs(s.cfg.xs[b] - xv) ? k : b, 0);
    s.drag = i; s.focus = i;
    svg.setPointerCapture(ev.pointerId);
    s.h[i] = valueAt(ev); update(s);
    ev.preventDefault();
  });
  svg.addEventListener('pointermove', ev => { if (s.drag >= 0) { s.h[s.drag] = valueAt(ev); update(s); } });
  const release = () => {
    if (s.drag < 0) return;
    if (s.root.getRootNode().activeElement !== s.handles[s.drag]) s.focus = -1;
    s.drag = -1; update(s); send(s);
  };
  svg.addEventListener('pointerup', release);
  svg.addEventListener('pointercancel', release);
  svg.addEventListener('keydown', ev => {
    const i = +(ev.target.dataset && ev.target.dataset.i);
    if (!(i >= 0)) return;
    const [lo, hi] = s.cfg.range, step = { ArrowUp: .25, ArrowRight: .25, ArrowDown: -.25, ArrowLeft: -.25,
      PageUp: 1, PageDown: -1 }[ev.key];
    let v = s.h[i];
    if (step !== undefined) v += step;
    else if (ev.key === 'Home') v = lo;
    else if (ev.key === 'End') v = hi;
    else return;
    s.h[i] = Math.min(hi, Math.max(lo, Math.round(v * 100) / 100)); s.focus = i;
    ev.preventDefault(); update(s);
    clearTimeout(s.timer);
    s.timer = setTimeout(() => { s.timer = 0; send(s); }, 400);
  });
  svg.addEventListener('focusin', ev => { const i = +ev.target.dataset.i; if (i >= 0) { s.focus = i; update(s); } });
  svg.addEventListener('focusout', () => { if (s.drag < 0) { s.focus = -1; update(s); } });
  return s;
}
function send(s) {
  s.svg.dataset.sent = +s.svg.dataset.sent + 1;
  s.send('heights', s.h.map(v => +v.toFixed(3)));
}
function layout(s) {  // axes, grid, labels and one handle per control point: only when size or axes change
  const c = s.cfg, svg = s.svg, W = Math.max(240, s.root.clientWidth || 600), H = c.height;
  s.w = s.root.clientWidth;
  const pw = W - M.l - M.r, ph = H - M.t - M.b, [x0, x1] = c.view, [y0, y1] = c.yaxis;
  const X = u => M.l + (u - x0) / (x1 - x0) * pw, Y = v => M.t + (1 - (v - y0) / (y1 - y0)) * ph;
  X.inv = px => x0 + (px - M.l) / pw * (x1 - x0);
  Y.inv = py => y0 + (1 - (py - M.t) / ph) * (y1 - y0);
  Object.assign(s, { X, Y, pw, ph });
  svg.replaceChildren();
  svg.setAttribute('width', W); svg.setAttribute('height', H); svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  el('rect', { x: 0, y: 0, width: W, height: H, fill: '#fff' }, svg);
  for (let u = Math.ceil(x0); u <= x1; u++) {
    el('line', { x1: X(u), x2: X(u), y1: M.t, y2: M.t + ph, class: 'grid' }, svg);
    el('text', { x: X(u), y: M.t + ph + 22, 'text-anchor': 'middle', class: 'tick' }, svg)
      .textContent = String(u).replace('-', '\u2212');
  }
  for (let v = Math.ceil(y0 / 2) * 2; v <= y1; v += 2) {
    el('line', { x1: M.l, x2: M.l + pw, y1: Y(v), y2: Y(v), class: 'grid' }, svg);
    el('text', { x: M.l - 10, y: Y(v) + 5, 'text-anchor': 'end', class: 'tick' }, svg)
      .textContent = String(v).replace('-', '\u2212');
  }
  el('path', { d: `M${M.l},${M.t}V${M.t + ph}H${M.l + pw}`, class: 'axis' }, svg);
  el('text', { x: M.l + pw / 2, y: H - 8, 'text-anchor': 'middle', class: 'title' }, svg).textContent = 'x';
  el('text', { x: 0, y: 0, 'text-anchor': 'middle', class: 'title',
    transform: `translate(20,${M.t + ph / 2}) rotate(-90)` }, svg).textContent = 'energy E(x)';
  el('text', { x: M.l + 8, y: M.t - 10, class: 'hint' }, svg).textContent =
    'Drag the dots (or click where one should go); arrow keys work too';
  const inner = el('svg', { x: M.l, y: M.t, width: pw, height: ph, viewBox: `${M.l} ${M.t} ${pw} ${ph}`,
    overflow: 'hidden' }, svg);  // a nested viewport clips the curve to the plot
  s.curve = el('path', { class: 'curve' }, inner);
  s.rings = [], s.handles = [];
  c.xs.forEach((x, i) => {
    s.rings.push(el('circle', { cx: X(x), r: 17, class: 'ring' }, svg));
    const h = el('circle', { cx: X(x), r: 10, class: 'handle', tabindex: 0, role: 'slider',
      'aria-label': `energy at x = ${x}`, 'aria-valuemin': c.range[0], 'aria-valuemax': c.range[1] }, svg);
    h.dataset.i = i;
    s.handles.push(h);
  });
  s.value = el('text', { 'text-anchor': 'middle', class: 'value' }, svg);
}
function update(s) {  // the curve, the handles' heights and the value label
  const c = s.cfg, X = s.X, Y = s.Y, [x0, x1] = c.view, d = slopes(c.xs, s.h);
  const n = Math.max(200, Math.round(s.pw)), pts = [];
  for (let j = 0; j <= n; j++) {
    const u = x0 + (x1 - x0) * j / n, v = Math.min(c.yaxis[1] + 5, energyAt(u, c.xs, s.h, d, c.wall));
    pts.push(`${X(u).toFixed(1)},${Y(v).toFixed(1)}`);
  }
  s.curve.setAttribute('d', 'M' + pts.join('L'));
  const probe = [];
  for (let u = x0; u <= x1 + 1e-9; u += .5) probe.push(+energyAt(u, c.xs, s.h, d, c.wall).toFixed(6));
  s.svg.dataset.curve = JSON.stringify(probe);
  const active = s.drag >= 0 ? s.drag : s.focus;
  c.xs.forEach((x, i) => {
    s.handles[i].setAttribute('cy', Y(s.h[i]));
    s.handles[i].setAttribute('aria-valuenow', s.h[i]);
    s.handles[i].classList.toggle('active', i === active);
    s.rings[i].setAttribute('cy', Y(s.h[i]));
    s.rings[i].classList.toggle('on', i === active);
  });
  s.value.style.display = active >= 0 ? '' : 'none';
  if (active >= 0) {
    s.value.setAttribute('x', X(c.xs[active]));
    s.value.setAttribute('y', Y(s.h[active]) - 22);
    s.value.textContent = `E = ${s.h[active].toFixed(2)}`;
  }
}
"""


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("ebm_curve_editor", css=_CSS, js=_JS)


def curve_editor(heights: list[float], *, xs: tuple[float, ...], value_range: tuple[float, float],
                 view: tuple[float, float], energy_axis: tuple[float, float], wall: float, key: str,
                 on_change: Callable[[list[float]], None], height: int = 430) -> None:
    """Draw the editor with the current heights. When the user sets new ones, `on_change(heights)`
    runs as a widget callback: before the script, so this very run already draws them."""
    import streamlit as st

    def changed() -> None:
        sent = st.session_state[key].get("heights")
        if sent is not None:
            on_change([float(v) for v in sent])

    data = dict(xs=list(xs), heights=[float(h) for h in heights], range=list(value_range), view=list(view),
                yaxis=list(energy_axis), wall=wall, height=height)
    _component()(key=key, data=data, height=height, on_heights_change=changed)
