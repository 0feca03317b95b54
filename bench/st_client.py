"""A browserless Streamlit client: N sessions against one server, each behaving like a browser tab.

    python bench/st_client.py http://127.0.0.1:8501 [--sessions 10] [--warmup 10] [--seconds 15]

In a class every student's browser runs on their own laptop, so the server only sees WebSocket
clients. This module is such a client, written against Streamlit 1.67's protocol (read in its
installed source: web/server/starlette/starlette_websocket.py, runtime/, proto/, and the frontend
bundle static/js/index.*.js). Streamlit 1.67 serves with Starlette/uvicorn and no longer ships
tornado, so the socket is the `websockets` package that Streamlit itself depends on.

What a tab does, and what `Session` does the same way:
  - connect to ws://HOST/_stcore/stream offering the subprotocols ["streamlit", <xsrf token>];
  - send one BackMsg.rerun_script with the page's query string, an empty page script hash and
    page name (the main page), its context info and its widget states;
  - handle the ForwardMsgs: new_session (remember page_script_hash; a full run, i.e. one whose
    metadata names no fragment, clears every auto-rerun timer), deltas (the elements; here the
    buttons by user key, the metrics by label, the live numbers' step), page_info_changed (the app rewrote the query
    string: later reruns send the new one), script_finished;
  - auto_rerun {fragment_id, interval}: start a timer that sends rerun_script{fragment_id,
    is_auto_rerun} every `interval` seconds, as the frontend's setInterval does; a second message
    with the same interval keeps the timer, another interval replaces it; stop_auto_rerun clears it.
    Like setInterval, the timer fires whether or not the previous rerun has been answered;
  - widget states: like the frontend's widget manager, it keeps a value for every input widget it
    has been sent (the proto's value when set_value is true, else the kept value, else the default)
    and sends all of them with every rerun; a full run drops the widgets it did not draw. Done for
    the widget kinds this app uses: number_input (int_value / double_value), selectbox and radio
    (string_value), multiselect (string_array_value), checkbox (bool_value); other kinds of widget
    are listed in `untracked`, for a benchmark to warn about. This is needed: a rerun without them
    resets those widgets to their defaults (measured: the Playground's settings fell back to their
    minimum values and its run restarted from step 0). Checked against Chromium's own BackMsgs
    (decoded from Playwright's websocket frames): the same 26 widget ids and value kinds;
  - a button click is one rerun_script whose widget_states also hold trigger_value for the button;
  - the forward-message cache: messages marked cacheable are kept and their hashes sent with every
    rerun, so the server may answer with ref_hash messages; entries expire after
    max_cached_message_age script runs, as in the frontend;
  - the live canvas's own frame pulls (served by serve.py; ui/components/canvas.js's `poll`, the route
    in ui/frame_route.py). When a bidi_component element of the "ebm_live_canvas" component arrives
    whose data (BidiComponent.json) is a JSON object with "src", the session runs one frame-pull
    task, as the component's JS does: GET <page URL joined with src>&after=<X-Frame-Key of the last
    frame it got, '' at first>; the server holds the request until a newer frame exists (200 + the
    frame, X-Frame-Key) or answers 204 after 0.5 s, 404 when the run is gone. After a 200 the next
    request leaves no sooner than 83 ms (MINW) after the previous one started, after a 204 or another
    status at once (MAXW = 0), after a network error 2 s later; after a 404 it stops. Each arrival of
    the element (a full run, e.g. a click) polls at once when no request is in flight (so a
    404-stopped canvas resumes with the next rerun); a changed src starts again from after='' and
    aborts a request still held for the old src (`s.ctrl.abort()`: the connection is dropped and the
    new src asked at once; counted in Stats.frame_aborts); an element carrying bytes (the
    fragment-pushed canvas of `streamlit run app.py`) stops the pulls, as `s.src = null` does. The
    canvas sends no trigger (no X-Stale or other header is read);
  - the live panels' pulls (served by serve.py; ui/components/live_panel.js's `poll`, `_panel` in
    ui/frame_route.py): for each bidi_component element of the "ebm_live_panel" component (keys
    numbers_panel, curves_panel, surface_panel) whose data is {"src", "kind": "html"|"plotly",
    "every": <ms>, "rendered": <run state the page was drawn with>}, one pull task per element:
    GET <src>&every=<every>&rendered=<rendered>&after=<key of the last answer, '' at first> (values
    escaped as encodeURIComponent does). The server holds it until something newer exists and
    `every` ms have passed (the numbers: at once for a run state that is neither `rendered` nor the
    one in `after`), then 200 JSON {"key", "state", "html" | "fig"}, or 204 after max(0.5 s, every);
    404 when the run is gone. The next request leaves at once after a 200 or any status but 404
    (nothing to draw here), 2 s after a network error or an unreadable answer, never after a 404
    (until the element arrives again; a browser tab whose server restarted reloads itself there,
    which this client does not). Each arrival of the element updates rendered and every and
    polls at once when no request is in flight; a changed src starts again from after='' and forgets
    the state it fired for. On a 200 (for the src still current) the key becomes `after`, and when
    the answer's state differs from `rendered` and from the state this element last fired for, the
    session does what `setTriggerValue('state', state)` makes the frontend do (streamlit/static/
    static/js: BidiComponent.*.js builds the trigger, index.*.js's WidgetStateManager.setTriggerValue
    sends it): one rerun_script with every widget state plus WidgetState{id:
    "$$STREAMLIT_INTERNAL_KEY_<element id>__events", json_trigger_value:
    '[{"event":"state","value":<state>}]'} (JSON.stringify, so no spaces), and the fragment id the
    element was drawn in (none on this page: a full run). The server decodes that id and list in
    components/v2/bidi_component/main.py (_make_trigger_id, the "events" aggregator widget,
    deserialize_trigger_list). The trigger is sent once: like the frontend, later reruns do not
    repeat it. Counted in Stats.state_triggers (times, panels and states in Stats.state_log). The
    numbers panel's html carries data-step='<step shown>': that is the session's step series
    (Session.steps); with `streamlit run app.py` the same block arrives as an st.html element in the
    numbers fragment and is read the same way (an st.metric labelled "Step", as other pages draw, is
    read too). Per panel, Stats.panels counts requests, 200s, bytes, 204s, 404s and errors;
  - a full run that finishes (FINISHED_SUCCESSFULLY) without drawing the canvas or a panel removes
    it from the page, which stops its pulls (the components' cleanup: `s.src = null`);
  - every pulling element has its own HTTP/1.1 keep-alive connection (asyncio streams, h11 for the
    framing; h11 comes with uvicorn), as a browser opens parallel connections for parallel held
    requests and reuses each. Counted in Stats for the canvas: frames (200s with a well-formed frame:
    magic, version and length checked against its header, and an X-Frame-Key other than the one
    sent), bytes, 204s, 404s and errors by kind (network errors, other statuses, malformed frames or
    keys).

Limits (what a real tab does that this does not):
  - it renders nothing and runs no component JavaScript, and it never falls behind the way a
    slow browser does: a busy browser's timers fire late (measured: Chromium on the loaded 2-core
    box sent its 0.1 s fragment's reruns about once a second), this one's only when its own event
    loop is busy. So it asks the server for more work than a struggling tab would. The same for
    frame pulls: the JS sends its next request only after the frame is drawn (an animation frame
    later, longer when the tab is busy or hidden); this one draws nothing, so a pulled frame is
    "drawn" at once and only the 83 ms spacing slows it down; a panel's answer is "drawn" at once
    too (the browser's Plotly.react of a curves or surface figure takes a while, and the surface
    panel waits for a drag to end);
  - widget states only for the kinds above, buttons and the live panels' "state" trigger; no
    popover open state, no other component (bidi) state or trigger, no forms; it never changes a
    setting;
  - of the tab's HTTP requests it makes only the canvas's frame pulls and the panels' pulls, none
    of the others (page assets, /_stcore/host-config, /media/ files, the panels' plotly.js; this app
    serves its other pictures inside the WebSocket messages). A request gets no timeout in a
    browser; here 30 s, counted as an error;
    a keep-alive connection the server closed between requests is reopened and the request sent
    again, as browsers do (counted as a reconnect, not an error);
  - no WebSocket reconnects, no heartbeats, no Origin header (the server allows a missing Origin).
Cookies: like a tab, a session keeps the name=value of every Set-Cookie it gets (the WebSocket's
handshake, the pulls' answers) and sends them back with the pulls (and a later connect), so a load
balancer's sticky cookie keeps the session on one replica (deploy/, bench/replicas.py); the pulls'
answers are counted per X-EBM-Replica header (Stats.replicas), the handshake's headers kept in
Session.ws_headers. A real tab gets the cookie earlier, with the page itself.

Reading the numbers (swarm): steps/s per session from the step the live numbers show (serve.py:
the numbers panel's answers, step_source "panel"; app.py: the numbers fragment's st.html, "html").
Frames pulled per second per session (serve.py only; 0 with app.py, whose canvas is pushed: there
frames_pushed counts the canvas frames with a new frame id) and their kB/s, 204s per second (no
newer frame within 0.5 s: a paused run, or a server slower than the pulls) and errors; per panel
(serve.py only) answers, 204s, 404s and errors per second; state_triggers, the page reruns its live
panels asked for because the run's state changed without a click of this session (a run that
paused itself or diverged, or a state that moved after the click's own run was drawn). Per fragment
interval (app.py; serve.py's Playground has no fragments), reruns asked for (the timers), delivered
(FINISHED_FRAGMENT_RUN_SUCCESSFULLY) and dropped (script_finished relabelled FINISHED_EARLY_FOR_RERUN:
ForwardMsgQueue.clear does that when the next run of the same fragment starts before the previous
run's messages were sent, so that run's output is discarded). kB_per_s is what came in the
WebSocket: with serve.py about 0 while nobody clicks (nothing reruns); received_kB_per_s adds the
frames and panel answers. A session that receives nothing at all for a whole window
(received_kB_per_s 0) is a stalled server, not slow training. A session with fewer fragment
timers than the others lost auto_rerun messages: those fragments stop refreshing until the next full
run (with app.py the numbers fragment is one: its step stops moving).

Both come from the server, and a browser would see the same. Measured with a patched server on the
loaded 2-core box (Streamlit 1.67): every ScriptRunner event, including each ForwardMsg a run
enqueues, is handed to the event loop with call_soon_threadsafe, and the loop discards events whose
sender is no longer the session's current ScriptRunner (AppSession._handle_scriptrunner_event_on_
event_loop). A run's ScriptRunner exits when no request is pending, so the next fragment-timer tick
makes a new one; when the event loop lags (it also waits in ScriptRunner.start -> Thread.start for
each new script thread to get the GIL, and the send loop yields after every message), the old
run's still-queued events are thrown away: in one 60 s run with 14 sessions, 397 fragment runs,
7 full runs and 8 auto_rerun registrations were discarded; a click's full run can be lost whole
(its button never changes label).
"""

