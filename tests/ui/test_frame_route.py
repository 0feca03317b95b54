"""The frame route (ui/frame_route.py): a token reaches only its own run; a frame is the run's newest
picture drawn with the asked options; a request waits for a newer picture and answers 204 when none
comes; a paused run's repeated snapshots are not sent again; unknown tokens and bad views fail clearly."""

import asyncio
import base64
import gc
import io
import json
import re
import time

import numpy as np
import pytest
from PIL import Image

from ebm_core import config
from ebm_core.figures import playground as figures
from ebm_core.live import LiveRun
from ui import frame_route
from ui.components import canvas

SMALL = dict(width=32, n_steps=5, batch_size=64, buffer_size=512)


def _auth(token: str, auth: str | None) -> list:
    """The X-EBM-Auth header a page sends: the run's key unless the test gives another."""
    run = frame_route.lookup(token, ended_too=True)
    value = auth if auth is not None else (frame_route.key(run) if run is not None else "")
    return [(b"x-ebm-auth", value.encode("latin-1"))]


def get(token: str, query: str = "", auth: str | None = None) -> tuple[int, dict, bytes]:
    """Call the route's handler as the server would for GET /api/ebm/frame/<token>?<query>."""
    from starlette.requests import Request

    async def receive():
        await asyncio.sleep(3600)  # the client never disconnects

    scope = {"type": "http", "method": "GET", "path": frame_route.PATH.format(token=token),
             "headers": _auth(token, auth), "query_string": query.encode(), "path_params": {"token": token}}
    response = asyncio.run(frame_route._frame(Request(scope, receive)))
    return response.status_code, dict(response.headers), bytes(response.body)


@pytest.fixture(scope="module")
def run():
    r = LiveRun(config.RunConfig().replace(**SMALL), max_fps=50, diag_every_s=0.2).start()
    r.wait_for(lambda s: s.status == "paused")
    yield r
    r.request_stop()
    r.thread.join(10)


def test_a_frame_is_the_runs_picture_with_the_asked_layers(run):
    run.step_once(2)
    snap = run.wait_for(lambda s: s.step == 2)
    token = frame_route.token(run)
    assert frame_route.token(run) == token and len(token) >= 24  # one unguessable token per run
    status, headers, body = get(token, "view=density&layers=data,trails")
    assert status == 200 and headers["cache-control"] == "no-store"
    frame = canvas.decode_frame(body)
    assert frame.mode == "density" and frame.title == "step 2" and headers["x-frame-key"] == frame_route.frame_key(snap)
    grid, vmin, vmax = figures.view_grid(snap, "density")
    expect = np.clip(np.rint((grid - vmin) / (vmax - vmin) * 255), 0, 255)
    assert np.abs(frame.grid.astype(float) - expect).max() <= 1  # the same picture, quantised
    assert len(frame.data) > 0 and frame.trails.size > 0 and len(frame.negatives) == 0 and len(frame.field) == 0
    np.testing.assert_allclose(frame.data, snap.x_data[np.abs(snap.x_data).max(axis=1) <= snap.extent],
                               atol=2 * snap.extent / 32767)


def test_a_request_waits_for_a_newer_picture(run, monkeypatch):
    token = frame_route.token(run)
    status, headers, _ = get(token, "view=energy&layers=data")
    have = headers["x-frame-key"]
    # Paused: the worker keeps publishing snapshots (fresh diagnostics) of the same picture; none is sent.
    monkeypatch.setattr(frame_route, "HOLD_S", 0.6)
    t0 = time.monotonic()
    status, _, body = get(token, f"view=energy&layers=data&after={have}")
    assert status == 204 and body == b"" and time.monotonic() - t0 >= 0.55
    # A step while the request is held: the answer is the new picture, as soon as it exists.
    monkeypatch.setattr(frame_route, "HOLD_S", 30)
    step = run.latest().step
    run.step_once(1)
    t0 = time.monotonic()
    status, headers, body = get(token, f"view=energy&layers=data&after={have}")
    assert status == 200 and time.monotonic() - t0 < 10
    assert canvas.decode_frame(body).title == f"step {step + 1}" and headers["x-frame-key"] != have


def test_unknown_tokens_and_bad_views_fail_clearly(run):
    status, _, body = get("not-a-token", "view=energy")
    assert status == 404 and b"no such live run" in body
    status, _, body = get(frame_route.token(run), "view=surface")
    assert status == 400 and b"energy, density" in body
    status, _, _ = get(frame_route.token(run), "view=energy&layers=bogus,data")  # unknown layers are ignored
    assert status == 200


