"""Rewind in a real browser: a paused run slides back through its recorded training (the canvas
shows the landscape of then), "now" returns to the live picture, and Roll back goes on from a kept
step."""

import time

import pytest
from browser import ARTIFACTS, checked_page
from test_browser_app import CANVAS, click, open_app, step_count, wait_for_steps
from test_browser_keys import settles


@pytest.fixture
def page(app_url):
    with checked_page() as pg:
        yield pg


def shown_title(page) -> str:
    return page.locator(CANVAS).get_attribute("aria-label")


def wait_title(page, title: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while shown_title(page) != title:
        assert time.time() < deadline, f"the picture shows {shown_title(page)!r}, not {title!r}"
        time.sleep(0.2)


def position(label: str) -> float:
    return float("inf") if label == "now" else int(label.split()[1].replace(",", ""))


def slide_to(page, label: str, timeout: float = 60) -> None:
    """Move the rewind slider to `label` by keyboard, one option at a time, each key once the page has
    taken the last (each move reruns the page)."""
    slider = page.locator(".st-key-rewind input[type=range]")
    deadline = time.time() + timeout
    while (now := slider.get_attribute("aria-valuetext")) != label:
        assert time.time() < deadline, f"the slider stays at {now!r}, not {label!r}"
        slider.focus()
        page.keyboard.press("ArrowRight" if position(label) > position(now) else "ArrowLeft")
        while slider.get_attribute("aria-valuetext") == now and time.time() < deadline:
            time.sleep(0.05)


def test_slide_back_return_and_roll_back(page, app_url):
    open_app(page, app_url)
    click(page, "train")
    wait_for_steps(page, 260)
    click(page, "train")
    page.locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)
    slider = page.locator(".st-key-rewind input[type=range]")  # Streamlit's slider: a hidden range input
    slider.wait_for(state="attached", timeout=30_000)
    assert slider.get_attribute("aria-valuetext") == "now"  # it opens on the live picture
    now = settles(page)  # the counter has stopped: the paused step
    slider.focus()
    page.keyboard.press("Home")
    wait_title(page, "step 0")  # the untrained landscape of step 0
    page.screenshot(path=str(ARTIFACTS / "rewind_step0.png"), full_page=True)
    slide_to(page, "step 200")
    wait_title(page, "step 200")
    slider.focus()
    page.keyboard.press("End")
    wait_title(page, f"step {now}")  # "now": the live picture again
    slide_to(page, "step 250")
    wait_title(page, "step 250")
    back = page.locator(".st-key-rewind_back button:visible").filter(has_text="Roll back to step 200")
    back.first.wait_for(timeout=30_000)  # the nearest kept step at or before 250
    back.first.click()
    deadline = time.time() + 30
    while step_count(page) != 200:
        assert time.time() < deadline, f"the run shows step {step_count(page)} after rolling back to 200"
        time.sleep(0.2)
    page.get_by_text("Rolled back to step 200 of the recording").first.wait_for(timeout=30_000)
    click(page, "train")
    wait_for_steps(page, 210)  # and training goes on from there
    click(page, "train")
