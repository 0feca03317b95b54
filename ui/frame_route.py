"""Live frames over plain HTTP: the Playground's canvas fetches the newest frame itself.

Pushing every frame through a fragment rerun costs a script run on the server and a React pass in
the browser (the renderer's main thread spent ~1 core at 8 frames/s, most of it in React and
styling, not in drawing), and under load Streamlit drops fragment output. So when the app is served
by `serve.py` (an `st.App` with the route below), the canvas asks `GET /api/ebm/frame/<token>` for a
frame as soon as it has drawn the last one (at most 12 per second), and no rerun is involved.

- The token is a random 24-character string handed to the page in the component's data; it maps to
  the session's LiveRun through a weak reference, so a released run answers 404 and is not kept.
- `?view=energy|density&layers=data,negatives,trails,field&after=<key>`: the drawing options, and
  the X-Frame-Key of the frame the canvas has (see `frame_key`). The request is held until a newer
  frame exists, or answered 204 (no body) after HOLD_S, so a paused run costs about 1.3 tiny requests
  per second.
- Streamlit can lose a fragment's timer under load (an auto_rerun message dropped because a newer
  script run had started; measured with bench/st_client.py): that fragment then never refreshes
  again. The page's fragments report every run (`beat`), each full run says which to expect
  (`expect`), and a frame answered while training carries `X-Stale: <names>` when one went quiet;
  the canvas then reruns the page, which restarts every timer.
- Without the route (plain `streamlit run app.py`, AppTest), `served()` is False and the page pushes
  frames through a fragment as before.

Imports no torch at module level: `serve.py` loads this before the first visitor arrives.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import weakref
from typing import Any

PATH = "/api/ebm/frame/{token}"
VIEWS = ("energy", "density")
LAYERS = ("data", "negatives", "trails", "field")
_HEADERS = {"Cache-Control": "no-store"}
KEY_HEADER = "X-Frame-Key"  # the picture's frame_key; the canvas sends it back as ?after=
STALE_HEADER = "X-Stale"  # names the page's fragments whose timer went quiet (see `stale`)
HOLD_S = 0.5  # longest wait for a newer frame before answering 204
POLL_S = 0.015  # how often a held request looks for a newer snapshot (a dict read)

_lock = threading.Lock()
_runs: dict[str, weakref.ref] = {}  # token -> run
_tokens: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # run -> token
_expected: dict[str, tuple[float, dict[str, float]]] = {}  # token -> (full run time, fragment -> interval)
_beats: dict[str, dict[str, float]] = {}  # token -> fragment -> its last run
_served = False


def routes() -> list:
    """The route to pass to `st.App(..., routes=...)`; marks this process as serving frames."""
    from starlette.routing import Route

    global _served
    _served = True
    return [Route(PATH, _frame, methods=["GET"])]


def served() -> bool:
    """True when this server answers frame requests (started through serve.py)."""
    return _served


def token(run: Any) -> str:
    """The run's frame token (made on first use); forgets tokens of runs that are gone."""
    with _lock:
        t = _tokens.get(run)
        if t is None:
            for k in [k for k, r in _runs.items() if r() is None]:
                del _runs[k]
                _expected.pop(k, None)
                _beats.pop(k, None)
            t = secrets.token_urlsafe(18)
            _tokens[run] = t
            _runs[t] = weakref.ref(run)
        return t


def source(run: Any, view: str, layers: dict[str, bool]) -> str:
    """The URL path the canvas polls for this run drawn with these options."""
    chosen = ",".join(k for k in LAYERS if layers.get(k))
    return PATH.format(token=token(run)) + f"?view={view}&layers={chosen}"


def expect(run: Any, **intervals: float | None) -> None:
    """A full run of the page: these fragments (name=run_every, None for no timer) should report each
    run through `beat` from now on."""
    t = token(run)
    with _lock:
        _expected[t] = (time.monotonic(), {k: v for k, v in intervals.items() if v})


def beat(run: Any, name: str) -> None:
    """A run of the fragment `name` (see `expect`)."""
    t = token(run)
    with _lock:
        _beats.setdefault(t, {})[name] = time.monotonic()


def stale(t: str) -> list[str]:
    """Fragments expected to refresh whose timer went quiet: no run for 3 intervals + 2 s since the
    later of their last run and the page's last full run."""
    now = time.monotonic()
    with _lock:
        since, intervals = _expected.get(t, (now, {}))
        beats = _beats.get(t, {})
        return [k for k, every in intervals.items() if now - max(since, beats.get(k, since)) > 3 * every + 2]


def frame_key(snap: Any) -> str:
    """What the picture depends on besides the drawing options: a paused run publishes new snapshots
    (fresh diagnostics) of the same picture, and those are not sent again."""
    return f"{snap.step}.{int(snap.field.size > 0)}"


def lookup(t: str) -> Any:
    with _lock:
        ref = _runs.get(t)
    run = ref() if ref is not None else None
    return run if run is not None and run.thread.is_alive() else None


def encode(snap: Any, view: str, layers: set[str]) -> bytes:
    from ui import live_view

    return live_view.frame_bytes(snap, view, {k: k in layers for k in LAYERS})


async def _frame(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    run = lookup(request.path_params["token"])
    if run is None:
        return Response("no such live run (it was reset or its tab closed)", status_code=404, headers=_HEADERS)
    q = request.query_params
    view = q.get("view", "energy")
    if view not in VIEWS:
        return Response(f"view must be one of {', '.join(VIEWS)}", status_code=400, headers=_HEADERS)
    layers = {k for k in q.get("layers", "").split(",") if k in LAYERS}
    after = q.get("after")
    deadline = time.monotonic() + HOLD_S
    while True:  # hold the request until a newer frame exists (a long poll: no phase beat with the worker)
        snap = run.latest()  # never blocks: the newest snapshot received, and asks the worker for a fresh one
        if snap is not None and frame_key(snap) != after:
            break
        if time.monotonic() >= deadline:
            return Response(status_code=204, headers=_HEADERS)
        await asyncio.sleep(POLL_S)
    body = await run_in_threadpool(encode, snap, view, layers)  # numpy work off the event loop
    headers = {**_HEADERS, KEY_HEADER: frame_key(snap)}
    quiet = stale(request.path_params["token"]) if snap.status == "running" else []
    if quiet:
        headers[STALE_HEADER] = ",".join(quiet)
    return Response(body, media_type="application/octet-stream", headers=headers)