def test_a_token_without_its_runs_key_shows_nothing(run):
    t = frame_route.token(run)
    for wrong in ("", "guess", frame_route.key(run)[:-1], "é" * 24):
        status, _, body = get(t, "view=energy", auth=wrong)
        assert status == 403 and b"another session" in body
        assert get_panel(t, "numbers", auth=wrong)[0] == 403
    src = frame_route.source(run, "energy", {"data": True})
    path, _, key = src.partition("#")  # the key rides after '#': never part of a request or a logged URL
    assert key == frame_route.key(run) and t in path and key not in path
    assert get(t, "view=energy")[0] == 200


def test_a_stopped_or_collected_run_is_forgotten():
    r = LiveRun(config.RunConfig().replace(**SMALL)).start()
    token = frame_route.token(r)
    assert frame_route.lookup(token) is r
    r.request_stop()
    r.thread.join(10)
    assert frame_route.lookup(token) is None  # its worker is gone: 404
    del r
    gc.collect()
    frame_route.token(LiveRun(config.RunConfig()))  # making a token sweeps dead entries
    assert token not in frame_route._runs


def get_panel(token: str, name: str, query: str = "", auth: str | None = None) -> tuple[int, dict]:
    """Call the panel route's handler as the server would for GET /api/ebm/panel/<token>/<name>?<query>."""
    from starlette.requests import Request

    async def receive():
        await asyncio.sleep(3600)

    scope = {"type": "http", "method": "GET", "path": frame_route.PANEL_PATH.format(token=token, name=name),
             "headers": _auth(token, auth), "query_string": query.encode(),
             "path_params": {"token": token, "name": name}}
    response = asyncio.run(frame_route._panel(Request(scope, receive)))
    body = bytes(response.body)
    return response.status_code, json.loads(body) if response.status_code == 200 else body


def test_the_numbers_panel_carries_the_numbers_and_the_runs_state(run):
    run.step_once(1)
    snap = run.wait_for(lambda s: s.status == "paused" and s.step >= 1 and s.ack >= run._intent_seq)
    t = frame_route.token(run)
    status, j = get_panel(t, "numbers")
    assert status == 200 and j["state"] == frame_route.state_key(run) and j["state"].startswith("0|")
    assert f"data-step='{snap.step}'" in j["html"] and "KL to data" in j["html"]
    t0 = time.monotonic()
    status, _ = get_panel(t, "numbers", f"after={j['key']}&rendered={j['state']}")
    assert status == 204 and time.monotonic() - t0 >= frame_route.HOLD_S * 0.9  # nothing newer: held, then 204
    status, j2 = get_panel(t, "numbers", "empty=1")
    assert status == 200 and j2["html"] == ""  # numbers hidden: the panel only watches the state


def test_a_click_is_a_new_state_at_once_even_before_the_worker_answers(run):
    t = frame_route.token(run)
    run.wait_for(lambda s: s.status == "paused")
    status, j = get_panel(t, "numbers")
    shown = j["state"]
    run.play()
    assert frame_route.state_key(run).startswith("1|")  # the click counts before the worker read it
    t0 = time.monotonic()
    status, j = get_panel(t, "numbers", f"every=5000&rendered={shown}&after={j['key']}")
    assert status == 200 and j["state"].startswith("1|") and time.monotonic() - t0 < 2  # not held for 5 s
    run.pause()
    run.wait_for(lambda s: s.status == "paused" and s.ack >= run._intent_seq)
    assert not run.running


def test_a_new_status_is_shown_at_once_even_when_the_page_already_has_the_new_state(run):
    """After a Train click the page reruns with the new state, but the numbers it shows still say
    "paused": under load they refresh every 10 s, and a status change must not wait for that."""
    t = frame_route.token(run)
    run.wait_for(lambda s: s.status == "paused" and s.ack >= run._intent_seq)
    status, j = get_panel(t, "numbers")
    assert ".paused." in j["key"]
    run.play()
    run.wait_for(lambda s: s.status == "running")
    t0 = time.monotonic()
    status, j = get_panel(t, "numbers", f"every=10000&rendered={frame_route.state_key(run)}&after={j['key']}")
    assert status == 200 and ".running." in j["key"] and time.monotonic() - t0 < 2  # not held for 10 s
    t0 = time.monotonic()
    status, _ = get_panel(t, "numbers", f"every=1500&rendered={frame_route.state_key(run)}&after={j['key']}")
    assert status == 200 and time.monotonic() - t0 >= 1.4  # the same status: a newer step waits for `every`
    run.pause()
    run.wait_for(lambda s: s.status == "paused" and s.ack >= run._intent_seq)


