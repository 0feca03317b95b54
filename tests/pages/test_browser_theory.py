"""The "How EBMs work" page in a real browser: `streamlit run app.py` on 127.0.0.1 driven by Chromium.

The page lives at /How_EBMs_work. Dragging a dot of the curve editor with the mouse, or moving one
with the arrow keys, must reshape the curve in the browser (the same spline as the library) and,
on release, update Z and the plots from Python. Screenshots go to tests/artifacts/.
"""

import json
import time

import numpy as np
import pytest
from browser import ARTIFACTS, checked_page

from ebm_core.lessons import theory

EDITOR = ".st-key-th_curve"
PLOT = ".st-key-th_boltzmann_fig .js-plotly-plot"


@pytest.fixture
def page(app_url):
    with checked_page(width=1500, height=1000) as pg:
        yield pg


def z_shown(page) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text="Z = area under")
    return metric.get_by_test_id("stMetricValue").inner_text()


def heights_shown(page) -> list[float]:
    return [float(v) for v in page.locator(EDITOR + " circle.handle").evaluate_all(
        "hs => hs.map(h => h.getAttribute('aria-valuenow'))")]


def wait_for_z(page, heights: list[float], timeout: float = 30.0) -> str:
    """Wait until the page shows the Z that the library computes for these heights at T = 1."""
    want = f"{theory.boltzmann_1d(theory.curve_energy(heights), 1.0).z:.4g}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        plots = page.locator(PLOT).all_inner_texts()  # during an update the old chart lingers a moment
        if z_shown(page) == want and plots and all(want in text for text in plots):
            return want
        time.sleep(0.2)
    raise AssertionError(f"Z never became {want}; the page shows {z_shown(page)}")


def test_dragging_a_dot_reshapes_the_energy_and_updates_z(page, app_url):
    page.goto(app_url + "/How_EBMs_work")
    page.locator(PLOT).first.wait_for(timeout=120_000)
    page.get_by_test_id("stRadio").first.get_by_text("Draw your own").click()
    handle = page.locator(EDITOR + " circle.handle[data-i='3']")
    handle.wait_for(timeout=30_000)
    z_default = wait_for_z(page, list(theory.CURVE_DEFAULT))

    # 1. drag the dot at x = 0 from E = 3 to the bottom of the plot (it stops at E = 0)
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 60, steps=6)
    page.mouse.move(x, y + 400, steps=6)
    page.mouse.up()
    heights = heights_shown(page)
    assert heights[3] == 0.0 and heights[:3] + heights[4:] == list(theory.CURVE_DEFAULT[:3] + theory.CURVE_DEFAULT[4:])
    z_dragged = wait_for_z(page, heights)
    assert z_dragged != z_default
    assert heights_shown(page) == heights, "the rerun after the drag moved the dots back"
    # the browser drew the same curve as the library's spline
    drawn = json.loads(page.locator(EDITOR + " svg").first.get_attribute("data-curve"))
    xs = np.arange(-4, 4.001, 0.5)
    want = theory.interpolate_curve(np.column_stack([theory.CURVE_X, heights]), xs)
    assert np.allclose(drawn, want, atol=1e-5), (drawn, want.round(4).tolist())
    # the slider fallback followed the drag
    page.get_by_text("Set the dots with sliders").click()
    assert page.locator(".st-key-th_h3 [data-testid=stSliderThumbValue]").inner_text() == "0.00"

    # 2. the keyboard: the dot at x = 2 up by 4 x 0.25
    page.locator(EDITOR + " circle.handle[data-i='5']").focus()
    for _ in range(4):
        page.keyboard.press("ArrowUp")
    heights[5] += 1.0
    assert heights_shown(page) == heights
    wait_for_z(page, heights)
    assert heights_shown(page) == heights

    assert int(page.locator(EDITOR + " svg").first.get_attribute("data-sent")) == 2  # one drag, one key burst

    page.locator(EDITOR + " circle.handle[data-i='5']").evaluate("h => h.blur()")  # hides the value label
    page.set_viewport_size({"width": 1500, "height": 1150})
    page.get_by_role("heading", name="1 · From energy to probability").evaluate("h => h.scrollIntoView()")
    time.sleep(0.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "how_ebms_work_drawn.png"))
    page.set_viewport_size({"width": 1500, "height": 3600})  # the app scrolls inside its own container
    page.locator("[data-testid=stImage]").first.wait_for()
    time.sleep(1.0)
    page.screenshot(path=str(ARTIFACTS / "how_ebms_work_full.png"))
