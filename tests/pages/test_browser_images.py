"""The Images page in a real browser: Train advances the counter and the sample grid changes; a
chain from noise plays as an animation; no exception element shows. Screenshots go to
tests/artifacts/."""

import re
import time

import pytest
from browser import ARTIFACTS, checked_page, exported
from test_browser_app import click

GRID = ".ebm-images img"  # the live panel the page fetches from serve.py's panel route


@pytest.fixture
def page(app_url):
    with checked_page(height=1100) as pg:
        yield pg


def step_count(page) -> int:
    return int(page.locator(".ebm-images").first.get_attribute("data-step"))


def wait_for_steps(page, more_than: int, timeout: float = 60) -> int:
    deadline = time.time() + timeout
    while step_count(page) <= more_than:
        if time.time() > deadline:
            raise AssertionError(f"step counter stayed at or below {more_than}")
        time.sleep(0.2)
    return step_count(page)


def grid_src(page) -> str:
    return page.locator(GRID).first.get_attribute("src")


def box_of(locator) -> dict:
    """The element's box, measured in the same turn of the page's script that finds it: the live panel
    replaces its pictures at every refresh, and a box asked for in two steps can miss the element."""
    return locator.evaluate("e => { const r = e.getBoundingClientRect(); "
                            "return {x: r.x, y: r.y, width: r.width, height: r.height}; }")


