"""Live content over plain HTTP: the Playground's canvas and panels fetch the newest version themselves.

Pushing every frame through a fragment rerun costs a script run on the server and a React pass in
the browser (the renderer's main thread spent ~1 core at 8 frames/s, most of it in React and
styling, not in drawing), and a timer-driven script run competes with the user's clicks: Streamlit
replaces one run by the next and, under load, dropped fragment output, fragment timers and with them
clicks (bench/st_client.py; issue notes). So when the app is served by `serve.py` (an `st.App` with
the routes below) nothing on the Playground or the Images page reruns by itself: the canvas and
the live panels (ui/components/live_panel.py) ask for their content, and every script run is a click.

- `GET /api/ebm/frame/<token>?view=energy|density&layers=data,negatives,trails,field&after=<key>`:
  the canvas's binary frame (ui/components/canvas.py). `after` is the X-Frame-Key of the frame the canvas has
  (see `frame_key`).
- `GET /api/ebm/panel/<token>/<name>?after=<key>` with name `numbers` (the live numbers as HTML),
  `curves` (the training curves) or `surface` (the 3D energy surface, `&layers=` as for frames), and
  for the Images page `images` (the negatives, the buffer and the numbers as HTML), `image_curves`
  and `image_hist` (its figures): JSON `{"key", "state", "html" | "fig"}`, where `state` is the
  run's `state_key`.
- Both hold a request until something newer exists, or answer 204 (no body) after HOLD_S, so a
  paused run costs about 1.3 tiny requests per second per element.
- The token is a random 24-character string handed to the page in the elements' data; it maps to
  the session's LiveRun through a weak reference, so a released run answers 404 and is not kept.
  A URL can leak (a screenshot of the developer tools, a proxy's log), so the token alone shows
  nothing: each request must also carry the run's key in the X-EBM-Auth header (403 otherwise).
  The key reaches the page only over the session's own connection, after a `#` in the element's
  source (a fragment: never part of a request), and the element's script sends it as that header.
- `GET /api/ebm/static/plotly.min.js`: plotly.js from the plotly package, for the panels' figures.
- Without the routes (plain `streamlit run app.py`, AppTest), `served()` is False and the page
  draws the same content through fragments.

Imports no torch at module level: `serve.py` loads this before the first visitor arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import weakref
from typing import Any

from ebm_core import views

PATH = "/api/ebm/frame/{token}"
PANEL_PATH = "/api/ebm/panel/{token}/{name}"
PLOTLY_PATH = "/api/ebm/static/plotly.min.js"
VIEWS = views.PICTURE_VIEWS
LAYERS = tuple(views.LAYERS)
PANELS = ("numbers", "curves", "surface", "images", "image_curves", "image_hist")
STATE_PANELS = ("numbers", "images")  # the panels that watch the run's state (one per page)
# X-EBM-Replica names the server that answered when EBM_REPLICA names it (deploy/replicas.py does):
# behind a load balancer, a session's pulls must reach the replica that holds its run. Unnamed, a
# server says nothing about itself.
_HEADERS = {"Cache-Control": "no-store",
            **({"X-EBM-Replica": os.environ["EBM_REPLICA"]} if os.environ.get("EBM_REPLICA") else {})}
KEY_HEADER = "X-Frame-Key"  # the picture's frame_key; the canvas sends it back as ?after=
AUTH_HEADER = "X-EBM-Auth"  # the run's key: only the session that owns the run was given it
HOLD_S = 0.5  # longest wait for a newer frame before answering 204
RECHECK_S = 0.25  # a held state panel also looks again this often for a state that came without a snapshot
INLINE_PANELS = {"numbers"}  # panels cheap enough (~0.03 ms) to render on the event loop, as frames (~0.2 ms)

_lock = threading.Lock()
_runs: dict[str, weakref.ref] = {}  # token -> run
_tokens: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # run -> token
_keys: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # run -> the key its requests carry
_served = False


def routes() -> list:
    """The route to pass to `st.App(..., routes=...)`; marks this process as serving frames."""
    from starlette.routing import Route

    global _served
    _served = True
    return [Route(PATH, _frame, methods=["GET"]), Route(PANEL_PATH, _panel, methods=["GET"]),
            Route(PLOTLY_PATH, _plotly_js, methods=["GET"])]


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
            t = secrets.token_urlsafe(18)
            _tokens[run] = t
            _keys[run] = secrets.token_urlsafe(18)
            _runs[t] = weakref.ref(run)
        return t


def key(run: Any) -> str:
    """The key every request for this run's content must carry in AUTH_HEADER."""
    token(run)
    with _lock:
        return _keys[run]


def authorised(request: Any, run: Any) -> bool:
    given = request.headers.get(AUTH_HEADER, "").encode("utf-8", "replace")  # bytes: any header compares
    return hmac.compare_digest(given, key(run).encode())


_FORBIDDEN = "this live run belongs to another session"


