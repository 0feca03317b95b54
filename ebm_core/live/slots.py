"""How many runs of one server process train at once, and the queue past that number.

On a shared server every training run takes a slice of the same cores: 30 runs on 2 cores train at
about 4-5 updates/s each, 60 would crawl at 2. So a server trains at most `limit` runs at once
(`EBM_MAX_TRAINING`, by default PER_CORE per core, fewer when memory is short); a Train click past
that puts the run in a first-come queue, and it starts by itself when a training run pauses, ends or
is given back. A queued run's worker exists (the page shows its landscape) but does not train.

Steps (one update) and Step by phase need no slot: they are short and pause afterwards.
"""

import os
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

PER_CORE = 16  # runs training at once per core: about 4-5 updates/s each for the default 2D net
RUN_MEMORY_MB = 150  # memory one run may take (its worker's private pages, the page's snapshots)


def usable_cores() -> int:
    """The cores this process may run on (Linux's affinity; the machine's count where there is none,
    as on macOS)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def count_from_env(name: str, what: str) -> int | None:
    """The whole number >= 1 set in the environment variable `name` (a count of `what`), None when unset;
    ValueError naming the variable when it is anything else."""
    env = os.environ.get(name, "").strip()
    if not env:
        return None
    try:
        count = int(env)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of {what}, got {env!r}") from None
    if count < 1:
        raise ValueError(f"{name} must be at least 1, got {count}")
    return count


def default_limit(cores: int | None = None, available_mb: float | None = None) -> int:
    """PER_CORE runs per core, no more than the available memory holds at RUN_MEMORY_MB each;
    EBM_MAX_TRAINING overrides it."""
    limit = count_from_env("EBM_MAX_TRAINING", "runs")
    if limit is not None:
        return limit
    cores = cores or usable_cores()
    if available_mb is None:
        available_mb = _available_mb()
    return max(1, min(PER_CORE * cores, int(available_mb // RUN_MEMORY_MB)))


def _available_mb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


class Slots:
    """Admission of training runs: at most `limit` train at once, the rest wait in order.

    A run here is anything with a `running` property (the page's view of whether it trains) and a
    `start_training()` method that makes it train; `runs()` lists the runs of this process."""

    def __init__(self, limit: int, runs: Callable[[], Iterable[Any]]):
        self.limit = limit
        self._runs = runs
        self._lock = threading.Lock()
        self._queue: list[weakref.ref] = []

    def training(self) -> int:
        return sum(1 for r in self._runs() if r.running)

    def request(self, run: Any) -> int:
        """Start the run if a slot is free (returns 0), else queue it (returns its place, from 1)."""
        with self._lock:
            self._prune()
            place = self._place(run)
            if place:
                return place
            if not self._queue and self.training() < self.limit:
                run.start_training()
                return 0
            self._queue.append(weakref.ref(run))
            return len(self._queue)

    def leave(self, run: Any) -> None:
        """The run no longer waits (paused, reset, its tab closed); then fill the free slots."""
        with self._lock:
            self._queue = [r for r in self._queue if r() is not None and r() is not run]
        self.admit()

    def place(self, run: Any) -> int:
        """The run's place in the queue (1 is next), 0 when it does not wait."""
        with self._lock:
            return self._place(run)

    def waiting(self) -> int:
        with self._lock:
            self._prune()
            return len(self._queue)

    def admit(self) -> list[Any]:
        """Start queued runs, first come first, while slots are free; returns those started. Called
        whenever a run stops training (its page paused it, it paused itself, it ended)."""
        started = []
        with self._lock:
            self._prune()
            free = self.limit - self.training()
            while free > 0 and self._queue:
                run = self._queue.pop(0)()
                if run is None or getattr(run, "ended", False):
                    continue
                run.start_training()
                started.append(run)
                free -= 1
        return started

    def _place(self, run: Any) -> int:
        for i, r in enumerate(self._queue):
            if r() is run:
                return i + 1
        return 0

    def _prune(self) -> None:
        self._queue = [r for r in self._queue if r() is not None and not getattr(r(), "ended", False)]
