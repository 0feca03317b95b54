"""Energy Landscape Explorer: the entry point. It names the pages (the Playground opens first) and
runs the one the address asks for; each page is a script of its own in pages/."""

import streamlit as st

PAGES = [
    st.Page("pages/0_Playground.py", title="2D Playground", icon=":material/landscape:", url_path="", default=True),
    st.Page("pages/1_How_EBMs_work.py", title="How EBMs work", icon=":material/school:", url_path="How_EBMs_work"),
    st.Page("pages/2_Langevin_Lab.py", title="Langevin Lab", icon=":material/science:", url_path="Langevin_Lab"),
    st.Page("pages/3_Images.py", title="Images", icon=":material/image:", url_path="Images"),
]
st.navigation(PAGES).run()
