const MAGIC = 0x314c4245, MISS = -32768, LEVELS = 10;
const VIR = lut('440154472d7b3b528b2c728e21918c28ae805ec962addc30fde725');
// Density: white to purple, its colour spent mostly on low densities (indexed by the square root of
// the value), so a spread-out model still shows on a projector; the colour bar draws the same table.
const DEN = sqrtScale(lut('ffffffe0ecf4bfd3e69ebcda8c96c68c6bb188419d810f7c4d004b'));
const LINE = VIR.map((x, i) => {  // contour colour: lighter on dark, darker on light
  const c = i - i % 3, y = .3 * VIR[c] + .59 * VIR[c + 1] + .11 * VIR[c + 2];
  return y < 140 ? x + (255 - x) * .55 : x * .5;
});
const pack = a => Uint32Array.from({ length: 256 },  // RGBA bytes as little-endian 0xAABBGGRR
  (_, i) => 0xff000000 | a[3 * i + 2] << 16 | a[3 * i + 1] << 8 | a[3 * i]);
const VIR32 = pack(VIR), DEN32 = pack(DEN);
// data white, negatives orange, chains sky blue: orange and blue stay apart for every kind of colour vision
const DATA = ['#ffffff', 'rgba(15,23,42,.8)'], NEG = ['#ff8c1a', 'rgba(60,20,0,.85)'], CHAIN = '#38bdf8';
const CHAIN_HALO = 'rgba(8,20,40,.75)';
function sqrtScale(a) {
  const o = new Uint8Array(768);
  for (let i = 0; i < 256; i++) {
    const j = Math.round(255 * Math.sqrt(i / 255));
    for (let c = 0; c < 3; c++) o[3 * i + c] = a[3 * j + c];
  }
  return o;
}
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
  const [url, auth] = src.split('#');  // the run's key rides after '#' and goes as a header
  fetch(url + '&after=' + encodeURIComponent(s.have), { cache: 'no-store', signal: s.ctrl.signal,
    headers: { 'X-EBM-Auth': auth || '' } })
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
  const png = document.createElement('button');  // the picture as drawn, for a slide
  png.className = 'png'; png.textContent = '\u2913 PNG'; png.title = 'Save this picture as a PNG';
  png.onclick = () => savePng(cv);
  root.appendChild(png);
  p.appendChild(root);
  const s = { root, cv, ctx: cv.getContext('2d'), off: document.createElement('canvas'), draws: 0, raf: 0 };
  s.ro = new ResizeObserver(() => s.frame && draw(s));
  s.ro.observe(root);
  return s;
}
function savePng(cv) {  // on white (the canvas is transparent around the plot), named by the step
  const out = document.createElement('canvas');
  out.width = cv.width; out.height = cv.height;
  const c = out.getContext('2d');
  c.fillStyle = '#fff'; c.fillRect(0, 0, out.width, out.height); c.drawImage(cv, 0, 0);
  const a = document.createElement('a');
  a.href = out.toDataURL('image/png');
  a.download = `energy-landscape-${(cv.getAttribute('aria-label') || 'plot').replace(/\W+/g, '-')}.png`;
  a.click();
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
// One redraw of the newest frame: the density or energy picture, the layers clipped to the plot
// (arrows, data, negatives, chains), then the axes, the title and the legend. The canvas state each
// step leaves (styles, alpha, font) is what the next one starts from, so keep their order.
function draw(s) {
  const f = header(s.frame);
  if (!f) return;
  const L = layout(s, f.title), ctx = s.ctx, { ml, mt, P } = L;
  background(s, f, L);
  ctx.save();
  ctx.beginPath(); ctx.rect(ml, mt, P, P); ctx.clip();
  ctx.lineCap = ctx.lineJoin = 'round';
  if (f.F) arrows(ctx, f, L);
  dots(ctx, f, L, f.oD, f.N, 2 * L.k, DATA);
  dots(ctx, f, L, f.oN, f.M, 2.4 * L.k, NEG);
  chains(ctx, f, L);
  ctx.restore();
  axes(ctx, f, L);
  colourBar(ctx, f, L);
  legend(ctx, f, L);
  const cv = s.cv;
  cv.setAttribute('aria-label', f.title || 'energy landscape');
  cv.dataset.frame = f.id;
  cv.dataset.mode = f.mode ? 'density' : 'energy';
  cv.dataset.src = (s.frameSrc || '').split('#')[0];  // the source of the frame drawn (a new run has a new token)
  delete s.root.dataset.empty;
  cv.dataset.draws = ++s.draws;
}
function header(d) {  // the frame's fields and its layers' byte offsets (format: canvas.py), or null
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  if (v.getUint32(0, true) !== MAGIC) return null;
  const n = v.getUint16(6, true), [N, M, C, T, F, TL] = [24, 26, 28, 30, 32, 34].map(o => v.getUint16(o, true));
  const oD = 36 + TL + n * n, oN = oD + 4 * N, oT = oN + 4 * M, oF = oT + 4 * C * T;
  return {
    mode: v.getUint8(5), n, id: v.getUint32(8, true), ext: v.getFloat32(12, true), N, M, C, T, F, oD, oN, oT, oF,
    vmin: v.getFloat32(16, true), vmax: v.getFloat32(20, true),
    title: new TextDecoder().decode(d.subarray(36, 36 + TL)), g: d.subarray(36 + TL, 36 + TL + n * n),
    q: o => v.getInt16(o, true),  // a stored coordinate
  };
}
function layout(s, title) {  // in CSS pixels: a square plot of side P with room for ticks and title; sizes cv
  const cs = getComputedStyle(s.root), fg = cs.color || '#31333f', ff = cs.fontFamily || 'sans-serif';
  // presentation mode (ui/presentation.py): text half again as large, and the plot as tall as the window
  const big = cs.getPropertyValue('--ebm-present').trim() === '1', k = big ? 1.5 : 1;
  const dpr = window.devicePixelRatio || 1, ml = 36 * k, mr = 92 * k, mb = 26 * k, mt = title ? 34 * k : 12;
  // mr: room for the colour bar. Presentation mode sizes the element to the canvas and the plot to the
  // window (less the page's header, buttons and view row above it), not to the element's height.
  const most = big ? Math.max(400, window.innerHeight - 190) : 560;
  const P = Math.max(80, Math.floor(Math.min((s.root.clientWidth || 520) - ml - mr,
    big ? Infinity : (s.root.clientHeight || 520) - mt - mb, most - mt - mb)));
  const cw = P + ml + mr, ch = P + mt + mb, cv = s.cv;
  if (cv.width !== Math.round(cw * dpr) || cv.height !== Math.round(ch * dpr)) {
    cv.width = Math.round(cw * dpr); cv.height = Math.round(ch * dpr);
    cv.style.width = cw + 'px'; cv.style.height = ch + 'px';
  }
  // X, Y: a stored coordinate to canvas pixels
  const X = u => ml + (u / 32767 + 1) * P / 2, Y = u => mt + (1 - u / 32767) * P / 2;
  return { fg, ff, dpr, ml, mt, P, cw, ch, X, Y, k };
}
function background(s, f, L) {  // clear the canvas and draw the picture of the grid into the plot
  const ctx = s.ctx, { dpr, ml, mt, P } = L;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, L.cw, L.ch);
  const R = Math.min(720, Math.round(P * dpr));
  paint(s, f.g, f.n, f.mode, R, .65 * R / P);
  ctx.imageSmoothingEnabled = true; ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(s.off, ml, mt, P, P);
}
function arrows(ctx, f, L) {  // -grad E arrows
  const { q } = f, { X, Y, P } = L;
  ctx.beginPath();
  for (let i = 0, o = f.oF; i < f.F; i++, o += 8) {
    const x = X(q(o)), y = Y(q(o + 2)), ex = x + q(o + 4) / 32767 * P / 2, ey = y - q(o + 6) / 32767 * P / 2;
    const len = Math.hypot(ex - x, ey - y), h = Math.min(5, .4 * len), a = Math.atan2(ey - y, ex - x);
    if (len < .5) continue;
    ctx.moveTo(x, y); ctx.lineTo(ex, ey);
    ctx.moveTo(ex - h * Math.cos(a - .45), ey - h * Math.sin(a - .45)); ctx.lineTo(ex, ey);
    ctx.lineTo(ex - h * Math.cos(a + .45), ey - h * Math.sin(a + .45));
  }
  ctx.strokeStyle = f.mode ? 'rgba(30,27,75,.7)' : 'rgba(255,255,255,.8)'; ctx.lineWidth = 2; ctx.stroke();
}
function dots(ctx, f, L, o, k, r, [fill, edge]) {  // k points from byte o; an edge disc under a fill disc
  // reads on any background
  const { q } = f, { X, Y } = L;
  for (const [rr, col] of [[r + .9, edge], [r, fill]]) {
    ctx.beginPath();
    for (let i = 0; i < k; i++) {
      const x = X(q(o + 4 * i)), y = Y(q(o + 4 * i + 2));
      ctx.moveTo(x + rr, y); ctx.arc(x, y, rr, 0, 6.2832);
    }
    ctx.fillStyle = col; ctx.fill();
  }
}
function chains(ctx, f, L) {  // chains: fading polylines, oldest faint, with a halo, dot at the head
  const { q, C, T } = f, { X, Y } = L;
  for (let c = 0; c < C; c++) {
    let prev = null, head = null;
    for (let t = 0; t < T; t++) {
      const o = f.oT + 4 * (c * T + t), u = q(o);
      if (u === MISS) { prev = null; continue; }
      const pt = [X(u), Y(q(o + 2))];
      if (prev) for (const [w, col, al] of [[4.2, CHAIN_HALO, .6], [2.2, CHAIN, 1]]) {
        ctx.globalAlpha = al * (.25 + .75 * t / (T - 1));
        ctx.beginPath(); ctx.moveTo(...prev); ctx.lineTo(...pt); ctx.lineWidth = w; ctx.strokeStyle = col; ctx.stroke();
      }
      prev = head = pt;
    }
    ctx.globalAlpha = 1;
    if (head) {
      ctx.beginPath(); ctx.arc(head[0], head[1], 3.6, 0, 6.2832);
      ctx.fillStyle = CHAIN; ctx.fill(); ctx.lineWidth = 1.4; ctx.strokeStyle = CHAIN_HALO; ctx.stroke();
    }
  }
}
function axes(ctx, f, L) {  // frame, integer ticks (left and bottom), title
  const { ext, title } = f, { fg, ff, ml, mt, P, k } = L;
  ctx.strokeStyle = ctx.fillStyle = fg; ctx.lineWidth = 1;
  ctx.globalAlpha = .7;
  ctx.strokeRect(ml - .5, mt - .5, P + 1, P + 1);
  const raw = ext / 4, p10 = 10 ** Math.floor(Math.log10(raw)), m = raw / p10;
  const step = Math.max(ext >= 1 ? 1 : 0, (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p10);
  ctx.font = `${12 * k}px ${ff}`;
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
    ctx.textAlign = 'center'; ctx.textBaseline = 'top'; ctx.fillText(lab, ml + (u / ext + 1) * P / 2, mt + P + 7 * k);
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle'; ctx.fillText(lab, ml - 7 * k, mt + (1 - u / ext) * P / 2);
  }
  ctx.globalAlpha = 1;
  if (title) {
    ctx.font = `600 ${15 * k}px ${ff}`; ctx.textAlign = 'left'; ctx.textBaseline = 'alphabetic';
    ctx.fillText(title, ml, mt - 12 * k, P);
  }
}
function colourBar(ctx, f, L) {  // the picture's colour scale right of the plot, with its values
  const { fg, ff, ml, mt, P, k } = L, lut = f.mode ? DEN : VIR, x0 = ml + P + 12 * k, w = 12 * k;
  for (let y = 0; y < P; y++) {  // top = vmax
    const i = 3 * Math.round(255 * (1 - y / (P - 1)));
    ctx.fillStyle = `rgb(${lut[i]},${lut[i + 1]},${lut[i + 2]})`;
    ctx.fillRect(x0, mt + y, w, 1.5);
  }
  ctx.strokeStyle = ctx.fillStyle = fg; ctx.globalAlpha = .7; ctx.lineWidth = 1;
  ctx.strokeRect(x0 - .5, mt - .5, w + 1, P + 1);
  ctx.globalAlpha = .85; ctx.font = `${12 * k}px ${ff}`; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
  const fmt = x => (Math.abs(x) < 1e-12 ? '0' : Math.abs(x) >= 100 || Math.abs(x) < .01 ? x.toExponential(1)
    : +x.toPrecision(2) + '').replace('-', '\u2212');
  for (let j = 0; j <= 4; j++) {
    const y = mt + (1 - j / 4) * P;
    ctx.beginPath(); ctx.moveTo(x0 + w, y); ctx.lineTo(x0 + w + 4, y); ctx.stroke();
    ctx.fillText(fmt(f.vmin + j / 4 * (f.vmax - f.vmin)), x0 + w + 7, Math.min(mt + P - 6, Math.max(mt + 6, y)));
  }
  ctx.save(); ctx.translate(x0 + w + 58 * k, mt + P / 2); ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
  ctx.fillText(f.mode ? 'density exp(\u2212E) / Z' : 'energy E \u2212 min E', 0, 0);
  ctx.restore(); ctx.globalAlpha = 1;
}
function legend(ctx, f, L) {  // only the layers present, top right inside the plot
  const items = [[f.N, 'data'], [f.M, 'negatives'], [f.C, 'chains'], [f.F, '\u2212\u2207E']].filter(e => e[0]);
  if (!items.length) return;
  const { ff, ml, mt, P, k } = L;
  ctx.font = `${12 * k}px ${ff}`;
  const w = 30 + Math.max(...items.map(e => ctx.measureText(e[1]).width)), h = 8 + 18 * k * items.length;
  const x0 = ml + P - w - 8, y0 = mt + 8;
  ctx.fillStyle = 'rgba(255,255,255,.88)'; ctx.strokeStyle = 'rgba(0,0,0,.2)';
  ctx.beginPath(); ctx.roundRect(x0 + .5, y0 + .5, w, h, 4); ctx.fill(); ctx.stroke();
  items.forEach(([, lab], i) => {
    const y = y0 + 13 * k + 18 * k * i;
    legendKey(ctx, lab, x0 + 13, y);
    ctx.fillStyle = '#1f2937'; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
    ctx.fillText(lab, x0 + 24, y + .5);
  });
}
function legendKey(ctx, lab, x, y) {  // the legend's sample of layer `lab`, centred near (x, y)
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
}
