"""The worker side of live runs: training processes that each step many runs in turn.

A server starts about one training process per core (live/pool.py). Each run's pipe is handed to one
of them, which keeps a `_Worker` for it and gives every run one turn (`_Worker.turn`: its commands,
at most one update, a snapshot when due, a save when due) in a round. A class of 30 on 2 cores is
then 2 processes that each run 15 updates one after the other, instead of 30 processes that the
kernel slices mid-update: 30 watched runs without a server made 235-237 updates/s against 168-193
(bench/results/pool_watched.md). Turns are fair in CPU time (share_turns), and a crowded process
sends fewer frames (CROWD_FPS).
A run whose code fails is reported to its page and leaves the process; the other runs go on.
"""

import math
import multiprocessing.connection
import os
import select
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import reduction
from typing import Any

import numpy as np
import torch

from .. import checkpoint, heap
from ..config import flat, restart_settings
from ..training import StepLog, Trainer, default_device
from . import saved
from .recording import Recording, _nbytes, state_every_for
from .share import CpuShare

DIAG_SHARE = 0.05  # the exact diagnostics take at most this share of a run's CPU time (live/share.py)
WATCHED_S = 2.0  # a run whose page asked for a frame this recently publishes after every update (max_fps)
IDLE_WAIT_S = 0.25  # a process with no run training wakes at least this often
OWED_WAIT_S = 0.02  # ... and this often while a snapshot waits for room in its page's pipe
# A process training more than CROWD_RUNS runs at once publishes each at most CROWD_FPS frames a second,
# and gives their extras (exact diagnostics, display grid, saves) CROWD_EXTRAS of their usual CPU share.
# Every frame costs the web server, the page and the worker: with a class of 30 on 2 cores the
# server, the pages and the clients took 0.57 of the cores at about 4 frames a second each, 0.37 at
# 2.4 (bench/results/class.md); frames past CROWD_FPS would come out of the class's training.
CROWD_RUNS, CROWD_FPS, CROWD_EXTRAS = 4, 3.0, 0.5
FAIR_SLACK_S = 0.02  # a training run may be this much CPU time ahead of the one that had least (share_turns)

# Parts of every snapshot that often stay the same object from one snapshot to the next (_unchanged).
STEADY = ("config", "diag_history")
HISTORY_KEYS = ("step", "time", "loss", "e_pos", "e_neg", "gap", "grad_norm", "acceptance")


def task_classes() -> dict[str, type]:
    """Kinds of live run by name. A task class takes (cfg, device, opts) and provides setup() ->
    Trainer, diagnostics() -> a frozen dataclass with a `step` field, snapshot(needs, **common) -> a
    frozen dataclass with the common fields (see _Worker._publish) and the optional parts named in
    `needs` (LiveRun.latest), explain_divergence(log) -> str | None,
    apply_settings(cfg) -> cfg, and a static build_model(cfg) -> nn.Module. Methods named call_<name>
    serve LiveRun.request_call(name, *args); they get a keyword `record` to log any update they make."""
    from .images import ImagesTask
    from .toy2d import Toy2DTask

    return {"toy2d": Toy2DTask, "images": ImagesTask}


