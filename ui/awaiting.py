"""A page never waits for a training worker: it asks (LiveRun.request_weights, request_call), draws a
note while the answer is on its way, and a small fragment reruns the page once it has come. So a
script run ends at once however busy the worker is, and the user's next click is answered."""

import streamlit as st

from ebm_core.live import Request

POLL_S = 0.25


def note_until_done(request: Request, text: str) -> None:
    """Show `text` while the request is out, and rerun the page when it is done."""
    st.info(text, icon=":material/hourglass_top:")

    @st.fragment(run_every=POLL_S)
    def check() -> None:
        if request.done:
            st.rerun()

    check()
