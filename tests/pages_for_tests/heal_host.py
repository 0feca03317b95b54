"""A page with one live canvas fed by the frame route and a fragment that never reports, so the
frame route calls it quiet: the canvas must rerun the page (browser test of the self-healing)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `ui` and `ebm_core`

import streamlit as st

from ebm_core import config
from ebm_core.live import LiveRun
from ui import frame_route, live_view


@st.cache_resource(scope="session", max_entries=1, show_spinner=False, on_release=lambda r: r.request_stop())
def _run() -> LiveRun:
    r = LiveRun(config.RunConfig().replace(width=32, n_steps=5, batch_size=64, buffer_size=512)).start()
    r.play()
    return r


run = _run()
ss = st.session_state
ss.full_runs = ss.get("full_runs", 0) + 1
with st.container(key="count"):
    st.write(f"full runs: {ss.full_runs}")
frame_route.expect(run, ghost=0.01)  # expected every 0.01 s, never reported: quiet after 2 s
live_view.stream(run, "energy", {"data": True, "negatives": True})
