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
    buttons by user key and the metrics by label), page_info_changed (the app rewrote the query
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
  - the live canvas's own frame pulls (served by serve.py; ui/canvas.py's `poll` in _JS, the route
    in ui/frame_route.py). When a bidi_component element arrives whose data (BidiComponent.json) is
    a JSON object with "src", the session runs one frame-pull task, as the component's JS does:
    GET <page URL joined with src>&after=<X-Frame-Key of the last frame it got, '' at first>; the
    server holds the request until a newer frame exists (200 + the frame, X-Frame-Key) or answers
    204 after 0.5 s, 404 when the run is gone. After a 200 the next request leaves no sooner than
    83 ms after the previous one started, after a 204 (or another status) 250 ms later, after a
    network error 2 s later; after a 404 it stops. Each arrival of the element (a full run, e.g. a
    click) polls at once when no request is in flight (so a 404-stopped canvas resumes with the next
    rerun), and a changed src starts again from after=''; a request answered after src changed is
    followed at once by one for the new src; an element carrying bytes (the fragment-pushed canvas
    of `streamlit run app.py`) stops the pulls, as `s.src = null` does.
    HTTP/1.1 over one keep-alive connection per session (asyncio streams, h11 for the framing; h11
    comes with uvicorn), like the one connection a tab would keep reusing. Counted in Stats: frames
    (200s with a well-formed frame: magic, version and length checked against its header, and an
    X-Frame-Key other than the one sent), bytes, 204s, 404s and errors by kind (network errors,
    other statuses, malformed frames or keys).
    Self-healing: a frame answer (of any status: the JS reads headers before the status) whose
    X-Stale header is non-empty names page fragments whose auto-rerun timer went quiet while training
    (ui/frame_route.py: `stale`, `expect`, `beat`). If the session has not healed in the last 15 s
    (or never), it does what the canvas's `setTriggerValue('stale', <header value>)` makes the
    frontend do (streamlit/static/static/js: BidiComponent.*.js builds the trigger, index.*.js's
    WidgetStateManager.setTriggerValue and scheduleFlush send it): one rerun_script with every
    widget state plus WidgetState{id: "$$STREAMLIT_INTERNAL_KEY_<canvas element id>__events",
    json_trigger_value: '[{"event":"stale","value":<header value>}]'} (JSON.stringify, so no
    spaces), and the fragment id the canvas element was drawn in: none with serve.py's app.py, i.e.
    a full run, which re-registers every fragment timer. The server decodes that id and list in
    components/v2/bidi_component/main.py (_make_trigger_id, the "events" aggregator widget,
    deserialize_trigger_list). Counted in Stats.heals (with their times and header values in
    Stats.heal_log). The trigger is sent once: like the frontend, later reruns do not repeat it.

Limits (what a real tab does that this does not):
  - it renders nothing and runs no component JavaScript, and it never falls behind the way a
    slow browser does: a busy browser's timers fire late (measured: Chromium on the loaded 2-core
    box sent its 0.1 s fragment's reruns about once a second), this one's only when its own event
    loop is busy. So it asks the server for more work than a struggling tab would. The same for
    frame pulls: the JS sends its next request only after the frame is drawn (an animation frame
    later, longer when the tab is busy or hidden); this one draws nothing, so a pulled frame is
    "drawn" at once and only the 83 ms spacing slows it down;
  - widget states only for the kinds above, buttons and the canvas's "stale" trigger; no popover
    open state, no other component (bidi) state or trigger, no forms; it never changes a setting;
  - of the tab's HTTP requests it makes only the canvas's frame pulls, none of the others (page
    assets, /_stcore/host-config, /media/ files; this app serves its other pictures inside the
    WebSocket messages). A request gets no timeout in a browser; here 30 s, counted as an error;
    a keep-alive connection the server closed between requests is reopened and the request sent
    again, as browsers do (counted as a reconnect, not an error);
  - no WebSocket reconnects, no heartbeats, no Origin header (the server allows a missing Origin).