import argparse
import asyncio
import json
import re
import statistics
import struct
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

import h11
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

FINISHED = ForwardMsg.ScriptFinishedStatus
# the canvas's pull loop (ui/components/canvas.js): MINW, MAXW and the wait after a failed fetch
PULL_MIN_GAP_S, PULL_NONE_WAIT_S, PULL_ERROR_WAIT_S = 0.083, 0.0, 2.0
STATE_RECHECK_S = 0.3  # ui/components/live_panel.js: a state the page was not drawn with is looked at again after this
PANEL_ERROR_WAIT_S = 2.0  # the live panels' loop (ui/components/live_panel.js): `.catch(() => next(2000))`
PANEL_EVERY_MS = 1000  # `data.every || 1000`
PULL_TIMEOUT_S = 30.0  # a browser's fetch has none; here a stalled server shows up as an error
CANVAS_COMPONENT, PANEL_COMPONENT = "ebm_live_canvas", "ebm_live_panel"  # ends of their component names
STEP_ATTR = re.compile(r"""data-step=['"](\d+)['"]""")  # live_numbers.numbers_html: the step shown
URI_SAFE = "!~*'()"  # what encodeURIComponent leaves alone besides quote()'s letters, digits and _.-~
TRIGGER_PREFIX, TRIGGER_EVENTS = "$$STREAMLIT_INTERNAL_KEY_", "__events"  # a bidi component's trigger widget id
FRAME_HEADER = struct.Struct("<4sBBHIfffHHHHHH")  # ui/components/canvas.py's _HEADER (36 bytes)


@dataclass
class Button:
    id: str
    label: str
    seen: float  # time.monotonic() when this label arrived


@dataclass
class FragmentTimer:
    interval: float
    task: asyncio.Task
    sent: int = 0  # auto-reruns requested


@dataclass
class Stats:
    msgs: int = 0
    bytes: int = 0
    refs: int = 0  # ref_hash messages answered from the cache
    reruns_sent: int = 0
    finished: dict[str, int] = field(default_factory=dict)  # status name -> count
    fragment_runs: dict[str, int] = field(default_factory=dict)  # fragment id -> fragment runs delivered
    # fragment id -> runs whose output the server dropped unsent: a newer run of the same fragment
    # started before its messages were flushed (ForwardMsgQueue.clear relabels their script_finished
    # FINISHED_EARLY_FOR_RERUN); a sign that the server's send loop is behind
    fragment_dropped: dict[str, int] = field(default_factory=dict)
    auto_sent: dict[str, int] = field(default_factory=dict)  # fragment id -> auto-reruns requested
    round_trips: list[float] = field(default_factory=list)  # auto-rerun request -> its fragment run finished
    # the canvas's frame pulls (serve.py); none with app.py, whose canvas frames come in the WebSocket
    frame_requests: int = 0  # answered requests (any status)
    frames: int = 0  # 200s carrying a well-formed, newer frame
    frame_bytes: int = 0  # their bodies
    frames_none: int = 0  # 204: nothing newer within the server's hold
    frames_gone: int = 0  # 404: the run is gone; pulls stop until the element arrives again
    frame_errors: dict[str, int] = field(default_factory=dict)  # kind -> count: network, other status, malformed
    frame_waits: list[float] = field(default_factory=list)  # request sent -> its 200 answer read (s)
    http_reconnects: int = 0  # keep-alive connection found closed by the server; reopened and sent again
    frame_aborts: int = 0  # held requests dropped because the canvas's src changed (`s.ctrl.abort()`)
    # pull answers (canvas and panels) per X-EBM-Replica header ('' without one): behind a load balancer,
    # which replica answered (ui/frame_route.py; deploy/replicas.py)
    replicas: dict[str, int] = field(default_factory=dict)
    frames_pushed: int = 0  # canvas frames received in the WebSocket (app.py), each with a new frame id
    panels: dict[str, "PanelStats"] = field(default_factory=dict)  # panel key -> its pulls (serve.py)
    # reruns sent for a live panel's "state" trigger (its answer named a run state the page was not drawn with)
    state_triggers: int = 0
    state_log: list[tuple[float, str, str]] = field(default_factory=list)  # (time.monotonic(), panel key, state)


