"""Jobs (ebm_core/jobs.py): a page's heavy work runs in another process, is bounded in time, and stops
when the page that waits for it goes away."""

import os
import time

import pytest

from ebm_core import jobs


def pid_after(seconds: float, path: str) -> int:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def fail() -> None:
    raise ValueError("no such thing")


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_a_job_runs_in_another_process_and_returns_its_result(tmp_path):
    pid = jobs.run(pid_after, 0.0, str(tmp_path / "pid"))
    assert pid != os.getpid() and gone(pid)


def test_a_job_past_its_limit_is_stopped_and_says_so(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(jobs.JobTimeout, match="1 s"):
        jobs.run(pid_after, 60.0, str(tmp_path / "pid"), timeout_s=1.0)
    assert time.monotonic() - t0 < 5
    assert gone(int((tmp_path / "pid").read_text()))


def test_a_page_that_goes_away_stops_its_job(tmp_path):
    class PageGone(Exception):  # what Streamlit raises in a waiting script when its session ends
        pass

    def on_wait(elapsed: float) -> None:
        if elapsed > 0.5:
            raise PageGone

    with pytest.raises(PageGone):
        jobs.run(pid_after, 60.0, str(tmp_path / "pid"), on_wait=on_wait)
    assert gone(int((tmp_path / "pid").read_text()))


def test_a_failing_job_reports_its_error_and_a_memo_runs_each_key_once(tmp_path):
    with pytest.raises(jobs.JobFailed, match="ValueError: no such thing"):
        jobs.run(fail)
    memo = jobs.Memo(2)
    first = memo.get("a", pid_after, 0.0, str(tmp_path / "a"))
    assert memo.get("a", pid_after, 0.0, str(tmp_path / "a")) == first  # remembered, not run again
    memo.get("b", pid_after, 0.0, str(tmp_path / "b"))
    memo.get("c", pid_after, 0.0, str(tmp_path / "c"))
    assert memo.get("a", pid_after, 0.0, str(tmp_path / "a")) != first  # the oldest was forgotten
