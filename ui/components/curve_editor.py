"""A 1D energy the user shapes by dragging control points: a `st.components.v2` element.

The browser draws the axes, the curve and one handle per control point in an SVG. Dragging a
handle (or clicking anywhere in the plot, which moves the nearest handle there) redraws the curve
locally at every mouse move and sends the new heights to Python once, on release, as the trigger
value `heights`, which reaches the page through the `on_change` callback. Keyboard: Tab to a
handle, arrows move it by 0.25, PageUp/PageDown by 1, Home/End to the limits; the heights go out
400 ms after the last key. The curve is the same monotone cubic spline with quadratic walls as
`ebm_core.lessons.theory.interpolate_curve`, written again in JavaScript so dragging needs no round trip;
the page's figures always come from the Python one.

State lives on `parentElement` (a ShadowRoot), so a rerun with new data only redraws. While a
handle is held, incoming data is ignored, so a slow rerun cannot yank the handle away. For tests,
the SVG carries `data-curve` (E at x = -4, -3.5, ..., 4 as drawn) and `data-sent` (heights sent).
"""

import functools
from collections.abc import Callable

from ui.components import js_source

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

_JS = js_source("curve_editor.js")  # the element's JavaScript, beside this file


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