@dataclass
class PanelStats:
    """One live panel's pulls (ui/components/live_panel.py)."""
    requests: int = 0  # answered requests (any status)
    updates: int = 0  # 200s with a well-formed answer for the src still current (one for an old src is dropped)
    bytes: int = 0  # their bodies
    none: int = 0  # 204: nothing newer within the server's hold
    gone: int = 0  # 404: the run is gone; pulls stop until the element arrives again
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count: network, other status, malformed
    waits: list[float] = field(default_factory=list)  # request sent -> its 200 answer read (s)


@dataclass
class Panel:
    """A live panel element and its pull loop's state (`s` in ui/components/live_panel.js)."""
    key: str  # the user key (numbers_panel, curves_panel, surface_panel)
    id: str  # the element id: its trigger widget's base
    fragment: str  # the fragment it was drawn in ('' outside fragments): its trigger's rerun
    src: str | None = None
    kind: str = ""
    every: int = PANEL_EVERY_MS
    rendered: str = ""  # the run state the page was drawn with
    have: str = ""  # key of the last answer, sent as after=
    fired: str | None = None  # the state it last fired its trigger for
    html: str | None = None
    busy: bool = False
    kick: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    http: "HttpConnection | None" = None


def _user_key(element_id: str) -> str:
    """The user key in an element id ("$$ID-<hash>-<user key>" for keyed elements), else the id."""
    return element_id.split("-", 2)[2] if element_id.startswith("$$ID-") and element_id.count("-") >= 2 else element_id


class HttpConnection:
    """GET over one keep-alive HTTP/1.1 connection (asyncio streams; h11 does the framing). A
    connection the server closed while idle is reopened once and the request sent again, as a
    browser does for a reused connection."""

    def __init__(self, netloc: str, stats: Stats, cookies: dict[str, str] | None = None):
        self.cookies = {} if cookies is None else cookies  # the tab's cookie jar: sent, and updated by Set-Cookie
        host, _, port = netloc.rpartition(":") if ":" in netloc.rsplit("]", 1)[-1] else (netloc, "", "80")
        self.netloc, self.host, self.port, self.stats = netloc, host.strip("[]"), int(port), stats
        self._reader = self._writer = self._h11 = None

    async def get(self, target: str, auth: str = "") -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body) of GET target (path and query), with the
        run's key in X-EBM-Auth (ui/frame_route.py)."""
        reused = self._writer is not None
        try:
            return await self._exchange(target, auth)
        except (OSError, h11.ProtocolError, EOFError):
            await self.close()
            if not reused:
                raise
            self.stats.http_reconnects += 1
        try:
            return await self._exchange(target, auth)
        except BaseException:
            await self.close()
            raise

    async def _exchange(self, target: str, auth: str) -> tuple[int, dict[str, str], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._h11 = h11.Connection(h11.CLIENT)
        c = self._h11
        headers = [("Host", self.netloc), ("Accept", "*/*"), ("Cache-Control", "no-store"), ("X-EBM-Auth", auth)]
        if self.cookies:
            headers.append(("Cookie", cookie_header(self.cookies)))
        self._writer.write(c.send(h11.Request(method="GET", target=target, headers=headers))
                           + c.send(h11.EndOfMessage()))
        await self._writer.drain()
        status, headers, body = 0, {}, []
        while True:
            ev = c.next_event()
            if ev is h11.NEED_DATA:
                c.receive_data(await self._reader.read(1 << 16))  # b"": closed, h11 then ends or raises
            elif isinstance(ev, h11.Response):
                status = ev.status_code
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in ev.headers}
                keep_cookies(self.cookies, [v.decode("latin-1") for k, v in ev.headers if k.lower() == b"set-cookie"])
            elif isinstance(ev, h11.Data):
                body.append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                break
            elif isinstance(ev, h11.ConnectionClosed):
                raise EOFError("connection closed before an answer")
        if c.our_state is h11.DONE and c.their_state is h11.DONE:
            c.start_next_cycle()  # keep-alive
        else:  # the server said Connection: close
            await self.close()
        replica = headers.get("x-ebm-replica", "")
        self.stats.replicas[replica] = self.stats.replicas.get(replica, 0) + 1
        return status, headers, b"".join(body)

    async def close(self) -> None:
        w, self._reader, self._writer, self._h11 = self._writer, None, None, None
        if w is not None:
            w.close()
            try:
                await w.wait_closed()
            except OSError:
                pass


def keep_cookies(jar: dict[str, str], set_cookies: list[str]) -> None:
    """Keep the name=value of each Set-Cookie header (attributes ignored: one host, one tab), as a
    browser does, so a load balancer's sticky cookie comes back with every later request."""
    for line in set_cookies:
        name, eq, value = line.split(";", 1)[0].strip().partition("=")
        if eq and name:
            jar[name] = value


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def frame_problem(body: bytes) -> str | None:
    """Why `body` is not a well-formed live-canvas frame (ui/components/canvas.py's format), or None if it is."""
    if len(body) < FRAME_HEADER.size:
        return "short frame"
    magic, version, _, n, _, _, _, _, n_data, n_neg, c, t, f, n_title = FRAME_HEADER.unpack_from(body)
    if magic != b"EBL1" or version != 1:
        return "not an EBL1 frame"
    if len(body) != FRAME_HEADER.size + n_title + n * n + 4 * (n_data + n_neg + c * t) + 8 * f:
        return "frame length differs from its header"
    return None


