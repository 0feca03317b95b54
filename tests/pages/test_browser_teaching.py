"""Teaching features of the Playground in a real browser: draw your own points and train on them.
Screenshots go to tests/artifacts/."""

import pytest
from browser import ARTIFACTS, checked_page
from test_browser_app import CANVAS, click, step_count, wait_for_steps
from test_browser_own_data import stroke

PAD = ".st-key-own_pad canvas.top"


@pytest.fixture
def page(app_url):
    with checked_page(height=1200) as pg:
        yield pg


def test_draw_points_and_train_on_them(page, app_url):
    page.goto(app_url + "/?dataset=custom")
    page.locator(PAD).wait_for(timeout=120_000)
    assert page.locator(CANVAS).count() == 0  # nothing to train on yet
    stroke(page, [(0.2, 0.2), (0.5, 0.45), (0.8, 0.2)])
    stroke(page, [(0.2, 0.8), (0.8, 0.8)])
    page.locator(CANVAS).wait_for(timeout=120_000)  # enough points: the landscape appears
    click(page, "train")
    wait_for_steps(page, 20, timeout=120)
    assert step_count(page) > 20
    page.screenshot(path=str(ARTIFACTS / "playground_own_data.png"), full_page=True)


def test_step_by_phase_shows_every_phase(page, app_url):
    from ebm_core.lessons.phases import PHASES

    page.goto(app_url + "/")
    page.locator(CANVAS).wait_for(timeout=120_000)
    click(page, "phase")
    panel = page.locator(".st-key-phase_panel")
    for i, (key, title, sentence) in enumerate(PHASES):
        panel.get_by_text(f"{i + 1}/{len(PHASES)}: {title}").wait_for(timeout=60_000)
        assert panel.get_by_text(sentence).count() == 1
        panel.locator("[data-testid=stPlotlyChart] .main-svg").first.wait_for(timeout=60_000)
        if key == "negatives":
            assert panel.get_by_text("Play").count() >= 1  # the chains animate from their starts
        page.screenshot(path=str(ARTIFACTS / f"phase_{i + 1}_{key}.png"))
        if i < len(PHASES) - 1:
            click(page, "phase_next")
    assert step_count(page) == 1
