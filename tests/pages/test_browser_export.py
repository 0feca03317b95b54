"""Export the recorded training for slides in a real browser: after training a little, "Export the
training for slides" hands over a GIF, an MP4 and an HTML player of it (the view and layers shown,
each frame labelled with its step); the HTML player, opened from disk, replays the training with its
slider and Play button without a single network request."""

import io

import numpy as np
import pytest
from browser import ARTIFACTS, checked_page, exported
from PIL import Image
from test_browser_app import click, open_app, wait_for_steps


@pytest.fixture
def page(app_url):
    with checked_page() as pg:
        yield pg


def export(page, label: str, tmp_path, ext: str):
    """Pick the format, press Export, and download the file once it is encoded."""
    path = exported(page, "train_export", ext, tmp_path, fmt=label)
    assert path.suffix == f".{ext}" and "step" in path.name
    return path


def test_the_recorded_training_exports_as_gif_mp4_and_an_offline_html_player(page, app_url, tmp_path):
    open_app(page, app_url, "?view=density")
    click(page, "train")
    wait_for_steps(page, 80)
    click(page, "train")
    page.locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)
    page.get_by_text("Export the training for slides").first.click()
    gif = export(page, "GIF", tmp_path, "gif")
    with Image.open(gif) as im:
        assert im.format == "GIF" and 9 <= im.n_frames <= 100
        im.seek(im.n_frames - 1)
        last = im.convert("RGB")
    assert "density" in gif.name and gif.stat().st_size < 5 * 2**20
    last.save(ARTIFACTS / "export_last_gif_frame.png")
    colours = np.unique(np.asarray(last).reshape(-1, 3), axis=0)
    assert last.size[0] == 480 and len(colours) > 10  # a picture, not a blank
    page.screenshot(path=str(ARTIFACTS / "export_panel.png"), full_page=True)

    mp4 = export(page, "MP4", tmp_path, "mp4")
    assert mp4.read_bytes()[4:8] == b"ftyp"

    html = export(page, "HTML player", tmp_path, "html")
    player = page.context.new_page()
    asked: list[str] = []
    player.on("request", lambda r: asked.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    player.goto(html.as_uri())
    label = player.locator("#label")
    first = label.inner_text()
    assert first == "step 0"
    player.locator("#play").click()
    player.wait_for_function("() => document.getElementById('play').textContent === 'Play'", timeout=30_000)
    assert label.inner_text() != first and player.locator("#slider").input_value() == player.locator(
        "#slider").get_attribute("max")  # played through to the last frame
    player.locator("#slider").fill("0")
    assert label.inner_text() == "step 0"
    shot = player.locator("#frame").screenshot()
    assert len(np.unique(np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).reshape(-1, 3), axis=0)) > 10
    player.screenshot(path=str(ARTIFACTS / "export_html_player.png"))
    player.close()
    assert asked == []  # opened from disk it asks nothing of any server