class Session:
    """One browser tab's worth of protocol. Start with `await s.open()`, stop with `await s.close()`."""

    def __init__(self, url: str, query: str = "", name: str = "tab"):
        parts = urlsplit(url)
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.ws_url = self.base.replace("http", "ws", 1) + "/_stcore/stream"
        self.query = query or parts.query
        self.name = name
        # the tab's cookies (a load balancer's sticky cookie): sent with the WebSocket and every pull
        self.cookies: dict[str, str] = {}
        self.ws_headers: dict[str, str] = {}  # the WebSocket handshake's response headers (lower-case names)
        self.page_script_hash = ""
        self.session_id = ""
        self.max_cached_age = 2
        self.buttons: dict[str, Button] = {}  # user key -> newest button
        self.metrics: dict[str, str] = {}  # label -> newest value text
        # (time.monotonic(), step shown): the numbers panel's data-step (serve.py), the numbers fragment's
        # st.html data-step (app.py) or a "Step" metric; step_sources says which of "panel", "html", "metric"
        self.steps: list[tuple[float, int]] = []
        self.step_sources: set[str] = set()
        self.timers: dict[str, FragmentTimer] = {}
        self.widgets: dict[str, WidgetState] = {}  # widget id -> its value, sent with every rerun
        self._drawn: set[str] = set()  # widget ids drawn since the last full run started
        self.untracked: set[str] = set()  # kinds of widget seen whose state is not kept
        self.stats = Stats()
        self._cache: dict[str, list] = {}  # hash -> [run count when last used, fragment id, ForwardMsg]
        self._run_count = 0
        self._got_new_session = False
        self._pending: dict[str, float] = {}  # fragment id -> time of its oldest unanswered auto-rerun
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Condition()
        self.error: BaseException | None = None
        # the canvas's frame pulls (ui/components/canvas.js `poll`): s.src, s.have and s.busy there
        self.frame_src: str | None = None
        self.frame_key = ""  # X-Frame-Key of the newest frame received, sent back as after=
        self.frame_steps: list[tuple[float, int]] = []  # (time.monotonic(), step in X-Frame-Key) per frame
        self._pull: asyncio.Task | None = None
        self._pull_busy = False
        self._pull_kick = asyncio.Event()
        self._closed = False  # close() was called: the pull loop ends
        self._http: HttpConnection | None = None
        self._pushed_id: int | None = None  # frame id of the last frame pushed in the WebSocket
        self._frame_abort = False  # the canvas's src changed while a request was held: drop it
        self._frame_req: asyncio.Future | None = None  # the request in flight
        self.panels: dict[str, Panel] = {}  # user key -> live panel (ui/components/live_panel.py)
        self._shown: set[str] = set()  # CANVAS_COMPONENT and panel element ids drawn since the last full run started

    # ---- connection ------------------------------------------------------------------------------

    async def open(self) -> "Session":
        self.opened_at = time.monotonic()
        self._ws = await connect(self.ws_url, subprotocols=["streamlit", "PLACEHOLDER_AUTH_TOKEN"],
                                 max_size=None, open_timeout=60, ping_interval=None,
                                 additional_headers={"Cookie": cookie_header(self.cookies)} if self.cookies else None)
        self.ws_headers = {k.lower(): v for k, v in self._ws.response.headers.raw_items()}
        keep_cookies(self.cookies, self._ws.response.headers.get_all("Set-Cookie"))
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-read")
        await self._rerun()  # the first run of the page, as a tab sends once connected
        return self

    async def close(self) -> None:
        for t in self.timers.values():
            t.task.cancel()
        self.timers.clear()
        self.frame_src = None
        # Python 3.11's wait_for can swallow a cancel that lands as its awaitable completes: a pull loop
        # would then wait for a source forever; the flag and the kick end it anyway
        self._closed = True
        await _end_loop(self._pull, self._pull_kick)
        self._pull = None
        for p in self.panels.values():
            p.src = None
            await _end_loop(p.task, p.kick)
            p.task = None
            if p.http is not None:
                await p.http.close()
        if self._http is not None:
            await self._http.close()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                self._handle(ForwardMsg.FromString(data), len(data))
                async with self._changed:
                    self._changed.notify_all()
        except Exception as e:  # noqa: BLE001  # surfaced by wait()
            self.error = e
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def wait(self, predicate, timeout: float) -> None:
        """Until predicate(self) holds; raises TimeoutError (or the connection's error)."""
        async def until():
            async with self._changed:
                while not predicate(self):
                    if self.error is not None or (self._reader is not None and self._reader.done()):
                        raise ConnectionError(f"{self.name}: connection ended: {self.error!r}")
                    await self._changed.wait()
        await asyncio.wait_for(until(), timeout)

    # ---- sending ---------------------------------------------------------------------------------

    async def _rerun(self, fragment_id: str = "", trigger: str | None = None, auto: bool = False,
                     extra: WidgetState | None = None) -> None:
        msg = BackMsg()
        rs = msg.rerun_script
        rs.query_string = self.query
        rs.page_script_hash = self.page_script_hash
        rs.page_name = ""
        rs.fragment_id = fragment_id
        rs.is_auto_rerun = auto
        rs.widget_states.SetInParent()
        rs.widget_states.widgets.extend(self.widgets.values())
        if trigger is not None:
            rs.widget_states.widgets.add(id=trigger, trigger_value=True)
        if extra is not None:  # a component's trigger, sent once (the frontend then deletes it)
            rs.widget_states.widgets.append(extra)
        rs.cached_message_hashes.extend(self._cache)
        ci = rs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url = self.base + "/" + (f"?{self.query}" if self.query else "")
        ci.color_scheme = "light"
        self._got_new_session = False
        self.stats.reruns_sent += 1
        await self._ws.send(msg.SerializeToString())

    async def click(self, key: str) -> None:
        """Press the button whose user key is `key` (outside any fragment: a full rerun)."""
        await self._rerun(trigger=self.buttons[key].id)

    async def _fire_state(self, p: Panel, state: str) -> None:
        """A panel's `setTriggerValue('state', state)`: a rerun of the script part that drew it."""
        if self._ws is None:
            return
        trigger = WidgetState(id=TRIGGER_PREFIX + p.id + TRIGGER_EVENTS,
                              json_trigger_value=json.dumps([{"event": "state", "value": state}],  # as JSON.stringify
                                                           separators=(",", ":"), ensure_ascii=False))
        self.stats.state_triggers += 1
        self.stats.state_log.append((time.monotonic(), p.key, state))
        try:
            await self._rerun(fragment_id=p.fragment, extra=trigger)
        except ConnectionClosed:  # the reader reports the lost connection
            pass

    async def _tick(self, fragment_id: str, interval: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due + interval, loop.time())  # a late timer does not fire a burst to catch up
            if fragment_id in self.timers:
                self.timers[fragment_id].sent += 1
            self.stats.auto_sent[fragment_id] = self.stats.auto_sent.get(fragment_id, 0) + 1
            self._pending.setdefault(fragment_id, time.monotonic())
            await self._rerun(fragment_id=fragment_id, auto=True)

    # ---- the canvas's frame pulls ----------------------------------------------------------------

    def _canvas_data(self, src: str | None, frame: bytes = b"") -> None:
        """The canvas element arrived: with a frame source to poll, or (src None) with a pushed frame."""
        if src is None:  # `s.src = null`: a request in flight is answered, then no more are sent
            self.frame_src = None
            frame_id = FRAME_HEADER.unpack_from(frame)[4] if len(frame) >= FRAME_HEADER.size else None
            if frame_id != self._pushed_id:  # what the canvas's data-frame shows: distinct frames
                self._pushed_id = frame_id
                self.stats.frames_pushed += 1
            return
        if src != self.frame_src:
            self.frame_src, self.frame_key = src, ""
            if self._pull_busy and self._frame_req is not None and not self._frame_req.done():
                self._frame_abort = True  # `if (s.busy) s.ctrl.abort()`: the catch then polls the new src at once
                self._frame_req.cancel()
        if self._pull is None:
            self._pull = asyncio.get_running_loop().create_task(self._pull_frames(), name=f"{self.name}-frames")
        elif not self._pull_busy:  # `if (!s.busy) { clearTimeout(s.timer); poll(s); }`
            self._pull_kick.set()

    async def _pull_loop(self, src_of, kick: asyncio.Event, set_busy, pull_one) -> None:
        """The pull loop of the canvas and of each live panel (`poll` in their .js): ask the current
        source (`src_of()`; none: pushed frames or an unmounted panel, wait for the element), then wait
        the answer's delay, cut short when the element arrives again (`kick`)."""
        while not self._closed:
            kick.clear()
            src = src_of()
            if not src:  # `if (!src ...) return`
                await kick.wait()
                continue
            set_busy(True)
            try:
                delay = await pull_one(src)
            finally:
                set_busy(False)
            try:  # the timer (None: none); the element arriving meanwhile polls at once
                await asyncio.wait_for(kick.wait(), delay)
            except TimeoutError:
                pass

    def _set_pull_busy(self, busy: bool) -> None:
        self._pull_busy = busy

    async def _pull_frames(self) -> None:
        await self._pull_loop(lambda: self.frame_src, self._pull_kick, self._set_pull_busy, self._pull_one)

    async def _pull_one(self, src: str) -> float | None:
        """One request, counted; returns the wait before the next (None: until the element arrives again)."""
        st, loop = self.stats, asyncio.get_running_loop()
        t0 = loop.time()
        url, _, auth = src.partition("#")  # `const [url, auth] = src.split('#')`: the key goes as a header
        parts = urlsplit(urljoin(self.base + "/", url + "&after=" + quote(self.frame_key, safe="")))
        try:
            if parts.scheme != "http":
                raise ValueError(f"frame source {parts.geturl()}: only http:// is supported")
            if self._http is None or self._http.netloc != parts.netloc:
                if self._http is not None:
                    await self._http.close()
                self._http = HttpConnection(parts.netloc, st, self.cookies)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            self._frame_abort = False
            self._frame_req = asyncio.ensure_future(asyncio.wait_for(self._http.get(target, auth), PULL_TIMEOUT_S))
            try:
                status, headers, body = await self._frame_req
            except asyncio.CancelledError:
                if not self._frame_abort or asyncio.current_task().cancelling():
                    raise  # close(): the task ends
                st.frame_aborts += 1  # AbortError: `next(0)`, on a new connection (the old one is dropped)
                await self._http.close()
                return 0.0
            finally:
                self._frame_req = None
        except (OSError, EOFError, h11.ProtocolError, ValueError) as e:  # TimeoutError is an OSError
            kind = "timeout" if isinstance(e, TimeoutError) else type(e).__name__
            st.frame_errors[kind] = st.frame_errors.get(kind, 0) + 1
            if self._http is not None:
                await self._http.close()
            return PULL_ERROR_WAIT_S
        answered = loop.time()
        st.frame_requests += 1
        key = headers.get("x-frame-key", "")
        if status == 200:
            problem = frame_problem(body)
            if problem is None and not key:
                problem = "200 without X-Frame-Key"
            elif problem is None and key == self.frame_key:
                problem = "200 with the key sent as after="
            if problem is None:
                st.frames += 1
                st.frame_bytes += len(body)
                st.frame_waits.append(answered - t0)
                try:
                    self.frame_steps.append((time.monotonic(), int(key.split(".")[0])))
                except ValueError:
                    pass
            else:
                st.frame_errors[problem] = st.frame_errors.get(problem, 0) + 1
        elif status == 204:
            st.frames_none += 1
        elif status == 404:
            st.frames_gone += 1
        else:
            st.frame_errors[f"HTTP {status}"] = st.frame_errors.get(f"HTTP {status}", 0) + 1
        if src != self.frame_src:  # `if (src !== s.src) return next(0)`
            return 0.0
        if status == 200:
            self.frame_key = key  # `s.have = key`
            return max(0.0, PULL_MIN_GAP_S - (loop.time() - t0))  # drawn at once: nothing to draw here
        if status == 404:
            return None
        return PULL_NONE_WAIT_S if status == 204 else PULL_ERROR_WAIT_S  # `next(b === 204 ? MAXW : 2000)`

    # ---- the live panels' pulls ------------------------------------------------------------------

    def _recheck_state(self, p: "Panel", src: str, state: str) -> None:
        """`setTimeout(..., 300)`: a click's own rerun may still be on its way with this state."""
        if state != p.rendered and state != p.fired and p.src == src:
            p.fired = state  # once per state: the rerun draws the page for it
            asyncio.ensure_future(self._fire_state(p, state))

    def _panel_data(self, key: str, el_id: str, fragment_id: str, data: dict) -> None:
        """A live panel element arrived (ui/components/live_panel.js, its default export)."""
        p = self.panels.get(key)
        if p is None:
            p = self.panels[key] = Panel(key, el_id, fragment_id)
            self.stats.panels.setdefault(key, PanelStats())
        p.id, p.fragment = el_id, fragment_id  # `s.trigger = setTriggerValue`: this element's
        p.rendered, p.kind = data.get("rendered"), data.get("kind")
        every = data.get("every")
        p.every = every if isinstance(every, (int, float)) and not isinstance(every, bool) and every else PANEL_EVERY_MS
        if data.get("src") != p.src:
            p.src, p.have, p.fired = data.get("src"), "", None
        if p.task is None:
            p.task = asyncio.get_running_loop().create_task(self._pull_panel(p), name=f"{self.name}-{key}")
        elif not p.busy:  # `if (!s.busy) { clearTimeout(s.timer); poll(s); }`
            p.kick.set()

    async def _pull_panel(self, p: Panel) -> None:
        await self._pull_loop(lambda: p.src, p.kick, lambda busy: setattr(p, "busy", busy),
                              lambda src: self._pull_panel_one(p, src))

    async def _pull_panel_one(self, p: Panel, src: str) -> float | None:
        """One request, counted; returns the wait before the next (None: until the element arrives again)."""
        st, loop = self.stats.panels[p.key], asyncio.get_running_loop()
        t0 = loop.time()
        every = int(p.every) if float(p.every).is_integer() else p.every  # as a JS number prints
        q = (f"&every={every}&rendered={quote(p.rendered or '', safe=URI_SAFE)}"
             f"&after={quote(p.have, safe=URI_SAFE)}")
        url, _, auth = src.partition("#")
        parts = urlsplit(urljoin(self.base + "/", url + q))
        try:
            if parts.scheme != "http":
                raise ValueError(f"panel source {parts.geturl()}: only http:// is supported")
            if p.http is None or p.http.netloc != parts.netloc:
                if p.http is not None:
                    await p.http.close()
                p.http = HttpConnection(parts.netloc, self.stats, self.cookies)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            status, _, body = await asyncio.wait_for(p.http.get(target, auth), PULL_TIMEOUT_S)
        except (OSError, EOFError, h11.ProtocolError, ValueError) as e:  # TimeoutError is an OSError
            kind = "timeout" if isinstance(e, TimeoutError) else type(e).__name__
            st.errors[kind] = st.errors.get(kind, 0) + 1
            if p.http is not None:
                await p.http.close()
            return PANEL_ERROR_WAIT_S  # `.catch(() => next(2000))`
        answered = loop.time()
        st.requests += 1
        if status != 200:
            if status == 204:
                st.none += 1
            elif status == 404:
                st.gone += 1
            else:
                st.errors[f"HTTP {status}"] = st.errors.get(f"HTTP {status}", 0) + 1
            if src != p.src:
                return 0.0
            if status == 404:  # `s.busy = false`; a browser whose server restarted reloads the tab here
                return None
            return 0.0 if status == 204 else PANEL_ERROR_WAIT_S  # `next(j === 204 ? 0 : 2000)`
        try:
            j = json.loads(body)
            if not isinstance(j, dict) or not isinstance(j.get("key"), str):
                raise ValueError("no key")
        except ValueError:  # r.json() rejects, or j.key is not there: the catch
            st.errors["malformed answer"] = st.errors.get("malformed answer", 0) + 1
            return PANEL_ERROR_WAIT_S
        if src != p.src:  # `if (src !== s.src) return next(0)`
            return 0.0
        if j["key"] == p.have:
            st.errors["200 with the key sent as after="] = st.errors.get("200 with the key sent as after=", 0) + 1
        st.updates += 1
        st.bytes += len(body)
        st.waits.append(answered - t0)
        p.have = j["key"]  # `s.have = j.key`
        state = j.get("state")
        if state is not None and state != p.rendered:
            asyncio.get_running_loop().call_later(STATE_RECHECK_S, self._recheck_state, p, src, state)
        if p.kind == "html":
            html = j.get("html")
            if isinstance(html, str):
                p.html = html
                m = STEP_ATTR.search(html)
                if m:
                    self.steps.append((time.monotonic(), int(m.group(1))))
                    self.step_sources.add("panel")
        return 0.0  # `next(0)`: the figure or html is "drawn" at once here

    # ---- receiving -------------------------------------------------------------------------------

    def _handle(self, msg: ForwardMsg, size: int) -> None:
        self.stats.msgs += 1
        self.stats.bytes += size
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            entry = self._cache.get(msg.ref_hash)
            if entry is None:
                raise RuntimeError(f"cache miss for {msg.ref_hash}")
            entry[0] = self._run_count
            self.stats.refs += 1
            cached = ForwardMsg()
            cached.CopyFrom(entry[2])
            cached.metadata.CopyFrom(msg.metadata)
            msg, kind = cached, cached.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            if msg.hash in self._cache:
                self._cache[msg.hash][0] = self._run_count
            else:
                self._cache[msg.hash] = [self._run_count, msg.delta.fragment_id, msg]
        fragments = list(msg.metadata.run.fragment_ids)
        if kind == "new_session":
            ns = msg.new_session
            self._got_new_session = True
            self.page_script_hash = ns.page_script_hash
            if ns.HasField("initialize"):
                self.session_id = ns.initialize.session_id
            if ns.HasField("config") and ns.config.max_cached_message_age:
                self.max_cached_age = ns.config.max_cached_message_age
            if not fragments:  # a full run: the frontend drops every timer; the run re-registers them
                for t in self.timers.values():
                    t.task.cancel()
                self.timers.clear()
                self._drawn.clear()
                self._shown.clear()
        elif kind == "auto_rerun":
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            old = self.timers.get(fid)
            if old is None or old.interval != interval:
                if old is not None:
                    old.task.cancel()
                task = asyncio.get_running_loop().create_task(self._tick(fid, interval))
                self.timers[fid] = FragmentTimer(interval, task)
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                t = self.timers.pop(fid, None)
                if t is not None:
                    t.task.cancel()
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element, msg.delta.fragment_id)
        elif kind == "script_finished":
            status = FINISHED.Name(msg.script_finished)
            self.stats.finished[status] = self.stats.finished.get(status, 0) + 1
            if msg.script_finished == FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                now = time.monotonic()
                for fid in fragments:
                    self.stats.fragment_runs[fid] = self.stats.fragment_runs.get(fid, 0) + 1
                    if fid in self._pending:
                        self.stats.round_trips.append(now - self._pending.pop(fid))
            elif msg.script_finished == FINISHED.FINISHED_EARLY_FOR_RERUN:
                for fid in fragments:
                    self.stats.fragment_dropped[fid] = self.stats.fragment_dropped.get(fid, 0) + 1
            if msg.script_finished == FINISHED.FINISHED_SUCCESSFULLY:  # forget widgets no longer drawn
                self.widgets = {k: v for k, v in self.widgets.items() if k in self._drawn}
                self._unmount()
            if msg.script_finished != FINISHED.FINISHED_EARLY_FOR_RERUN and self._got_new_session:
                self._expire_cache(fragments)

    def _element(self, el, fragment_id: str = "") -> None:
        kind = el.WhichOneof("type")
        if kind == "button":
            self.buttons[_user_key(el.button.id)] = Button(el.button.id, el.button.label, time.monotonic())
        elif kind == "metric":
            self.metrics[el.metric.label] = el.metric.body
            if el.metric.label == "Step":
                try:
                    self.steps.append((time.monotonic(), int(el.metric.body.replace(",", ""))))
                    self.step_sources.add("metric")
                except ValueError:
                    pass
        elif kind == "html":  # st.html: with app.py the live numbers (live_numbers.numbers_html) in their fragment
            m = STEP_ATTR.search(el.html.body)
            if m:
                self.steps.append((time.monotonic(), int(m.group(1))))
                self.step_sources.add("html")
        elif kind in ("number_input", "selectbox", "radio", "multiselect", "checkbox"):
            self._widget(kind, getattr(el, kind))
        elif kind == "bidi_component":  # the live canvas and the live panels (other components: ignored)
            bc = el.bidi_component
            name, which = bc.component_name, bc.WhichOneof("data")
            data = None
            if which == "json":
                try:
                    data = json.loads(bc.json)
                except ValueError:
                    pass
            if name.endswith(CANVAS_COMPONENT):
                self._shown.add(CANVAS_COMPONENT)
                if which == "bytes":
                    self._canvas_data(None, bc.bytes)
                elif isinstance(data, dict) and isinstance(data.get("src"), str) and data["src"]:
                    self._canvas_data(data["src"])
            elif name.endswith(PANEL_COMPONENT) and isinstance(data, dict):
                self._shown.add(bc.id)
                self._panel_data(_user_key(bc.id), bc.id, fragment_id, data)
        elif kind != "plotly_chart" and any(
                f.name == "id" for f in getattr(el, kind).DESCRIPTOR.fields):
            self.untracked.add(kind)

    def _unmount(self) -> None:
        """A full run finished: the frontend removes the elements it did not draw, and their cleanup
        (`s.src = null`) stops their pulls; a request in flight is still answered."""
        if CANVAS_COMPONENT not in self._shown:
            self.frame_src = None
        for p in self.panels.values():
            if p.id not in self._shown:
                p.src = None

    def _widget(self, kind: str, w) -> None:
        """Keep the value this widget would hold in a tab (the frontend's useBasicWidgetState)."""
        self._drawn.add(w.id)
        if w.id in self.widgets and not w.set_value:
            return
        state = WidgetState(id=w.id)
        if kind == "number_input":
            v = w.value if w.set_value and w.HasField("value") else (w.default if w.HasField("default") else None)
            if v is None:
                return
            if w.data_type == NumberInput.INT:
                state.int_value = int(v)
            else:
                state.double_value = v
        elif kind in ("selectbox", "radio"):
            if w.set_value:
                if not w.HasField("raw_value"):
                    return
                state.string_value = w.raw_value
            elif w.options and w.HasField("default"):
                state.string_value = w.options[w.default]
            else:
                return
        elif kind == "multiselect":
            values = w.raw_values if w.set_value else [w.options[i] for i in w.default]
            state.string_array_value.data.extend(values)
        else:  # checkbox
            state.bool_value = w.value if w.set_value else w.default
        self.widgets[w.id] = state

    def _expire_cache(self, fragments: list[str]) -> None:
        self._run_count += 1
        for h, (used, fid, _) in list(self._cache.items()):
            if fragments and (not fid or fid not in fragments):
                continue  # a fragment run ages only that fragment's messages
            if self._run_count - used > self.max_cached_age:
                del self._cache[h]

    # ---- what a benchmark reads ------------------------------------------------------------------

    def step(self) -> int | None:
        return self.steps[-1][1] if self.steps else None

    def label(self, key: str) -> str | None:
        b = self.buttons.get(key)
        return b.label if b else None


