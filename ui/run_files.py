"""Save and load a live run as a zip: a run folder (ebm_core/checkpoint.py) of the weights, settings,
curves and the trainer's state, so that a run goes on where it was, on this server or another.

The download is made when it is clicked, from the state the run's worker keeps on disk (live/saved.py;
at most a few seconds old while it trains, exact once paused): the web server never waits for the
worker. An upload is unpacked and checked in full before anything changes (a file that is not ours,
a truncated zip, wrong shapes, a zip bomb, out-of-range settings: a message, and the run goes on);
nothing is ever unpickled. A good one starts a new run from it, with its settings.
"""

import secrets
import shutil
import tempfile
from pathlib import Path

import streamlit as st

from ebm_core import checkpoint, toy2d
from ebm_core.live import LiveRun, saved
from ui import session

KINDS = {"toy2d": "the Playground", "images": "the Images page"}


def saved_zip(save_path: str, task: str, root: type) -> bytes:
    """The run's last saved state as a run zip (the download button calls this at the click)."""
    data = saved.read(save_path, task)
    if data is None:
        raise RuntimeError("this run has not been saved yet")
    with tempfile.TemporaryDirectory() as tmp:
        name = f"ebm-{task}-{data['config'].get('dataset', 'run')}-step{int(data['state']['step'])}"
        return checkpoint.zip_run(saved.to_run_folder(data, root, Path(tmp) / name))


def _load(page: session.RunPage, key: str) -> None:
    """Callback of the uploader (it runs before the page, so the settings can still change)."""
    ss = st.session_state
    up = ss.get(key)
    if up is None:
        return
    dest = saved.folders_dir() / secrets.token_urlsafe(9)
    try:
        folder, cfg = checkpoint.unzip_run(up.getvalue(), dest)
        kind = checkpoint.kind_of(cfg)
        if kind != page.task:
            raise checkpoint.NotARunError(f"it is a run of {KINDS[kind]}; load it there")
        if kind == "toy2d" and cfg.data.dataset == toy2d.CUSTOM:
            raise checkpoint.NotARunError("it was trained on points of its own, which a run zip does not carry")
    except checkpoint.NotARunError as e:
        shutil.rmtree(dest, ignore_errors=True)  # what was unpacked before the check failed
        ss[key + "_error"] = f"**{up.name}** was not loaded: {e}. Nothing changed."
        return
    ss.pop(key + "_error", None)
    session.start_from_folder(page, str(folder), up.name, cfg)


def save_and_load(run: LiveRun, page: session.RunPage, dataset: str, key: str) -> None:
    """A Download button for the run and an uploader that starts a run from a downloaded zip."""
    ready = Path(run.save_path or "").is_file()
    st.download_button("Download this run", data=lambda: saved_zip(run.save_path, page.task, page.root),
                       file_name=f"ebm-{page.task}-{dataset}.zip", mime="application/zip", key=key + "_download",
                       on_click="ignore", icon=":material/download:", disabled=not ready, width="stretch",
                       help="A zip of the run as it was last saved (a few seconds ago while it trains; exactly "
                            "now once paused): weights, settings, curves and the trainer's state (optimiser, "
                            "replay buffer, step). Load it here again to go on where it was." if ready else
                            "The run is being saved for the first time; try again in a few seconds.")
    st.file_uploader("Load a run (.zip)", type=["zip"], key=key + "_upload", on_change=_load,
                     args=(page, key + "_upload"),
                     help="A zip saved by Download this run, here or on another server: training goes on from "
                          "its step with its settings. Anything else is refused with a message.")
    error = st.session_state.get(key + "_upload_error")
    if error:
        st.error(error, icon=":material/error:")
