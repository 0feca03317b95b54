"""Keyboard shortcuts for a lecture hall, in a real browser: Space trains and pauses, S steps, N starts
a new network; they work after a mouse click on Train too (the focused button must not take Space
twice), and not while the user types in a number box."""

import time

import pytest
from browser import checked_page
from test_browser_app import click, open_app, step_count, wait_for_steps


@pytest.fixture
def page(app_url):
    with checked_page() as pg:
        yield pg


def settles(page, timeout: float = 30) -> int:
    """The step once the counter stopped moving for a second (the run is paused)."""
    deadline, last = time.time() + timeout, -1
    while time.time() < deadline:
        now = step_count(page)
        if now == last:
            return now
        last = now
        time.sleep(1.0)
    raise AssertionError("the step counter never stopped")


def train_label(page) -> str:
    return page.locator(".st-key-train button:visible").first.inner_text()


def test_space_trains_and_pauses_s_steps_n_resets(page, app_url):
    open_app(page, app_url)
    page.locator("h1").first.click()  # focus on the page, not on a widget
    page.keyboard.press("Space")
    wait_for_steps(page, 20)
    page.keyboard.press("Space")
    page.locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)
    paused = settles(page)
    page.keyboard.press("s")
    deadline = time.time() + 30
    while step_count(page) != paused + 1:
        assert time.time() < deadline, f"S did not step once: {step_count(page)} after {paused}"
        time.sleep(0.2)
    page.keyboard.press("n")
    deadline = time.time() + 30
    while step_count(page) != 0:
        assert time.time() < deadline, "N did not start a new network"
        time.sleep(0.2)

    click(page, "train")  # a mouse click leaves the focus on the button: Space must still pause, once
    wait_for_steps(page, 10)
    page.keyboard.press("Space")
    page.locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)
    at = settles(page)
    time.sleep(1.5)
    assert step_count(page) == at and "Train" in train_label(page)

    box = page.locator(".st-key-step_size input")
    box.click()
    box.press("Space")  # typing in a box is typing, not a shortcut
    time.sleep(1.5)
    assert step_count(page) == at and "Train" in train_label(page)


def test_presentation_mode_puts_the_whole_plot_on_a_1280x720_projector(app_url):
    from browser import ARTIFACTS
    from test_browser_app import CANVAS

    with checked_page(width=1280, height=720) as pg:
        pg.goto(app_url + "/?present=on")
        pg.locator(CANVAS).wait_for(timeout=120_000)
        time.sleep(1.0)
        box = pg.locator(CANVAS).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720, box  # above the fold, all of it
        assert box["height"] >= 500, box  # larger than the page's usual plot
        assert pg.locator("h1").count() == 0  # no title or introduction
        assert pg.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "true"  # starts closed
        pg.keyboard.press("Space")
        wait_for_steps(pg, 5)
        pg.screenshot(path=str(ARTIFACTS / "presentation_1280x720.png"))
        pg.keyboard.press("Space")
    with checked_page(width=1280, height=720) as pg:  # the usual page, for comparison: the plot starts low
        open_app(pg, app_url)
        normal = pg.locator(CANVAS).bounding_box()
        assert normal["y"] + normal["height"] > 720 and normal["height"] < box["height"], (normal, box)
