"""The "your own data" panel in a real browser: `streamlit run` of the host page in
tests/pages_for_tests/, driven by Chromium with the mouse. Strokes drawn on the pad must come back as
points (per_dab of them for every dab the pad sent), two strokes drawn back to back must both land,
a malformed CSV must show its error and keep the points, and Clear must empty the pad.
The screenshot goes to tests/artifacts/own_data.png.
"""

import time

import pytest
from browser import ARTIFACTS, ROOT, browser, streamlit_server

HOST = ROOT / "tests" / "pages_for_tests" / "own_data_host.py"
PAD = ".st-key-own_pad canvas.top"
PER_DAB = 6  # the panel's default "points per dab"


@pytest.fixture(scope="module")
def host_url():
    with streamlit_server(HOST) as url:
        yield url


@pytest.fixture
def page(host_url):
    with browser(width=1400, height=900) as ctx:
        pg = ctx.new_page()
        pg.goto(host_url)
        pg.locator(PAD).wait_for(timeout=60_000)
        yield pg
        assert pg.locator("[data-testid=stException]").count() == 0, "an exception element appeared"


def count(page) -> int:
    return int(page.get_by_test_id("stMetricValue").first.inner_text().replace(",", ""))


def pad(page, name: str) -> int:
    return int(page.locator(PAD).get_attribute(f"data-{name}"))


def wait_for(page, predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: never happened (count {count(page)}, pad points {pad(page, 'points')}, "
                         f"pending {pad(page, 'pending')})")


def settled(page, n: int) -> bool:
    """Python holds n points and the pad shows them, with no stroke waiting."""
    return count(page) == n and pad(page, "points") == n and pad(page, "pending") == 0


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Press at the first point (fractions of the pad canvas), drag through the others, release."""
    box = page.locator(PAD).bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=12)
    page.mouse.up()


def test_drawing_adds_points_a_bad_csv_keeps_them_and_clear_empties(page):
    assert count(page) == 0 and pad(page, "points") == 0

    # 1. one stroke: the count rises by per_dab for every dab sent
    stroke(page, [(0.3, 0.3), (0.5, 0.5), (0.7, 0.3)])
    wait_for(page, lambda: settled(page, PER_DAB * pad(page, "dabs")) and count(page) > 0, "first stroke")
    first = count(page)

    # 2. two strokes back to back, without waiting: both land (Streamlit merges the reruns)
    stroke(page, [(0.25, 0.75), (0.75, 0.75)])
    stroke(page, [(0.5, 0.6), (0.5, 0.85)])
    wait_for(page, lambda: pad(page, "sent") == 3 and settled(page, PER_DAB * pad(page, "dabs")), "two more strokes")
    assert count(page) > first
    drawn = count(page)
    assert page.locator(".st-key-returned").inner_text().strip() == f"returned: {drawn}"

    # 3. projector check: the pad with the brush ring under the cursor
    box = page.locator(PAD).bounding_box()
    page.mouse.move(box["x"] + 0.62 * box["width"], box["y"] + 0.55 * box["height"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "own_data.png"))

    # 4. a malformed CSV: its error shows, the points stay
    page.get_by_role("tab", name="CSV file").click()
    page.locator(".st-key-own_csv input[type=file]").set_input_files(
        files=[{"name": "broken.csv", "mimeType": "text/csv", "buffer": b"x,y\n1,2\n3,oops\n"}])
    error = page.get_by_test_id("stAlertContentError")
    error.wait_for(timeout=30_000)
    assert "broken.csv" in error.inner_text() and "left as they were" in error.inner_text()
    assert settled(page, drawn)

    # 5. Clear empties the set and the pad
    page.locator(".st-key-own_clear button").click()
    wait_for(page, lambda: settled(page, 0), "clear")
    assert page.locator(".st-key-returned").inner_text().strip() == "returned: None"
