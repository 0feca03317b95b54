"""The live canvas: the binary frame format round-trips, and in a browser the element animates in place."""

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from browser import ARTIFACTS, CANVAS_SAMPLE_JS, browser, chromium_path, streamlit_server
from conftest import ROOT

from ui.components.canvas import MISSING, Q, decode_frame, encode_frame


def frame_kwargs(rng, *, n=64, extent=4.0, n_data=512, n_neg=256, chains=8, steps=20, arrows=100):
    """Arguments for a typical frame: every layer inside the box."""
    return dict(grid=rng.normal(size=(n, n)), extent=extent, mode="energy", vmin=-2.0, vmax=2.0,
                data=rng.uniform(-extent, extent, (n_data, 2)), negatives=rng.uniform(-extent, extent, (n_neg, 2)),
                trails=rng.uniform(-extent, extent, (chains, steps, 2)),
                field=np.concatenate([rng.uniform(-extent, extent, (arrows, 2)), rng.normal(0, .2, (arrows, 2))], 1),
                frame_id=42, title="Energy \u00b7 step 1200")


# ---------------------------------------------------------------------------------------------------
# Pure Python: the format


def test_header_fields_round_trip():
    kw = frame_kwargs(np.random.default_rng(0)) | dict(mode="density", vmin=0.5, vmax=3.25, frame_id=2**32 - 1)
    f = decode_frame(encode_frame(**kw))
    header = (f.mode, f.frame_id, f.extent, f.vmin, f.vmax, f.title)
    assert header == ("density", 2**32 - 1, 4.0, 0.5, 3.25, kw["title"])
    assert f.grid.shape == (64, 64) and f.grid.dtype == np.uint8
    assert f.data.shape == (512, 2) and f.negatives.shape == (256, 2)
    assert f.trails.shape == (8, 20, 2) and f.field.shape == (100, 4)


def test_grid_maps_vmin_to_0_and_vmax_to_255_and_clips():
    grid = np.array([[-5.0, -1.0, 0.0], [1.0, 3.0, 9.0], [np.nan, np.inf, -np.inf]])
    f = decode_frame(encode_frame(grid=grid, extent=1, mode="energy", vmin=-1, vmax=3, data=None, negatives=None,
                                  trails=None, field=None, frame_id=0))
    np.testing.assert_array_equal(f.grid, [[0, 0, 64], [128, 255, 255], [0, 255, 0]])


def test_grid_rows_are_y():
    grid = np.add.outer(np.arange(4.0), np.zeros(4))  # value = row index = y index
    f = decode_frame(encode_frame(grid=grid, extent=1, mode="energy", vmin=0, vmax=3, data=None, negatives=None,
                                  trails=None, field=None, frame_id=0))
    np.testing.assert_array_equal(f.grid[:, 0], [0, 85, 170, 255])


def test_coordinates_round_trip_within_quantisation():
    rng = np.random.default_rng(1)
    kw = frame_kwargs(rng, extent=3.0)
    f = decode_frame(encode_frame(**kw))
    tol = 3.0 / Q * 2
    for name in ("data", "negatives", "trails", "field"):
        np.testing.assert_allclose(getattr(f, name), kw[name], atol=tol, err_msg=name)


def test_points_outside_the_box_are_dropped_and_trails_are_clipped():
    data = np.array([[0.5, 0.5], [2.5, 0.0], [0.0, -2.01], [np.nan, 0.0], [-2.0, 2.0]])
    field = np.array([[0.0, 0.0, 5.0, -5.0], [3.0, 0.0, 0.1, 0.1], [1.0, 1.0, np.inf, 0.0]])
    trails = np.array([[[0.0, 0.0], [5.0, -9.0], [np.nan, 1.0], [1.0, 1.0]]])
    f = decode_frame(encode_frame(grid=np.zeros((2, 2)), extent=2, mode="energy", vmin=0, vmax=1, data=data,
                                  negatives=data, trails=trails, field=field, frame_id=1))
    np.testing.assert_allclose(f.data, [[0.5, 0.5], [-2.0, 2.0]], atol=1e-4)
    np.testing.assert_array_equal(f.negatives, f.data)
    np.testing.assert_allclose(f.field, [[0.0, 0.0, 2.0, -2.0]], atol=1e-4)  # the step is clipped too
    np.testing.assert_allclose(f.trails, [[[0, 0], [2, -2], [np.nan, np.nan], [1, 1]]], atol=1e-4)