Reading the numbers (swarm): frames pulled per second per session (serve.py only; 0 with app.py,
whose canvas is pushed: there frames_pushed counts the canvas frames with a new frame id) and
their kB/s, 204s per second (no newer frame within 0.5 s: a paused run, or a server slower than the
pulls) and errors. Per fragment interval, reruns asked for (the timers), delivered
(FINISHED_FRAGMENT_RUN_SUCCESSFULLY) and dropped (script_finished relabelled FINISHED_EARLY_FOR_RERUN:
ForwardMsgQueue.clear does that when the next run of the same fragment starts before the previous
run's messages were sent, so that run's output is discarded). A session that receives nothing for
a whole window (0 kB/s) is a stalled server, not slow training. A session with fewer fragment
timers than the others lost auto_rerun messages: those fragments stop refreshing; with serve.py the
page notices (X-Stale on a frame) and `heals` per session counts the full reruns sent to restart them.

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
# the canvas's pull loop (ui/canvas.py, _JS): MINW, MAXW and the wait after a failed fetch
PULL_MIN_GAP_S, PULL_NONE_WAIT_S, PULL_ERROR_WAIT_S = 0.083, 0.25, 2.0
PULL_TIMEOUT_S = 30.0  # a browser's fetch has none; here a stalled server shows up as an error
HEAL_GAP_S = 15.0  # the canvas fires its "stale" trigger at most this often (`s.healed` in _JS)
STALE_HEADER = "x-stale"  # ui/frame_route.py's STALE_HEADER, lower-cased as HttpConnection.get returns it
TRIGGER_PREFIX, TRIGGER_EVENTS = "$$STREAMLIT_INTERNAL_KEY_", "__events"  # a bidi component's trigger widget id
FRAME_HEADER = struct.Struct("<4sBBHIfffHHHHHH")  # ui/canvas.py's _HEADER (36 bytes)


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
    frames_pushed: int = 0  # canvas frames received in the WebSocket (app.py), each with a new frame id
    # full reruns sent for the canvas's "stale" trigger (a frame answer named quiet fragment timers)
    heals: int = 0
    heal_log: list[tuple[float, str]] = field(default_factory=list)  # (time.monotonic(), X-Stale value) each


