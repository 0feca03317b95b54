"""The "your own data" panel: the pad's data format and stroke bookkeeping, the plain helpers behind
strokes and uploads, and the panel in AppTest on a tiny host page (tests/pages_for_tests/).

AppTest cannot drive a components-v2 element, so `send_strokes` delivers a stroke the way the
browser does: as the component's trigger value, through AppTest's private run-with-widget-states
hook (Streamlit 1.67). The browser test draws real strokes with the mouse.
"""

import io
import json

import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.state.session_state import STREAMLIT_INTERNAL_KEY_PREFIX
from streamlit.testing.v1 import AppTest

from ebm_core import userdata
from ui import own_data
from ui.components.draw_pad import Q, decode_pad, encode_pad, new_strokes

HOST = str(ROOT / "tests" / "pages_for_tests" / "own_data_host.py")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def csv_bytes(points) -> bytes:
    return ("x,y\n" + "".join(f"{x},{y}\n" for x, y in points)).encode()


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def dark_disc(size=64, radius=20) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.where((xx - size / 2) ** 2 + (yy - size / 2) ** 2 < radius**2, 0, 255)


# ---------------------------------------------------------------------------------------------------
# The pad's data and strokes


def test_encode_pad_round_trips_points_inside_the_box():
    pts = np.array([[0.0, 0.0], [3.9, -2.5], [-4.0, 4.0], [4.5, 0.0], [np.nan, 1.0]])
    d = decode_pad(encode_pad(pts, extent=4.0, brush=0.3, applied=7))
    assert (d.extent, d.applied) == (4.0, 7) and d.brush == pytest.approx(0.3)
    np.testing.assert_allclose(d.points, pts[:3], atol=4.0 / Q)  # outside and NaN dropped


@pytest.mark.parametrize("kw", [dict(extent=0.0), dict(brush=-1.0), dict(applied=-1), dict(extent=np.inf)])
def test_encode_pad_refuses_bad_arguments(kw):
    name = next(iter(kw))
    with pytest.raises(ValueError, match=name):
        encode_pad(np.zeros((1, 2)), **{**dict(extent=4.0, brush=0.3, applied=0), **kw})


def test_new_strokes_keeps_only_unapplied_ones_in_order_and_skips_junk():
    sent = [{"id": 3, "centres": [[1, 1]]}, {"id": 1, "centres": [[0, 0]]}, {"id": 2, "centres": [[0.5, 0], [0, 0.5]]},
            {"id": 4}, {"id": 5, "centres": [[1, 2, 3]]}, "junk", {"id": 6, "centres": [[np.nan, 0]]}]
    strokes, applied = new_strokes(sent, 1)
    assert [s.tolist() for s in strokes] == [[[0.5, 0], [0, 0.5]], [[1, 1]]]
    assert applied == 6  # a stroke with nothing usable still counts as seen
    assert new_strokes(None, 4) == ([], 4) and new_strokes({"id": 9}, 4) == ([], 4)


# ---------------------------------------------------------------------------------------------------
# Plain helpers


def test_add_stroke_scatters_per_dab_points_per_centre_within_the_brush():
    centres = np.array([[0.0, 0.0], [1.0, 0.5], [-2.0, 3.0]])
    pts, note = userdata.add_stroke(np.zeros((0, 2), np.float32), centres, brush=0.4, per_dab=7, generator=gen())
    assert note is None and pts.shape == (21, 2) and pts.dtype == np.float32
    dist = np.linalg.norm(pts[:, None, :] - centres[None], axis=2).min(axis=1)  # (21,)
    assert (dist <= 0.4 + 1e-6).all()
    again, _ = userdata.add_stroke(np.zeros((0, 2), np.float32), centres, brush=0.4, per_dab=7, generator=gen())
    np.testing.assert_array_equal(pts, again)  # the generator decides everything


def test_add_stroke_drops_points_outside_the_box_and_stops_at_the_cap():
    edge, _ = userdata.add_stroke(np.zeros((0, 2), np.float32), np.array([[4.0, 4.0]]), brush=0.5, per_dab=400,
                                  generator=gen())
    assert 0 < len(edge) < 400 and (np.abs(edge) <= userdata.EXTENT).all()
    full = np.zeros((95, 2), np.float32)
    pts, note = userdata.add_stroke(full, np.zeros((3, 2)), brush=0.3, per_dab=5, generator=gen(), max_points=100)
    assert len(pts) == 100 and "only 5 of this stroke's 15" in note
    pts, note = userdata.add_stroke(pts, np.zeros((1, 2)), brush=0.3, per_dab=5, generator=gen(), max_points=100)
    assert len(pts) == 100 and "full (100 points)" in note


def test_load_csv_fits_the_points_as_the_dataset_will_and_reports_bad_files():
    pts, dropped = userdata.load_csv(csv_bytes([(i, i * i) for i in range(30)]))  # x in [0, 29], y in [0, 841]
    assert pts.shape == (30, 2) and pts.dtype == np.float32 and dropped == 0
    np.testing.assert_allclose([pts[:, 1].min(), pts[:, 1].max()], [-userdata.FIT, userdata.FIT], rtol=1e-6)
    np.testing.assert_allclose(userdata.fit_to_box(pts), pts, atol=1e-5)  # points_dataset will not move them
    for bad in [b"", b"x,y\n1,2\n3,abc\n", b"1,2,3\n4,5,6\n"]:
        with pytest.raises(ValueError):
            userdata.load_csv(bad)


