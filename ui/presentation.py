"""Presentation mode, for a projector: the plot fills the screen's height, its fonts grow, the title and
introduction make way, and the keys (Space, S, N) drive the run. A toggle in the sidebar switches it, and
a link carries it (`?present=on`), so a lecturer can open the slide's link straight into it.

The page tells the live canvas through a CSS variable (`--ebm-present`, set on the canvas's element and
inherited into it, read by ui/components/canvas.js), so no frame changes: every tab of a class still
shares the same frames.
"""

import streamlit as st

PARAM = "present"  # its key in the session state and in the URL (ui/session.py UI_PARAMS)

# Less padding above the page, a larger base font, and the live element told to grow and to draw large
# text: the Playground's canvas (ui/components/canvas.js), the Images page's live panel (its grids as tall
# as the screen allows, ui/image_controls.py).
STYLE = """<style>
[data-testid="stMainBlockContainer"] {{ padding-top: 4rem; }}
[data-testid="stMain"] {{ font-size: 1.2rem; }}
.st-key-{element} {{ --ebm-present: 1; }}
</style>"""


def asked_by_link() -> bool:
    """Whether the page's link asks for presentation mode (read before the page is set up, so that the
    sidebar can start closed)."""
    return st.query_params.get(PARAM) == "on"


def on(key: str = PARAM) -> bool:
    """Whether the mode is on; `key` is where the page keeps it (the Images page: "img_present")."""
    return st.session_state.get(key) == "on"


def _switch(key: str) -> None:
    st.session_state[key] = "on" if st.session_state.get(f"{key}_toggle") else "off"


def toggle(key: str = PARAM, what: str = "the plot as tall as the screen") -> None:
    """The sidebar's switch (its state follows the URL's `present`)."""
    st.session_state[f"{key}_toggle"] = on(key)
    st.sidebar.toggle("Presentation mode", key=f"{key}_toggle", on_change=_switch, args=(key,),
                      help=f"For a projector: {what}, large fonts, no title or introduction. "
                           "Keys: Space trains and pauses, S steps, N starts a new network. A link with "
                           "?present=on opens the page this way.")


def style(key: str = PARAM, element: str = "live_canvas") -> None:
    """The presentation styles, when the mode is on; `element` is the key of the live element to grow."""
    if on(key):
        st.html(STYLE.format(element=element))


def canvas_height() -> int | str:
    """The live canvas element's height: fixed, or in presentation mode the canvas's own (which grows
    with the window)."""
    return "content" if on() else 520
