"""A page that hosts only the "your own data" panel, for AppTest and browser tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `ui` and `ebm_core`

import streamlit as st

from ui.own_data import own_data_panel

st.set_page_config(page_title="Own data", layout="wide")
points = own_data_panel("own")
with st.container(key="returned"):
    st.write(f"returned: {'None' if points is None else len(points)}")
