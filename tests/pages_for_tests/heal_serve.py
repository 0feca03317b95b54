"""heal_host.py served with the frame route, as serve.py serves app.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import streamlit as st

from ui import frame_route

app = st.App("heal_host.py", routes=frame_route.routes())
