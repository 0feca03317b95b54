"""Export for slides: a chain movie (the Images page's chain from noise, its generated batch) as a GIF, an
MP4, a standalone HTML player, or a PNG of the last frame (ebm_core/export.py); and the Playground's
recorded training the same way (ebm_core/movie2d.py). Encoding runs in a job process
(ebm_core/jobs.py) behind a progress line, never in the web server's process; then a Download button
hands over the file."""

from collections.abc import Callable, Hashable

import numpy as np
import streamlit as st

from ebm_core import export, jobs
from ebm_core.live import LiveRun
from ui import awaiting, job_progress

LABELS = {"gif": "GIF", "mp4": "MP4", "html": "HTML player", "png": "PNG (last frame)"}
TIMEOUT_S = 60.0


def export_row(source: object, frames: np.ndarray, steps: list[int], *, key: str, name: str, scale: int,
               title: str) -> None:
    """Format picker, Export, and once encoded, Download. frames: (T, H, W) uint8 pictures at `steps`,
    made from `source` (the movie: a file encoded from another one is not offered)."""
    labels = [f"step {s}" for s in steps]
    job_export_row(id(source), key=key, name=name,
                   encode=lambda fmt: (export.encode, (frames, labels, fmt), dict(scale=scale, title=title)),
                   help="Encode the animation, each frame labelled with its Langevin step, for a slide")


def job_export_row(source: Hashable, *, key: str, name: str, encode: Callable[[str], tuple], help: str,
                   expect_s: float = 10.0) -> None:
    """Format picker, Export, and once encoded, Download. encode(fmt) gives (fn, args, kwargs) of the job
    that makes the file (in a job process); `source` names what it is made from: a file made from
    another one is not offered."""
    ss = st.session_state
    left, mid, right = st.columns([2.2, 1, 2])
    fmt = left.segmented_control("Export as", list(LABELS), format_func=LABELS.get, key=f"{key}_fmt",
                                 default="gif", label_visibility="collapsed") or "gif"
    if mid.button("Export", key=f"{key}_go", icon=":material/movie:", width="stretch", help=help):
        fn, args, kwargs = encode(fmt)
        try:
            data = job_progress.run(f"Encoding the {LABELS[fmt]}…", fn, *args, timeout_s=TIMEOUT_S,
                                    expect_s=expect_s, **kwargs)
        except jobs.JobTimeout:
            st.error(f"Encoding took more than {TIMEOUT_S:.0f} s on this server and was stopped.")
            return
        except jobs.JobFailed as err:
            st.error(f"It could not be encoded: {err}")
            return
        ss[f"{key}_file"] = (fmt, data, source)
    done = ss.get(f"{key}_file")
    if done and done[2] == source:
        fmt, data, _ = done
        right.download_button(f"Download {name}.{fmt} ({len(data) / 1024:,.0f} kB)", data=data,
                              file_name=f"{name}.{fmt}", mime=export.FORMATS[fmt], key=f"{key}_download",
                              on_click="ignore", icon=":material/download:", width="stretch")


TRAINING_LABELS = {"gif": "GIF", "mp4": "MP4", "html": "HTML player"}


def _encode_training(rec: dict, fmt: str, view: str, layers: tuple[str, ...]) -> bytes:
    from ebm_core import movie2d

    return movie2d.encode_recording(rec, fmt, view=view, layers=layers)


def training_export(run: LiveRun, view: str, layers: dict[str, bool], *, key: str = "train_export",
                    name: str = "ebm-training") -> None:
    """Format picker, Export, and once encoded, Download: the run's recorded training (live/recording.py)
    drawn in the view and layers shown now (the 3D surface exports as the energy view), each frame
    labelled with its step. The recording is asked of the worker without waiting (the page reruns when
    it has come); drawing and encoding run in a job process behind a progress line."""
    ss = st.session_state
    snap = run.latest()
    recorded = len(snap.recorded) if snap is not None else 0
    drawn = "energy" if view not in ("energy", "density") else view
    shown = tuple(k for k, on in layers.items() if on and k in ("data", "negatives", "trails", "field"))
    left, mid, right = st.columns([2.2, 1, 2])
    fmt = left.segmented_control("Export the training as", list(TRAINING_LABELS), format_func=TRAINING_LABELS.get,
                                 key=f"{key}_fmt", default="gif", label_visibility="collapsed") or "gif"
    if mid.button("Export", key=f"{key}_go", icon=":material/movie:", width="stretch", disabled=recorded < 2,
                  help=f"The recorded training ({recorded} frames so far) as it looks now: this view and these "
                       "layers, each frame labelled with its step, at most 100 frames (10 s at 10 frames a second)"
                       if recorded >= 2 else "Train a little first: the training is recorded every few updates."):
        ss[f"{key}_request"] = (id(run), fmt, drawn, shown, run.request_recording())
        ss.pop(f"{key}_file", None)
    asked = ss.get(f"{key}_request")
    if asked is not None and asked[0] == id(run):
        _, fmt_asked, view_asked, layers_asked, request = asked
        if not request.done:
            awaiting.note_until_done(request, "Fetching the recorded training…")
            return
        ss.pop(f"{key}_request")
        try:
            rec = request.result()
            data = job_progress.run(f"Drawing and encoding the {TRAINING_LABELS[fmt_asked]}…", _encode_training,
                                    rec, fmt_asked, view_asked, layers_asked, timeout_s=TIMEOUT_S, expect_s=8.0)
        except (TimeoutError, RuntimeError) as err:
            if isinstance(err, jobs.JobTimeout):
                st.error(f"Encoding took more than {TIMEOUT_S:.0f} s on this server and was stopped.")
            else:
                st.error(f"The training could not be exported: {err}")
            return
        step = int(rec["step"][-1])
        ss[f"{key}_file"] = (id(run), fmt_asked, data, f"{name}-{view_asked}-step{step}" if layers_asked
                             else f"{name}-step{step}")
    done = ss.get(f"{key}_file")
    if done and done[0] == id(run):
        _, fmt_done, data, name = done
        right.download_button(f"Download {name}.{fmt_done} ({len(data) / 1024:,.0f} kB)", data=data,
                              file_name=f"{name}.{fmt_done}", mime=export.FORMATS[fmt_done], key=f"{key}_download",
                              on_click="ignore", icon=":material/download:", width="stretch")
