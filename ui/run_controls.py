"""The controls every page with a live run draws the same way: a setting's number box, Train/Pause,
Step, Reset and Roll back. The pages choose keys, columns and what is hidden or locked."""

from collections.abc import Callable

import streamlit as st

from ebm_core import config, live
from ebm_core.live import LiveRun
from ui import session


def number_setting(page: session.RunPage, name: str, step, fmt: str, *, help: str | None = None,
                   disabled: bool = False) -> None:
    """A number box for the run setting `name` with the range, label and help its config field declares
    (`help` may say more for this page); its value lives in the session state under the page's key
    for it (see ui/session.py)."""
    info = config.field_info(name, page.root)
    lo, hi = info["range"]
    st.number_input(info["label"], min_value=lo, max_value=hi, step=step, format=fmt, key=page.key(name),
                    help=help or info["help"], disabled=disabled)


def words(page: session.RunPage, name: str) -> dict[str, str]:
    """The label and help of the run setting `name`, as its config field declares them, for a widget."""
    info = config.field_info(name, page.root)
    return {"label": info["label"], "help": info["help"]}


# Keys for a lecture hall: Space trains and pauses, S steps, N starts a new network. Streamlit keeps R
# (rerun) and C for itself, so Reset cannot be R.
SHORTCUTS = {"train": "Space", "step": "S", "reset": "N"}


def toggle_play(run: LiveRun, before: Callable[[], None] | None = None) -> None:
    """Train if paused, pause if training or waiting for a training slot (as the worker will be once
    it has read the last click)."""
    if before is not None:
        before()
    if run.running or run.queue_place:
        run.pause()
    else:
        run.play()


def train_button(run: LiveRun, key: str, *, before: Callable[[], None] | None = None) -> None:
    """Train / Pause (/ Cancel while the run waits for a slot): its label follows `LiveRun.running`
    and `LiveRun.queue_place`, so one click always does what it says."""
    playing, waiting = run.running, run.queue_place
    label, icon = ("Pause", ":material/pause:") if playing else (
        ("Cancel", ":material/hourglass_top:") if waiting else ("Train", ":material/play_arrow:"))
    st.button(label, key=key, on_click=toggle_play, args=(run, before), type="primary", icon=icon, width="stretch",
              shortcut=SHORTCUTS["train"],
              help="Stop waiting for a training slot (key: Space)" if waiting and not playing else
              "Start or pause training in the background (key: Space)")


def queue_notice(run: LiveRun) -> None:
    """While the run waits for a training slot: why, its place, and that it starts by itself."""
    place = run.queue_place
    if place and not run.running:
        slots = live.slots()
        st.warning(f"**This server is busy: your run waits for a training slot, number {place} in the queue.** "
                   f"The server trains at most {slots.limit} run{'s' if slots.limit != 1 else ''} at once so that "
                   "every one keeps a useful speed, and all of them are taken. Yours starts by itself as soon as one "
                   "of them pauses or ends; keep this tab open. **Cancel** stops waiting.",
                   icon=":material/hourglass_top:")


def step_button(run: LiveRun, key: str, *, disabled: bool = False) -> None:
    st.button("Step", key=key, on_click=run.step_once, icon=":material/skip_next:", width="stretch",
              shortcut=None if disabled else SHORTCUTS["step"], help="One training update, then pause (key: S)",
              disabled=disabled)


def reset_button(page: session.RunPage, key: str, *, disabled: bool = False) -> None:
    st.button("Reset", key=key, on_click=session.reset_run, args=(page,), icon=":material/restart_alt:",
              width="stretch", shortcut=None if disabled else SHORTCUTS["reset"], disabled=disabled,
              help="New network with the current settings and seed (key: N, for new)")


def status_messages(snap, run: LiveRun, rollback_key: str) -> None:
    """The divergence guard with its Roll back button (or, once clicked, that the run rolled back), or
    the run's message."""
    if snap.status == "diverged" and run.unanswered() == "rollback":  # clicked; the worker restores the weights
        st.info(f"Rolled back to step {snap.rollback_step}.")
    elif snap.status == "diverged":
        st.error(snap.message, icon=":material/error:")
        st.button(f"Roll back to step {snap.rollback_step}", key=rollback_key, on_click=run.rollback, type="primary",
                  icon=":material/undo:")
    elif snap.message:
        st.info(snap.message)