async def _end_loop(task: "asyncio.Task | None", kick: asyncio.Event) -> None:
    """Cancel a pull loop and wait for it; the kick wakes it if a swallowed cancel left it waiting."""
    if task is not None:
        task.cancel()
        kick.set()
        await asyncio.gather(task, return_exceptions=True)


def rate_between(steps: list[tuple[float, int]], t0: float, t1: float) -> tuple[float, int]:
    """Steps/s from the step values received in [t0, t1] (their arrival times, not t0/t1: the numbers
    refresh only about once a second, slower with many runs), and how many distinct values arrived there."""
    inside = [(t, s) for t, s in steps if t0 <= t <= t1]
    before = [(t, s) for t, s in steps if t < t0]
    pts = before[-1:] + inside
    if len(pts) < 2 or pts[-1][0] == pts[0][0]:
        return 0.0, len({s for _, s in inside})
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]), len({s for _, s in inside})


def emit(event: str, **data) -> None:
    print(json.dumps({"event": event, "wall": time.time(), **data}), flush=True)


async def _timed(s: Session, predicate, timeout: float) -> float | None:
    """Seconds until predicate(s) holds, or None if it did not within `timeout`."""
    t = time.monotonic()
    try:
        await s.wait(predicate, timeout)
    except TimeoutError:
        return None
    return time.monotonic() - t


