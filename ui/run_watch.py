"""No run without a session: a watcher thread in the server gives back the runs whose tab is gone
(Streamlit releases a closed tab's cached run, but a run created after its session was released had
no one to stop it) and the paused runs no page has looked at for a while. Both save their state
first (ebm_core/live/saved.py), and their page resumes them when it comes back (ui/session.live_run)."""

import os
import threading
import time
from collections.abc import Callable

from ebm_core import live

ORPHAN_GRACE_S = float(os.environ.get("EBM_ORPHAN_GRACE_S", "30"))  # a closed tab's run, after this
IDLE_S = float(os.environ.get("EBM_IDLE_S", "600"))  # a paused run no page asked about for this long
_watcher_lock = threading.Lock()
_watcher: threading.Thread | None = None


def reap(runs: list, is_active: Callable[[str], bool], gone_since: dict[int, float], now: float, *,
         grace: float = ORPHAN_GRACE_S, idle: float = IDLE_S) -> list:
    """Stop (they save their state first) the runs whose session has been inactive for `grace`
    seconds, and paused runs nobody has watched for `idle` seconds; returns them. `gone_since`
    remembers when each run's session was first seen inactive."""
    stopped = []
    for run in runs:
        owner = getattr(run, "owner", None)
        if owner is not None and not is_active(owner):
            since = gone_since.setdefault(id(run), now)
        else:
            gone_since.pop(id(run), None)
            since = None
        orphan = since is not None and now - since >= grace
        if orphan or (not run.running and now - run.watched_at >= idle):
            run.request_stop()
            gone_since.pop(id(run), None)
            stopped.append(run)
    return stopped


def start() -> None:
    """Start the watcher thread once per server process (not under AppTest, which has no runtime)."""
    global _watcher
    from streamlit import runtime

    if not runtime.exists():
        return
    with _watcher_lock:
        if _watcher is not None and _watcher.is_alive():
            return

        def loop() -> None:
            gone_since: dict[int, float] = {}
            while True:
                time.sleep(min(2.0, ORPHAN_GRACE_S / 4))
                if not runtime.exists():  # the server is shutting down (or a test's runtime went)
                    continue
                try:
                    rt = runtime.get_instance()
                    reap(live.live_runs(), rt.is_active_session, gone_since, time.monotonic())
                    live.slots().admit()  # a slot freed by a run that ended without a word
                except Exception as e:  # the watcher must outlive any one bad run
                    print(f"ebm run watcher: {e!r}")

        _watcher = threading.Thread(target=loop, name="ebm-run-watcher", daemon=True)
        _watcher.start()
