"""Rewind a paused run through its recorded training (ebm_core/live/recording.py): a slider under the
picture goes back to any recorded step and the canvas shows the landscape and negatives of then;
"now" returns to the live picture, and "Roll back to step N" goes on training from the nearest step
at or before the one shown whose weights were kept. The recorded frame is asked of the worker without
waiting (the page reruns when it came)."""

import dataclasses

import numpy as np
import streamlit as st

from ebm_core.live import LiveRun
from ui import awaiting, live_view

NOW = "now"
KEY = "rewind"


def _label(step) -> str:
    return "now" if step == NOW else f"step {step:,}"


def recorded(run: LiveRun, playing: bool, key: str = KEY) -> tuple[int, dict] | None:
    """(step, frame) of the recorded step the slider `key` points at, or None for the live picture
    (training, no recording yet, "now", or the frame still on its way: the page reruns when it has come)."""
    ss = st.session_state
    snap = run.latest()
    choice = ss.get(key, NOW)
    if playing or snap is None or choice == NOW or choice not in snap.recorded:
        return None
    held = ss.get(f"{key}_frame")
    if held is None or held["run"] != id(run) or held["step"] != choice:
        request = ss.get(f"{key}_request")
        if request is None or request[0] != (id(run), choice):
            ss[f"{key}_request"] = ((id(run), choice), run.request_frame(choice))
            request = ss[f"{key}_request"]
        if not request[1].done:
            awaiting.note_until_done(request[1], f"Fetching the recorded frame of step {choice:,}…")
            return None
        try:
            answer = request[1].result()
        except (TimeoutError, RuntimeError):
            answer = None
        ss.pop(f"{key}_request", None)
        if answer is None:
            st.warning(f"Step {choice:,} is no longer in the recording; pick another.")
            return None
        held = ss[f"{key}_frame"] = {"run": id(run), "step": answer[0], "frame": answer[1]}
    return held["step"], held["frame"]


def shown_frame(run: LiveRun, playing: bool, view: str, layers: dict[str, bool]) -> bytes | None:
    """The Playground's canvas frame of the recorded step the slider points at, or None (see recorded)."""
    held = recorded(run, playing)
    if held is None:
        return None
    step, frame = held
    trails = np.asarray(frame.get("trails", np.zeros((0, 0, 2))), np.float32)
    if not np.isfinite(trails).all():  # padded in a saved recording (a batch or chain length changed): left out
        trails = np.zeros((0, 0, 2), np.float32)
    then = dataclasses.replace(run.latest(), step=step, energy=frame["energy"].astype(np.float32),
                               log_z_display=float(frame["log_z_display"]),
                               x_neg=frame["x_neg"].astype(np.float32), trails=trails,
                               field=np.zeros((0, 4), np.float32))
    return live_view.frame_bytes(then, view, {**layers, "field": False})


def _roll_back(run: LiveRun, step: int, key: str) -> None:
    run.rewind_to(step)
    st.session_state[key] = NOW


def controls(run: LiveRun, playing: bool, what: str = "the landscape and the negatives", key: str = KEY) -> None:
    """The slider (paused, with at least two recorded steps) and, on a past step, Roll back; `what` says
    what the recording holds."""
    ss = st.session_state
    snap = run.latest()
    if playing or snap is None or len(snap.recorded) < 2:
        return
    options = [*snap.recorded, NOW]
    if ss.get(key) not in options:  # first shown, or its step thinned out of the recording: "now"
        ss[key] = NOW
    choice = st.select_slider("Rewind the training", options, key=key, format_func=_label,
                              help=f"The training is recorded as it goes ({what} every few updates, more sparsely "
                                   "the longer it runs). Drag back to see how it looked then; \"now\" returns.")
    if choice == NOW:
        return
    st.caption(f"The picture shows step {choice:,} of the recorded training; the numbers beside it are of now "
               f"(step {snap.step:,}).")
    kept = [s for s in snap.kept if s <= choice]
    if kept:
        k = kept[-1]
        st.button(f"Roll back to step {k:,}", key=f"{key}_back", on_click=_roll_back, args=(run, k, key),
                  icon=":material/history:",
                  help="Go on training from the weights, optimiser and replay buffer kept at this step"
                       + ("" if k == choice else " (the nearest step at or before the one shown whose weights "
                                                 "were kept)") + "; what came after is forgotten.")