async def swarm(url: str, n: int, warmup: float, seconds: float, stagger: float = 0.5,
                query: str = "", timeout: float = 120) -> dict:
    """n sessions open the page and press Train; after `warmup` s, every session's steps/s over
    `seconds` s; then the latency of a Pause click in the first session. A session that does not
    answer within `timeout` s is recorded as such (None), not waited for forever."""
    sessions = [Session(url, query, f"s{i}") for i in range(n)]
    for i, s in enumerate(sessions):  # students arrive a little apart
        await s.open()
        if i + 1 < n:
            await asyncio.sleep(stagger)
    async def load_time(s: Session) -> float | None:  # from the session's connect to its Train button
        ok = await _timed(s, lambda s: s.label("train") is not None, 300)
        return None if ok is None else time.monotonic() - s.opened_at

    loaded = await asyncio.gather(*(load_time(s) for s in sessions))
    emit("loaded", seconds=loaded)
    for s in sessions:
        if s.label("train") is not None:
            await s.click("train")
    train_latency = await asyncio.gather(*(_timed(s, lambda s: s.label("train") == "Pause", timeout)
                                           for s in sessions))
    emit("training", train_click_latency_s=train_latency)
    await asyncio.sleep(warmup)
    base = [(dict(s.stats.auto_sent), dict(s.stats.fragment_runs), dict(s.stats.fragment_dropped), s.stats.bytes,
             len(s.stats.round_trips), {fid: t.interval for fid, t in s.timers.items()}) for s in sessions]
    frames0 = [frame_counts(s) for s in sessions]
    panels0 = [panel_counts(s) for s in sessions]
    triggers0 = [s.stats.state_triggers for s in sessions]
    received0s = [received(s) for s in sessions]
    cpu0, t0 = time.process_time(), time.monotonic()
    emit("window_start")
    await asyncio.sleep(seconds)
    t1 = time.monotonic()
    emit("window_end")
    client_cpu = (time.process_time() - cpu0) / (t1 - t0)
    per = []
    for s, (sent0, runs0, drop0, bytes0, rt0, intervals), f0, p0, tr0, received0 in zip(
            sessions, base, frames0, panels0, triggers0, received0s):
        mid = (t0 + t1) / 2
        rate, updates = rate_between(s.steps, t0, t1)
        halves = [rate_between(s.steps, a, b)[0] for a, b in ((t0, mid), (mid, t1))]
        by_interval: dict[str, dict] = {}
        for fid, iv in intervals.items():
            d = by_interval.setdefault(f"{iv:.3g}", {"fragments": 0, "requested_per_s": 0.0, "ran_per_s": 0.0,
                                                     "dropped_per_s": 0.0})
            d["fragments"] += 1
            d["requested_per_s"] += (s.stats.auto_sent.get(fid, 0) - sent0.get(fid, 0)) / (t1 - t0)
            d["ran_per_s"] += (s.stats.fragment_runs.get(fid, 0) - runs0.get(fid, 0)) / (t1 - t0)
            d["dropped_per_s"] += (s.stats.fragment_dropped.get(fid, 0) - drop0.get(fid, 0)) / (t1 - t0)
        rts = sorted(s.stats.round_trips[rt0:])
        per.append({"steps_per_s": rate, "step_updates": updates, "halves_steps_per_s": halves,
                    "advancing": all(h > 0 for h in halves),
                    "fragments": by_interval, "kB_per_s": (s.stats.bytes - bytes0) / (t1 - t0) / 1e3,
                    "received_kB_per_s": (received(s) - received0) / (t1 - t0) / 1e3,
                    "step_source": sorted(s.step_sources),
                    "state_triggers": s.stats.state_triggers,  # since the session opened, not only in the window
                    "state_triggers_in_window": s.stats.state_triggers - tr0,
                    "state_log": [(round(t - s.opened_at, 2), k, v) for t, k, v in s.stats.state_log],
                    "panels": panel_rates(s, p0, panel_counts(s), t0, t1),
                    "rerun_round_trip_ms": {"median": 1e3 * statistics.median(rts) if rts else None,
                                            "p90": 1e3 * rts[int(0.9 * len(rts))] if rts else None},
                    **frame_rates(s, f0, frame_counts(s), t0, t1)})
    # Pause in the first session while the others keep training
    s = sessions[0]
    pause_latency = stopped_at = None
    if s.label("train") == "Pause":
        await s.click("train")
        pause_latency = await _timed(s, lambda s: s.label("train") == "Train", timeout)
        stopped_at = s.step()
        await asyncio.sleep(3)
    pause_triggers = [x for x in s.stats.state_log if x[0] >= t1]
    out = {"n": n, "warmup_s": warmup, "window_s": t1 - t0, "sessions": per,
           "load_s": loaded, "train_click_latency_s": train_latency,
           "steps_per_s": [p["steps_per_s"] for p in per],
           "frames_pulled_per_s": [p["frames_pulled_per_s"] for p in per],
           "frames_pushed_per_s": [p["frames_pushed_per_s"] for p in per],
           "frame_sources": sum(1 for s in sessions if s.frame_src is not None),
           "panel_sources": sum(1 for s in sessions if "numbers_panel" in s.panels),
           "numbers_updates_per_s": [p["panels"].get("numbers_panel", {}).get("updates_per_s", 0.0) for p in per],
           "state_triggers": [p["state_triggers"] for p in per],
           "all_advancing": all(p["advancing"] for p in per),
           "pause_click_latency_s": pause_latency,
           "paused_session_steps_after_3s": None if stopped_at is None else (s.step() or 0) - stopped_at,
           "paused_session_state_triggers": [(k, v) for _, k, v in pause_triggers],
           "client_cpu_cores": client_cpu,
           "untracked_widget_kinds": sorted(set().union(*(s.untracked for s in sessions))),
           "errors": [repr(s.error) for s in sessions if s.error]}
    await asyncio.gather(*(s.close() for s in sessions))
    return out


