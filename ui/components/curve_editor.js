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