def test_load_image_puts_the_points_on_the_dark_pixels():
    pts = userdata.load_image(png_bytes(dark_disc()), 500, generator=gen())
    assert pts.shape == (500, 2) and (np.abs(pts) <= userdata.EXTENT).all()
    r = np.linalg.norm(pts - pts.mean(axis=0), axis=1)
    assert r.max() <= 1.1 * userdata.FIT  # a filled disc
    with pytest.raises(ValueError):
        userdata.load_image(png_bytes(np.full((32, 32), 255)), 100, generator=gen())
    with pytest.raises(ValueError):
        userdata.load_image(b"not an image", 100, generator=gen())


# ---------------------------------------------------------------------------------------------------
# The panel in AppTest


def open_host(**state) -> AppTest:
    at = AppTest.from_file(HOST, default_timeout=60)
    at.session_state["own_seed"] = 1234
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def send_strokes(at: AppTest, strokes: list[dict]) -> AppTest:
    """Run the page as the browser does after a stroke: with the pad's trigger value set."""
    pad = at.get("bidi_component")[0]
    events = f"{STREAMLIT_INTERNAL_KEY_PREFIX}_{pad.proto.id}__events"
    ws = at._tree.get_widget_states()
    ws.widgets.append(WidgetState(id=events, json_trigger_value=json.dumps([{"event": "strokes", "value": strokes}])))
    return at._run(ws)


def count(at) -> int:
    return int(at.metric[0].value.replace(",", ""))


def returned(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("returned:")).split(": ")[1]


def shown(at):
    """What the page hands the pad: the decoded data of the components-v2 element."""
    return decode_pad(at.get("bidi_component")[0].proto.bytes)


def test_the_panel_starts_empty_and_explains_itself():
    at = open_host()
    assert not at.exception
    assert count(at) == 0 and returned(at) == "None"
    assert any("at least 20 points" in i.value for i in at.info)
    assert any("blurred by a small Gaussian" in c.value for c in at.caption)
    assert at.button(key="own_undo").disabled and at.button(key="own_clear").disabled
    assert len(shown(at).points) == 0 and shown(at).extent == userdata.EXTENT


def test_strokes_add_points_and_undo_and_clear_step_back():
    at = open_host()
    at.slider(key="own_per_dab").set_value(5).run()
    send_strokes(at, [{"id": 1, "centres": [[0, 0], [0.3, 0], [0.6, 0]]}])
    assert not at.exception and count(at) == 15 and returned(at) == "None"
    send_strokes(at, [{"id": 2, "centres": [[1, 1], [1.3, 1]]}])
    assert count(at) == 25 and returned(at) == "25"
    d = shown(at)
    assert len(d.points) == 25 and d.applied == 2 and d.brush == pytest.approx(0.4)
    at.button(key="own_undo").click().run()
    assert count(at) == 15 and returned(at) == "None"
    at.button(key="own_clear").click().run()
    assert count(at) == 0 and at.button(key="own_clear").disabled
    at.button(key="own_undo").click().run()
    assert count(at) == 15


def test_strokes_merged_into_one_rerun_are_all_applied_once():
    at = open_host()
    at.slider(key="own_per_dab").set_value(2).run()
    # two strokes drawn while the script was busy arrive together
    send_strokes(at, [{"id": 1, "centres": [[0, 0]]}, {"id": 2, "centres": [[1, 1], [2, 2]]}])
    assert count(at) == 6
    # a later trigger that still lists them (not acknowledged yet) adds only the new one
    send_strokes(at, [{"id": 1, "centres": [[0, 0]]}, {"id": 2, "centres": [[1, 1], [2, 2]]},
                      {"id": 3, "centres": [[3, 3]]}])
    assert count(at) == 8 and shown(at).applied == 3
    at.run()  # a plain rerun adds nothing
    assert count(at) == 8


def test_the_same_session_seed_draws_the_same_points():
    def draw():
        at = open_host()
        send_strokes(at, [{"id": 1, "centres": [[0, 0], [1, 0]]}])
        return np.array(at.session_state["own_points"])

    np.testing.assert_array_equal(draw(), draw())


def test_a_bad_csv_shows_its_error_and_keeps_the_points_a_good_one_replaces_them():
    at = open_host()
    send_strokes(at, [{"id": 1, "centres": [[0, 0]] * 5}])
    before = np.array(at.session_state["own_points"])
    at.file_uploader(key="own_csv").set_value(("bad.csv", b"x,y\n1,2\n3,abc\n", "text/csv")).run()
    assert not at.exception
    assert len(at.error) == 1 and "bad.csv" in at.error[0].value and "left as they were" in at.error[0].value
    np.testing.assert_array_equal(at.session_state["own_points"], before)
    at.file_uploader(key="own_csv").set_value(("moons.csv", csv_bytes([(i, -i) for i in range(40)]), "text/csv")).run()
    assert not at.error and count(at) == 40 and returned(at) == "40"
    assert "Loaded 40 points from moons.csv" in at.success[0].value
    at.button(key="own_undo").click().run()
    np.testing.assert_array_equal(at.session_state["own_points"], before)


