"""A live run: training in a training process, published as immutable snapshots.

The UI never touches the trainer. `LiveRun` (in the server process) sends commands (play, pause,
step, new settings, rollback, stop) down a pipe to its worker and keeps the newest `Snapshot` the
worker sends back. Workers live in training processes, not threads, because a Python thread shares
the interpreter lock with the web server and the page scripts: on 2 cores a watched thread kept under
half its headless speed (bench/ui.py). A server has about one training process per core, each
stepping many runs in turn (live/pool.py, live/worker.py). They are forked from a small fork server
that has torch imported already, so they start in well under a second and share torch's memory.

What is trained and shown comes from a task (`task_classes()`; the 2D toy task is in live/toy2d.py). The
worker builds a snapshot only when a page asked for one lately (an unwatched run trains at full
speed), at most `max_fps` times a second, and refreshes the task's diagnostics (for 2D the exact log
Z, NLL, KL and sampler bias: ~18k energy evaluations) every `diag_every_s`, or less often when they
would take more than a small share of the run's CPU time (live/share.py). Snapshots
carry only the history rows added since the previous one; `LiveRun` stitches them together.

Divergence guard: after every step the worker checks that the loss, the energies and the chains
are finite and bounded. If not, it pauses, explains the likely cause in plain words, and keeps the
last good state (saved every `good_every` healthy steps) for a one-click rollback.

A worker leaves its process on "stop", and on its own when the pipe closes (the server or the session
died); either way it saves its state first.
"""

import contextlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ..config import RunConfig
from . import saved
from .pool import Pool, default_size
from .slots import Slots, default_limit
from .worker import HISTORY_KEYS, task_classes

_ALIVE: "weakref.WeakSet[LiveRun]" = weakref.WeakSet()
_CLEANED = False  # old saved runs are removed once per process, at its first run that saves


def active_runs() -> int:
    """How many live runs this process is serving now (the page slows its polling as this grows)."""
    return len(live_runs())


def live_runs() -> list["LiveRun"]:
    """The runs of this process whose worker is alive."""
    return [r for r in list(_ALIVE) if r.thread.is_alive()]


_SLOTS: Slots | None = None
_SLOTS_LOCK = threading.Lock()


def slots() -> Slots:
    """This process's limit of runs training at once and its queue (live/slots.py)."""
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None:
            _SLOTS = Slots(default_limit(), live_runs)
        return _SLOTS


_POOL: Pool | None = None


def process_pool() -> Pool:
    """This process's training processes (live/pool.py)."""
    global _POOL
    with _SLOTS_LOCK:
        if _POOL is None:
            _POOL = Pool(default_size(), _context(), _start_without_main)
        return _POOL


_CONTEXT: multiprocessing.context.BaseContext | None = None
_CONTEXT_LOCK = threading.Lock()