def test_missing_trail_points_use_the_sentinel():
    trails = np.array([[[np.inf, 0.0]]])
    frame = encode_frame(grid=np.zeros((2, 2)), extent=1, mode="energy", vmin=0, vmax=1, data=None, negatives=None,
                         trails=trails, field=None, frame_id=0)
    assert np.frombuffer(frame[-4:], "<i2").tolist() == [MISSING, MISSING]


def test_none_layers_encode_as_empty():
    f = decode_frame(encode_frame(grid=np.zeros((3, 3)), extent=1, mode="density", vmin=0, vmax=1, data=None,
                                  negatives=None, trails=None, field=None, frame_id=5))
    assert f.data.shape == (0, 2) and f.negatives.shape == (0, 2)
    assert f.trails.shape == (0, 0, 2) and f.field.shape == (0, 4) and f.title == ""


@pytest.mark.parametrize("change, word", [
    (dict(grid=np.zeros((4, 5))), "grid"),
    (dict(grid=np.zeros(16)), "grid"),
    (dict(grid=np.zeros((1, 1))), "grid"),
    (dict(data=np.zeros((5, 3))), "data"),
    (dict(negatives=np.zeros(4)), "negatives"),
    (dict(trails=np.zeros((3, 4))), "trails"),
    (dict(field=np.zeros((3, 2))), "field"),
    (dict(mode="contour"), "mode"),
    (dict(extent=0.0), "extent"),
    (dict(vmin=2.0, vmax=2.0), "vmin"),
    (dict(vmax=np.nan), "vmin"),
    (dict(frame_id=-1), "frame_id"),
    (dict(frame_id=2**32), "frame_id"),
])
def test_bad_arguments_raise_value_error_naming_them(change, word):
    kw = frame_kwargs(np.random.default_rng(2)) | change
    with pytest.raises(ValueError, match=word):
        encode_frame(**kw)


def test_typical_frame_is_small():
    frame = encode_frame(**frame_kwargs(np.random.default_rng(3)))
    # header 36 + title + 64*64 grid + 4 bytes per point + 8 per arrow
    assert len(frame) == 36 + len("Energy \u00b7 step 1200".encode()) + 4096 + 4 * (512 + 256 + 160) + 8 * 100
    assert len(frame) < 9_000


def test_decode_rejects_foreign_bytes():
    frame = encode_frame(**frame_kwargs(np.random.default_rng(4)))
    with pytest.raises(ValueError, match="EBL1"):
        decode_frame(b"XXXX" + frame[4:])
    with pytest.raises(ValueError, match="bytes"):
        decode_frame(frame + b"\0")


# ---------------------------------------------------------------------------------------------------
# Browser: a throwaway app animates a moving Gaussian at run_every=0.1