def test_training_changes_the_sample_grid_and_a_chain_animates(page, app_url):
    page.goto(app_url + "/Images")
    page.locator(GRID).first.wait_for(timeout=120_000)
    recognised = page.locator(".ebm-images .card").filter(has_text="Recognised").locator(".value")
    recognised.filter(has_text=re.compile(r"^\d+%$")).wait_for(timeout=120_000)  # "…" until the classifier is fitted
    assert step_count(page) == 0
    before = grid_src(page)
    click(page, "img_train")
    wait_for_steps(page, 5, timeout=120)
    deadline = time.time() + 30
    while grid_src(page) == before and time.time() < deadline:
        time.sleep(0.3)
    assert grid_src(page) != before  # the negatives are redrawn as training runs
    for key, title in (("img_curves_panel", "Mean energy"), ("img_hist_panel", "E now: data vs negatives")):
        panel = page.locator(f".st-key-{key}")
        box, text = panel.bounding_box(), panel.get_by_text(title).first.bounding_box()
        assert box["y"] <= text["y"] and text["y"] + text["height"] <= box["y"] + box["height"], (key, box, text)
    page.screenshot(path=str(ARTIFACTS / "images_training.png"), full_page=True)
    click(page, "img_train")  # pause
    page.locator(".st-key-img_train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)

    page.get_by_text("One chain from noise").click()
    page.locator(".st-key-img_chain_k input").fill("40")
    page.locator(".st-key-img_chain_k input").press("Enter")
    click(page, "img_chain_run")
    chart = page.locator("[data-testid=stPlotlyChart]").first
    chart.wait_for(timeout=60_000)
    chart.get_by_text("Play").first.wait_for(timeout=30_000)  # play / pause / scrub controls
    assert chart.locator(".slider-container").count() == 1
    page.screenshot(path=str(ARTIFACTS / "images_chain.png"), full_page=True)


def test_the_ready_model_shows_digits_at_once_generates_and_trains_on(page, app_url):
    from ebm_core import checkpoint

    steps = int(checkpoint.read_metrics(checkpoint.READY["digits"])[-1]["step"])
    page.goto(app_url + "/Images")
    page.locator(GRID).first.wait_for(timeout=120_000)
    click(page, "img_ready")
    page.get_by_text("Loaded the ready digits model").first.wait_for(timeout=60_000)
    deadline = time.time() + 30
    while step_count(page) != steps and time.time() < deadline:
        time.sleep(0.2)
    assert step_count(page) == steps
    recognised = page.locator(".ebm-images .card").filter(has_text="Recognised").locator(".value")
    recognised.filter(has_text=re.compile(r"^\d+%$")).wait_for(timeout=120_000)
    assert int(recognised.first.inner_text().rstrip("%")) >= 50  # the replay buffer holds digits already
    page.screenshot(path=str(ARTIFACTS / "images_ready.png"), full_page=True)

    page.get_by_text("Generate", exact=True).first.click()
    click(page, "img_gen_run")
    value = page.locator("[data-testid=stMetric]").filter(has_text="Recognised (generated)").locator(
        "[data-testid=stMetricValue]")
    value.wait_for(timeout=120_000)
    assert int(value.inner_text().rstrip("%")) >= 50, value.inner_text()
    page.screenshot(path=str(ARTIFACTS / "images_ready_generated.png"), full_page=True)

    page.get_by_text("Live training").first.click()
    page.locator(GRID).first.wait_for(timeout=60_000)
    click(page, "img_train")
    wait_for_steps(page, steps + 5, timeout=120)  # training goes on from the ready model's step


def test_a_chain_from_noise_exports_as_gif_and_as_an_offline_html_player(page, app_url, tmp_path):
    from PIL import Image

    page.goto(app_url + "/Images")
    page.locator(GRID).first.wait_for(timeout=120_000)
    page.get_by_text("One chain from noise").click()
    page.locator(".st-key-img_chain_k input").fill("40")
    page.locator(".st-key-img_chain_k input").press("Enter")
    click(page, "img_chain_run")
    page.locator(".st-key-img_chain_export_go button").first.wait_for(timeout=60_000)
    files = {}
    for fmt in ("GIF", "HTML player"):
        files[fmt] = exported(page, "img_chain_export", "gif" if fmt == "GIF" else "html", tmp_path, fmt=fmt)
    with Image.open(files["GIF"]) as im:
        assert im.format == "GIF" and im.n_frames >= 20  # the chain's frames, from noise to the end
    page.screenshot(path=str(ARTIFACTS / "images_chain_export.png"), full_page=True)

    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(files["HTML player"].as_uri())
    label = page.locator("#label")
    first = label.inner_text()
    page.locator("#play").click()
    deadline = time.time() + 10
    while label.inner_text() == first and time.time() < deadline:
        time.sleep(0.1)
    assert label.inner_text() != first and first == "step 0"  # it plays
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # nothing from the network


def test_the_training_rewinds_to_its_recorded_negatives_and_exports_them(page, app_url, tmp_path):
    from PIL import Image

    page.goto(app_url + "/Images")
    page.locator(GRID).first.wait_for(timeout=120_000)
    click(page, "img_train")
    wait_for_steps(page, 45, timeout=120)
    click(page, "img_train")  # pause: the slider appears
    page.locator(".st-key-img_train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)
    slider = page.locator(".st-key-img_rewind input[type=range]")  # Streamlit's slider: a hidden range input
    slider.wait_for(state="attached", timeout=30_000)
    slider.focus()
    slider.press("Home")  # the first recorded step: noise
    shown = page.locator("[data-testid=stImage]").filter(has_text="as recorded then")
    shown.first.wait_for(timeout=30_000)
    assert "Negatives of step 0," in shown.first.inner_text()
    picture = shown.first.locator("img")
    page.wait_for_function("i => i.complete && i.naturalWidth > 100", arg=picture.element_handle(), timeout=30_000)
    assert page.locator(".st-key-img_live_panel").count() == 0  # the recorded grid stands in for the live one
    page.screenshot(path=str(ARTIFACTS / "images_rewound.png"), full_page=True)
    slider.press("End")  # "now": the live grids again
    page.locator(GRID).first.wait_for(timeout=30_000)

    page.get_by_text("Export the training for slides").first.click()
    path = exported(page, "img_train_export", "gif", tmp_path)
    with Image.open(path) as im:
        assert path.name.startswith("ebm-digits-step") and 5 <= im.n_frames <= 100


def test_presentation_mode_fills_a_1280x720_projector_with_the_digits(app_url):
    with checked_page(width=1280, height=720) as pg:
        pg.goto(app_url + "/Images?present=on")
        pg.locator(GRID).first.wait_for(timeout=120_000)
        assert pg.locator("h1").count() == 0  # no title or introduction
        assert pg.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "true"
        pg.keyboard.press("Space")  # trains
        wait_for_steps(pg, 3, timeout=120)
        box = box_of(pg.locator(GRID).first)
        assert box["y"] + box["height"] <= 720, box  # above the fold, all of it
        pg.screenshot(path=str(ARTIFACTS / "images_presentation_1280x720.png"))
        pg.keyboard.press("Space")
    with checked_page(width=1280, height=720) as pg:  # the usual page: smaller digits, and lower
        pg.goto(app_url + "/Images")
        pg.locator(GRID).first.wait_for(timeout=120_000)
        normal = box_of(pg.locator(GRID).first)
        assert normal["height"] < 0.85 * box["height"] and normal["y"] > box["y"], (normal, box)