def _context() -> multiprocessing.context.BaseContext:
    """A fork server with torch and this module imported: forking from it is fast and safe (it has
    no threads), and the runs share torch's pages. Falls back to spawn where forkserver is missing."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _CONTEXT = multiprocessing.get_context("forkserver")
                _CONTEXT.set_forkserver_preload(["ebm_core.live._preload"])
            else:
                _CONTEXT = multiprocessing.get_context("spawn")
        return _CONTEXT


@contextlib.contextmanager
def _without_main():
    """Start processes without re-running the parent's __main__ in them. Under Streamlit, __main__ is
    the page script itself (or Streamlit's CLI), and multiprocessing would execute it again in the
    fork server and the workers. They only need ebm_core, so the main-module entries are dropped
    from the start-up data."""
    original = multiprocessing.spawn.get_preparation_data

    def without_main(name: str) -> dict:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    with _CONTEXT_LOCK:
        multiprocessing.spawn.get_preparation_data = without_main
        try:
            yield
        finally:
            multiprocessing.spawn.get_preparation_data = original


def _start_without_main(process: multiprocessing.process.BaseProcess) -> None:
    with _without_main():
        process.start()


def warm_up() -> None:
    """Start the fork server now (it imports torch and computes the built-in datasets' exact
    densities: seconds), so that the first visitor's run starts at once. Safe to call again."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with _without_main():
            forkserver.ensure_running()


class LiveRun:
    """One session's live run: a worker in a training process plus a thread here that receives its
    snapshots."""

    def __init__(self, cfg: RunConfig, *, task: str = "toy2d", run_id: int = 0, device: str | None = None,
                 display_n: int = 64,
                 max_fps: float = 12.0, diag_every_s: float = 2.0, good_every: int = 50, n_trails: int = 8,
                 max_train_seconds: float = 20 * 60, name: str = "ebm-trainer", points: np.ndarray | None = None,
                 save_path: str | None = None, resume_from: str | None = None, start_from: dict | None = None):
        if task not in task_classes():
            raise ValueError(f"unknown task {task!r}; valid: {', '.join(task_classes())}")
        self.cfg, self.task, self.run_id = cfg, task, run_id
        self._opts = dict(device=device, display_n=display_n, max_fps=max_fps, diag_every_s=diag_every_s,
                          good_every=good_every, n_trails=n_trails, max_train_seconds=max_train_seconds,
                          points=points,  # the 2D task's own data when cfg.data.dataset is "custom"
                          save_path=save_path, resume_from=resume_from,  # saved.py: where its state goes, from where
                          start_from=start_from)  # {"path": a run folder, "name": its name for messages}
        self.save_path = save_path
        self.owner: str | None = None  # the session the run belongs to, for whoever watches over runs
        self.watched_at = time.monotonic()  # when a page last asked for a snapshot
        self._stopping = False
        self._snap: Any = None  # the task's newest snapshot
        self._history = History(HISTORY_KEYS)
        self._send_lock = threading.Lock()
        self._cmd_seq = 0  # number of the last command sent; the worker's snapshots carry the last it handled
        self._intent_seq, self._intent_running = 0, False  # the last play/pause/step/rollback/call sent
        self._intent_kind = ""
        self._want_sent = False
        self._needs: tuple[str, ...] = ()
        self._requests: dict[int, Request] = {}  # asked of the worker, not answered yet, by command number
        self._listeners: set[Callable[[], None]] = set()  # called (in the receiving thread) on every snapshot
        self.thread = threading.Thread(target=self._receive, name=f"{name}-{run_id}", daemon=True)
        self._pool: Pool | None = None  # the pool that placed it, and its process there as the pool knows it
        self._in: Any = None

    def start(self) -> "LiveRun":
        global _CLEANED
        if self.save_path and not _CLEANED:
            _CLEANED = True
            saved.remove_old()
        self._conn, child = _context().Pipe()
        self._pool = process_pool()
        self._in = self._pool.adopt(self, child, (self.task, self.cfg, self.run_id, self._opts))
        child.close()  # the training process holds the other end; the worker's leaving closes the pipe
        self.thread.start()
        _ALIVE.add(self)
        return self

    @property
    def process(self) -> multiprocessing.process.BaseProcess | None:
        """The training process it is in (shared with other runs); None before start()."""
        return self._in.process if self._in is not None else None

    # ---- commands (any thread; never block) -----------------------------------------------------

    def _send(self, *cmd: Any, running: bool | None = None) -> None:
        """Send one command, numbered; `running` says whether training runs once the worker has
        handled it (None: the command does not change that)."""
        try:
            with self._send_lock:
                self._cmd_seq += 1
                if running is not None:
                    self._intent_seq, self._intent_running, self._intent_kind = self._cmd_seq, running, cmd[0]
                self._conn.send((self._cmd_seq, cmd))
        except (OSError, ValueError):
            pass  # the worker is gone; the page shows the last snapshot

    @property
    def running(self) -> bool:
        """Whether the run trains now, as the page should show it: what the last play/pause/step/
        rollback asked for until the worker has answered it, then what the worker reports (it pauses
        itself on divergence or after its time limit). A snapshot older than the last click never
        overrides that click."""
        snap = self._snap
        with self._send_lock:
            if snap is not None and snap.ack >= self._intent_seq:
                return snap.status == "running"
            return self._intent_running

    def unanswered(self) -> str | None:
        """The last play/pause/step/rollback/call while the worker has not answered it yet, else None."""
        snap = self._snap
        with self._send_lock:
            if self._intent_seq and (snap is None or snap.ack < self._intent_seq):
                return self._intent_kind
            return None

    def play(self) -> int:
        """Train now if the server has a free training slot (returns 0), else wait in its queue
        (returns the place; training starts by itself when a slot frees: live/slots.py)."""
        return slots().request(self)

    def start_training(self) -> None:
        """Train at once, slot or not (the slots call this when the run's turn has come)."""
        self._send("play", running=True)

    @property
    def queue_place(self) -> int:
        """The run's place in the queue for a training slot (1 is next), 0 when it does not wait."""
        return slots().place(self) if _SLOTS is not None else 0

    def pause(self) -> None:
        """Pause training, or stop waiting for a slot."""
        self._send("pause", running=False)
        slots().leave(self)

    def step_once(self, n: int = 1) -> None:
        self._send("step", n, running=False)
        slots().leave(self)

    def update(self, cfg: RunConfig) -> None:
        """New live settings (sampler, lr, alpha, batch size, reinit fraction); others are ignored."""
        self._send("update", cfg)

    def rollback(self) -> None:
        self._send("rollback", running=False)
        slots().leave(self)

    def request_stop(self) -> None:
        """Ask the worker to exit (it saves its state first); returns at once (safe to call from the
        server's event loop)."""
        self._stopping = True
        self._send("stop")
        slots().leave(self)

    @property
    def dead(self) -> bool:
        """The worker ended without being asked to (killed, out of memory, an error it reported)."""
        return self.thread.ident is not None and not self.thread.is_alive() and not self._stopping

    @property
    def ended(self) -> bool:
        """The worker is gone, whether asked to stop or not."""
        return self.thread.ident is not None and not self.thread.is_alive()

    def latest(self) -> Any:
        """The newest snapshot (None before the first); also asks the worker for a fresh one."""
        self.watched_at = time.monotonic()
        if not self._want_sent:
            self._want_sent = True
            self._send("want")
        return self._snap

    def need(self, *parts: str) -> None:
        """Name the optional parts that snapshots should carry from now on (the 2D task: "field");
        the worker builds nothing a page does not show."""
        if parts != self._needs:
            self._needs = parts
            self._send("need", parts)

    def _ask(self, timeout_s: float, *cmd: Any, running: bool | None = None) -> "Request":
        request = Request(timeout_s)
        with self._send_lock:  # numbered and registered together: the reply cannot come first
            self._cmd_seq += 1
            if running is not None:
                self._intent_seq, self._intent_running, self._intent_kind = self._cmd_seq, running, cmd[0]
            self._requests[self._cmd_seq] = request
            try:
                self._conn.send((self._cmd_seq, cmd))
            except (OSError, ValueError):
                request._answer((False, "the training worker is gone"))
        return request

    def request_weights(self, timeout_s: float = 30.0) -> "Request":
        """Ask for the evaluated weights (EMA if enabled) without waiting: the request's result() is
        (step, state_dict) once done (see Request)."""
        return self._ask(timeout_s, "model")

    def request_frame(self, step: int, timeout_s: float = 30.0) -> "Request":
        """Ask for the recorded frame of `step` (live/recording.py) without waiting: the request's
        result() is (step, frame), or None when the recording no longer holds it."""
        return self._ask(timeout_s, "frame", int(step))

    def request_recording(self, timeout_s: float = 30.0) -> "Request":
        """Ask for the whole recording without waiting: the request's result() is its frames as arrays
        (Recording.stacked(); {} when nothing is recorded), for an export (ebm_core/movie2d.py)."""
        return self._ask(timeout_s, "recording")

    def rewind_to(self, step: int) -> None:
        """Roll training back to a recorded step whose state is kept (Snapshot.kept), and pause."""
        self._send("rewind", int(step), running=False)
        slots().leave(self)

    def request_call(self, name: str, *args: Any, timeout_s: float = 60.0) -> "Request":
        """Ask the worker to run the task's `call_<name>(*args)` between two updates (training pauses
        first), without waiting: the request's result() is its value once done."""
        request = self._ask(timeout_s, "call", name, args, running=False)
        slots().leave(self)
        return request

    def model_from(self, state: dict) -> torch.nn.Module:
        """The task's network with these weights, for evaluation."""
        model = task_classes()[self.task].build_model(self.cfg)
        model.load_state_dict(state)
        return model.eval().requires_grad_(False)

    def copy_model(self, timeout: float = 10.0) -> torch.nn.Module | None:
        """A CPU copy of the evaluated weights, or None if the worker does not answer. Waits: for
        scripts and tests; a page uses request_weights."""
        try:
            return self.model_from(self.request_weights(timeout).wait()[1])
        except (TimeoutError, RuntimeError):
            return None

    def listen(self, fn: Callable[[], None]) -> None:
        """Call fn() (cheap, thread-safe: it runs in the thread that receives snapshots) whenever a
        snapshot arrives, until unlisten(fn)."""
        self._listeners.add(fn)

    def unlisten(self, fn: Callable[[], None]) -> None:
        self._listeners.discard(fn)

    def wait_for(self, predicate, timeout: float = 60.0) -> Any:
        """Block until a snapshot satisfies predicate (tests, benchmarks); raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.latest()
            if snap is not None and predicate(snap):
                return snap
            if not self.thread.is_alive() and self.thread.ident is not None:
                raise RuntimeError(f"the live run ended: {snap.message if snap else 'no snapshot'}")
            time.sleep(0.02)
        raise TimeoutError("live run did not reach the expected state")

    def _receive(self) -> None:
        """Runs here, in a daemon thread: keeps the newest snapshot, stitching the history."""
        while True:
            try:
                kind, payload = self._conn.recv()
            except (EOFError, OSError):
                break
            if kind == "reply":
                seq, answer = payload
                with self._send_lock:
                    request = self._requests.pop(seq, None)
                if request is not None:
                    request._answer(answer)
                continue
            payload, same = payload  # `same`: parts left out as unchanged since the last (worker._unchanged)
            history = self._history.add(payload.history_start, payload.history)
            was_training = self._snap is not None and self._snap.status == "running"
            self._snap = replace(payload, history=history, history_start=0, **{k: getattr(self._snap, k) for k in same})
            self._want_sent = False
            if was_training and payload.status != "running":  # paused itself (diverged, time limit): a slot is free
                slots().admit()
            for fn in list(self._listeners):
                try:
                    fn()
                except RuntimeError:  # a listener's event loop has closed
                    self._listeners.discard(fn)
        self._conn.close()
        with self._send_lock:
            unanswered, self._requests = list(self._requests.values()), {}
        for request in unanswered:
            request._answer((False, "the training worker ended before it answered"))
        self._pool.released(self, self._in)
        slots().leave(self)  # the worker is gone: it neither trains nor waits


class History:
    """A run's curves, stitched from the pieces its snapshots carry. New rows are written into arrays
    with room to spare (doubled when full), so a snapshot costs its own rows, not the whole history
    again: a 20-minute run at 100 updates/s has 120,000 rows, which copying whole at 12 frames a
    second would be about 90 MB/s. The arrays returned are views that later rows never touch; a cut
    (a rollback) starts new arrays."""

    def __init__(self, keys: tuple[str, ...]):
        self._keys, self._n = keys, 0
        self._data = {k: np.zeros(0) for k in keys}

    def add(self, start: int, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The rows from `start` on are `rows` (those before it stay); returns the whole history."""
        start = min(start, self._n)
        new = len(rows[self._keys[0]]) if self._keys else 0
        end = start + new
        room = len(self._data[self._keys[0]]) if self._keys else 0
        if start < self._n or end > room:  # a cut, or no room left: new arrays, earlier views untouched
            size = max(end, 2 * room, 64) if start == self._n else end
            for k in self._keys:
                fresh = np.empty(size)
                fresh[:start] = self._data[k][:start]
                self._data[k] = fresh
        for k in self._keys:
            self._data[k][start:end] = rows[k]
        self._n = end
        return {k: v[:end] for k, v in self._data.items()}


class Request:
    """Something asked of a run's worker (LiveRun.request_weights, request_call), answered later. A page
    never waits for it: it checks `done` on its next run (ui/awaiting.py reruns it when it is)."""

    def __init__(self, timeout_s: float):
        self.deadline = time.monotonic() + timeout_s
        self._answered = threading.Event()
        self._reply: tuple[bool, Any] | None = None

    def _answer(self, reply: tuple[bool, Any]) -> None:
        self._reply = reply
        self._answered.set()

    @property
    def done(self) -> bool:
        """Answered, or past its deadline."""
        return self._answered.is_set() or time.monotonic() >= self.deadline

    def result(self) -> Any:
        """The answer; raises TimeoutError when the worker did not answer in time (or not yet), and
        RuntimeError with the worker's words when it failed."""
        if self._reply is None:
            raise TimeoutError("the training worker did not answer in time; it may be busy or gone")
        ok, value = self._reply
        if not ok:
            raise RuntimeError(value)
        return value

    def wait(self) -> Any:
        """Block until done, then result() (scripts and tests only)."""
        self._answered.wait(max(0.0, self.deadline - time.monotonic()))
        return self.result()
