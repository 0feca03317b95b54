"""The server's training processes: about one per core, each stepping many live runs in turn.

A run's pipe is handed (as a file descriptor, over the process's control pipe) to the training
process with the fewest runs; a new process is started while there are fewer than `size` and every
one already has a run. A process left without runs for IDLE_EXIT_S exits, so an idle server holds no
training memory; one that died (killed, out of memory) is replaced at the next run, and its runs see
their pipes close (LiveRun.dead) and resume from their saved state like any run whose worker died.
"""

import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing import reduction
from typing import Any

from .slots import count_from_env, usable_cores
from .worker import pool_main

IDLE_EXIT_S = 10.0  # a training process without runs for this long exits


def default_size(cores: int | None = None) -> int:
    """One training process per core; EBM_TRAINING_PROCESSES overrides it."""
    size = count_from_env("EBM_TRAINING_PROCESSES", "processes")
    return size if size is not None else max(1, cores or usable_cores())


class TrainingProcess:
    """One training process and the runs it steps (the server's view of it)."""

    def __init__(self, ctx: Any, start: Callable[[Any], None]):
        self.control, child = ctx.Pipe()
        self.process = ctx.Process(target=pool_main, args=(child,), name="ebm-training", daemon=True)
        start(self.process)
        child.close()
        self.runs: weakref.WeakSet[Any] = weakref.WeakSet()
        self.empty_since = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()


class Pool:
    """Hands live runs to at most `size` training processes (see the module docstring)."""

    def __init__(self, size: int, ctx: Any, start: Callable[[Any], None], idle_exit_s: float = IDLE_EXIT_S):
        self.size, self.idle_exit_s = size, idle_exit_s
        self._ctx, self._start = ctx, start
        self._lock = threading.Lock()
        self._procs: list[TrainingProcess] = []

    def processes(self) -> list[TrainingProcess]:
        """The training processes alive now."""
        with self._lock:
            return [p for p in self._procs if p.alive()]

    def adopt(self, run: Any, conn: Any, args: tuple) -> TrainingProcess:
        """Hand the run's end of its pipe, `conn`, to a training process, with the worker's arguments
        (task, cfg, run_id, opts); returns that process. The caller then closes its copy of `conn`.
        Never waits on training: a process busy with an update reads it at its next round."""
        with self._lock:
            self._procs = [p for p in self._procs if p.alive()]
            proc = min(self._procs, key=lambda p: len(p.runs), default=None)
            if proc is None or (len(proc.runs) and len(self._procs) < self.size):
                proc = TrainingProcess(self._ctx, self._start)
                self._procs.append(proc)
            proc.runs.add(run)
            try:
                proc.control.send(("adopt", args))
                reduction.send_handle(proc.control, conn.fileno(), proc.pid)
            except (OSError, ValueError):
                pass  # it died this instant: the run's pipe closes with the caller's copy, and the page is told
            return proc

    def released(self, run: Any, proc: TrainingProcess) -> None:
        """The run left its process (stopped, its page gone, or the process died). A process left
        without runs exits after idle_exit_s unless a run comes first."""
        with self._lock:
            proc.runs.discard(run)
            if len(proc.runs) or proc not in self._procs:
                return
            proc.empty_since = since = time.monotonic()
        timer = threading.Timer(self.idle_exit_s, self._retire, args=(proc, since))
        timer.daemon = True
        timer.start()

    def _retire(self, proc: TrainingProcess, since: float) -> None:
        with self._lock:
            if len(proc.runs) or proc.empty_since != since or proc not in self._procs:
                return  # a run came (or went again) meanwhile
            self._procs.remove(proc)
            try:
                proc.control.send(("exit", None))
            except (OSError, ValueError):
                pass
        proc.process.join(timeout=10)
        proc.control.close()