def test_curves_and_surface_panels_are_plotly_figures_with_the_asked_layers(run):
    start = run.wait_for(lambda s: s.status == "paused" and s.ack >= run._intent_seq).step  # earlier tests trained
    run.step_once(3)
    run.wait_for(lambda s: s.step >= start + 3 and s.status == "paused" and s.ack >= run._intent_seq)
    t = frame_route.token(run)
    status, j = get_panel(t, "curves")
    assert status == 200 and {tr["name"] for tr in j["fig"]["data"]} >= {"loss", "KL(data || model)"}
    status, j = get_panel(t, "surface", "layers=data,negatives,trails")
    names = [tr.get("name") for tr in j["fig"]["data"]]
    assert status == 200 and names[0] == "energy" and {"data", "negatives", "chains"} <= set(names)
    assert j["fig"]["layout"]["uirevision"] == "surface"  # Plotly.react keeps a turned camera
    status, j = get_panel(t, "surface", "layers=")
    assert [tr.get("name") for tr in j["fig"]["data"]] == ["energy"]
    assert get_panel(t, "nope")[0] == 400 and get_panel(t, "numbers", "every=soon")[0] == 400
    assert get_panel("not-a-token", "numbers")[0] == 404


def test_layers_on_the_surface_lie_on_it(run):
    snap = run.wait_for(lambda s: s.step >= 1)
    fig = figures.surface_figure(snap, {"data", "trails"})
    surface, data = fig.data[0], fig.data[1]
    n = snap.energy.shape[0]
    z = np.asarray(surface.z, dtype=np.float64)
    xs = np.asarray(surface.x, dtype=np.float64)
    for x, y, h in zip(data.x[:50], data.y[:50], data.z[:50]):  # near the nearest grid node's height, lifted
        i, j = np.abs(xs - y).argmin(), np.abs(xs - x).argmin()
        assert abs(h - z[i, j] - 0.03 * figures.ENERGY_SPAN) < np.ptp(z) / n * 8 + 0.5


def test_the_images_panels_show_the_runs_pictures_numbers_and_state():
    from ui import image_controls

    r = LiveRun(config.ImageRunConfig().replace(width=8, batch_size=16, n_steps=5, buffer_size=256), task="images",
                max_fps=50, diag_every_s=0.2).start()
    try:
        r.step_once(2)
        snap = r.wait_for(lambda s: s.step == 2 and s.status == "paused" and s.diagnostics is not None)
        t = frame_route.token(r)
        deadline = time.monotonic() + 60
        while image_controls.classifier_if_ready("digits") is None:  # fitted in the background, once
            assert time.monotonic() < deadline, "the reference classifier was not fitted within 60 s"
            time.sleep(0.2)
        status, j = get_panel(t, "images")
        assert status == 200 and j["state"] == frame_route.state_key(r) and j["state"].startswith("0|")
        html = j["html"]
        assert f"data-step='{snap.step}'" in html and html.count("<img ") == 2
        assert html.count("src='data:image/png;base64,") == 2 and re.search(r"Recognised \(buffer\).*?\d+%", html)
        sized = re.findall(r"<img [^>]*width='(\d+)' height='(\d+)' src='data:image/png;base64,([^']+)'", html)
        assert len(sized) == 2  # each tag holds its picture's own size: the box keeps it while a new one decodes
        for w, h, data in sized:
            with Image.open(io.BytesIO(base64.b64decode(data))) as im:
                assert im.size == (int(w), int(h))
        status, _ = get_panel(t, "images", f"after={j['key']}&rendered={j['state']}")
        assert status == 204  # a paused run's repeated snapshots are not sent again
        r.play()
        status, j2 = get_panel(t, "images", f"every=5000&rendered={j['state']}&after={j['key']}")
        assert status == 200 and j2["state"].startswith("1|")  # the Images page's panel watches the state too
        r.pause()
        for name, title in (("image_curves", "Mean energy"), ("image_hist", "E now: data vs negatives")):
            status, j = get_panel(t, name)
            assert status == 200 and title in json.dumps(j["fig"]["layout"])
            assert j["fig"]["layout"]["yaxis"]["automargin"] is True  # plotly.js makes room for the labels
    finally:
        r.request_stop()
        r.thread.join(10)