class HttpConnection:
    """GET over one keep-alive HTTP/1.1 connection (asyncio streams; h11 does the framing). A
    connection the server closed while idle is reopened once and the request sent again, as a
    browser does for a reused connection."""

    def __init__(self, netloc: str, stats: Stats):
        host, _, port = netloc.rpartition(":") if ":" in netloc.rsplit("]", 1)[-1] else (netloc, "", "80")
        self.netloc, self.host, self.port, self.stats = netloc, host.strip("[]"), int(port), stats
        self._reader = self._writer = self._h11 = None

    async def get(self, target: str) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body) of GET target (path and query)."""
        reused = self._writer is not None
        try:
            return await self._exchange(target)
        except (OSError, h11.ProtocolError, EOFError):
            await self.close()
            if not reused:
                raise
            self.stats.http_reconnects += 1
        try:
            return await self._exchange(target)
        except BaseException:
            await self.close()
            raise

    async def _exchange(self, target: str) -> tuple[int, dict[str, str], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._h11 = h11.Connection(h11.CLIENT)
        c = self._h11
        self._writer.write(c.send(h11.Request(method="GET", target=target, headers=[
            ("Host", self.netloc), ("Accept", "*/*"), ("Cache-Control", "no-store")])) + c.send(h11.EndOfMessage()))
        await self._writer.drain()
        status, headers, body = 0, {}, []
        while True:
            ev = c.next_event()
            if ev is h11.NEED_DATA:
                c.receive_data(await self._reader.read(1 << 16))  # b"": closed, h11 then ends or raises
            elif isinstance(ev, h11.Response):
                status = ev.status_code
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in ev.headers}
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
        return status, headers, b"".join(body)

    async def close(self) -> None:
        w, self._reader, self._writer, self._h11 = self._writer, None, None, None
        if w is not None:
            w.close()
            try:
                await w.wait_closed()
            except OSError:
                pass


def frame_problem(body: bytes) -> str | None:
    """Why `body` is not a well-formed live-canvas frame (ui/canvas.py's format), or None if it is."""
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
        self.page_script_hash = ""
        self.session_id = ""
        self.max_cached_age = 2
        self.buttons: dict[str, Button] = {}  # user key -> newest button
        self.metrics: dict[str, str] = {}  # label -> newest value text
        self.steps: list[tuple[float, int]] = []  # (time.monotonic(), value of the "Step" metric)
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
        # the canvas's frame pulls (ui/canvas.py, _JS `poll`): s.src, s.have and s.busy there
        self.frame_src: str | None = None
        self.frame_key = ""  # X-Frame-Key of the newest frame received, sent back as after=
        self.frame_steps: list[tuple[float, int]] = []  # (time.monotonic(), step in X-Frame-Key) per frame
        self._pull: asyncio.Task | None = None
        self._pull_busy = False
        self._pull_kick = asyncio.Event()
        self._closed = False  # close() was called: the pull loop ends
        self._http: HttpConnection | None = None
        self._pushed_id: int | None = None  # frame id of the last frame pushed in the WebSocket
        self.canvas_id = ""  # the canvas element's id ("$$ID-<hash>-<key>"): its trigger widget's base
        self.canvas_fragment = ""  # the fragment it was drawn in ('' outside fragments): its trigger's rerun
        self._healed_at: float | None = None  # loop time of the last "stale" trigger (`s.healed`)

    # ---- connection ------------------------------------------------------------------------------

    async def open(self) -> "Session":
        self.opened_at = time.monotonic()
        self._ws = await connect(self.ws_url, subprotocols=["streamlit", "PLACEHOLDER_AUTH_TOKEN"],
                                 max_size=None, open_timeout=60, ping_interval=None)
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-read")
        await self._rerun()  # the first run of the page, as a tab sends once connected
        return self

    async def close(self) -> None:
        for t in self.timers.values():
            t.task.cancel()
        self.timers.clear()
        self.frame_src = None
        if self._pull is not None:
            # Python 3.11's wait_for can swallow a cancel that lands as its awaitable completes: the loop
            # would then wait for a source forever; the flag and the kick end it anyway
            self._closed = True
            self._pull.cancel()
            self._pull_kick.set()
            await asyncio.gather(self._pull, return_exceptions=True)
            self._pull = None
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

    async def _heal(self, stale: str) -> None:
        """The canvas's `setTriggerValue('stale', stale)`: a rerun of the script part that drew it."""
        if not self.canvas_id or self._ws is None:
            return
        state = WidgetState(id=TRIGGER_PREFIX + self.canvas_id + TRIGGER_EVENTS,
                            json_trigger_value=json.dumps([{"event": "stale", "value": stale}],  # as JSON.stringify
                                                         separators=(",", ":"), ensure_ascii=False))
        self.stats.heals += 1
        self.stats.heal_log.append((time.monotonic(), stale))
        try:
            await self._rerun(fragment_id=self.canvas_fragment, extra=state)
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
        if self._pull is None:
            self._pull = asyncio.get_running_loop().create_task(self._pull_frames(), name=f"{self.name}-frames")
        elif not self._pull_busy:  # `if (!s.busy) { clearTimeout(s.timer); poll(s); }`
            self._pull_kick.set()

    async def _pull_frames(self) -> None:
        while not self._closed:
            self._pull_kick.clear()
            src = self.frame_src
            if src is None:  # pushed frames: wait for a source
                await self._pull_kick.wait()
                continue
            self._pull_busy = True
            try:
                delay = await self._pull_one(src)
            finally:
                self._pull_busy = False
            try:  # the timer (None: none); the element arriving meanwhile polls at once
                await asyncio.wait_for(self._pull_kick.wait(), delay)
            except TimeoutError:
                pass

    async def _pull_one(self, src: str) -> float | None:
        """One request, counted; returns the wait before the next (None: until the element arrives again)."""
        st, loop = self.stats, asyncio.get_running_loop()
        t0 = loop.time()
        parts = urlsplit(urljoin(self.base + "/", src + "&after=" + quote(self.frame_key, safe="")))
        try:
            if parts.scheme != "http":
                raise ValueError(f"frame source {parts.geturl()}: only http:// is supported")
            if self._http is None or self._http.netloc != parts.netloc:
                if self._http is not None:
                    await self._http.close()
                self._http = HttpConnection(parts.netloc, st)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            status, headers, body = await asyncio.wait_for(self._http.get(target), PULL_TIMEOUT_S)
        except (OSError, EOFError, h11.ProtocolError, ValueError) as e:  # TimeoutError is an OSError
            kind = "timeout" if isinstance(e, TimeoutError) else type(e).__name__
            st.frame_errors[kind] = st.frame_errors.get(kind, 0) + 1
            if self._http is not None:
                await self._http.close()
            return PULL_ERROR_WAIT_S
        answered = loop.time()
        st.frame_requests += 1
        stale = headers.get(STALE_HEADER, "")
        if stale and (self._healed_at is None or answered - self._healed_at >= HEAL_GAP_S):
            self._healed_at = answered  # `s.healed = now`, before the status is looked at
            await self._heal(stale)
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
        return None if status == 404 else PULL_NONE_WAIT_S

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
            if msg.script_finished != FINISHED.FINISHED_EARLY_FOR_RERUN and self._got_new_session:
                self._expire_cache(fragments)

    def _element(self, el, fragment_id: str = "") -> None:
        kind = el.WhichOneof("type")
        if kind == "button":
            wid = el.button.id  # "$$ID-<hash>-<user key>" for keyed widgets
            key = wid.split("-", 2)[2] if wid.startswith("$$ID-") and wid.count("-") >= 2 else wid
            self.buttons[key] = Button(wid, el.button.label, time.monotonic())
        elif kind == "metric":
            self.metrics[el.metric.label] = el.metric.body
            if el.metric.label == "Step":
                try:
                    self.steps.append((time.monotonic(), int(el.metric.body.replace(",", ""))))
                except ValueError:
                    pass
        elif kind in ("number_input", "selectbox", "radio", "multiselect", "checkbox"):
            self._widget(kind, getattr(el, kind))
        elif kind == "bidi_component":  # the live canvas (other components: ignored)
            which = el.bidi_component.WhichOneof("data")
            if which == "bytes" and "ebm_live_canvas" in el.bidi_component.component_name:
                self.canvas_id, self.canvas_fragment = el.bidi_component.id, fragment_id
                self._canvas_data(None, el.bidi_component.bytes)
            elif which == "json":
                try:
                    data = json.loads(el.bidi_component.json)
                except ValueError:
                    data = None
                if isinstance(data, dict) and isinstance(data.get("src"), str):
                    self.canvas_id, self.canvas_fragment = el.bidi_component.id, fragment_id
                    self._canvas_data(data["src"])
        elif kind != "plotly_chart" and any(
                f.name == "id" for f in getattr(el, kind).DESCRIPTOR.fields):
            self.untracked.add(kind)

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


def rate_between(steps: list[tuple[float, int]], t0: float, t1: float) -> tuple[float, int]:
    """Steps/s from the Step values received in [t0, t1] (their arrival times, not t0/t1: the metric
    only refreshes every MEDIUM seconds), and how many distinct values arrived there."""
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
    cpu0, t0 = time.process_time(), time.monotonic()
    emit("window_start")
    await asyncio.sleep(seconds)
    t1 = time.monotonic()
    emit("window_end")
    client_cpu = (time.process_time() - cpu0) / (t1 - t0)
    per = []
    for s, (sent0, runs0, drop0, bytes0, rt0, intervals), f0 in zip(sessions, base, frames0):
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
                    "heals": s.stats.heals,  # since the session opened, not only in the window
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
    out = {"n": n, "warmup_s": warmup, "window_s": t1 - t0, "sessions": per,
           "load_s": loaded, "train_click_latency_s": train_latency,
           "steps_per_s": [p["steps_per_s"] for p in per],
           "frames_pulled_per_s": [p["frames_pulled_per_s"] for p in per],
           "frames_pushed_per_s": [p["frames_pushed_per_s"] for p in per],
           "frame_sources": sum(1 for s in sessions if s.frame_src is not None),
           "all_advancing": all(p["advancing"] for p in per),
           "pause_click_latency_s": pause_latency,
           "paused_session_steps_after_3s": None if stopped_at is None else (s.step() or 0) - stopped_at,
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
            "reconnects": st.http_reconnects, "requests": st.frame_requests}


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
            "http_reconnects": b["reconnects"] - a["reconnects"],
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
              f"pushed={s.stats.frames_pushed} heals={s.stats.heals}", flush=True)
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
