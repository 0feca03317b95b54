"""The frame route (ui/frame_route.py): a token reaches only its own run; a frame is the run's newest
picture drawn with the asked options; a request waits for a newer picture and answers 204 when none
comes; a paused run's repeated snapshots are not sent again; unknown tokens and bad views fail clearly."""

import asyncio
import gc
import time

import numpy as np
import pytest

from ebm_core import config, figures
from ebm_core.live import LiveRun
from ui import canvas, frame_route

SMALL = dict(width=32, n_steps=5, batch_size=64, buffer_size=512)


def get(token: str, query: str = "") -> tuple[int, dict, bytes]:
    """Call the route's handler as the server would for GET /api/ebm/frame/<token>?<query>."""
    from starlette.requests import Request

    async def receive():
        await asyncio.sleep(3600)  # the client never disconnects

    scope = {"type": "http", "method": "GET", "path": frame_route.PATH.format(token=token), "headers": [],
             "query_string": query.encode(), "path_params": {"token": token}}
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


def test_a_quiet_fragment_timer_is_reported_while_training(run, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(frame_route.time, "monotonic", lambda: clock[0])
    t = frame_route.token(run)
    frame_route.expect(run, numbers=0.5, curves=2.0, surface=None)
    frame_route.beat(run, "numbers")
    clock[0] += 3.4
    assert frame_route.stale(t) == []  # within 3 intervals + 2 s of the full run
    clock[0] += 0.2
    assert frame_route.stale(t) == ["numbers"]
    frame_route.beat(run, "numbers")
    clock[0] += 3.0
    frame_route.beat(run, "numbers")
    clock[0] += 1.5
    assert frame_route.stale(t) == ["curves"]  # 8.1 s since the full run: > 3 * 2 + 2
    frame_route.expect(run, numbers=0.5, curves=2.0)  # a full run restarts every timer
    assert frame_route.stale(t) == []


def test_the_stale_header_comes_only_while_training(run, monkeypatch):
    t = frame_route.token(run)
    frame_route.expect(run, ghost=0.01)  # a fragment that never reports
    time.sleep(2.1)
    assert frame_route.stale(t) == ["ghost"]
    run.wait_for(lambda s: s.status == "paused")
    status, headers, _ = get(t, "view=energy")
    assert status == 200 and "x-stale" not in headers
    run.play()
    try:
        snap = run.wait_for(lambda s: s.status == "running" and s.step > 3)
        status, headers, _ = get(t, f"view=energy&after={frame_route.frame_key(snap)}")
        assert status == 200 and headers["x-stale"] == "ghost"
    finally:
        run.pause()
        run.wait_for(lambda s: s.status == "paused")
