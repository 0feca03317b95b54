"""The Langevin Lab in a real browser: `streamlit run app.py` on 127.0.0.1 driven by Chromium.

The page lives at /Langevin_Lab (Streamlit drops the "2_" ordering prefix of pages/2_Langevin_Lab.py).
Pressing plotly's Play button moves the slider and the chains with no message from the server;
Pause holds the frame; clicking the slider rail scrubs. A Lab link sets the sidebar, a changed setting
reaches the address bar, and both survive a visit to the Playground, through the sidebar or Back.
Screenshots go to tests/artifacts/.
"""

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from browser import ARTIFACTS, browser, exported
from playwright.sync_api import expect

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


# ----------------------------------------------------------------------------------------------
# Links, and settings that outlive a visit to another page

SIDEBAR = ["lab_target", "lab_sampler", "lab_steps", "lab_chains", "lab_seed", "lab_n_compare", "lab_step_0",
           "lab_step_1", "lab_step_2", "lab_accept"]
# what a sidebar widget shows: a radio's checked label, a slider's value text, an input's value
SHOWN = """e => {
  const radio = e.querySelector('input[type=radio]:checked');
  if (radio) return radio.closest('label').innerText.trim();
  const range = e.querySelector('input[type=range]');
  return range ? range.getAttribute('aria-valuetext') : e.querySelector('input').value;
}"""


def shown(page) -> dict[str, str]:
    return {k: page.locator(f"section[data-testid=stSidebar] .st-key-{k}").evaluate(SHOWN) for k in SIDEBAR}


def query(page) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(page.url).query))


def wait_for_lab(page) -> None:
    """Until the Lab has drawn its chains figure from a finished run."""
    page.locator(CHART + " .updatemenu-button").first.wait_for(timeout=120_000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)


def nav(page, url: str):
    """The sidebar's link to a page, by its address (the Playground's is the app's root)."""
    return page.locator(f'[data-testid=stSidebarNavLink][href="{url}"]')


def test_a_link_sets_the_lab_and_its_settings_survive_a_visit_to_the_playground(page, app_url):
    link = {"target": "banana", "sampler": "mala", "steps": "120", "seed": "7"}
    page.goto(app_url + "/Langevin_Lab?" + "&".join(f"{k}={v}" for k, v in link.items()))
    wait_for_lab(page)
    values = shown(page)
    assert values["lab_target"] == "Banana" and values["lab_sampler"] == "MALA", values
    assert values["lab_steps"] == "120" and values["lab_seed"] == "7" and values["lab_chains"] == "256", values
    assert page.get_by_test_id("stAlertContentWarning").count() == 0
    assert query(page) == link
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab_from_link.png"))

    seed = page.locator("section[data-testid=stSidebar] .st-key-lab_seed input")
    seed.fill("11")
    seed.press("Enter")
    expect(page).to_have_url(f"{app_url}/Langevin_Lab?target=banana&sampler=mala&steps=120&seed=11")
    wait_for_lab(page)
    before, link = shown(page), query(page)
    assert before["lab_seed"] == "11" and before["lab_target"] == "Banana", before

    # (c) to the Playground and back through the sidebar
    nav(page, app_url + "/").click()
    page.locator(".st-key-live_canvas canvas[data-frame]").wait_for(timeout=120_000)
    expect(page).to_have_url(app_url + "/")
    assert page.locator(".st-key-lab_seed").count() == 0
    nav(page, app_url + "/Langevin_Lab").click()
    expect(page).to_have_url(f"{app_url}/Langevin_Lab?target=banana&sampler=mala&steps=120&seed=11")
    wait_for_lab(page)
    assert shown(page) == before
    assert query(page) == link

    # (d) to the Playground, then the browser's Back button
    nav(page, app_url + "/").click()
    page.locator(".st-key-live_canvas canvas[data-frame]").wait_for(timeout=120_000)
    expect(page).to_have_url(app_url + "/")
    page.go_back()
    expect(page).to_have_url(f"{app_url}/Langevin_Lab?target=banana&sampler=mala&steps=120&seed=11")
    wait_for_lab(page)
    assert shown(page) == before
    assert query(page) == link
    assert page.get_by_test_id("stAlertContentWarning").count() == 0


def test_a_bad_link_warns_about_each_parameter_and_falls_back(page, app_url):
    page.goto(app_url + "/Langevin_Lab?target=nope&steps=abc&chains=3")
    wait_for_lab(page)
    warnings = page.get_by_test_id("stAlertContentWarning").all_inner_texts()
    assert len(warnings) == 3, warnings
    for name, says in [("target", "mixture"), ("steps", "from 10 to 500"), ("chains", "[16, 1024]")]:
        assert any(f"ignored: {name}:" in w and says in w for w in warnings), (name, warnings)
    values = shown(page)
    assert values["lab_target"] == "Mixture of 4 Gaussians" and values["lab_steps"] == "200", values
    assert values["lab_chains"] == "256", values
    expect(page).to_have_url(app_url + "/Langevin_Lab")  # the bad parameters leave the address bar


def test_the_chains_export_as_a_gif_with_one_panel_per_step_size(page, app_url, tmp_path):
    from PIL import Image

    page.goto(app_url + "/Langevin_Lab")
    page.locator(CHART + " .updatemenu-button").first.wait_for(timeout=120_000)
    page.get_by_text("Export the chains for slides").first.click()
    path = exported(page, "lab_export", "gif", tmp_path)
    with Image.open(path) as im:
        assert im.n_frames == 101 and im.size[0] > 3 * 360  # as the animation: 101 frames, three panels side by side
        im.seek(50)
        im.convert("RGB").save(ARTIFACTS / "langevin_lab_export_frame.png")
    assert path.stat().st_size < 5 * 2**20
