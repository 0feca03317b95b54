"""Live panels that fetch their own content: the Playground's numbers (HTML), its curves and its 3D
surface (plotly figures), each a components-v2 element that asks serve.py's panel route
(ui/frame_route.py) for the newest version, like the canvas does for its frames.

No script rerun is involved in a refresh. That matters beyond speed: every script run triggered by a
timer competes with the user's clicks (Streamlit replaces one run with the next and can drop the
output or the timer of the older one under load), so on a page where nothing reruns by itself, every
script run is a click and every click is answered.

- `kind="html"`: the response's `html` replaces the element's content when it changed.
- `kind="plotly"`: the response's `fig` (a plotly figure as JSON) is drawn with `Plotly.react` on
  the same element, so the chart is never remounted and a turned 3D camera stays turned (the
  figures set `uirevision`). plotly.js comes from the plotly package through the route, once per
  browser (it is cached).
- Every response also carries the run's `state` (training or not, diverged, the message the page
  shows). When it differs from the state the page was drawn with (`rendered`) the element fires its
  "state" trigger, which reruns the page: a run that paused itself, diverged or took a command gets
  its buttons redrawn without the user doing anything, and without a timer.
"""

from __future__ import annotations

import functools

from ui.canvas import _minify

# (more than one line: Streamlit takes a one-line string with "[" in it for a file path)
_CSS = (".ebm-live-panel{width:100%}\n.ebm-live-panel[data-empty]{min-height:2rem}\n"
        ".ebm-live-panel[data-empty]::before{content:attr(data-placeholder);color:#6b7280;font-size:0.9rem}")

_JS = r"""
// The server holds each request until there is something newer and `every` ms have passed (at once
// for a run state the page was not drawn with), or answers 204; so the next request leaves at once.
export default function ({ data, parentElement: p, setTriggerValue }) {
  const s = p.__ebm || (p.__ebm = mount(p));
  s.trigger = setTriggerValue;
  if (!data) return;
  s.rendered = data.rendered; s.every = data.every || 1000; s.kind = data.kind;
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
  const app = document.querySelector('[data-testid=stApp]');
  const script = app ? app.dataset.testScriptState : '';
  if (script === 'running' || script === 'rerunRequested') { setTimeout(() => fire(s, src, state), 300); return; }
  s.fired = state;
  s.trigger('state', state);
}
function poll(s) {
  const src = s.src;
  s.timer = 0;
  if (!src || !s.root.isConnected) return;
  s.busy = true;
  const next = ms => { s.busy = false; if (s.src) s.timer = setTimeout(() => poll(s), ms); };
  const q = `&every=${s.every}&rendered=${encodeURIComponent(s.rendered || '')}&after=${encodeURIComponent(s.have)}`;
  fetch(src + q, { cache: 'no-store', signal: (s.ctrl = new AbortController()).signal })
    .then(r => r.status === 200 ? r.json() : r.status)
    .then(async j => {
      if (src !== s.src) return next(0);
      if (typeof j === 'number') {  // 204: nothing newer; 404: the run is gone (a rerun brings the next)
        if (j === 404) { s.busy = false; return; }
        return next(j === 204 ? 0 : 2000);  // any other answer: a server in trouble, not to be hammered
      }
      s.have = j.key;
      if (j.state !== undefined && j.state !== s.rendered) setTimeout(() => fire(s, src, j.state), 300);
      await show(s, j);
      next(0);
    })
    .catch(e => e.name === 'AbortError' ? next(0) : next(2000));  // aborted: the new source at once
}
"""


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("ebm_live_panel", css=_CSS, js=_minify(_JS))


def live_panel(src: str, *, kind: str, every_s: float, rendered: str, key: str, height: int | str = "content",
               placeholder: str = "") -> None:
    """Mount (first call) or update a panel that polls `src` (a panel route path) every `every_s`.

    Args:
        src: the route path, from `frame_route.panel_source`.
        kind: "html" or "plotly".
        every_s: the least time between two refreshes.
        rendered: the run state the page was drawn with (`frame_route.state_key`); a newer state
            reruns the page.
        key: the Streamlit key (one per panel).
        height: the element's height ("content" for html panels, pixels for figures).
        placeholder: what the element says until its first content arrives.
    """
    if kind not in ("html", "plotly"):
        raise ValueError(f"kind must be 'html' or 'plotly', got {kind!r}")
    _component()(key=key, data={"src": src, "kind": kind, "every": int(every_s * 1000), "rendered": rendered,
                                   "placeholder": placeholder},
                 height=height, isolate_styles=False, on_state_change=lambda: None)