def source(run: Any, view: str, layers: dict[str, bool]) -> str:
    """The URL path the canvas polls for this run drawn with these options."""
    chosen = ",".join(k for k in LAYERS if layers.get(k))
    return PATH.format(token=token(run)) + f"?view={view}&layers={chosen}#{key(run)}"


def panel_source(run: Any, name: str, layers: dict[str, bool] | None = None, *, empty: bool = False) -> str:
    """The URL path a live panel polls for this run (`layers` for the surface; `empty`: numbers
    hidden, the panel only watches the run's state)."""
    if name not in PANELS:
        raise ValueError(f"panel must be one of {', '.join(PANELS)}, got {name!r}")
    chosen = ",".join(k for k in LAYERS if (layers or {}).get(k))
    return (PANEL_PATH.format(token=token(run), name=name) + f"?layers={chosen}" + ("&empty=1" if empty else "")
            + f"#{key(run)}")


def state_key(run: Any) -> str:
    """What the page's buttons and messages depend on: training or not (`LiveRun.running`, which
    follows the user's last command until the worker has answered it), and the status message
    shown. A panel that sees a newer state than the page was drawn with reruns the page.

    A run without a snapshot yet has the state of a quiet one: the page draws nothing else for it
    (the panels say what they wait for), so the first snapshot is no reason to rerun the page; a rerun
    there would coincide with the first click of a user who acts as soon as the page shows."""
    if run.ended:
        return "ended"  # the worker is gone: the page replaces the run (ui/session.live_run)
    snap = run.latest()
    place = run.queue_place  # waiting for a training slot: the notice shows the place
    training = f"{int(run.running)}" + (f"q{place}" if place else "")
    if snap is None:
        return f"{training}||"
    shown = snap.status == "diverged" or bool(snap.message)
    return f"{training}|{snap.status if snap.status == 'diverged' else ''}|" + (
        hashlib.sha1(snap.message.encode()).hexdigest()[:12] if shown else "")


def frame_key(snap: Any) -> str:
    """What the picture depends on besides the drawing options: a paused run publishes new snapshots
    (fresh diagnostics) of the same picture, and those are not sent again."""
    return f"{snap.step}.{int(snap.field.size > 0)}"


def lookup(t: str, *, ended_too: bool = False) -> Any:
    """The run of a token while its worker lives (or also after, with ended_too); else None."""
    with _lock:
        ref = _runs.get(t)
    run = ref() if ref is not None else None
    return run if run is not None and (ended_too or run.thread.is_alive()) else None


def encode(snap: Any, view: str, layers: set[str]) -> bytes:
    from ui import live_view

    return live_view.frame_bytes(snap, view, {k: k in layers for k in LAYERS})


async def _held(run: Any, key_of, after: str | None, *, least_s: float = 0.0,
                urgent=lambda snap: False, recheck: bool = False) -> tuple[Any, str] | None:
    """The newest snapshot and its key once the key differs from `after` and `least_s` has passed
    (at once when `urgent(snap)`); None when nothing newer came within max(HOLD_S, least_s).

    A long poll that sleeps until the run receives a snapshot (LiveRun.listen); with `recheck` (a key
    that reads more than the snapshot: a click's state) it also looks again every RECHECK_S. With a
    class of 30 on one server, polling every request every 15 ms cost the server a third of a core;
    every wakeup of the server also interrupts a training process."""
    t0 = time.monotonic()
    deadline = t0 + max(HOLD_S, least_s)
    loop = asyncio.get_running_loop()
    newer = asyncio.Event()

    def wake() -> None:  # called by the run's receiving thread
        loop.call_soon_threadsafe(newer.set)

    run.listen(wake)
    try:
        while True:
            newer.clear()
            snap = run.latest()  # never blocks: the newest snapshot received, and asks the worker for a fresh one
            now = time.monotonic()
            wait = min(deadline - now, RECHECK_S) if recheck else deadline - now
            if snap is not None:
                key = key_of(snap)
                if key != after:
                    if now - t0 >= least_s or urgent(snap):
                        return snap, key
                    wait = min(wait, t0 + least_s - now)  # newer already: answer once least_s has passed
            if now >= deadline:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(newer.wait(), max(0.0, wait))
    finally:
        run.unlisten(wake)


async def _frame(request):
    from starlette.responses import Response

    run = lookup(request.path_params["token"])
    if run is None:
        return Response("no such live run (it was reset or its tab closed)", status_code=404, headers=_HEADERS)
    if not authorised(request, run):
        return Response(_FORBIDDEN, status_code=403, headers=_HEADERS)
    q = request.query_params
    view = q.get("view", "energy")
    if view not in VIEWS:
        return Response(f"view must be one of {', '.join(VIEWS)}", status_code=400, headers=_HEADERS)
    layers = {k for k in q.get("layers", "").split(",") if k in LAYERS}
    held = await _held(run, frame_key, q.get("after"))
    if held is None:
        return Response(status_code=204, headers=_HEADERS)
    snap, key = held
    # ~0.2 ms of numpy: on the event loop. A thread would cost two more wakeups of the server a frame,
    # each of which interrupts a training process (a class: 90 frames a second).
    body = encode(snap, view, layers)
    return Response(body, media_type="application/octet-stream", headers={**_HEADERS, KEY_HEADER: key})