def frame_counts(s: Session) -> dict:
    """A snapshot of a session's frame counters, for frame_rates."""
    st = s.stats
    return {"frames": st.frames, "bytes": st.frame_bytes, "none": st.frames_none, "gone": st.frames_gone,
            "errors": dict(st.frame_errors), "waits": len(st.frame_waits), "pushed": st.frames_pushed,
            "reconnects": st.http_reconnects, "requests": st.frame_requests, "aborts": st.frame_aborts}


def received(s: Session) -> int:
    """Bytes a session has received: WebSocket messages, canvas frames and panel answers."""
    return s.stats.bytes + s.stats.frame_bytes + sum(p.bytes for p in s.stats.panels.values())


def panel_counts(s: Session) -> dict:
    """A snapshot of a session's panel counters (per panel key), for panel_rates."""
    return {k: {"requests": p.requests, "updates": p.updates, "bytes": p.bytes, "none": p.none, "gone": p.gone,
                "errors": dict(p.errors), "waits": len(p.waits)} for k, p in s.stats.panels.items()}


def panel_rates(s: Session, a: dict, b: dict, t0: float, t1: float) -> dict:
    """Per live panel, its pulls between two panel_counts snapshots taken at t0 and t1."""
    dt, out = t1 - t0, {}
    zero = {"requests": 0, "updates": 0, "bytes": 0, "none": 0, "gone": 0, "errors": {}, "waits": 0}
    for k, pb in b.items():
        pa = a.get(k, zero)
        waits = sorted(s.stats.panels[k].waits[pa["waits"]:pb["waits"]])
        out[k] = {"updates_per_s": (pb["updates"] - pa["updates"]) / dt,
                  "requests_per_s": (pb["requests"] - pa["requests"]) / dt,
                  "204_per_s": (pb["none"] - pa["none"]) / dt,
                  "kB_per_s": (pb["bytes"] - pa["bytes"]) / dt / 1e3,
                  "404": pb["gone"] - pa["gone"],
                  "errors": {e: v - pa["errors"].get(e, 0) for e, v in pb["errors"].items()
                             if v - pa["errors"].get(e, 0)},
                  "wait_ms_median": 1e3 * statistics.median(waits) if waits else None,
                  "source": s.panels[k].src is not None}
    return out


