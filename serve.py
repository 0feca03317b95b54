"""The server for `make run`: the Streamlit app (app.py and pages/) plus one plain HTTP route from
which the Playground's canvas fetches its live frames (ui/frame_route.py).

    streamlit run serve.py        # Streamlit finds `app` below and serves it (an ASGI st.App)

`streamlit run app.py` still works: the canvas then gets its frames through fragment reruns, which
costs more CPU in the server and the browser.
"""

import threading

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui import frame_route

# app.py names the pages with st.navigation, but Streamlit also knows the older rule "a folder named
# pages/ beside the main script is the navigation", and until some visitor has run app.py once it
# follows that rule: the first link of a fresh server to /Images ran pages/3_Images.py on its own,
# under a sidebar that read "app, Playground, ...". app.py's navigation is the only one.
PagesManager.uses_pages_directory = False


def _warm_up() -> None:
    from ebm_core import live

    live.warm_up()  # the fork server of the training workers, before the first visitor needs it


threading.Thread(target=_warm_up, name="ebm-warm-up", daemon=True).start()
app = st.App("app.py", routes=frame_route.routes())
