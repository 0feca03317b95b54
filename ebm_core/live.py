"""A live 2D run: training in its own process, published as immutable snapshots.

The UI never touches the trainer. `LiveRun` (in the server process) sends commands (play, pause,
step, new settings, rollback, stop) down a pipe to a worker process and keeps the newest `Snapshot`
the worker sends back. The worker trains in a process of its own, not a thread, because a Python
thread shares the interpreter lock with the web server and the page scripts: on 2 cores a watched
thread kept under half its headless speed (bench/ui.py). Workers are forked from a small fork server
that has torch imported already, so a new run starts in well under a second and shares torch's
memory with the other runs.

The worker builds a snapshot only when the page asked for one since the last (an unwatched run
trains at full speed), at most `max_fps` times a second, and refreshes the exact diagnostics (log Z,
NLL, KL, sampler bias; ~35k energy evaluations) about once a second. Snapshots carry only the
history rows added since the previous one; `LiveRun` stitches them together.

Divergence guard: after every step the worker checks that the loss, the energies and the chains
are finite and bounded. If not, it pauses, explains the likely cause in plain words, and keeps the
last good state (saved every `good_every` healthy steps) for a one-click rollback.

The worker exits on "stop", and on its own when the pipe closes (the server or the session died).
"""

import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from . import density, toy2d
from .config import RunConfig
from .samplers import energy_and_grad
from .training import StepLog, Trainer, default_device, make_trainer_2d

HISTORY_KEYS = ("step", "time", "loss", "e_pos", "e_neg", "gap", "grad_norm", "acceptance")
DIAG_KEYS = ("step", "kl", "nll", "log_z", "bias", "mass_outside")
ENERGY_LIMIT = 1e4  # |mean energy| beyond this counts as exploding


@dataclass(frozen=True)
class Diagnostics:
    """Exact numbers from the grid, for the weights at `step`."""

    step: int
    log_z: float
    kl: float
    nll: float
    bias: float
    mass_outside: float


@dataclass(frozen=True)
class Snapshot:
    """Everything the page draws, as numpy copies; never mutated after publishing."""

    run_id: int
    seq: int  # increases with every published snapshot
    config: RunConfig
    status: str  # "starting" | "paused" | "running" | "diverged" | "stopped"
    message: str
    step: int
    steps_per_s: float
    device: str
    extent: float
    energy: np.ndarray  # (n, n) float32 energy of the evaluated weights on the display grid
    log_z_display: float  # log Z for turning `energy` into a normalised density
    density_max: float  # max of the data density: a fixed colour scale for density views
    x_data: np.ndarray  # (N, 2) float32 a fixed data sample
    x_pos: np.ndarray  # (B, 2) the last batch of data
    x_neg: np.ndarray  # (B, 2) the last negatives
    trails: np.ndarray  # (C, T, 2) a few chains of the last update, start to end
    field: np.ndarray  # (F, 4) x, y, -dE/dx, -dE/dy on a coarse grid
    history: dict[str, np.ndarray]  # per step: HISTORY_KEYS (from the worker: rows from history_start on)
    diag_history: dict[str, np.ndarray]  # per diagnostics refresh: DIAG_KEYS
    diagnostics: Diagnostics | None
    data_entropy: float
    can_rollback: bool
    rollback_step: int
    history_start: int = 0  # index of the first history row carried