@dataclass
class _History:
    rows: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    diag: dict[str, list[float]] = field(default_factory=dict)  # grows only through add_diag
    _diag_arrays: dict[str, np.ndarray] | None = None  # `diag` as arrays, the same object until it grows

    def add_diag(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.diag.setdefault(k, []).append(v)
        self._diag_arrays = None

    def arrays(self, start: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The rows from `start` on, and all diagnostics (the very same dict while they have not grown,
        so a snapshot leaves them out: _Worker._unchanged)."""
        if self._diag_arrays is None:
            self._diag_arrays = {k: np.asarray(v, dtype=np.float64) for k, v in self.diag.items()}
        return {k: np.asarray(v[start:], dtype=np.float64) for k, v in self.rows.items()}, self._diag_arrays


def pool_main(control: multiprocessing.connection.Connection) -> None:
    """A training process: adopts runs sent over `control` ("adopt", (task, cfg, run_id, opts)) followed
    by the run's pipe as a file descriptor) and steps them in turn until told to "exit" or the server
    goes away (then each run saves its state)."""
    torch.set_num_threads(1)  # many runs share the CPU: one thread each
    heap.keep_freed_memory()
    # Training yields to the web server: the scheduler weighs a nice-19 process 15 against the
    # server's 1024, so even a busy training process leaves the server most of a core when a class
    # clicks at once. Alone, or when the server is idle, it still gets all the CPU it can use.
    os.nice(max(0, 19 - os.nice(0)))
    workers: list[_Worker] = []
    rounds = Rounds()
    while True:
        wait = min([w.idle_for() for w in workers], default=IDLE_WAIT_S)
        ready = multiprocessing.connection.wait([control] + [w.conn for w in workers], timeout=wait)
        if control in ready:
            try:
                kind, args = control.recv()
                if kind == "adopt":
                    conn = multiprocessing.connection.Connection(reduction.recv_handle(control))
            except (EOFError, OSError):  # the server is gone: every run keeps its state
                kind = "exit"
            if kind == "exit":
                for w in workers:
                    w.close(save=True)
                return
            try:
                w = _Worker(conn, *args)
            except Exception as e:  # its page sees the pipe close (LiveRun.dead); the other runs go on
                print(f"ebm worker: a run could not be set up: {e!r}", file=sys.stderr)
                conn.close()
                continue
            if w.begin():
                workers.append(w)
        rounds.play(workers)


class Rounds:
    """The rounds of a training process: one turn for each run, in order (`play`)."""

    def __init__(self):
        self.clock = 0.0  # the least CPU time (vtime) among the runs training, as last seen; never decreases

    def play(self, workers: list) -> None:
        """One round; a run that left is taken out of `workers`. A run that starts training joins at
        the clock, at par with the runs training or where the last ones stopped, whatever CPU time it
        had when it paused: two runs starting together start equal."""
        crowded = sum(w.busy for w in workers) > CROWD_RUNS
        floor = share_turns(workers)
        if floor is not None:
            self.clock = max(self.clock, floor)
        for w in list(workers):
            w.crowded, was_training = crowded, w.busy
            if not w.turn():
                workers.remove(w)
            elif w.busy and not was_training:
                w.vtime = self.clock


def share_turns(workers: list) -> float | None:
    """Turns fair in CPU time, not in updates: a training run may update only while it is at most
    FAIR_SLACK_S of CPU ahead of the training run that had least (its `vtime`), so a run of a heavier
    net (an image run's update costs ten 2D updates) makes fewer updates instead of taking the others'
    time. Returns that least (None when no run trains)."""
    floor = min((w.vtime for w in workers if w.busy), default=None)
    for w in workers:
        w.may_update = floor is None or not w.busy or w.vtime <= floor + FAIR_SLACK_S
    return floor


class _Worker:
    """One run in a training process (see the module docstring): `begin` sets it up, then `turn` is
    called once a round until it returns False."""

    def __init__(self, conn: multiprocessing.connection.Connection, task: str, cfg: Any, run_id: int, opts: dict):
        self.conn, self.cfg, self.run_id = conn, cfg, run_id
        self._cpu, self._turn_cpu0 = 0.0, None  # this run's own CPU time (others share the process)
        self.device = default_device(opts["device"])
        self.task_name, self.task = task, task_classes()[task](
            cfg, self.device, {**opts, "cpu_clock": self.cpu_time, "extras_scale": self.extras_scale})
        self.save_path, self.resume_from = opts.get("save_path"), opts.get("resume_from")
        self.start_from = opts.get("start_from")  # a run folder to start from (checkpoint.py)
        self.points = opts.get("points")
        self._saved_key = None
        self._saves = CpuShare(saved.SAVE_EVERY_S, 1 / saved.COST_FACTOR, clock=self.cpu_time,
                               scale=self.extras_scale)
        self._saved_recording, self._recording_saved_at = -1, -math.inf  # Recording.changes when last saved
        self.max_fps, self.diag_every_s = opts["max_fps"], opts["diag_every_s"]
        self.crowded = False  # its process trains more than CROWD_RUNS runs now
        self.vtime, self.may_update = 0.0, True  # its fair turn (share_turns)
        self.good_every, self.max_train_seconds = opts["good_every"], opts["max_train_seconds"]
        self._want, self._stop = True, False
        self._watched_until = -math.inf  # a page asked for a frame less than WATCHED_S ago
        self._ack = 0  # number of the last command handled (LiveRun.running)
        self._needs: tuple[str, ...] = ()
        self._seq, self._sent = 0, 0
        self._steady: dict[str, Any] = {}  # the STEADY parts of the last snapshot sent (_unchanged)
        self._last_pub, self._owed = 0.0, False  # a snapshot waits for room in the pipe (_writable)
        self._frames, self._frames_at = 1.0, time.perf_counter()  # frames a running run may publish now
        self._rate_t, self._rate_n = time.perf_counter(), 0

    def cpu_time(self) -> float:
        """The CPU seconds this run's turns have taken so far (its extras' share is of this: share.py)."""
        running = time.process_time() - self._turn_cpu0 if self._turn_cpu0 is not None else 0.0
        return self._cpu + running

    @property
    def fps(self) -> float:
        """Frames a second it publishes while watched: fewer when its process is crowded."""
        return min(self.max_fps, CROWD_FPS) if self.crowded else self.max_fps

    def extras_scale(self) -> float:
        """What its extras' CPU shares are multiplied by now (live/share.py)."""
        return CROWD_EXTRAS if self.crowded else 1.0

    @property
    def busy(self) -> bool:
        return self._running or self._pending > 0

    def idle_for(self) -> float:
        """How long the process may wait for a command before this run's next turn (0 while it trains)."""
        if self.busy:
            return 0.0
        if self._owed:  # its page's pipe is full: look again soon
            return OWED_WAIT_S
        if self._want:
            return max(0.0, self._last_pub + 1 / self.fps - time.perf_counter())
        return IDLE_WAIT_S

    def begin(self) -> bool:
        """Set the run up and publish its first snapshots; False when that failed (the page is told)."""
        return self._guarded(self._setup)

    def turn(self) -> bool:
        """One turn of the run; False once it has left (asked to stop, its page gone, an error)."""
        self._turn_cpu0 = time.process_time()
        try:
            return self._guarded(self._tick)
        finally:
            spent = time.process_time() - self._turn_cpu0
            self._cpu += spent
            self.vtime += spent
            self._turn_cpu0 = None

    def _guarded(self, fn) -> bool:
        try:
            if fn() is not False:
                return True
            self.close(save=True)
        except (EOFError, BrokenPipeError, ConnectionResetError):  # the page went away: keep the state
            self.close(save=True)
        except Exception as e:  # surface to the page instead of dying silently; the other runs go on
            self._status, self._message = "stopped", f"Training stopped with an error: {e!r}"
            try:
                self._publish()
            except Exception:
                pass
            self.close(save=False)
        return False

    def close(self, save: bool) -> None:
        """Leave the process: save the state (when asked and set up), then close the pipe (the page's
        LiveRun sees it end)."""
        if save and hasattr(self, "trainer"):
            try:
                self._save(force=True)
            except Exception as e:
                print(f"ebm worker: could not save run {self.run_id}: {e!r}", file=sys.stderr)
        self.conn.close()

    def _setup(self) -> None:
        self._status, self._message = "starting", ""
        self.trainer: Trainer = self.task.setup()
        self.history = _History()
        self._diag = CpuShare(self.diag_every_s, DIAG_SHARE, clock=self.cpu_time, scale=self.extras_scale)
        self._good = self.trainer.state()
        self._good_step = 0
        self._running, self._pending = False, 0
        self._rate = 0.0
        self._train_seconds = 0.0
        self._status, self._message = "paused", ""
        self.recording = Recording(state_every=state_every_for(_nbytes(self._good)))
        if self.resume_from:
            self._resume()
        elif self.start_from:
            self._start_from_folder()
        meta = getattr(self.task, "recording_meta", None)
        if meta is not None:
            self.recording.meta = meta()
        self._record_frame()
        self._publish()  # the landscape first: a new run (Reset, another dataset) shows at once
        self._refresh_diagnostics()
        self._publish()

    def _resume(self) -> None:
        """Carry on from the saved state at resume_from (weights, optimiser, buffer, step, curves)."""
        data = saved.read(self.resume_from, self.task_name)
        if data is None:
            self._message = "The saved state of this run could not be read, so it starts again from step 0."
            return
        differ = [k for k in restart_settings(type(self.cfg)) if data["config"].get(k) != flat(self.cfg)[k]]
        if differ:
            self._message = (f"The saved run had other settings ({', '.join(differ)}), so this one starts from "
                             "step 0.")
            return
        try:
            self.trainer.restore(data["state"])
        except Exception as e:  # a file of another network shape: start afresh, and say so
            self._message = f"The saved state of this run does not fit its network ({e}); it starts from step 0."
            return
        self.history = _History(rows={k: list(data["history"].get(k, [])) for k in HISTORY_KEYS},
                                diag={k: list(v) for k, v in data["diag"].items()})
        self._train_seconds = float(data["train_seconds"])
        self._take_recording(data.get("recording"))
        self._good, self._good_step = self.trainer.state(), self.trainer.step_count
        self._saved_key = (self.trainer.step_count, hash(self.cfg))
        self._buffer_as_negatives()
        ago = max(0.0, time.time() - float(data["saved_at"]))
        self._message = (f"Resumed at step {self.trainer.step_count:,}, from the state saved {ago:.0f} s earlier. "
                         "Press Train to go on.")

    def _start_from_folder(self) -> None:
        """Start from a run folder (a ready model, a run folder the user uploaded): its trainer state
        when it has one (training goes on exactly where it stopped), else its weights; its metrics
        become the curves' history. A folder that does not fit this run changes nothing and says why."""
        path, name = self.start_from["path"], self.start_from.get("name", "the run folder")
        try:
            model, cfg = checkpoint.load_run(path)
            differ = [k for k in restart_settings(type(self.cfg)) if flat(cfg)[k] != flat(self.cfg)[k]]
            if differ:
                raise checkpoint.NotARunError(f"it was trained with other settings ({', '.join(differ)})")
            if checkpoint.has_trainer(path):
                checkpoint.load_trainer(path, self.trainer, cfg)
            else:
                for net in (self.trainer.model, self.trainer.ema):
                    if net is not None:
                        net.load_state_dict(model.state_dict())
            rows = checkpoint.read_metrics(path)
            recorded = checkpoint.read_recording(path)
        except (checkpoint.NotARunError, OSError, ValueError, RuntimeError) as e:
            self._message = f"{name} could not be loaded ({e}), so this run starts from step 0."
            return
        history = {k: [] for k in HISTORY_KEYS}
        for row in rows:
            try:
                values = {k: float(row[k]) for k in HISTORY_KEYS}
            except (KeyError, TypeError, ValueError):
                continue
            if values["step"] <= self.trainer.step_count:
                for k in HISTORY_KEYS:
                    history[k].append(int(values[k]) if k == "step" else values[k])
        self.history.rows = history
        self._take_recording(recorded)
        self._train_seconds = history["time"][-1] if history["time"] else 0.0
        self._buffer_as_negatives()
        self._good, self._good_step = self.trainer.state(), self.trainer.step_count
        self._message = (f"Loaded {name} at step {self.trainer.step_count:,}. Press Train to go on training it.")

    def _take_recording(self, arrays: dict | None) -> None:
        """The frames recorded before this run was saved (its saved state, a run folder), up to its step."""
        if not arrays or "step" not in arrays:
            return
        keep = np.asarray(arrays["step"]) <= self.trainer.step_count
        try:
            self.recording.add_stacked({k: (np.asarray(v)[keep] if not k.startswith("meta_") else np.asarray(v))
                                        for k, v in arrays.items()})
        except (ValueError, IndexError, TypeError) as e:  # the run goes on without its past frames
            self.recording.frames.clear()
            print(f"ebm worker: the saved recording could not be read back: {e!r}", file=sys.stderr)

    def _buffer_as_negatives(self) -> None:
        """After loading a state, until the next update: the replay buffer's chains stand for the last
        negatives (else the page would show noise, as for an untrained run)."""
        if self.trainer.buffer is not None:
            self.trainer.last_x_neg = self.trainer.buffer.x[: self.trainer.cfg.batch_size].clone()

    def _save(self, force: bool = False) -> None:
        """Write the run's state when it changed: at once when force (training stopped), else at most
        every SAVE_EVERY_S (and every COST_FACTOR times what a save costs)."""
        key = (self.trainer.step_count, hash(self.cfg))
        if not self.save_path or key == self._saved_key or self._status == "diverged":
            return  # a diverged state is never saved: the file keeps the last healthy one
        if not force and not self._saves.due(time.perf_counter()):
            return
        cpu = self._saves.start()
        now = time.perf_counter()
        with_recording = self.recording.changes != self._saved_recording and (
            force or now - self._recording_saved_at >= saved.RECORDING_EVERY_S)
        try:
            saved.write(self.save_path, self.task_name, flat(self.cfg), self.trainer.state(), self.history.rows,
                        self.history.diag, self._train_seconds, self.points,
                        recording=self.recording.stacked() if with_recording else None)
            if with_recording:
                self._saved_recording, self._recording_saved_at = self.recording.changes, now
        except (OSError, RuntimeError) as e:  # a full disk must not stop training; try again later
            print(f"ebm worker: could not save the run to {self.save_path}: {e!r}", file=sys.stderr)
        self._saves.done(cpu)
        self._saved_key = key

    def _tick(self) -> bool:
        """Commands, at most one update, a snapshot when one is due or owed, a save when due; False
        once asked to stop."""
        changed = self._drain_commands()
        if self._stop:
            return False
        training, want_frame = self.busy, False
        if training and self.may_update:  # (else it waits for its fair turn: share_turns)
            # A frame shows the chains of the update just made, so decide before the update: a
            # running run publishes only after an update that recorded its chains. A watched
            # run does so without waiting to be asked again: on a busy server an update outlasts
            # a page's request for the next frame, and waiting for it lost every other frame.
            # Frames are counted out at `fps` a second on average (a credit, not a least interval: a
            # run making 4.6 updates a second would otherwise publish every other one, 2.3 a second).
            now = time.perf_counter()
            self._frames = min(2.0, self._frames + (now - self._frames_at) * self.fps)
            self._frames_at = now
            want_frame = (self._want or now < self._watched_until) and self._frames >= 1
            changed = self._update(record=want_frame or changed) or changed
            self._rate_n += 1
        now = time.perf_counter()
        if now - self._rate_t >= 1.0:
            self._rate, self._rate_t, self._rate_n = self._rate_n / (now - self._rate_t), now, 0
        if not self.busy:
            self._rate = 0.0
        frame_due = want_frame if training else self._want and now - self._last_pub >= 1 / self.fps
        if changed or frame_due or self._owed:
            if changed or self._diag.due(now):
                self._refresh_diagnostics()
            # A page whose server is slow to read leaves its pipe full; sending then would hold up
            # every run of this process, so the snapshot waits (owed) until there is room.
            self._owed = not self._writable()
            if not self._owed:
                self._publish()
                self._last_pub = time.perf_counter()
                self._frames = max(0.0, self._frames - 1)
        self._save(force=not self.busy)
        return True

    def _writable(self) -> bool:
        """Whether the pipe to the page has room for a snapshot without blocking."""
        _, writable, _ = select.select([], [self.conn], [], 0)
        return bool(writable)

    def _update(self, record: bool) -> bool:
        """One training update (recording its chains when asked, or when it ends a Step), with the
        divergence guard and the time limit; True when the page should be told at once."""
        changed = False
        t0 = time.perf_counter()
        last_of_steps = not self._running and self._pending == 1
        recorded = self.recording.due(self.trainer.step_count + 1)  # its frame shows the chains' trails
        log = self.trainer.step(record_every=1 if record or last_of_steps or recorded else 0)
        self._train_seconds += time.perf_counter() - t0
        self._pending = max(0, self._pending - 1)
        self._record(log)
        reason = self.task.explain_divergence(log)
        if not reason and self.recording.due(log.step):
            self._record_frame()
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
        return changed

    def _record_frame(self) -> None:
        """Keep the run now in its recording (tasks without frames keep none)."""
        frame = getattr(self.task, "frame_record", None)
        step = self.trainer.step_count
        if frame is not None:
            self.recording.add(step, frame(), self.trainer.state() if self.recording.keeps_state(step) else None)

    def _cut_history(self, step: int) -> None:
        """Forget the curves and the recording after `step` (training goes on from there)."""
        h = self.history.rows
        keep = sum(1 for s in h["step"] if s <= step)
        for k in h:
            del h[k][keep:]
        self.recording.truncate(step)
        self._sent = min(self._sent, keep)

    def _drain_commands(self) -> bool:
        changed = False
        while self.conn.poll():
            self._ack, cmd = self.conn.recv()
            kind = cmd[0]
            if kind == "want":
                self._want, self._watched_until = True, time.perf_counter() + WATCHED_S
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
                self.conn.send(("reply", (self._ack, (True, (self.trainer.step_count, state)))))
            elif kind == "call":
                self._running, self._pending = False, 0
                if self._status == "running":
                    self._status = "paused"
                try:
                    value = getattr(self.task, "call_" + cmd[1])(*cmd[2], record=self._record)
                    self.conn.send(("reply", (self._ack, (True, value))))
                except Exception as e:  # the page shows it; the run goes on
                    self.conn.send(("reply", (self._ack, (False, f"{cmd[1]} failed: {e!r}"))))
            elif kind == "play" and self._status != "diverged":
                self._running, self._status, self._message = True, "running", ""
                self._train_seconds = 0.0
                self._rate_t, self._rate_n = time.perf_counter(), 0  # measured from here (0 until a second has passed)
            elif kind == "pause" and self._status == "running":
                self._running, self._status = False, "paused"
            elif kind == "step" and self._status != "diverged":
                self._running, self._pending, self._status = False, self._pending + cmd[1], "paused"
            elif kind == "update":
                self.cfg = self.task.apply_settings(cmd[1])
            elif kind == "rollback":
                self.trainer.restore(self._good)
                self._cut_history(self._good_step)
                self._running, self._pending, self._status = False, 0, "paused"
                self._message = (f"Rolled back to step {self._good_step}. Change the setting named above before "
                                 "training again, or it will likely diverge the same way.")
            elif kind == "frame":  # a recorded frame, for rewinding: (step, frame), or None when not kept
                step = cmd[1]
                frame = self.recording.frames.get(step)
                self.conn.send(("reply", (self._ack, (True, None if frame is None else (step, frame)))))
            elif kind == "recording":  # all frames, as arrays (recording.stacked), for an export
                self.conn.send(("reply", (self._ack, (True, self.recording.stacked()))))
            elif kind == "rewind" and cmd[1] in self.recording.states:  # roll back to a recorded step
                step = cmd[1]
                self.trainer.restore(self.recording.states[step])
                self._cut_history(step)
                self._good, self._good_step = self.trainer.state(), step
                self._running, self._pending, self._status = False, 0, "paused"
                self._message = f"Rolled back to step {step:,} of the recording. Press Train to go on from there."
            elif kind == "rewind":  # its state was thinned out of the recording since the page drew the button
                self._message = f"Step {cmd[1]:,} is no longer kept in the recording; pick another step."
        return changed

    def _record(self, log: StepLog) -> None:
        r = self.history.rows
        r["step"].append(log.step)
        r["time"].append(self._train_seconds)
        for k in HISTORY_KEYS[2:]:
            r[k].append(getattr(log, k))

    # ---- snapshots ------------------------------------------------------------------------------

    def _refresh_diagnostics(self) -> None:
        cpu = self._diag.start()
        diag = self.task.diagnostics()
        self._diag.done(cpu)
        d = self.history.diag
        if d.get("step") and d["step"][-1] == diag.step:
            return
        self.history.add_diag(asdict(diag))

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
            rollback_step=self._good_step, recorded=self.recording.steps, kept=self.recording.kept,
        )
        self.conn.send(("snap", self._unchanged(snap)))

    def _unchanged(self, snap: Any) -> tuple[Any, tuple[str, ...]]:
        """The snapshot without its parts that are the very objects sent last time (STEADY, and the
        task's snapshot class's STEADY), set to None, and their names: the page's LiveRun keeps its
        own copy. A 2D snapshot is then about 7 KB instead of 27 KB (the display grid changes a few
        times a second at most, the data points never), which the web server unpickles 90 times a
        second for a class."""
        names = STEADY + getattr(snap, "STEADY", ())
        same = tuple(k for k in names if getattr(snap, k) is self._steady.get(k))
        self._steady = {k: getattr(snap, k) for k in names}
        return (replace(snap, **dict.fromkeys(same)) if same else snap), same
