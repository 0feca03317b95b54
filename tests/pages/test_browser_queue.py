"""Past the server's limit of runs training at once, in a real browser: on a server that trains one run
at a time (EBM_MAX_TRAINING=1), a second tab's Train puts its run in the queue, says so with its place,
and the run starts by itself, without a click, as soon as the first tab pauses (the live panel sees
the new state and the page redraws its buttons)."""

import time

import pytest
from browser import ARTIFACTS, ROOT, browser, streamlit_server
from test_browser_app import step_count, wait_for_steps

CANVAS = ".st-key-live_canvas canvas[data-frame]"


@pytest.fixture(scope="module")
def one_slot_url():
    with streamlit_server(ROOT / "serve.py", env={"EBM_MAX_TRAINING": "1"}) as url:
        yield url


def label(page) -> str:
    return page.locator(".st-key-train button:visible").first.inner_text()


def wait_label(page, text: str, timeout_ms: int = 30_000) -> None:
    page.locator(".st-key-train button:visible").filter(has_text=text).first.wait_for(timeout=timeout_ms)


def test_a_second_tab_waits_in_the_queue_and_trains_when_the_first_pauses(one_slot_url):
    with browser() as ctx:
        first, second = ctx.new_page(), ctx.new_page()
        for page in (first, second):
            page.goto(one_slot_url + "/")
            page.locator(CANVAS).wait_for(timeout=120_000)
            page.wait_for_timeout(1500)  # the first run's layout settles before a click
        first.locator(".st-key-train button:visible").first.click()
        wait_label(first, "Pause")
        second.locator(".st-key-train button:visible").first.click()
        wait_label(second, "Cancel")
        notice = second.get_by_text("number 1 in the queue")
        notice.wait_for(timeout=30_000)
        assert "at most 1 run at once" in second.locator("[data-testid=stAlert]").all_inner_texts()[0]
        second.screenshot(path=str(ARTIFACTS / "queue_waiting.png"))
        waiting_at = step_count(second)
        second.wait_for_timeout(1500)
        assert step_count(second) == waiting_at  # waiting does not train
        first.locator(".st-key-train button:visible").first.click()  # the slot frees
        wait_label(first, "Train")
        t0 = time.monotonic()
        wait_label(second, "Pause", timeout_ms=15_000)  # no click in the second tab: its page redrew itself
        admitted_s = time.monotonic() - t0
        wait_for_steps(second, waiting_at, timeout=30)  # the numbers lag the worker by up to a refresh
        assert second.get_by_text("in the queue").count() == 0
        second.screenshot(path=str(ARTIFACTS / "queue_admitted.png"))
        for page in (first, second):
            assert page.locator("[data-testid=stException]").count() == 0
        assert admitted_s < 15