@dataclass
class _History:
    rows: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    diag: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in DIAG_KEYS})

    def arrays(self, start: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return ({k: np.asarray(v[start:], dtype=np.float64) for k, v in self.rows.items()},
                {k: np.asarray(v, dtype=np.float64) for k, v in self.diag.items()})


_DATA_CACHE: dict[tuple[str, int], density.DataDensity] = {}
_DATA_LOCK = threading.Lock()


def data_density_for(name: str, grid: density.Grid) -> density.DataDensity:
    """The exact data density on a grid, computed once per (dataset, grid size) per process."""
    key = (name, grid.n)
    with _DATA_LOCK:
        if key not in _DATA_CACHE:
            _DATA_CACHE[key] = density.data_density(toy2d.get(name).log_density, grid)
        return _DATA_CACHE[key]


def explain_divergence(log: StepLog, x_neg: torch.Tensor, extent: float, cfg: RunConfig) -> str | None:
    """None when the step looks healthy, else a plain-language reason naming the likely setting."""
    s, t = cfg.sampler, cfg.train
    chains_ok = bool(torch.isfinite(x_neg).all())
    far = float((x_neg.abs() > 10 * extent).any(dim=1).float().mean()) if chains_ok else 1.0
    if not chains_ok or far > 0.5:
        return (f"The Langevin chains exploded: they flew far outside the box (step size {s.step_size:g}, "
                f"{s.n_steps} steps). Each step overshot the valley it aimed for. Lower the step size "
                "(try half), or set a gradient clip.")
    if not log.finite or not (math.isfinite(log.e_pos) and math.isfinite(log.e_neg)):
        return (f"The weights stopped being finite numbers (learning rate {t.lr:g}). Updates were too big "
                "for the network. Lower the learning rate, or raise alpha to keep energies bounded.")
    if max(abs(log.e_pos), abs(log.e_neg)) > ENERGY_LIMIT:
        return (f"The energies ran away (mean E of data {log.e_pos:.3g}, of negatives {log.e_neg:.3g}). "
                f"Raise alpha (now {t.alpha:g}) so energies stay near zero, or lower the learning rate.")
    return None


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
                _CONTEXT.set_forkserver_preload(["ebm_core._worker_preload"])
            else:
                _CONTEXT = multiprocessing.get_context("spawn")
        return _CONTEXT


def _start_without_main(process: multiprocessing.process.BaseProcess) -> None:
    """Start a worker without re-running the parent's __main__ in it. Under Streamlit, __main__ is
    the page script itself, and multiprocessing would execute it again in the child. The worker only
    needs ebm_core, so the main-module entries are dropped from the start-up data."""
    original = multiprocessing.spawn.get_preparation_data

    def without_main(name: str) -> dict:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    with _CONTEXT_LOCK:
        multiprocessing.spawn.get_preparation_data = without_main
        try:
            process.start()
        finally:
            multiprocessing.spawn.get_preparation_data = original


def _worker_main(conn: multiprocessing.connection.Connection, cfg: RunConfig, run_id: int, opts: dict) -> None:
    _Worker(conn, cfg, run_id, opts).main()


class LiveRun:
    """One session's live run: a worker process plus a thread here that receives its snapshots."""

    def __init__(self, cfg: RunConfig, *, run_id: int = 0, device: str | None = None, display_n: int = 64,
                 max_fps: float = 12.0, diag_every_s: float = 1.0, good_every: int = 50, n_trails: int = 8,
                 max_train_seconds: float = 20 * 60, name: str = "ebm-trainer"):
        self.cfg, self.run_id = cfg, run_id
        self._opts = dict(device=device, display_n=display_n, max_fps=max_fps, diag_every_s=diag_every_s,
                          good_every=good_every, n_trails=n_trails, max_train_seconds=max_train_seconds)
        self._snap: Snapshot | None = None
        self._history: dict[str, np.ndarray] = {k: np.zeros(0) for k in HISTORY_KEYS}
        self._send_lock = threading.Lock()
        self._want_sent = False
        self._stopping = False
        self._model_reply: list = []
        self._model_ready = threading.Event()
        self.thread = threading.Thread(target=self._receive, name=f"{name}-{run_id}", daemon=True)
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> "LiveRun":
        ctx = _context()
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, self.cfg, self.run_id, self._opts),
                                   name=self.thread.name, daemon=True)
        _start_without_main(self.process)
        child.close()  # the worker holds the other end; its exit closes the pipe
        self.thread.start()
        return self

    # ---- commands (any thread; never block) -----------------------------------------------------

    def _send(self, *cmd: Any) -> None:
        try:
            with self._send_lock:
                self._conn.send(cmd)
        except (OSError, ValueError):
            pass  # the worker is gone; the page shows the last snapshot

    def play(self) -> None:
        self._send("play")

    def pause(self) -> None:
        self._send("pause")

    def step_once(self, n: int = 1) -> None:
        self._send("step", n)

    def update(self, cfg: RunConfig) -> None:
        """New live settings (sampler, lr, alpha, batch size, reinit fraction); others are ignored."""
        self._send("update", cfg)

    def rollback(self) -> None:
        self._send("rollback")

    def request_stop(self) -> None:
        """Ask the worker to exit; returns at once (safe to call from the server's event loop)."""
        self._stopping = True
        self._send("stop")

    def latest(self) -> Snapshot | None:
        """The newest snapshot (None before the first); also asks the worker for a fresh one."""
        if not self._want_sent:
            self._want_sent = True
            self._send("want")
        return self._snap

    def copy_model(self, timeout: float = 10.0) -> torch.nn.Module | None:
        """A CPU copy of the evaluated weights (EMA if enabled), or None if the worker does not answer."""
        self._model_ready.clear()
        self._send("model")
        if not self._model_ready.wait(timeout) or not self._model_reply:
            return None
        from .checkpoint import build_model_2d

        model = build_model_2d(self.cfg)
        model.load_state_dict(self._model_reply.pop())
        return model.eval().requires_grad_(False)

    def wait_for(self, predicate, timeout: float = 60.0) -> Snapshot:
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
            if kind == "model":
                self._model_reply[:] = [payload]
                self._model_ready.set()
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

    def __init__(self, conn: multiprocessing.connection.Connection, cfg: RunConfig, run_id: int, opts: dict):
        self.conn, self.cfg, self.run_id = conn, cfg, run_id
        self.device = default_device(opts["device"])
        self.display_n, self.max_fps, self.diag_every_s = opts["display_n"], opts["max_fps"], opts["diag_every_s"]
        self.good_every, self.n_trails = opts["good_every"], opts["n_trails"]
        self.max_train_seconds = opts["max_train_seconds"]
        self.extent = toy2d.extent(cfg.data.dataset)
        self._want, self._stop = True, False
        self._seq, self._sent = 0, 0

    def main(self) -> None:
        torch.set_num_threads(1)  # many sessions share the CPU (see STREAMLIT_NOTES §6)
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
        self.trainer: Trainer = make_trainer_2d(self.cfg, device=self.device)
        ds = toy2d.get(self.cfg.data.dataset)
        self.grid = density.make_grid(ds.extent, 128)
        self.display_grid = density.make_grid(ds.extent, self.display_n)
        self.data = data_density_for(ds.name, self.grid)
        g = torch.Generator().manual_seed(self.cfg.train.seed + 999)
        self.x_data = ds.sample(512, generator=g).float()
        self.x_test = ds.sample(2000, generator=g).float()
        xs = torch.linspace(-ds.extent, ds.extent, 17)[1:-1]
        yy, xx = torch.meshgrid(xs, xs, indexing="ij")
        self.field_points = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)  # (225, 2)
        self.history = _History()
        self.diag: Diagnostics | None = None
        self._diag_at = -math.inf
        self._good = self.trainer.state()
        self._good_step = 0
        self._running, self._pending = False, 0
        self._rate = 0.0
        self._train_seconds = 0.0
        self._status, self._message = "paused", ""
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
            if busy:
                want_frame = self._want and time.perf_counter() - last_pub >= 1 / self.max_fps
                t0 = time.perf_counter()
                last_of_steps = not self._running and self._pending == 1
                log = self.trainer.step(record_every=1 if want_frame or last_of_steps else 0)
                self._train_seconds += time.perf_counter() - t0
                rate_n += 1
                self._pending = max(0, self._pending - 1)
                self._record(log)
                reason = explain_divergence(log, self.trainer.last_x_neg, self.extent, self.cfg)
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
            if (self._want or changed) and (changed or now - last_pub >= 1 / self.max_fps):
                if changed or now - self._diag_at >= self.diag_every_s:
                    self._refresh_diagnostics()
                self._publish()
                last_pub = time.perf_counter()
            if not (self._running or self._pending):
                self.conn.poll(0.25)  # idle: sleep until a command arrives

    def _drain_commands(self) -> bool:
        changed = False
        while self.conn.poll():
            cmd = self.conn.recv()
            kind = cmd[0]
            if kind == "want":
                self._want = True
                continue
            changed = True
            if kind == "stop":
                self._stop = True
                return changed
            if kind == "model":  # weights only: parametrised (spectral norm) modules do not pickle
                state = {k: v.detach().cpu().clone() for k, v in self.trainer.eval_model.state_dict().items()}
                self.conn.send(("model", state))
            elif kind == "play" and self._status != "diverged":
                self._running, self._status, self._message = True, "running", ""
                self._train_seconds = 0.0
            elif kind == "pause" and self._status == "running":
                self._running, self._status = False, "paused"
            elif kind == "step" and self._status != "diverged":
                self._running, self._pending, self._status = False, self._pending + cmd[1], "paused"
            elif kind == "update":
                self._apply_settings(cmd[1])
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

    def _apply_settings(self, cfg: RunConfig) -> None:
        t = replace(self.cfg.train, lr=cfg.train.lr, alpha=cfg.train.alpha, batch_size=cfg.train.batch_size,
                    reinit_frac=cfg.train.reinit_frac)
        self.cfg = replace(self.cfg, sampler=cfg.sampler, train=t)
        self.trainer.set_sampler(cfg.sampler)
        self.trainer.set_train(t)

    def _record(self, log: StepLog) -> None:
        r = self.history.rows
        r["step"].append(log.step)
        r["time"].append(self._train_seconds)
        for k in HISTORY_KEYS[2:]:
            r[k].append(getattr(log, k))

    # ---- snapshots ------------------------------------------------------------------------------

    def _refresh_diagnostics(self) -> None:
        model = self.trainer.eval_model
        gd = density.grid_density(model, self.grid)
        x_neg = self.trainer.buffer.x if self.trainer.buffer is not None else self.trainer.last_x_neg
        bias = density.sampler_bias(x_neg, gd, self.grid) if x_neg is not None else float("nan")
        nll = density.nll(model, self.x_test, gd.log_z) if gd.finite else float("nan")
        self.diag = Diagnostics(self.trainer.step_count, gd.log_z, density.kl_data_model(self.data, gd), nll, bias,
                                gd.mass_outside)
        self._diag_at = time.perf_counter()
        d = self.history.diag
        if d["step"] and d["step"][-1] == self.diag.step:
            return
        for k in DIAG_KEYS:
            d[k].append(getattr(self.diag, k))

    def _publish(self) -> None:
        tr = self.trainer
        model = tr.eval_model
        e = density.evaluate(model, self.display_grid.points).view(self.display_n, self.display_n)
        outside = self.diag.mass_outside if self.diag and math.isfinite(self.diag.mass_outside) else 0.0
        log_inner = float(torch.logsumexp(-e.flatten(), 0)) + math.log(self.display_grid.cell_area)
        log_z_display = log_inner - math.log(max(1e-12, 1 - outside))
        x_neg = tr.last_x_neg if tr.last_x_neg is not None else tr.noise(256, tr.generator)
        x_pos = tr.last_x_pos if tr.last_x_pos is not None else self.x_data[:256]
        traj = tr.last_trajectory
        trails = (traj[:, : self.n_trails].transpose(0, 1) if traj is not None and len(traj)
                  else torch.zeros(0, 0, 2))
        _, f_g = energy_and_grad(model, self.field_points.to(self.device))
        field = torch.cat([self.field_points, -f_g.cpu()], 1)  # (F, 4)
        hist, diag_hist = self.history.arrays(self._sent)
        start, self._sent = self._sent, len(self.history.rows["step"])
        self._want = False
        self._seq += 1
        snap = Snapshot(
            run_id=self.run_id, seq=self._seq, config=self.cfg, status=self._status, message=self._message,
            step=tr.step_count, steps_per_s=self._rate, device=str(self.device), extent=self.extent,
            energy=e.float().numpy(), log_z_display=log_z_display,
            density_max=float(self.data.prob.max() / self.grid.cell_area),
            x_data=self.x_data.numpy(), x_pos=_np(x_pos), x_neg=_np(x_neg), trails=_np(trails), field=_np(field),
            history=hist, diag_history=diag_hist, diagnostics=self.diag, data_entropy=self.data.entropy,
            can_rollback=self._status == "diverged" or tr.step_count > self._good_step, rollback_step=self._good_step,
            history_start=start,
        )
        self.conn.send(("snap", snap))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()

