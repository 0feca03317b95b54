"""The Playground in a real browser: `streamlit run serve.py` on 127.0.0.1 driven by Chromium.

Train advances the step counter and the canvas redraws, with frames fetched over the frame route
(and pushed through reruns under a plain `streamlit run app.py`); a paused run sends no frames; a step
size typed during training reaches the running thread; Pause freezes the counter; a shared link
reproduces its settings; no exception element ever shows. Screenshots go to tests/artifacts/.
"""

import re
import time

import pytest
from browser import (
    ARTIFACTS,
    CANVAS_SAMPLE_JS,
    ROOT,
    SERVER_PIDS,
    browser,
    checked_page,
    descendants,
    streamlit_server,
)

from ui.components.canvas import decode_frame

CANVAS = ".st-key-live_canvas canvas[data-frame]"


@pytest.fixture
def page(app_url):
    with checked_page() as pg:
        yield pg


def open_app(page, url, query=""):
    page.goto(url + "/" + query)
    page.locator(CANVAS).wait_for(timeout=120_000)
    return page


def step_count(page) -> int:
    """The step the live numbers show (their block carries it as data-step)."""
    return int(page.locator(".ebm-numbers[data-step]").first.get_attribute("data-step", timeout=30_000))


def wait_for_steps(page, more_than: int, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if step_count(page) > more_than:
            return step_count(page)
        time.sleep(0.2)
    raise AssertionError(f"step counter stayed at or below {more_than}")


def click(page, key):
    page.locator(f".st-key-{key} button:visible").first.click()


def test_train_advances_steps_and_redraws_the_plot(page, app_url):
    open_app(page, app_url)
    canvas = page.locator(CANVAS)
    before = canvas.evaluate("cv => cv.toDataURL()")
    assert step_count(page) == 0
    click(page, "train")
    wait_for_steps(page, 30)
    stats = canvas.evaluate(CANVAS_SAMPLE_JS, 2000)
    assert stats["distinct"] >= 4 and stats["changed"], stats  # the plot animates while training
    assert canvas.evaluate("cv => cv.toDataURL()") != before
    assert stats["mounts"] == "1", stats
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground_training.png"), full_page=True)
    click(page, "train")  # pause before the next test


def test_frames_come_over_http_while_training_and_stop_when_paused(page, app_url):
    frames, answers = [], []  # (time, status) of every answer of the frame route; the answers
    page.on("response", lambda r: "/api/ebm/frame/" in r.url and (frames.append((time.monotonic(), r.status)),
                                                                     answers.append(r)))
    open_app(page, app_url)
    click(page, "train")
    wait_for_steps(page, 20)
    t0 = time.monotonic()
    stats = page.locator(CANVAS).evaluate(CANVAS_SAMPLE_JS, 3000)
    got = [s for t, s in frames if t >= t0 and s == 200]
    assert len(got) >= 6 and stats["distinct"] >= 6, (len(got), stats)  # at least 2 frames/s, fetched
    assert stats["mounts"] == "1", stats
    decoded = [decode_frame(r.body()) for r in answers[-20:] if r.status == 200]
    assert decoded and all(f.trails.size and len(f.negatives) and len(f.data) for f in decoded)  # every layer drawn
    click(page, "train")
    page.locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=20_000)
    page.wait_for_timeout(1500)  # the last frames of the run (Playwright reports events while it waits)
    t0 = time.monotonic()
    page.wait_for_timeout(3000)
    after = [s for t, s in frames if t >= t0]
    assert after.count(200) == 0 and 0 < len(after) <= 12, after  # a few held requests, answered 204


def test_plain_streamlit_run_pushes_frames_through_reruns():
    """Without serve.py's route the page falls back to fragment reruns, and still animates."""
    with streamlit_server(ROOT / "app.py") as url, browser() as ctx:
        page = ctx.new_page()
        frames = []
        page.on("request", lambda r: "/api/ebm/frame/" in r.url and frames.append(r.url))
        open_app(page, url)
        click(page, "train")
        wait_for_steps(page, 20)
        stats = page.locator(CANVAS).evaluate(CANVAS_SAMPLE_JS, 2000)
        assert stats["distinct"] >= 4 and stats["changed"] and stats["mounts"] == "1", stats
        assert frames == []
        assert page.locator("[data-testid=stException]").count() == 0


def test_step_size_change_reaches_the_running_thread(page, app_url):
    open_app(page, app_url)
    click(page, "train")
    n = wait_for_steps(page, 5)
    box = page.locator(".st-key-step_size input")
    box.fill("0.0234")
    box.press("Enter")
    page.get_by_text(re.compile(r"step size 0\.0234")).first.wait_for(timeout=30_000)  # the thread's own config
    wait_for_steps(page, n + 20)  # and training went on without a reset
    click(page, "train")


def test_pause_stops_the_counter(page, app_url):
    open_app(page, app_url)
    click(page, "train")
    wait_for_steps(page, 10)
    click(page, "train")  # once: a click is never lost
    page.locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=5_000)
    time.sleep(1.5)  # let the last published snapshot arrive
    frozen = step_count(page)
    time.sleep(2.5)
    assert step_count(page) == frozen


def test_shared_link_reproduces_the_settings(page, app_url):
    open_app(page, app_url, "?dataset=rings&step_size=0.02&sampler=mala&seed=5&n_steps=25")
    assert page.locator(".st-key-step_size input").input_value() == "0.0200"
    assert page.locator(".st-key-n_steps input").input_value() == "25"
    assert page.locator(".st-key-seed input").input_value() == "5"
    assert page.locator(".st-key-dataset input").input_value() == "Concentric rings"
    assert page.locator("[data-testid=stAlert]").count() == 0  # a good link warns about nothing
    click(page, "share")
    link = page.locator("[data-testid=stCode]").first.inner_text()
    for part in ("dataset=rings", "step_size=0.02", "sampler=mala", "seed=5", "n_steps=25"):
        assert part in link
    page.screenshot(path=str(ARTIFACTS / "playground_shared_link.png"))


def test_bad_link_warns_and_falls_back(page, app_url):
    open_app(page, app_url, "?step_size=lots&dataset=nope&width=64")
    text = page.locator("[data-testid=stAlert]").all_inner_texts()
    assert any("step_size" in t for t in text) and any("dataset" in t for t in text)
    assert page.locator(".st-key-width input").input_value() == "64"  # the good parameter is kept


def test_closing_the_tab_frees_its_run(app_url):
    server = SERVER_PIDS[app_url]
    with browser() as ctx:
        open_app(ctx.new_page(), app_url)
        with_page = set(descendants(server))
        second = open_app(ctx.new_page(), app_url)
        deadline = time.time() + 30
        while len(set(descendants(server)) - with_page) < 1 and time.time() < deadline:
            time.sleep(0.2)
        worker = set(descendants(server)) - with_page  # the second tab's training process
        assert len(worker) == 1
        second.close()
        deadline = time.time() + 30
        while worker & set(descendants(server)) and time.time() < deadline:
            time.sleep(0.2)
        assert not worker & set(descendants(server)), "the closed tab's worker process is still running"
