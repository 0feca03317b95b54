"""Periodic extras of a training worker (diagnostics, saves, the display grid) that take at most a
share of the worker's own CPU time.

With a class on one server every worker gets a slice of a core: 30 runs on 2 cores get ~50 ms of CPU
a second each. An extra timed by the wall clock alone (the exact diagnostics every 2 s: 35 ms each;
the display grid every 0.25 s: 3 ms each) would then take a large part of that slice from training.
So an extra is due once `every_s` of wall-clock time has passed *and* the worker has spent enough CPU
time since it last ran for it to stay within `share`: alone on a core a worker runs it by the clock,
under load the extras space out with the worker's slice.
"""

import math
import time
from collections.abc import Callable


def process_cpu() -> float:
    return time.process_time()


class CpuShare:
    def __init__(self, every_s: float, share: float, clock: Callable[[], float] | None = None,
                 scale: Callable[[], float] | None = None):
        """`clock` is the CPU time of the run it serves: by default the process's; a training process
        that steps many runs in turn (live/worker.py) counts each run's own. `scale()` multiplies the
        share (a crowded training process halves its runs' extras)."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.every_s, self.share = every_s, share
        self.clock = clock or process_cpu
        self.scale = scale or (lambda: 1.0)
        self.last_at = -math.inf  # wall clock (perf_counter) when it last ran
        self.cost = 0.0  # CPU seconds it took then
        self.cpu_after = 0.0  # the process's CPU time when it finished

    def due(self, now: float) -> bool:
        return (now - self.last_at >= self.every_s
                and self.clock() - self.cpu_after >= self.cost * (1 / (self.share * self.scale()) - 1))

    def start(self) -> float:
        """Call before running it; pass the value to done()."""
        return self.clock()

    def done(self, cpu_before: float) -> None:
        self.last_at, self.cpu_after = time.perf_counter(), self.clock()
        self.cost = self.cpu_after - cpu_before
