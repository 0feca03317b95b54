"""The server for `make run`: the Streamlit app (app.py and pages/) plus one plain HTTP route from
which the Playground's canvas fetches its live frames (ui/frame_route.py).

    streamlit run serve.py        # Streamlit finds `app` below and serves it (an ASGI st.App)

`streamlit run app.py` still works: the canvas then gets its frames through fragment reruns, which
costs more CPU in the server and the browser.
"""

import streamlit as st

from ui import frame_route

app = st.App("app.py", routes=frame_route.routes())
