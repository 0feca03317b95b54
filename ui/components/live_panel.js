// The server holds each request until there is something newer and `every` ms have passed (at once
// for a run state the page was not drawn with), or answers 204; so the next request leaves at once.
export default function ({ data, parentElement: p, setTriggerValue }) {
  const s = p.__ebm || (p.__ebm = mount(p));
  s.trigger = setTriggerValue;
  if (!data) return;
  s.rendered = data.rendered; s.every = data.every || 1000; s.kind = data.kind;
  s.resume = data.resume || '';
  s.root.dataset.rendered = data.rendered || '';
  s.root.dataset.placeholder = data.placeholder || '';
  if (data.src !== s.src) { s.src = data.src; s.have = ''; if (s.busy) s.ctrl.abort(); s.fired = null; }  // a new run
  if (!s.busy) { clearTimeout(s.timer); poll(s); }  // a rerun (a click) asks again at once
  return () => { if (!s.root.isConnected) { s.src = null; clearTimeout(s.timer); } };
}
function mount(p) {
  const root = document.createElement('div');
  root.className = 'ebm-live-panel';
  root.dataset.empty = 1;
  root.dataset.updates = 0;
  p.appendChild(root);
  const s = { root, have: '', updates: 0, held: 0 };
  // While the user drags (turns the 3D surface), a redraw would cut the drag short: hold the newest
  // figure and draw it once the button is released and plotly has taken in the new camera.
  root.addEventListener('pointerdown', () => { s.held = 1; });
  addEventListener('pointerup', () => {
    if (s.held) setTimeout(() => { s.held = 0; if (s.pending) show(s, s.pending); }, 100);
  });
  return s;
}
async function show(s, j) {
  if (s.held) { s.pending = j; return; }
  s.pending = null;
  if (s.kind === 'html') {
    if (j.html !== s.html) { s.root.innerHTML = s.html = j.html; }
  } else if (j.fig) {
    const P = await plotly();
    await P.react(s.root, j.fig.data, j.fig.layout, { displayModeBar: false, responsive: true });
    adoptPlotlyStyle(s.root);
  }
  delete s.root.dataset.empty;
  s.root.dataset.key = j.key;
  s.root.dataset.updates = ++s.updates;
}
// plotly.js puts its style rules (e.g. "the layer with the titles and the legend lies over the plot")
// in the document's head; this element lives in a shadow root, which does not see them, so the
// legend, titles and axis titles fell below the plot, out of sight. Copy them in (again if plotly
// added rules since).
function adoptPlotlyStyle(el) {
  const root = el.getRootNode(), global = document.getElementById('plotly.js-style-global');
  if (!(root instanceof ShadowRoot) || !global || !global.sheet) return;
  const rules = global.sheet.cssRules;
  let mine = root.querySelector('style[data-ebm-plotly]');
  if (mine && +mine.dataset.ebmPlotly === rules.length) return;
  if (!mine) { mine = document.createElement('style'); mine.dataset.ebmPlotly = 0; root.prepend(mine); }
  mine.textContent = Array.from(rules, r => r.cssText).join('\n');
  mine.dataset.ebmPlotly = rules.length;
}
function plotly() {
  return globalThis.__ebmPlotly ||= new Promise((ok, fail) => {
    if (globalThis.Plotly) return ok(globalThis.Plotly);
    const sc = document.createElement('script');
    sc.src = '/api/ebm/static/plotly.min.js';
    sc.onload = () => ok(globalThis.Plotly);
    sc.onerror = () => { globalThis.__ebmPlotly = null; fail(new Error('plotly.js did not load')); };
    document.head.appendChild(sc);
  });
}
// Rerun the page for a run state it was not drawn with, once per state. A click's own rerun may still be
// on its way with this state, so this looks again 300 ms later, and never while Streamlit runs the
// script or has a rerun requested: a rerun sends every widget's value as the browser shows it, and
// until the running script's output arrives those are the old values, which would undo what the
// click's callback had set (a lesson picked right after the page loaded applied nothing).
function fire(s, src, state) {
  if (state === s.rendered || state === s.fired || !s.trigger || s.src !== src) return;
  if (scriptBusy()) { setTimeout(() => fire(s, src, state), 300); return; }
  s.fired = state;
  s.trigger('state', state);
}
// Streamlit runs the script or has a rerun requested (the page's own state attribute).
function scriptBusy() {
  const app = document.querySelector('[data-testid=stApp]');
  const script = app ? app.dataset.testScriptState : '';
  return script === 'running' || script === 'rerunRequested';
}
function gone(s, src) {
  if (scriptBusy()) { setTimeout(() => gone(s, src), 300); return; }
  setTimeout(() => {
    if (s.src !== src || !s.root.isConnected) return;  // a rerun brought the next run
    document.cookie = `ebm_resume=${encodeURIComponent(s.resume)}; path=/; max-age=60; SameSite=Strict`;
    location.reload();
  }, 1500);
}
function poll(s) {
  const src = s.src;
  s.timer = 0;
  if (!src || !s.root.isConnected) return;
  s.busy = true;
  const next = ms => { s.busy = false; if (s.src) s.timer = setTimeout(() => poll(s), ms); };
  const q = `&every=${s.every}&rendered=${encodeURIComponent(s.rendered || '')}&after=${encodeURIComponent(s.have)}`;
  const [url, auth] = src.split('#');  // the run's key rides after '#' and goes as a header
  fetch(url + q, { cache: 'no-store', signal: (s.ctrl = new AbortController()).signal,
    headers: { 'X-EBM-Auth': auth || '' } })
    .then(r => r.status === 200 ? r.json() : r.status)
    .then(async j => {
      if (src !== s.src) return next(0);
      if (typeof j === 'number') {  // 204: nothing newer; 404: the run is gone (a rerun brings the next)
        // 404: the server does not know this run. After a Reset the rerun brings the next source; if
        // none comes, the server restarted (Streamlit reconnects the tab but runs nothing): reload the
        // tab with the run's saved name in a cookie, and the new session resumes it (ui/session.py).
        if (j === 404) { s.busy = false; if (s.resume) gone(s, src); return; }
        return next(j === 204 ? 0 : 2000);  // any other answer: a server in trouble, not to be hammered
      }
      s.have = j.key;
      if (j.state !== undefined && j.state !== s.rendered) setTimeout(() => fire(s, src, j.state), 300);
      await show(s, j);
      next(0);
    })
    .catch(e => e.name === 'AbortError' ? next(0) : next(2000));  // aborted: the new source at once
}