def frame_rates(s: Session, a: dict, b: dict, t0: float, t1: float) -> dict:
    """A session's frame pulls between two frame_counts snapshots taken at t0 and t1."""
    dt = t1 - t0
    waits = sorted(s.stats.frame_waits[a["waits"]:b["waits"]])
    errors = {k: v - a["errors"].get(k, 0) for k, v in b["errors"].items() if v - a["errors"].get(k, 0)}
    return {"frames_pulled_per_s": (b["frames"] - a["frames"]) / dt,
            "frame_kB_per_s": (b["bytes"] - a["bytes"]) / dt / 1e3,
            "frame_requests_per_s": (b["requests"] - a["requests"]) / dt,
            "frames_204_per_s": (b["none"] - a["none"]) / dt,
            "frames_404": b["gone"] - a["gone"], "frame_errors": errors,
            "http_reconnects": b["reconnects"] - a["reconnects"],  # of all this session's connections
            "frame_aborts": b["aborts"] - a["aborts"],
            "frame_wait_ms": {"median": 1e3 * statistics.median(waits) if waits else None,
                              "p90": 1e3 * waits[int(0.9 * len(waits))] if waits else None},
            "frame_steps_per_s": rate_between(s.frame_steps, t0, t1)[0],
            "frames_pushed_per_s": (b["pushed"] - a["pushed"]) / dt,
            "frame_source": s.frame_src is not None}


async def _one(url: str, seconds: float) -> None:
    """Debug aid: one session, press Train, print what arrives."""
    s = await Session(url).open()
    await s.wait(lambda s: s.label("train") is not None, 300)
    print("session", s.session_id, "buttons", {k: b.label for k, b in s.buttons.items()}, "query", s.query)
    await s.click("train")
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(1)
        print(f"{time.monotonic() - t0:5.1f}s step={s.step()} train={s.label('train')} "
              f"timers={ {k[-8:]: t.interval for k, t in s.timers.items()} } msgs={s.stats.msgs} "
              f"kB={s.stats.bytes / 1e3:.0f} refs={s.stats.refs} finished={s.stats.finished} "
              f"frames pulled={s.stats.frames} ({s.stats.frame_bytes / 1e3:.0f} kB, key {s.frame_key!r}) "
              f"204={s.stats.frames_none} 404={s.stats.frames_gone} errors={s.stats.frame_errors} "
              f"pushed={s.stats.frames_pushed} panels="
              f"{ {k: (p.updates, p.none, p.gone, p.errors) for k, p in s.stats.panels.items()} } "
              f"state_triggers={s.stats.state_log[-3:]} ({s.stats.state_triggers}) "
              f"step_source={sorted(s.step_sources)}", flush=True)
    await s.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--stagger", type=float, default=0.5, help="seconds between sessions opening")
    ap.add_argument("--query", default="", help="query string every session opens the page with")
    ap.add_argument("--one", action="store_true", help="debug: one session, print what it sees")
    args = ap.parse_args()
    if args.one:
        asyncio.run(_one(args.url, args.seconds))
        return
    res = asyncio.run(swarm(args.url, args.sessions, args.warmup, args.seconds, args.stagger, args.query))
    emit("result", result=res)


if __name__ == "__main__":
    sys.exit(main())
