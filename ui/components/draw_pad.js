const MAGIC = 0x31504445, M = { l: 40, r: 12, t: 10, b: 30 }, MAX_DABS = 1500;
const BG = '#0b1220', GRID = 'rgba(148,163,184,.25)', AXIS = 'rgba(226,232,240,.55)', DOT = '#f8fafc';
const INK = 'rgba(251,146,60,.6)';
export default function ({ data, parentElement: p, setTriggerValue }) {
  const s = p.__pad || (p.__pad = mount(p));
  s.send = setTriggerValue;
  if (data && data.byteLength >= 20) {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (v.getUint32(0, true) === MAGIC) {
      s.ext = v.getFloat32(4, true); s.brush = v.getFloat32(8, true);
      const applied = v.getUint32(12, true), n = v.getUint32(16, true);
      s.pts = new Int16Array(data.slice(20, 20 + 4 * n).buffer);
      s.applied = applied; s.next = Math.max(s.next, applied);
      s.pending = s.pending.filter(st => st.id > applied);
      s.top.dataset.applied = applied;
      s.top.dataset.pending = s.pending.length;
      layout(s); drawBase(s); drawTop(s);
    }
  }
  return () => { if (!s.root.isConnected) s.ro.disconnect(); };
}
function mount(p) {
  const root = document.createElement('div'), stage = document.createElement('div'),
    base = document.createElement('canvas'), top = document.createElement('canvas');
  root.className = 'pad'; stage.className = 'stage'; top.className = 'top';
  top.setAttribute('role', 'img');
  Object.assign(top.dataset, { points: 0, sent: 0, dabs: 0, applied: 0, pending: 0 });
  stage.append(base, top);
  root.appendChild(stage);
  p.appendChild(root);
  const s = { root, stage, base, top, pts: new Int16Array(0), ext: 4, brush: .3, pending: [], cur: null,
    next: 0, applied: 0, hover: null, P: 0, dpr: 1 };
  s.ro = new ResizeObserver(() => { if (layout(s)) { drawBase(s); drawTop(s); } });
  s.ro.observe(root);
  const pos = ev => { const r = top.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
  top.addEventListener('pointerdown', ev => {
    if (ev.button !== 0 || s.cur) return;
    top.setPointerCapture(ev.pointerId);
    s.cur = { dabs: [], last: null, pid: ev.pointerId };
    s.hover = pos(ev);
    extend(s, s.hover);
    drawTop(s);
    ev.preventDefault();
  });
  top.addEventListener('pointermove', ev => {
    s.hover = pos(ev);
    if (s.cur && ev.pointerId === s.cur.pid) {
      const evs = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
      for (const e of evs.length ? evs : [ev]) extend(s, pos(e));
    }
    drawTop(s);
  });
  const finish = ev => {
    if (!s.cur || ev.pointerId !== s.cur.pid) return;
    const dabs = s.cur.dabs;
    s.cur = null;
    if (ev.pointerType !== 'mouse') s.hover = null;
    if (dabs.length) {
      s.pending.push({ id: ++s.next, centres: dabs.map(([x, y]) => [+toX(s, x).toFixed(4), +toY(s, y).toFixed(4)]) });
      top.dataset.sent = +top.dataset.sent + 1;
      top.dataset.dabs = +top.dataset.dabs + dabs.length;
      top.dataset.pending = s.pending.length;
      s.send('strokes', s.pending);
    }
    drawTop(s);
  };
  top.addEventListener('pointerup', finish);
  top.addEventListener('pointercancel', finish);
  top.addEventListener('pointerleave', () => { if (!s.cur) { s.hover = null; drawTop(s); } });
  return s;
}
const toX = (s, px) => ((px - M.l) / s.P * 2 - 1) * s.ext;
const toY = (s, py) => (1 - (py - M.t) / s.P * 2) * s.ext;
const inside = (s, [x, y]) => x >= M.l && x <= M.l + s.P && y >= M.t && y <= M.t + s.P;
function extend(s, q) {  // dabs every `gap` pixels from the last one towards q; none outside the box
  const c = s.cur, gap = Math.max(4, .5 * s.brush / s.ext * s.P / 2);
  if (!inside(s, q)) { c.last = null; return; }
  if (!c.last) { if (c.dabs.length < MAX_DABS) c.dabs.push(q); c.last = q; return; }
  let [x, y] = c.last;
  const d = Math.hypot(q[0] - x, q[1] - y), k = Math.floor(d / gap);
  for (let i = 1; i <= k && c.dabs.length < MAX_DABS; i++) {
    const pt = [x + (q[0] - x) * i * gap / d, y + (q[1] - y) * i * gap / d];
    c.dabs.push(pt); c.last = pt;
  }
}
function layout(s) {  // returns true when the size changed
  const W = s.root.clientWidth || 460, H = s.root.clientHeight || 460;
  const P = Math.max(80, Math.floor(Math.min(W - M.l - M.r, H - M.t - M.b)));
  const dpr = window.devicePixelRatio || 1, cw = P + M.l + M.r, ch = P + M.t + M.b;
  if (P === s.P && dpr === s.dpr) return false;
  s.P = P; s.dpr = dpr;
  s.stage.style.width = cw + 'px'; s.stage.style.height = ch + 'px';
  for (const cv of [s.base, s.top]) {
    cv.width = Math.round(cw * dpr); cv.height = Math.round(ch * dpr);
    cv.style.width = cw + 'px'; cv.style.height = ch + 'px';
  }
  return true;
}
function drawBase(s) {
  const ctx = s.base.getContext('2d'), P = s.P, ext = s.ext;
  const X = u => M.l + (u / ext + 1) * P / 2, Y = u => M.t + (1 - u / ext) * P / 2;
  ctx.setTransform(s.dpr, 0, 0, s.dpr, 0, 0);
  ctx.clearRect(0, 0, s.base.width, s.base.height);
  ctx.fillStyle = BG; ctx.fillRect(M.l, M.t, P, P);
  const step = ext > 6 ? 2 : ext >= 1.5 ? 1 : .5, ticks = [];
  for (let u = Math.ceil(-ext / step - 1e-9) * step; u <= ext + 1e-9; u += step) ticks.push(u);
  ctx.lineWidth = 1; ctx.strokeStyle = GRID; ctx.beginPath();
  for (const u of ticks) {
    const x = Math.round(X(u)) + .5, y = Math.round(Y(u)) + .5;
    ctx.moveTo(x, M.t); ctx.lineTo(x, M.t + P); ctx.moveTo(M.l, y); ctx.lineTo(M.l + P, y);
  }
  ctx.stroke();
  ctx.lineWidth = 1.5; ctx.strokeStyle = AXIS; ctx.beginPath();
  ctx.moveTo(X(0), M.t); ctx.lineTo(X(0), M.t + P); ctx.moveTo(M.l, Y(0)); ctx.lineTo(M.l + P, Y(0));
  ctx.stroke();
  const cs = getComputedStyle(s.root), fg = cs.color || '#31333f', ff = cs.fontFamily || 'sans-serif';
  ctx.fillStyle = fg; ctx.font = `15px ${ff}`;
  for (const u of ticks) {
    if (Math.abs(u - Math.round(u)) > 1e-9) continue;
    const lab = String(Math.round(u)).replace('-', '\u2212');
    ctx.textAlign = 'center'; ctx.textBaseline = 'top'; ctx.fillText(lab, X(u), M.t + P + 7);
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle'; ctx.fillText(lab, M.l - 6, Y(u));
  }
  const n = s.pts.length / 2, r = n < 1500 ? 3 : n < 6000 ? 2.2 : 1.6;
  ctx.save();
  ctx.beginPath(); ctx.rect(M.l, M.t, P, P); ctx.clip();
  ctx.fillStyle = DOT; ctx.globalAlpha = n < 6000 ? .95 : .8; ctx.beginPath();
  for (let i = 0; i < n; i++) {
    const x = M.l + (s.pts[2 * i] / 32767 + 1) * P / 2, y = M.t + (1 - s.pts[2 * i + 1] / 32767) * P / 2;
    ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 6.2832);
  }
  ctx.fill();
  ctx.restore();
  if (!n) {
    const hint = 'Press and drag to paint points', cx = M.l + P / 2, cy = M.t + P * .3;
    ctx.font = `18px ${ff}`; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
    const w = ctx.measureText(hint).width + 24;
    ctx.fillStyle = BG; ctx.beginPath(); ctx.roundRect(cx - w / 2, cy - 17, w, 34, 6); ctx.fill();
    ctx.fillStyle = 'rgba(226,232,240,.9)'; ctx.fillText(hint, cx, cy);
  }
  ctx.strokeStyle = fg; ctx.globalAlpha = .6; ctx.lineWidth = 1;
  ctx.strokeRect(M.l - .5, M.t - .5, P + 1, P + 1);
  ctx.globalAlpha = 1;
  s.top.dataset.points = n;
  s.top.setAttribute('aria-label', `drawing pad with ${n} points; press and drag to paint`);
}
function drawTop(s) {  // strokes not yet applied, the stroke being drawn, and the brush ring
  const ctx = s.top.getContext('2d'), r = s.brush / s.ext * s.P / 2;
  ctx.setTransform(s.dpr, 0, 0, s.dpr, 0, 0);
  ctx.clearRect(0, 0, s.top.width, s.top.height);
  ctx.save();
  ctx.beginPath(); ctx.rect(M.l, M.t, s.P, s.P); ctx.clip();
  const X = x => M.l + (x / s.ext + 1) * s.P / 2, Y = y => M.t + (1 - y / s.ext) * s.P / 2;
  const disc = (x, y) => { ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 6.2832); };
  ctx.beginPath();  // one path, one fill: overlapping dabs do not darken each other
  for (const st of s.pending) for (const [x, y] of st.centres) disc(X(x), Y(y));
  if (s.cur) for (const [x, y] of s.cur.dabs) disc(x, y);
  ctx.fillStyle = INK; ctx.fill();
  if (s.hover && inside(s, s.hover)) {  // the brush: a light ring with a dark edge, visible on dots and on dark
    const [x, y] = s.hover;
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, r + 1.5, 0, 6.2832); ctx.strokeStyle = 'rgba(0,0,0,.6)'; ctx.stroke();
    ctx.beginPath(); ctx.arc(x, y, r, 0, 6.2832); ctx.strokeStyle = '#fde68a'; ctx.stroke();
  }
  ctx.restore();
}
