"""A live run's state on disk, so that a crashed worker, a restarted server or a run given back while
nobody watched it loses at most a few seconds of training.

The worker writes its run's state (weights, EMA, optimiser, replay buffer, step, the history of the
curves, the settings, the user's own points) to one file every few seconds while it trains, and
whenever it stops training (a pause, a finished Step, new settings), and its recording (for
rewinding and exports; up to about 2 MB) to a second file beside it, every 30 s while it trains and
whenever it stops. A new worker started with `resume` reads both back and carries on from there.

Files are `torch.save` archives of tensors, numbers, strings and lists only, written to a temporary
name and renamed (a crash never leaves half a file), and read with `torch.load(weights_only=True)`,
which refuses anything else: a file that is not ours is "not a saved run", never unpickled. They
live in $EBM_STATE_DIR (default ~/.cache/energy-landscape-explorer/live); files older than a day
are removed when a server starts its first run.
"""

import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

VERSION = 1
SAVE_EVERY_S = 3.0  # while training: at most this much training is lost
RECORDING_EVERY_S = 30.0  # while training the recording is saved this seldom (and whenever training stops)
# ... and 40 times what one save costs in CPU time: saving takes at most 2.5% of it (a crowded training
# process: CROWD_EXTRAS of that, live/worker.py)
COST_FACTOR = 40.0
KEEP_S = 24 * 3600  # saved runs older than this are removed
NAME = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # a saved run's name: what a link carries


def state_dir() -> Path:
    return Path(os.environ.get("EBM_STATE_DIR") or Path.home() / ".cache" / "energy-landscape-explorer" / "live")


def path_for(name: str) -> Path:
    """The file of the saved run `name`; a ValueError for a name that could escape the folder."""
    if not NAME.match(name or ""):
        raise ValueError(f"not a saved-run name: {name!r}")
    return state_dir() / f"{name}.pt"


def recording_path(path: Path | str) -> Path:
    """The file beside a saved run that holds its recording (written less often than the state)."""
    return Path(path).with_suffix(".rec.pt")


def _atomic_save(data: Any, path: Path) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


def write(path: Path | str, task: str, flat_cfg: dict[str, Any], trainer_state: dict, history: dict,
          diag: dict, train_seconds: float, points: Any = None, recording: dict | None = None) -> None:
    """Save one run's state atomically; with `recording` (its Recording.stacked(): frames as arrays,
    up to about 2 MB) also that, in a file of its own (recording_path), which a worker rewrites less
    often than the state: 30 runs of a class saving 2 MB every 3 s would write 20 MB a second."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if recording is not None:
        _atomic_save({"version": VERSION, "task": task,
                      "recording": {k: torch.from_numpy(np.array(v)) for k, v in recording.items()}},
                     recording_path(path))
    _atomic_save({"version": VERSION, "task": task, "config": dict(flat_cfg), "state": trainer_state,
                  "history": {k: list(v) for k, v in history.items()}, "diag": {k: list(v) for k, v in diag.items()},
                  "train_seconds": float(train_seconds), "saved_at": time.time(),
                  "points": None if points is None else torch.as_tensor(points)}, path)


def _load(path: Path | str, task: str) -> dict | None:
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning: it is refused anyway
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing, damaged, or holding objects weights_only refuses
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or data.get("task") != task:
        return None
    return data


def read(path: Path | str, task: str) -> dict | None:
    """A saved run of `task` from path, or None when there is none or the file is not one of ours; its
    "recording" is the one saved beside it ({} when there is none, or it is not one of ours)."""
    data = _load(path, task)
    if data is None or not all(isinstance(data.get(k), dict) for k in ("config", "state", "history", "diag")):
        return None
    rec = _load(recording_path(path), task)
    data["recording"] = rec["recording"] if rec is not None and isinstance(rec.get("recording"), dict) else {}
    return data


def folders_dir() -> Path:
    """Where run folders uploaded to the pages are unpacked (ui/run_files.py)."""
    return state_dir() / "folders"


def remove_old(now: float | None = None) -> int:
    """Delete saved runs, stray temporary files and unpacked uploads older than KEEP_S; returns how many."""
    import shutil

    now = time.time() if now is None else now
    removed = 0
    try:
        for p in folders_dir().iterdir():
            if now - p.stat().st_mtime > KEEP_S:
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
    except OSError:
        pass
    try:
        entries = list(state_dir().iterdir())
    except OSError:
        return 0
    for p in entries:
        try:
            if p.suffix in (".pt", ".tmp") and now - p.stat().st_mtime > KEEP_S:
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def to_run_folder(data: dict, root: type, dest: Path | str) -> Path:
    """A saved run (`read`) as a run folder (ebm_core/checkpoint.py) at dest: the evaluated weights,
    the settings, the curves as metrics.csv and the trainer's state (weights, EMA, optimiser, replay
    buffer, step), so that a download of a live run goes on where it was once uploaded again."""
    from .. import checkpoint

    cfg = root().replace(**data["config"])
    state = data["state"]
    model = checkpoint.build_model(cfg)
    model.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
    history = data["history"]
    keys = list(history)
    rows = [dict(zip(keys, values)) for values in zip(*(history[k] for k in keys))]
    recording = {k: v.numpy() for k, v in (data.get("recording") or {}).items()}
    return checkpoint.save_run(dest, model, cfg, rows, state=state, extra={"final": {"steps": int(state["step"])}},
                               recording=recording)