def panel_key(name: str, snap: Any) -> str:
    """What a panel's content depends on: the step and the diagnostics shown, and for the numbers also
    the status, the rate and the settings in use (a paused run's repeated snapshots are not sent again)."""
    key = f"{snap.step}.{len(snap.diag_history.get('step', ()))}"
    if name == "numbers":
        key += f".{snap.status}.{snap.steps_per_s:.0f}.{hash(snap.config)}"
    elif name == "images":
        from ui import image_controls

        ready = image_controls.classifier_if_ready(snap.config.data.dataset) is not None
        key += f".{snap.status}.{snap.steps_per_s:.1f}.{hash(snap.config)}.{int(ready)}"
    return key


def status_in_key(key: str) -> str | None:
    """The run status a state panel's key (panel_key, then "|" and the state) was made with; None for
    no key or another panel's."""
    parts = key.partition("|")[0].split(".")
    return parts[2] if len(parts) > 2 else None


def _fig(fig: Any) -> dict:
    """A figure for a panel, as a dict for plotly.js. st.plotly_chart's theme lets the axes make room
    for their labels and titles (automargin); plain plotly.js does not, so ask for it here."""
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return {"fig": json.loads(fig.to_json())}


def render_panel(name: str, snap: Any, layers: set[str], empty: bool = False) -> dict:
    """A panel's content for one snapshot: {"html": ...} or {"fig": plotly figure as a dict}; `empty`:
    the numbers are hidden (a classroom link) and the panel only watches the run's state."""
    if name in ("images", "image_curves", "image_hist"):
        from ebm_core.figures import images as image_figures
        from ui import image_controls

        if name == "images":
            return {"html": image_controls.live_html(snap)}
        return _fig((image_figures.curves_figure if name == "image_curves" else image_figures.histogram_figure)(snap))
    from ebm_core.figures import playground as figures
    from ui import live_numbers

    if name == "numbers":
        return {"html": "" if empty else live_numbers.numbers_html(snap)}
    return _fig(figures.curves_figure(snap) if name == "curves" else figures.surface_figure(snap, layers))


async def _panel(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    run = lookup(request.path_params["token"], ended_too=True)
    if run is None:
        return Response("no such live run (it was reset or its tab closed)", status_code=404, headers=_HEADERS)
    if not authorised(request, run):
        return Response(_FORBIDDEN, status_code=403, headers=_HEADERS)
    name = request.path_params["name"]
    if name not in PANELS:
        return Response(f"panel must be one of {', '.join(PANELS)}", status_code=400, headers=_HEADERS)
    if run.ended:  # the worker died or was given back: the state panel tells the page, which replaces the run
        if name not in STATE_PANELS:
            return Response("this live run has ended", status_code=404, headers=_HEADERS)
        return Response(json.dumps({"key": "ended", "state": "ended", "html": ""}), media_type="application/json",
                        headers=_HEADERS)
    q = request.query_params
    layers = {k for k in q.get("layers", "").split(",") if k in LAYERS}
    after = q.get("after") or ""
    try:
        least_s = min(10.0, max(0.0, float(q.get("every", "0")) / 1000))
    except ValueError:
        return Response("every must be a number of milliseconds", status_code=400, headers=_HEADERS)
    if name in STATE_PANELS:
        # The run's state rides on the numbers (the Playground's; the Images page's live panel). A state
        # the page was not drawn with (`rendered`) and the client has not been told yet is answered at
        # once, so the page reruns without waiting a refresh; so is a status (running, paused) other than
        # the one the panel shows: under load a refresh comes every 10 s, and a clicked Train must not
        # read "paused" that long.
        rendered, told = q.get("rendered", ""), after.partition("|")[2]
        shown_status = status_in_key(after)
        held = await _held(run, lambda snap: f"{panel_key(name, snap)}|{state_key(run)}", after, least_s=least_s,
                           urgent=lambda snap: state_key(run) not in (rendered, told) or (
                               shown_status is not None and snap.status != shown_status), recheck=True)
    else:
        held = await _held(run, lambda snap: panel_key(name, snap), after, least_s=least_s)
    if held is None:
        return Response(status_code=204, headers=_HEADERS)
    snap, key = held
    if name in INLINE_PANELS:
        body = render_panel(name, snap, layers, q.get("empty") == "1")
    else:  # a figure takes milliseconds: off the event loop
        body = await run_in_threadpool(render_panel, name, snap, layers, q.get("empty") == "1")
    return Response(json.dumps({"key": key, "state": state_key(run), **body}, separators=(",", ":")),
                    media_type="application/json", headers=_HEADERS)


async def _plotly_js(request):
    from pathlib import Path

    import plotly
    from starlette.responses import FileResponse

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
