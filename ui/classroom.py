"""Classroom links: what a link may hide or lock on the Playground (`?hide=network,share&lock=dataset`),
the words the link builder shows for each, and the links a teacher hands out."""

import functools

import streamlit as st

from ebm_core import config
from ebm_core.lessons import presets
from ui import session

# What the user reads for each setting and control: the sidebar's labels, the classroom-link builder's
# choices. A group reads as "All <group>".
LABELS = {
    **{name: config.field_info(name)["label"] for name in config.field_names()},  # the settings (ebm_core/config.py)
    "step": "Step button", "phase": "Step by phase button",
    "reset": "Reset button", "share": "Share button", "files": "Save / load button", "view": "View choice",
    "layers": "Layer boxes",
    "numbers": "Live numbers", "curves": "Curves", "preset": "Lesson picker",
    "intro": "Title and introduction", "explainer": "“What am I looking at?”",
}
GROUP_LABELS = {"data": "All data settings", "sampler": "All sampler settings", "training": "All training settings",
                "network": "All network and run settings", "buttons": "All buttons but Train",
                "views": "View and layers", "panels": "Numbers and curves", "lesson": "Lesson picker and its banner",
                "text": "Title, introduction and explainer"}


def hidden(name: str) -> bool:
    """Classroom mode: the link hid this control (or its group)."""
    return name in st.session_state.get("_hidden", ())


def locked(name: str) -> bool:
    """Classroom mode: the link locked this control (shown, not editable)."""
    return name in st.session_state.get("_locked", ())


@functools.lru_cache(maxsize=256)  # drawn on every run of the page (inside the closed Share popover too)
def _preset_queries(cfg) -> tuple[tuple[str, dict[str, str]], ...]:
    return tuple((p.label, {**config.to_query(presets.apply_preset(key, cfg)), session.PRESET_PARAM: key})
                 for key, p in presets.PRESETS.items())


def preset_links(cfg) -> None:
    """One link per lesson preset (this seed), to hand out."""
    st.caption("**Lesson links**: each opens the Playground on one classic experiment.")
    for label, q in _preset_queries(cfg):
        st.markdown(f"[{label}]({session.share_url(q)})")


def classroom_link_builder(query: dict[str, str]) -> None:
    """Pick controls to hide or lock; get a link that opens this setup in classroom mode."""
    st.caption("**Classroom link**: the same setup with chosen controls hidden or locked, so the class sees only "
               "what the lesson needs.")
    names = session.classroom_names()
    label = {**LABELS, **GROUP_LABELS}.get
    hide = st.multiselect("Hide", names, key="cls_hide", format_func=label)
    lock = st.multiselect("Lock (visible, not editable)", names, key="cls_lock", format_func=label)
    q = {k: v for k, v in query.items() if k not in session.CLASSROOM_PARAMS}
    if hide:
        q["hide"] = ",".join(hide)
    if lock:
        q["lock"] = ",".join(lock)
    st.code(session.share_url(q), language=None)
