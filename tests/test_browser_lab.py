"""The Langevin Lab in a real browser: `streamlit run app.py` on 127.0.0.1 driven by Chromium.

The page lives at /Langevin_Lab (Streamlit drops the "2_" ordering prefix of pages/2_Langevin_Lab.py).
Pressing plotly's Play button moves the slider and the chains with no message from the server;
Pause holds the frame; clicking the slider rail scrubs. Screenshots go to tests/artifacts/.
"""

import time

import pytest

from browser import ARTIFACTS, browser

CHART = ".st-key-lab_chains_figure .js-plotly-plot"
# slider position, the first panel's chain positions (trace 3: exact marginal, histogram, trail,
# chains) and the number of stored frames
STATE = """gd => ({active: gd._fullLayout.sliders[0].active, frames: gd._transitionData._frames.length,
                  x: Array.from(gd._fullData[3].x.slice(0, 16)), hist: Array.from(gd._fullData[1].y.slice(0, 66))})"""


@pytest.fixture
def page(app_url):
    with browser(width=1500, height=1000) as ctx:
        pg = ctx.new_page()
        pg.ws_frames = []
        pg.on("websocket", lambda ws: ws.on("framereceived", lambda payload: pg.ws_frames.append(len(payload))))
        yield pg
        assert pg.locator("[data-testid=stException]").count() == 0, "an exception element appeared"


def wait_state(page, predicate, timeout: float = 30.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = page.locator(CHART).evaluate(STATE)
        if predicate(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"the chart never reached the expected state; last: {state}")


def test_play_animates_the_chains_in_the_browser_and_pause_and_scrub_work(page, app_url):
    page.goto(app_url + "/Langevin_Lab")
    page.locator(CHART + " .updatemenu-button").first.wait_for(timeout=120_000)
    links = page.get_by_test_id("stSidebarNavLink").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert any(h.rstrip("/").endswith("/Langevin_Lab") for h in links), links
    chart = page.locator(CHART)
    before = chart.evaluate(STATE)
    assert before["active"] == 0 and before["frames"] == 101  # 200 steps, every 2nd one, plus the start
    time.sleep(0.5)
    frames_before_play = len(page.ws_frames)

    chart.locator(".updatemenu-button").filter(has_text="Play").click()
    mid = wait_state(page, lambda s: s["active"] >= 15)
    assert mid["x"] != before["x"], "the chains did not move"
    assert mid["hist"] != before["hist"], "the x1 histogram did not change"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "langevin_lab_playing.png"))

    chart.locator(".updatemenu-button").filter(has_text="Pause").click()
    time.sleep(0.4)  # a frame already scheduled may still land
    paused = chart.evaluate(STATE)
    time.sleep(1.0)
    held = chart.evaluate(STATE)
    assert held["active"] == paused["active"] and held["x"] == paused["x"], "Pause did not hold the frame"
    assert len(page.ws_frames) == frames_before_play, "playing the animation talked to the server"

    rail = chart.locator(".slider-rail-rect").bounding_box()
    page.mouse.click(rail["x"] + 0.95 * rail["width"], rail["y"] + rail["height"] / 2)
    scrubbed = wait_state(page, lambda s: s["active"] >= 90, timeout=10)
    assert scrubbed["x"] != held["x"]
    page.set_viewport_size({"width": 1500, "height": 2400})  # the app scrolls inside its own container
    page.locator(".st-key-lab_marginals .js-plotly-plot").wait_for()
    time.sleep(1.0)
    page.screenshot(path=str(ARTIFACTS / "langevin_lab_full.png"))
