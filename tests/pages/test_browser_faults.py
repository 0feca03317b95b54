"""Faults a class will meet, in Chromium against `streamlit run serve.py`: a training process killed
with SIGKILL, a server restarted under an open tab, and tabs closed before their run even started.
Nothing is lost (the run resumes from its saved state, not from step 0) and no worker outlives its
session."""

import os
import signal
import time

import pytest
from browser import SERVER_PIDS, checked_page, free_port, streamlit_server, training_processes
from conftest import ROOT

from ebm_core.live import saved

CANVAS = ".st-key-live_canvas canvas[data-frame]"
NUMBERS = ".ebm-numbers[data-step]"
GRACE_S = 2.0  # the test server gives back a closed tab's run after this (EBM_ORPHAN_GRACE_S)


@pytest.fixture(scope="module")
def server():
    with streamlit_server(ROOT / "serve.py", env={"EBM_ORPHAN_GRACE_S": str(GRACE_S)}) as url:
        yield url


def step_count(page) -> int:
    return int(page.locator(NUMBERS).first.get_attribute("data-step", timeout=60_000))


def wait_for_step(page, more_than: int, timeout: float = 60) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if (n := step_count(page)) > more_than:
                return n
        except Exception:  # the numbers are being replaced (a rerun): look again
            pass
        time.sleep(0.2)
    raise AssertionError(f"the step counter stayed at or below {more_than}")


def settled_step(page) -> int:
    """The step shown once it stops changing (the last update of a paused run may still be on its way)."""
    last = step_count(page)
    while True:
        time.sleep(1.5)
        now = step_count(page)
        if now == last:
            return now
        last = now


def train_button(page):
    return page.locator(".st-key-train button:visible").first


def open_playground(page, url: str, query: str = "") -> None:
    page.goto(url + "/" + query)
    page.locator(CANVAS).wait_for(timeout=120_000)
    page.locator(NUMBERS).wait_for(timeout=60_000)


def test_a_killed_training_process_is_noticed_and_the_run_resumes_from_its_saved_state(server):
    server_pid = SERVER_PIDS[server]
    with checked_page() as page:
        open_playground(page, server, "?n_steps=10&seed=2")
        train_button(page).click()
        reached = wait_for_step(page, 80)
        time.sleep(4)  # past one save interval (saved.SAVE_EVERY_S = 3 s)
        shown = step_count(page)
        training = training_processes(server_pid)  # the run's training process is one of them
        assert training
        for pid in training:
            os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        note = page.get_by_text("stopped unexpectedly")
        note.first.wait_for(timeout=15_000)
        noticed_s = time.monotonic() - t0
        resumed = page.get_by_text("Resumed at step")
        resumed.first.wait_for(timeout=30_000)
        back = step_count(page)
        assert back >= reached, (reached, shown, back)  # saved in the last 4 s of training, not step 0
        assert noticed_s < 10, noticed_s
        words = train_button(page).inner_text().split()  # icon name, label, key hint ("Space")
        assert "Train" in words and "Pause" not in words  # resumed paused, one click goes on
        train_button(page).click()
        assert wait_for_step(page, back + 10) > back + 10


def test_a_restarted_server_resumes_the_tabs_run_where_it_was(tmp_path):
    port = free_port()
    env = {"EBM_STATE_DIR": str(tmp_path)}
    with checked_page() as page:
        with streamlit_server(ROOT / "serve.py", port=port, env=env) as url:
            open_playground(page, url, "?dataset=two_moons&seed=5")
            train_button(page).click()
            wait_for_step(page, 60)
            train_button(page).click()  # pause: the state is saved at once
            page.locator(".st-key-train button:visible", has_text="Train").first.wait_for(timeout=10_000)
            paused = settled_step(page)
            address = page.url
            assert "run=" not in address  # the saved run's name stays out of the address (and its history)
        files = [p for p in tmp_path.glob("toy2d-*.pt") if not p.name.endswith(".rec.pt")]  # its recording beside it
        assert len(files) == 1 and saved.recording_path(files[0]).exists()
        kept = saved.read(files[0], "toy2d")["state"]["step"]
        assert kept >= paused  # what the worker had when it stopped (the page may show it a refresh late)
        with streamlit_server(ROOT / "serve.py", port=port, env=env) as url:
            page.get_by_text(f"Resumed at step {kept:,}").first.wait_for(timeout=90_000)  # the tab reloads itself
            assert settled_step(page) == kept and page.url == address
            assert page.locator(".st-key-dataset input").input_value() == "Two moons"


def test_tabs_closed_at_any_moment_leave_no_training_process(server):
    server_pid = SERVER_PIDS[server]
    time.sleep(GRACE_S + 3)  # runs of the tests before are given back
    baseline = training_processes(server_pid)
    with checked_page() as page:
        ctx = page.context
        for delay in (0.3, 1.0, 2.5, 6.0):
            tab = ctx.new_page()
            tab.goto(server + "/?hide=" + ",".join(f"x{i}" for i in range(1500)), wait_until="commit")
            time.sleep(delay)
            tab.close()
        deadline = time.time() + GRACE_S + 30
        while training_processes(server_pid) - baseline and time.time() < deadline:
            time.sleep(0.5)
        assert not training_processes(server_pid) - baseline, "a closed tab's training process is still running"
