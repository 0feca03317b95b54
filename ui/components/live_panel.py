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

from ui.components import js_source, minify

# (more than one line: Streamlit takes a one-line string with "[" in it for a file path)
_CSS = (".ebm-live-panel{width:100%}\n.ebm-live-panel[data-empty]{min-height:2rem}\n"
        ".ebm-live-panel[data-empty]::before{content:attr(data-placeholder);color:#6b7280;font-size:0.9rem}")

_JS = js_source("live_panel.js")  # the element's JavaScript, beside this file


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("ebm_live_panel", css=_CSS, js=minify(_JS))


def live_panel(src: str, *, kind: str, every_s: float, rendered: str, key: str, height: int | str = "content",
               placeholder: str = "", resume: str = "") -> None:
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
        resume: the run's saved name (live/saved.py), kept in the tab: if the server restarts, the
            panel reloads the tab with it in a cookie, and the new session resumes that run.
    """
    if kind not in ("html", "plotly"):
        raise ValueError(f"kind must be 'html' or 'plotly', got {kind!r}")
    _component()(key=key, data={"src": src, "kind": kind, "every": int(every_s * 1000), "rendered": rendered,
                                   "placeholder": placeholder, "resume": resume},
                 height=height, isolate_styles=False, on_state_change=lambda: None)