DEMO = '''
"""Frames of a Gaussian energy whose centre circles the origin; shared by the demo app and the test."""
import numpy as np
from ui.components.canvas import encode_frame

N, EXTENT = 64, 4.0
XS = -EXTENT + (np.arange(N) + 0.5) * 2 * EXTENT / N
GX, GY = np.meshgrid(XS, XS)  # (N, N): row = y
RNG = np.random.default_rng(0)
ANGLE = RNG.uniform(0, 2 * np.pi, 512)
DATA = np.stack([2.5 * np.cos(ANGLE), 2.5 * np.sin(ANGLE)], 1) + RNG.normal(0, 0.15, (512, 2))  # a ring
AX = np.linspace(-3.5, 3.5, 10)
ARROW_BASE = np.stack(np.meshgrid(AX, AX), -1).reshape(-1, 2)  # (100, 2)


def make_frame(k, mode="energy"):
    t = 0.15 * k
    c = 2.5 * np.array([np.cos(t), np.sin(t)])
    energy = 0.5 * ((GX - c[0]) ** 2 + (GY - c[1]) ** 2) / 1.2 ** 2
    rng = np.random.default_rng(k)
    negatives = c + 1.2 * rng.normal(size=(256, 2))
    start = rng.uniform(-3.5, 3.5, (8, 1, 2))
    trails = start + (c - start) * np.linspace(0, 0.8, 20)[None, :, None] + 0.08 * rng.normal(size=(8, 20, 2))
    field = np.concatenate([ARROW_BASE, -0.12 * (ARROW_BASE - c)], 1)
    if mode == "energy":
        grid, vmin, vmax, title = energy, 0.0, 12.0, f"Energy E(x) \u00b7 step {k}"
    else:
        p = np.exp(-energy)
        grid, vmin, vmax, title = p / (p.sum() * (XS[1] - XS[0]) ** 2), 0.0, 0.12, f"Density p(x) \u00b7 step {k}"
    return encode_frame(grid=grid, extent=EXTENT, mode=mode, vmin=vmin, vmax=vmax, data=DATA, negatives=negatives,
                        trails=trails, field=field, frame_id=k, title=title)
'''

APP = '''
import sys
sys.path[:0] = [{root!r}, {here!r}]
import streamlit as st
from demo_frames import make_frame
from ui.components.canvas import live_canvas

st.set_page_config(layout="wide")
st.session_state.setdefault("k", 0)


@st.fragment(run_every=0.1)
def live():
    st.session_state.k += 1
    left, right = st.columns(2)
    with left:
        live_canvas(make_frame(st.session_state.k, "energy"), key="energy")
    with right:
        live_canvas(make_frame(st.session_state.k, "density"), key="density")


live()
'''

@pytest.fixture(scope="module")
def demo_app():
    chromium_path()
    here = Path(tempfile.mkdtemp(prefix="canvas_app_"))
    (here / "demo_frames.py").write_text(DEMO)
    (here / "app.py").write_text(APP.format(root=str(ROOT), here=str(here)))
    try:
        with streamlit_server(here / "app.py", cwd=here) as url:
            yield url, here
    finally:
        shutil.rmtree(here, ignore_errors=True)


def test_canvas_animates_in_place_in_a_browser(demo_app):
    url, here = demo_app
    with browser(1280, 680, device_scale_factor=2) as ctx:
        page = ctx.new_page()
        page.goto(url)
        canvas = page.locator(".st-key-energy .ebm-live-canvas canvas[data-frame]")
        canvas.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # past the first full run: measure the steady state
        stats = canvas.evaluate(CANVAS_SAMPLE_JS, 3000)
        density = page.locator(".st-key-density .ebm-live-canvas canvas[data-frame]")
        assert density.get_attribute("data-mounts") == "1"
        assert page.locator("[data-testid=stException]").count() == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "canvas.png"))
    sys.path.insert(0, str(here))
    from demo_frames import make_frame

    size = len(make_frame(100))
    fps = stats["distinct"] / stats["seconds"]
    print(f"\ncanvas: {fps:.1f} frames/s, {stats['draws']} draws in {stats['seconds']:.1f} s, frame {size} bytes")
    assert stats["distinct"] >= 10 and stats["last"] > stats["first"], stats
    assert stats["mounts"] == "1" and stats["connected"], stats  # updated in place, never remounted
    assert stats["changed"], stats
    assert stats["pxWidth"] == 2 * stats["cssWidth"], stats  # backing store follows devicePixelRatio
    assert size < 9_000