def test_an_image_gives_the_chosen_number_of_points_and_resamples_when_it_changes():
    at = open_host()
    at.file_uploader(key="own_image").set_value(("disc.png", png_bytes(dark_disc()), "image/png")).run()
    assert not at.exception and count(at) == 1000 and "disc.png" in at.success[0].value
    at.slider(key="own_image_n").set_value(300).run()
    assert count(at) == 300
    at.file_uploader(key="own_image").set_value(("white.png", png_bytes(np.full((16, 16), 255)), "image/png")).run()
    assert len(at.error) == 1 and "white.png" in at.error[0].value and count(at) == 300


def test_moving_the_points_slider_resamples_without_decoding_the_image_again(monkeypatch):
    opened = []
    real_open = Image.open

    def counting_open(*args, **kwargs):
        opened.append(1)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    at = open_host()
    at.file_uploader(key="own_image").set_value(("disc.png", png_bytes(dark_disc()), "image/png")).run()
    assert count(at) == 1000 and len(opened) == 1
    for n in (300, 2000, 500):
        at.slider(key="own_image_n").set_value(n).run()
        assert not at.exception and count(at) == n and "Drew" in at.success[0].value
    assert len(opened) == 1
    name, _, darkness = at.session_state["own_image_kept"]  # what the session keeps: a small array, no file
    assert name == "disc.png" and darkness.nbytes <= userdata.MAX_IMAGE_SIDE**2 * 4


def test_a_csv_with_an_outlier_drops_it_and_says_so():
    t = np.random.default_rng(0).uniform(0, 2 * np.pi, 200)
    at = open_host()
    data = csv_bytes([*zip(np.cos(t), np.sin(t), strict=True), (1e30, 1e30)])
    at.file_uploader(key="own_csv").set_value(("ring.csv", data, "text/csv")).run()
    assert not at.exception and not at.error and count(at) == 200
    assert "Loaded 200 of the 201 points in ring.csv" in at.warning[0].value
    assert "Dropped 1 outlier point(s) far from the rest" in at.warning[0].value
    pts = np.array(at.session_state["own_points"])
    np.testing.assert_allclose(np.ptp(pts, axis=0), 2 * userdata.FIT, rtol=1e-3)  # the ring fills the box


def test_a_too_large_csv_is_refused_in_place_of_the_old_message():
    at = open_host()
    send_strokes(at, [{"id": 1, "centres": [[0, 0]] * 5}])
    before = np.array(at.session_state["own_points"])
    at.file_uploader(key="own_csv").set_value(("bad.csv", b"x,y\n1,2\n3,abc\n", "text/csv")).run()
    assert "bad.csv" in at.error[0].value
    big = b"x,y\n" + b"1.0,2.0\n" * (11_000_000 // 8)  # 11 MB: over the panel's 10 MB
    at.file_uploader(key="own_csv").set_value(("big.csv", big, "text/csv")).run()
    assert not at.exception and len(at.error) == 1
    assert "big.csv is 11.0 MB" in at.error[0].value and "at most 10 MB" in at.error[0].value
    assert not any("bad.csv" in e.value for e in at.error)
    np.testing.assert_array_equal(at.session_state["own_points"], before)
    # the browser lets such files through to the panel (one it refuses itself never reaches the server)
    assert at.file_uploader(key="own_csv").proto.max_upload_size_mb > own_data.CSV_MAX_MB
    assert at.file_uploader(key="own_image").proto.max_upload_size_mb > own_data.IMAGE_MAX_MB


def test_removing_a_file_clears_the_error_about_it():
    at = open_host()
    at.file_uploader(key="own_csv").set_value(("bad.csv", b"x,y\n1,2\n3,abc\n", "text/csv")).run()
    assert "bad.csv" in at.error[0].value
    at.file_uploader(key="own_csv").set_value(None).run()
    assert not at.exception and not at.error
    at.file_uploader(key="own_image").set_value(("white.png", png_bytes(np.full((16, 16), 255)), "image/png")).run()
    assert "white.png" in at.error[0].value
    at.file_uploader(key="own_image").set_value(None).run()
    assert not at.error
    at.file_uploader(key="own_csv").set_value(("moons.csv", csv_bytes([(i, -i) for i in range(40)]), "text/csv")).run()
    at.file_uploader(key="own_csv").set_value(None).run()  # a success message stays: the points are still there
    assert "Loaded 40 points from moons.csv" in at.success[0].value


def test_the_point_cap_is_explained():
    near_full = np.zeros((own_data.MAX_POINTS - 4, 2), np.float32)
    at = open_host(own_points=near_full)
    at.slider(key="own_per_dab").set_value(10).run()
    send_strokes(at, [{"id": 1, "centres": [[0, 0]]}])
    assert count(at) == own_data.MAX_POINTS
    assert "full (20,000 points)" in at.warning[0].value
