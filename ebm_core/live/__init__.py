"""A live 2D run: training in its own process, published as immutable snapshots.

The UI never touches the trainer. `LiveRun` (in the server process) sends commands (play, pause,
step, new settings, rollback, stop) down a pipe to a worker process and keeps the newest `Snapshot`
the worker sends back. The worker trains in a process of its own, not a thread, because a Python
thread shares the interpreter lock with the web server and the page scripts: on 2 cores a watched
thread kept under half its headless speed (bench/ui.py). Workers are forked from a small fork server
that has torch imported already, so a new run starts in well under a second and shares torch's
memory with the other runs.

What is trained and shown comes from a task (`_tasks()`; the 2D toy task is in live/toy2d.py). The
worker builds a snapshot only when the page asked for one since the last (an unwatched run trains
at full speed), at most `max_fps` times a second, and refreshes the task's diagnostics (for 2D the
exact log Z, NLL, KL and sampler bias: ~35k energy evaluations) about once a second. Snapshots
carry only the history rows added since the previous one; `LiveRun` stitches them together.

Divergence guard: after every step the worker checks that the loss, the energies and the chains
are finite and bounded. If not, it pauses, explains the likely cause in plain words, and keeps the
last good state (saved every `good_every` healthy steps) for a one-click rollback.

The worker exits on "stop", and on its own when the pipe closes (the server or the session died).
"""

import contextlib
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import os
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ..config import RunConfig
from ..training import StepLog, Trainer, default_device

HISTORY_KEYS = ("step", "time", "loss", "e_pos", "e_neg", "gap", "grad_norm", "acceptance")


@dataclass
class _History:
    rows: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    diag: dict[str, list[float]] = field(default_factory=dict)

    def arrays(self, start: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return ({k: np.asarray(v[start:], dtype=np.float64) for k, v in self.rows.items()},
                {k: np.asarray(v, dtype=np.float64) for k, v in self.diag.items()})




def _tasks() -> dict[str, type]:
    """Kinds of live run by name. A task class takes (cfg, device, opts) and provides setup() ->
    Trainer, diagnostics() -> a frozen dataclass with a `step` field, snapshot(needs, **common) -> a
    frozen dataclass with the common fields (see _Worker._publish) and the optional parts named in
    `needs` (LiveRun.latest), explain_divergence(log) -> str | None,
    apply_settings(cfg) -> cfg, and a static build_model(cfg) -> nn.Module. Methods named call_<name>
    serve LiveRun.call(name, *args); they get a keyword `record` to log any update they make."""
    from .images import ImagesTask
    from .toy2d import Toy2DTask

    return {"toy2d": Toy2DTask, "images": ImagesTask}


_ALIVE: "weakref.WeakSet[LiveRun]" = weakref.WeakSet()


def active_runs() -> int:
    """How many live runs this process is serving now (the page slows its polling as this grows)."""
    return sum(1 for r in list(_ALIVE) if r.thread.is_alive())


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


def _worker_main(conn: multiprocessing.connection.Connection, task: str, cfg: Any, run_id: int, opts: dict) -> None:
    _Worker(conn, _tasks()[task], cfg, run_id, opts).main()


class LiveRun:
    """One session's live run: a worker process plus a thread here that receives its snapshots."""

    def __init__(self, cfg: RunConfig, *, task: str = "toy2d", run_id: int = 0, device: str | None = None,
                 display_n: int = 64,
                 max_fps: float = 12.0, diag_every_s: float = 2.0, good_every: int = 50, n_trails: int = 8,
                 max_train_seconds: float = 20 * 60, name: str = "ebm-trainer", points: np.ndarray | None = None):
        if task not in _tasks():
            raise ValueError(f"unknown task {task!r}; valid: {', '.join(_tasks())}")
        self.cfg, self.task, self.run_id = cfg, task, run_id
        self._opts = dict(device=device, display_n=display_n, max_fps=max_fps, diag_every_s=diag_every_s,
                          good_every=good_every, n_trails=n_trails, max_train_seconds=max_train_seconds,
                          points=points)  # the 2D task's own data when cfg.data.dataset is "custom"
        self._snap: Any = None  # the task's newest snapshot
        self._history: dict[str, np.ndarray] = {k: np.zeros(0) for k in HISTORY_KEYS}
        self._send_lock = threading.Lock()
        self._cmd_seq = 0  # number of the last command sent; the worker's snapshots carry the last it handled
        self._intent_seq, self._intent_running = 0, False  # the last play/pause/step/rollback/call sent
        self._intent_kind = ""
        self._want_sent = False
        self._needs: tuple[str, ...] = ()
        self._reply: list = []  # the worker's answer to the request in flight (copy_model, call)
        self._reply_ready = threading.Event()
        self._request_lock = threading.Lock()
        self.thread = threading.Thread(target=self._receive, name=f"{name}-{run_id}", daemon=True)
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> "LiveRun":
        ctx = _context()
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, self.task, self.cfg, self.run_id, self._opts),
                                   name=self.thread.name, daemon=True)
        _start_without_main(self.process)
        child.close()  # the worker holds the other end; its exit closes the pipe
        self.thread.start()
        _ALIVE.add(self)
        return self

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

    def play(self) -> None:
        self._send("play", running=True)

    def pause(self) -> None:
        self._send("pause", running=False)

    def step_once(self, n: int = 1) -> None:
        self._send("step", n, running=False)

    def update(self, cfg: RunConfig) -> None:
        """New live settings (sampler, lr, alpha, batch size, reinit fraction); others are ignored."""
        self._send("update", cfg)

    def rollback(self) -> None:
        self._send("rollback", running=False)

    def request_stop(self) -> None:
        """Ask the worker to exit; returns at once (safe to call from the server's event loop)."""
        self._send("stop")

    def latest(self) -> Any:
        """The newest snapshot (None before the first); also asks the worker for a fresh one."""
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

    def _request(self, timeout: float, *cmd: Any) -> tuple[bool, Any]:
        """Send cmd and wait for the worker's reply: (answered, value)."""
        with self._request_lock:
            self._reply_ready.clear()
            self._reply.clear()
            self._send(*cmd, running=False if cmd[0] == "call" else None)  # a call pauses training first
            if not self._reply_ready.wait(timeout) or not self._reply:
                return False, None
            return True, self._reply.pop()

    def copy_model(self, timeout: float = 10.0) -> torch.nn.Module | None:
        """A CPU copy of the evaluated weights (EMA if enabled), or None if the worker does not answer."""
        answered, state = self._request(timeout, "model")
        if not answered:
            return None
        model = _tasks()[self.task].build_model(self.cfg)
        model.load_state_dict(state)
        return model.eval().requires_grad_(False)

    def call(self, name: str, *args: Any, timeout: float = 60.0) -> Any:
        """Run the task's `call_<name>(*args)` in the worker between two updates (training pauses
        first) and return its result; raises TimeoutError if the worker does not answer, and
        re-raises the worker's error as RuntimeError."""
        answered, reply = self._request(timeout, "call", name, args)
        if not answered:
            raise TimeoutError(f"the training worker did not answer {name!r} within {timeout:g} s")
        ok, value = reply
        if not ok:
            raise RuntimeError(value)
        return value

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
                self._reply[:] = [payload]
                self._reply_ready.set()
                continue
            start = payload.history_start
            self._history = {k: np.concatenate([self._history[k][:start], payload.history[k]]) for k in HISTORY_KEYS}
            self._snap = replace(payload, history=self._history, history_start=0)
            self._want_sent = False
        self._conn.close()
        if self.process is not None:
            self.process.join(timeout=5)


