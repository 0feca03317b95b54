"""Export a chain movie (the Images page's chain from noise, its generated batch) for slides: GIF, MP4,
a standalone HTML player, or a PNG of the last frame (ebm_core/export.py). Encoding runs in a job process
(ebm_core/jobs.py) behind a progress line, never in the web server's process; then a Download button
hands over the file."""

import numpy as np
import streamlit as st

from ebm_core import export, jobs
from ui import job_progress

LABELS = {"gif": "GIF", "mp4": "MP4", "html": "HTML player", "png": "PNG (last frame)"}
TIMEOUT_S = 60.0


def export_row(source: object, frames: np.ndarray, steps: list[int], *, key: str, name: str, scale: int,
               title: str) -> None:
    """Format picker, Export, and once encoded, Download. frames: (T, H, W) uint8 pictures at `steps`,
    made from `source` (the movie: a file encoded from another one is not offered)."""
    ss = st.session_state
    left, mid, right = st.columns([2.2, 1, 2])
    fmt = left.segmented_control("Export as", list(LABELS), format_func=LABELS.get, key=f"{key}_fmt",
                                 default="gif", label_visibility="collapsed") or "gif"
    if mid.button("Export", key=f"{key}_go", icon=":material/movie:", width="stretch",
                  help="Encode the animation, each frame labelled with its Langevin step, for a slide"):
        labels = [f"step {s}" for s in steps]
        try:
            data = job_progress.run(f"Encoding the {LABELS[fmt]}…", export.encode, frames, labels, fmt,
                                    scale=scale, title=title, timeout_s=TIMEOUT_S)
        except jobs.JobTimeout:
            st.error(f"Encoding took more than {TIMEOUT_S:.0f} s on this server and was stopped.")
            return
        except jobs.JobFailed as err:
            st.error(f"It could not be encoded: {err}")
            return
        ss[f"{key}_file"] = (fmt, data, id(source))
    done = ss.get(f"{key}_file")
    if done and done[2] == id(source):
        fmt, data, _ = done
        ext = "html" if fmt == "html" else fmt
        right.download_button(f"Download {name}.{ext} ({len(data) / 1024:,.0f} kB)", data=data,
                              file_name=f"{name}.{ext}", mime=export.FORMATS[fmt], key=f"{key}_download",
                              on_click="ignore", icon=":material/download:", width="stretch")
