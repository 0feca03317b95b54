"""Heavy work of a page in a process of its own: the web server's process only waits for it.

A page that needs a long computation (the Langevin Lab's chains on a large trained network, the
Images page's new digits) calls `run(fn, *args)`. The function runs in a process forked from the
live runs' fork server (torch already imported: it starts in a fraction of a second), so it never
competes with the server for Python's interpreter lock, and it is bounded:

- it is killed after `timeout_s` seconds (a `JobTimeout` says so);
- while it runs, `on_wait(elapsed_s)` is called about five times a second. A page passes a function
  that updates its progress bar: when the session is gone, or the user clicked something and the
  page must run again, Streamlit raises inside that call, and the job is killed on the way out.

`fn` must be a module-level function and its arguments and result must pickle (tensors, arrays,
dataclasses of them; a network travels as its config and weights).
"""

import math
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

POLL_S = 0.2


class JobTimeout(RuntimeError):
    """The job ran past its time limit and was stopped."""


class JobFailed(RuntimeError):
    """The job raised; the message is the job's error."""


def _main(conn, payload: bytes) -> None:
    """In the job's process. Arguments and result travel as plain pickles: multiprocessing's own would
    share tensors through file descriptors, which die with this short-lived process."""
    import torch

    from . import heap

    torch.set_num_threads(1)
    heap.keep_freed_memory()
    try:
        fn, args, kwargs = pickle.loads(payload)
        answer = (True, fn(*args, **kwargs))
    except BaseException as e:  # the page shows it
        answer = (False, f"{type(e).__name__}: {e}")
    try:
        conn.send_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        conn.close()


def run(fn: Callable, *args: Any, timeout_s: float = 120.0, on_wait: Callable[[float], None] | None = None,
        **kwargs: Any) -> Any:
    """fn(*args, **kwargs) computed in a separate process; its result, or JobTimeout / JobFailed."""
    from .live import _context, _start_without_main

    if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < math.inf):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    payload = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    process = ctx.Process(target=_main, args=(child, payload), name=f"ebm-job-{fn.__name__}", daemon=True)
    _start_without_main(process)
    child.close()
    t0 = time.monotonic()
    try:
        while not parent.poll(POLL_S):
            elapsed = time.monotonic() - t0
            if elapsed > timeout_s:
                raise JobTimeout(f"stopped after {timeout_s:g} s")
            if not process.is_alive() and not parent.poll():
                raise JobFailed(f"the computation's process ended without an answer (exit code {process.exitcode})")
            if on_wait is not None:
                on_wait(elapsed)
        try:
            ok, value = pickle.loads(parent.recv_bytes())
        except EOFError:
            raise JobFailed("the computation's process ended without an answer") from None
        if not ok:
            raise JobFailed(value)
        return value
    finally:  # answered, timed out, failed, or the page went away (an exception from on_wait)
        parent.close()
        if process.is_alive():
            process.kill()
        process.join(timeout=5)


class Memo:
    """Job results by key, the newest `max_entries` kept; shared by the sessions of this process (a
    page script's own globals last one run only)."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._values: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """The remembered result for key, else run(fn, *args, **kwargs), remembered."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = run(fn, *args, **kwargs)
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
        return value
