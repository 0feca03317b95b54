"""Save and load a run in a real browser: the Playground's "Save / load" downloads the run as a zip;
after Reset, uploading it brings the run back at its step and training goes on from there; a file
that is not a run is refused with a message and changes nothing."""

import time

import pytest
from browser import ARTIFACTS, checked_page
from test_browser_app import click, open_app, step_count, wait_for_steps
from test_browser_keys import settles


@pytest.fixture
def page(app_url):
    with checked_page() as pg:
        yield pg


def open_files(page):
    page.locator(".st-key-files button").first.click()
    return page.locator("[data-testid=stPopoverBody]")


def wait_for_step(page, step: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while step_count(page) != step:
        assert time.time() < deadline, f"the step counter shows {step_count(page)}, not {step}"
        time.sleep(0.2)


def test_download_reset_upload_goes_on_where_it_was(page, app_url, tmp_path):
    open_app(page, app_url)
    click(page, "train")
    wait_for_steps(page, 40)
    click(page, "train")  # pause: the saved state is then exactly the shown step
    page.locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)
    paused = settles(page)  # the counter has stopped: the paused step
    body = open_files(page)
    with page.expect_download(timeout=30_000) as download:
        page.locator(".st-key-pg_files_download button").first.click()
    zip_path = tmp_path / "run.zip"
    download.value.save_as(zip_path)
    assert zip_path.stat().st_size > 10_000
    page.keyboard.press("Escape")

    click(page, "reset")
    wait_for_step(page, 0)
    bad = tmp_path / "notes.zip"
    bad.write_bytes(b"these are my lecture notes, not a run")
    body = open_files(page)
    body.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_text("notes.zip was not loaded").first.wait_for(timeout=30_000)
    assert step_count(page) == 0  # nothing changed

    body.locator("input[type=file]").set_input_files(str(zip_path))
    page.get_by_text("Loaded run.zip at step").first.wait_for(timeout=60_000)
    page.keyboard.press("Escape")
    wait_for_step(page, paused)
    page.screenshot(path=str(ARTIFACTS / "playground_loaded_run.png"), full_page=True)
    slider = page.locator(".st-key-rewind input[type=range]")  # the recorded training came with the zip
    slider.wait_for(state="attached", timeout=30_000)
    assert int(slider.get_attribute("max")) >= 4  # steps 0, 10, 20, 30 and more, then "now"
    click(page, "train")
    wait_for_steps(page, paused + 10)  # training goes on from the loaded step
    click(page, "train")


def test_the_live_picture_saves_as_a_png_for_a_slide(page, app_url, tmp_path):
    from PIL import Image
    from test_browser_app import CANVAS

    open_app(page, app_url)
    click(page, "train")
    wait_for_steps(page, 20)
    click(page, "train")
    with page.expect_download(timeout=30_000) as download:
        page.locator(".st-key-live_canvas .png").click()
    path = tmp_path / "plot.png"
    download.value.save_as(path)
    assert download.value.suggested_filename.startswith("energy-landscape-step-")
    size = page.locator(CANVAS).evaluate("cv => [cv.width, cv.height]")
    with Image.open(path) as im:
        assert im.format == "PNG" and list(im.size) == size
        rgba = im.convert("RGBA")
        assert rgba.getpixel((0, 0)) == (255, 255, 255, 255)  # on white, not transparent
        colours = rgba.resize((64, 64)).getcolors(64 * 64)
        assert colours is not None and len(colours) > 50  # the landscape, not a blank page
