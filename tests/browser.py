"""Helpers for browser tests: the shared server and browser tools (devtools/browser.py), a page that
fails the test when Streamlit shows an exception, and a canvas sampler. Without Chromium a browser
test is skipped, except under CI, where it fails."""

import os
from contextlib import contextmanager

import pytest

from devtools.browser import (  # noqa: F401  (the tests import these from here)
    CHROMIUM_ARGS,
    ROOT,
    SERVER_PIDS,
    descendants,
    find_chromium,
    free_port,
    streamlit_server,
    training_processes,
)
from devtools.browser import browser as _browser

ARTIFACTS = ROOT / "tests" / "artifacts"


def chromium_path() -> str:
    exe = find_chromium()
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


@contextmanager
def browser(width: int = 1500, height: int = 1000, device_scale_factor: float = 1):
    with _browser(width, height, device_scale_factor, executable=chromium_path()) as ctx:
        yield ctx


@contextmanager
def checked_page(width: int = 1500, height: int = 1000):
    """A fresh page in a fresh browser; on leaving, asserts that no Streamlit exception element showed."""
    with browser(width=width, height=height) as ctx:
        pg = ctx.new_page()
        yield pg
        assert pg.locator("[data-testid=stException]").count() == 0, "an exception element appeared"


def exported(page, key: str, ext: str, tmp_path, fmt: str | None = None):
    """An export row (ui/movie_export.py) with widget keys `key`_fmt/_go/_download: pick the format
    labelled `fmt` (if given), press Export, wait until Download offers the .ext file, and save it in
    tmp_path under its suggested name; returns the path."""
    if fmt is not None:
        page.locator(f".st-key-{key}_fmt button").filter(has_text=fmt).first.click()
    page.locator(f".st-key-{key}_go button:visible").first.click()
    button = page.locator(f".st-key-{key}_download button").filter(has_text=f".{ext}")
    button.first.wait_for(timeout=90_000)
    with page.expect_download(timeout=30_000) as download:
        button.first.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    return path


# Samples a live canvas's data-frame on every animation frame for `ms`, and whether its pixels changed.
CANVAS_SAMPLE_JS = """(cv, ms) => new Promise(done => {
  const seen = new Set(), t0 = performance.now(), shot0 = cv.toDataURL();
  const first = +cv.dataset.frame, draws0 = +cv.dataset.draws;
  const tick = () => {
    seen.add(cv.dataset.frame);
    if (performance.now() - t0 < ms) return requestAnimationFrame(tick);
    done({distinct: seen.size, first, last: +cv.dataset.frame, draws: +cv.dataset.draws - draws0,
          seconds: (performance.now() - t0) / 1000, mounts: cv.dataset.mounts, connected: cv.isConnected,
          changed: cv.toDataURL() !== shot0, cssWidth: cv.clientWidth, pxWidth: cv.width});
  };
  requestAnimationFrame(tick);
})"""