class _Worker:
    """The training loop of one run, in the worker process (see the module docstring)."""

    def __init__(self, conn: multiprocessing.connection.Connection, task: type, cfg: Any, run_id: int, opts: dict):
        self.conn, self.cfg, self.run_id = conn, cfg, run_id
        self.device = default_device(opts["device"])
        self.task = task(cfg, self.device, opts)
        self.max_fps, self.diag_every_s = opts["max_fps"], opts["diag_every_s"]
        self.good_every, self.max_train_seconds = opts["good_every"], opts["max_train_seconds"]
        self._want, self._stop = True, False
        self._ack = 0  # number of the last command handled (LiveRun.running)
        self._needs: tuple[str, ...] = ()
        self._seq, self._sent = 0, 0

    def main(self) -> None:
        torch.set_num_threads(1)  # many sessions share the CPU: one thread each
        os.nice(5)  # training yields to the web server: pages keep answering clicks under load
        try:
            self._setup()
            self._loop()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass  # the server side went away: nothing left to report to
        except BaseException as e:  # surface to the page instead of dying silently
            self._status, self._message = "stopped", f"Training stopped with an error: {e!r}"
            try:
                self._publish()
            except Exception:
                pass

    def _setup(self) -> None:
        self._status, self._message = "starting", ""
        self.trainer: Trainer = self.task.setup()
        self.history = _History()
        self._diag_at = -math.inf
        self._good = self.trainer.state()
        self._good_step = 0
        self._running, self._pending = False, 0
        self._rate = 0.0
        self._train_seconds = 0.0
        self._status, self._message = "paused", ""
        self._publish()  # the landscape first: a new run (Reset, another dataset) shows at once
        self._refresh_diagnostics()
        self._publish()

    def _loop(self) -> None:
        last_pub = 0.0
        rate_t, rate_n = time.perf_counter(), 0
        while not self._stop:
            changed = self._drain_commands()
            if self._stop:
                break
            busy = self._running or self._pending > 0
            want_frame = False
            if busy:
                # A frame shows the chains of the update just made, so decide before the update: a
                # running run publishes only after an update that recorded its chains.
                want_frame = self._want and time.perf_counter() - last_pub >= 1 / self.max_fps
                t0 = time.perf_counter()
                last_of_steps = not self._running and self._pending == 1
                log = self.trainer.step(record_every=1 if want_frame or last_of_steps or changed else 0)
                self._train_seconds += time.perf_counter() - t0
                rate_n += 1
                self._pending = max(0, self._pending - 1)
                self._record(log)
                reason = self.task.explain_divergence(log)
                if reason:
                    self._running, self._pending = False, 0
                    self._status = "diverged"
                    self._message = reason + f" Training is paused; roll back to step {self._good_step} to continue."
                    changed = True
                elif log.step % self.good_every == 0:
                    self._good, self._good_step = self.trainer.state(), log.step
                if self._running and self._train_seconds > self.max_train_seconds:
                    self._running, changed = False, True
                    self._status = "paused"
                    self._message = (f"Paused after {self.max_train_seconds / 60:.0f} minutes of training so the "
                                     "server stays fair to everyone. Press Train to continue.")
                if self._pending == 0 and not self._running:
                    changed = True  # a Step finished: show its result
            now = time.perf_counter()
            if now - rate_t >= 1.0:
                self._rate, rate_t, rate_n = rate_n / (now - rate_t), now, 0
            if not (self._running or self._pending):
                self._rate = 0.0
            frame_due = want_frame if busy else self._want and now - last_pub >= 1 / self.max_fps
            if changed or frame_due:
                if changed or now - self._diag_at >= self.diag_every_s:
                    self._refresh_diagnostics()
                self._publish()
                last_pub = time.perf_counter()
            if not (self._running or self._pending):
                self.conn.poll(0.25)  # idle: sleep until a command arrives

    def _drain_commands(self) -> bool:
        changed = False
        while self.conn.poll():
            self._ack, cmd = self.conn.recv()
            kind = cmd[0]
            if kind == "want":
                self._want = True
                continue
            if kind == "need":
                self._needs, self._want = cmd[1], True
                continue
            changed = True
            if kind == "stop":
                self._stop = True
                return changed
            if kind == "model":  # weights only: parametrised (spectral norm) modules do not pickle
                state = {k: v.detach().cpu().clone() for k, v in self.trainer.eval_model.state_dict().items()}
                self.conn.send(("reply", state))
            elif kind == "call":
                self._running, self._pending = False, 0
                if self._status == "running":
                    self._status = "paused"
                try:
                    value = getattr(self.task, "call_" + cmd[1])(*cmd[2], record=self._record)
                    self.conn.send(("reply", (True, value)))
                except Exception as e:  # the page shows it; the run goes on
                    self.conn.send(("reply", (False, f"{cmd[1]} failed: {e!r}")))
            elif kind == "play" and self._status != "diverged":
                self._running, self._status, self._message = True, "running", ""
                self._train_seconds = 0.0
            elif kind == "pause" and self._status == "running":
                self._running, self._status = False, "paused"
            elif kind == "step" and self._status != "diverged":
                self._running, self._pending, self._status = False, self._pending + cmd[1], "paused"
            elif kind == "update":
                self.cfg = self.task.apply_settings(cmd[1])
            elif kind == "rollback":
                self.trainer.restore(self._good)
                h = self.history.rows
                keep = sum(1 for s in h["step"] if s <= self._good_step)
                for k in h:
                    del h[k][keep:]
                self._running, self._pending, self._status = False, 0, "paused"
                self._message = (f"Rolled back to step {self._good_step}. Change the setting named above before "
                                 "training again, or it will likely diverge the same way.")
                self._sent = min(self._sent, keep)
        return changed

    def _record(self, log: StepLog) -> None:
        r = self.history.rows
        r["step"].append(log.step)
        r["time"].append(self._train_seconds)
        for k in HISTORY_KEYS[2:]:
            r[k].append(getattr(log, k))

    # ---- snapshots ------------------------------------------------------------------------------

    def _refresh_diagnostics(self) -> None:
        diag = self.task.diagnostics()
        self._diag_at = time.perf_counter()
        d = self.history.diag
        if d.get("step") and d["step"][-1] == diag.step:
            return
        for k, v in asdict(diag).items():
            d.setdefault(k, []).append(v)

    def _publish(self) -> None:
        hist, diag_hist = self.history.arrays(self._sent)
        start, self._sent = self._sent, len(self.history.rows["step"])
        self._want = False
        self._seq += 1
        step = self.trainer.step_count
        snap = self.task.snapshot(
            self._needs,
            seq=self._seq, ack=self._ack, config=self.cfg, status=self._status, message=self._message,
            step=step, steps_per_s=self._rate, device=str(self.device), history=hist, history_start=start,
            diag_history=diag_hist, can_rollback=self._status == "diverged" or step > self._good_step,
            rollback_step=self._good_step,
        )
        self.conn.send(("snap", snap))
