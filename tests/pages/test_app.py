"""The Playground page in AppTest: defaults render, every dataset renders, bad links warn and fall
back, Step advances the counter, settings reach the running thread."""

import re
import threading
import time

import pytest
import streamlit as st
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ebm_core import config

APP = str(ROOT / "app.py")


@pytest.fixture(autouse=True)
def no_leaked_trainers():
    yield
    st.cache_resource.clear()  # fires on_release for session-scoped runs
    deadline = time.time() + 10
    while any(t.name.startswith("ebm-trainer") for t in threading.enumerate()) and time.time() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("ebm-trainer")]


def open_app(query=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def shown_step(at) -> int | None:
    """The step the live numbers show (their HTML block carries it as data-step), or None."""
    for el in at.get("html"):
        m = re.search(r"data-step='(\d+)'", el.proto.body)
        if m:
            return int(m.group(1))
    return None


def wait_until(at, predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        if predicate(at):
            return at
        time.sleep(0.2)
    raise AssertionError("page never reached the expected state")


def test_defaults_render_with_the_landscape_and_numbers():
    at = open_app()
    assert not at.exception
    at = wait_until(at, lambda a: shown_step(a) is not None)
    assert shown_step(at) == 0
    assert at.button(key="train").label.endswith("Train")
    assert at.session_state["dataset"] == "eight_gaussians"
    assert not at.warning


@pytest.mark.parametrize("name", ["two_moons", "swiss_roll", "rings", "two_spirals", "checkerboard", "pinwheel",
                                  "gaussian"])
def test_each_dataset_renders_with_the_settings_it_picks(name):
    at = open_app()
    at.number_input(key="width").set_value(64)
    at.selectbox(key="dataset").set_value(name)
    at = wait_until(at, lambda a: shown_step(a) is not None)
    assert not at.exception
    assert at.query_params["dataset"] == [name] or at.query_params["dataset"] == name
    for k, v in config.dataset_settings(name).items():  # the dataset's own settings, shown in the sidebar
        assert at.session_state[k] == v, k
    assert at.session_state["width"] == 64  # what the user set stays
    assert any("Picked for this dataset" in c.value or "standard settings" in c.value for c in at.caption)
    assert set(at.query_params) == {"dataset", "width"}  # the link lists what differs from the dataset's own


def test_a_locked_setting_keeps_the_link_value_when_the_dataset_changes():
    at = open_app({"restart": "noise", "lock": "restart"})
    at.selectbox(key="dataset").set_value("rings").run()
    assert not at.exception and at.session_state["restart"] == "noise"
    assert at.selectbox(key="restart").disabled


def test_bad_query_parameters_warn_and_fall_back():
    at = open_app({"step_size": "banana", "n_steps": "-4", "dataset": "rings", "bogus": "1", "view": "xray"})
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    for word in ("step_size", "n_steps", "bogus", "view"):
        assert word in text
    assert at.session_state["dataset"] == "rings"  # the good parameter is kept
    rings = config.for_dataset("rings")  # the bad values fall back to the ones rings picks
    assert at.session_state["step_size"] == rings.sampler.step_size
    assert at.session_state["n_steps"] == rings.sampler.n_steps


def test_link_settings_are_applied():
    at = open_app({"dataset": "two_moons", "step_size": "0.02", "sampler": "mala", "seed": "7"})
    assert at.number_input(key="step_size").value == 0.02
    assert at.radio(key="sampler").value == "mala"
    assert at.session_state["seed"] == 7 and not at.warning


def test_step_advances_the_step_counter():
    at = open_app()
    at = wait_until(at, lambda a: shown_step(a) is not None)
    at.button(key="step").click().run()
    at = wait_until(at, lambda a: shown_step(a) == 1)
    at.button(key="step").click().run()
    wait_until(at, lambda a: shown_step(a) == 2)


def test_surface_view_and_hover_inspection():
    at = open_app({"view": "surface"})
    at = wait_until(at, lambda a: len(a.get("plotly_chart")) >= 2)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any('"surface"' in spec for spec in specs)
    at.radio(key="view").set_value("density").run()
    at.checkbox(key="layer_inspect").check().run()
    at = wait_until(at, lambda a: any('"heatmap"' in c.proto.spec for c in a.get("plotly_chart")))
    assert not at.exception


def test_classroom_link_hides_and_locks_controls():
    at = open_app({"step_size": "0.02", "hide": "network,reset,layers", "lock": "dataset,step_size"})
    assert not at.exception and not at.warning
    keys = {w.key for w in at.number_input}
    assert "width" not in keys and "seed" not in keys and "lr" in keys  # a hidden group, a visible one
    assert not [b for b in at.button if b.key == "reset"] and not at.checkbox
    assert at.selectbox(key="dataset").disabled and at.number_input(key="step_size").disabled
    assert at.number_input(key="step_size").value == 0.02 and not at.number_input(key="lr").disabled
    assert at.query_params["hide"] in (["network,reset,layers"], "network,reset,layers")  # the link survives reruns
    at = wait_until(at, lambda a: shown_step(a) is not None)
    at.button(key="step").click().run()
    wait_until(at, lambda a: shown_step(a) == 1)


def test_classroom_link_with_an_unknown_control_warns():
    at = open_app({"hide": "network,teacher"})
    assert not at.exception
    assert "teacher" in " ".join(w.value for w in at.warning)
    assert "width" not in {w.key for w in at.number_input}


def test_step_by_phase_walks_through_one_real_update():
    from ebm_core.lessons.phases import PHASES

    at = open_app()
    at = wait_until(at, lambda a: shown_step(a) is not None)
    at.button(key="phase").click().run()
    assert not at.exception and not at.error
    if "records each phase" in " ".join(i.value for i in at.info):  # the page did not wait for the worker
        at.session_state["phase_request"].wait()
        at.run()  # what the page's fragment asks for once the worker has answered
    seen = []
    for i, (_, title, sentence) in enumerate(PHASES):
        assert f"{i + 1}/{len(PHASES)}: {title}" in " ".join(m.value for m in at.markdown)
        assert any(sentence == m.value for m in at.markdown)
        seen.append(at.get("plotly_chart")[0].proto.spec)
        if i < len(PHASES) - 1:
            at.button(key="phase_next").click().run()
            assert not at.exception
    assert len(set(seen)) == len(PHASES)  # a different picture for every phase
    assert '"heatmap"' in seen[-1] and "frames" in seen[2]  # the change map; the chains animate
    wait_until(at, lambda a: shown_step(a) == 1)  # exactly one update was made
    at.button(key="phase_close").click().run()
    assert not [b for b in at.button if b.key == "phase_next"]


@pytest.mark.parametrize("key", ["cd1", "pcd", "short_run", "long_run", "step_too_large", "step_too_small"])
def test_each_lesson_preset_applies_its_settings_and_says_what_it_shows(key):
    from ebm_core import config
    from ebm_core.lessons import presets

    p = presets.PRESETS[key]
    at = open_app()
    at.selectbox(key="preset_pick").set_value(key).run()
    assert not at.exception
    for name, value in p.overrides.items():
        assert at.session_state[name] == value
    assert any(p.claim in i.value for i in at.info)
    assert at.query_params["preset"] in ([key], key)
    # the link reproduces it, banner included
    again = open_app({**config.to_query(presets.apply_preset(key)), "preset": key})
    assert not again.exception and not again.warning
    assert any(p.claim in i.value for i in again.info)


def test_step_size_too_large_preset_trips_the_guard():
    at = open_app({"preset": "step_too_large", "step_size": "2.0"})
    at = wait_until(at, lambda a: shown_step(a) is not None)
    at.button(key="step").click().run()
    at = wait_until(at, lambda a: any("step size" in e.value for e in a.error), timeout=60)
    assert any(b.key == "rollback" for b in at.button)


def test_hidden_panels_leave_the_picture_and_keep_the_guard():
    at = open_app({"preset": "step_too_large", "step_size": "2.0", "hide": "panels"})
    assert not at.exception and not at.warning
    at.button(key="step").click().run()
    at = wait_until(at, lambda a: any("step size" in e.value for e in a.error), timeout=60)
    assert any(b.key == "rollback" for b in at.button)  # the divergence guard still speaks
    assert shown_step(at) is None and not at.get("plotly_chart")  # no numbers, no curves
    assert [e for e in at.get("bidi_component") if e.proto.component_name.endswith("ebm_live_canvas")]  # the canvas


def test_the_classroom_builder_names_every_control_once_in_the_sidebars_words():
    from ui import classroom, session

    names = session.classroom_names()
    labels = [{**classroom.LABELS, **classroom.GROUP_LABELS}[n] for n in names]
    assert len(set(labels)) == len(labels)  # "all sampler" no longer twice
    assert not set(labels) & set(names)  # no internal name (n_steps, confine, ema) shown as a label


def test_a_lesson_link_applies_the_lesson_and_says_when_the_link_changes_it():
    from ebm_core.lessons import presets

    at = open_app({"preset": "long_run"})
    assert not at.exception and not at.warning
    for name, value in presets.PRESETS["long_run"].overrides.items():
        assert at.session_state[name] == value
    assert any("Lesson:" in i.value for i in at.info)
    at = open_app({"preset": "long_run", "lr": "0.01"})
    assert at.session_state["lr"] == 0.01 and any("also changes lr" in w.value for w in at.warning)
    assert not any("Lesson:" in i.value for i in at.info)


def test_a_link_with_many_bad_names_and_a_huge_value_gets_one_short_warning():
    at = open_app({"hide": ",".join(f"nope{i}" for i in range(1500)), "width": "9" * 10_000})
    assert not at.exception
    assert len(at.warning) == 1  # one box, not 1501
    text = at.warning[0].value
    assert "1,501 link parameters were ignored" in text and "and 1,496 more" in text and len(text) < 1000
    assert at.session_state["width"] == 128  # the bad width fell back to its default


def test_an_extreme_link_trains_what_the_server_can_afford_and_says_why():
    from ebm_core import budget, config

    link = {"width": "1024", "depth": "8", "batch_size": "8192", "n_steps": "1000", "sampler": "mala"}
    at = open_app(link)
    assert not at.exception
    refused = [e.value for e in at.error if "limit on this server" in e.value]
    assert refused and "per training update" in refused[0] and "set back" in refused[0]
    run = at.session_state["_run"]
    assert budget.fits(run.cfg) and run.cfg != config.RunConfig().replace(
        width=1024, depth=8, batch_size=8192, n_steps=1000, sampler="mala")
    shown = {k: at.session_state[k] for k in ("width", "depth", "batch_size", "n_steps")}
    assert shown == {k: v for k, v in config.flat(run.cfg).items() if k in shown}  # the widgets say what runs
    at.number_input(key="batch_size").set_value(8192).run()  # a live setting too large for the running net
    assert budget.fits(at.session_state["_run"].cfg) and at.session_state["batch_size"] == shown["batch_size"]
    assert any("limit on this server" in e.value for e in at.error)


def test_a_killed_worker_is_replaced_by_a_resumed_run_but_not_endlessly():
    import os
    import signal

    at = open_app({"n_steps": "5"})
    for attempt in range(4):
        run = at.session_state["_run"]
        run.wait_for(lambda s: s.status == "paused", timeout=60)
        os.kill(run.process.pid, signal.SIGKILL)
        run.thread.join(10)
        assert run.dead
        at.run()
        assert not at.exception
        notes = " ".join(i.value for i in at.info)
        if attempt < 3:
            assert "stopped unexpectedly" in notes and at.session_state["_run"] is not run  # a new worker took over
        else:
            assert "not restarted by itself" in notes and at.session_state["_run"] is run  # it stays down


def test_past_the_training_limit_a_session_waits_in_a_queue_and_trains_when_a_slot_frees(monkeypatch):
    from ebm_core import config, live
    from ebm_core.live.slots import Slots

    monkeypatch.setattr(live, "_SLOTS", Slots(1, live.live_runs))  # a server that trains one run at once
    other = live.LiveRun(config.RunConfig().replace(width=16, batch_size=32, n_steps=2)).start()  # another tab's
    try:
        at = wait_until(open_app(), lambda a: shown_step(a) is not None)
        assert other.play() == 0  # the other tab took the only slot
        at.button(key="train").click().run()
        assert at.button(key="train").label == "Cancel"
        notice = " ".join(w.value for w in at.warning)
        assert "number 1 in the queue" in notice and "at most 1 run at once" in notice
        run, step = at.session_state["_run"], shown_step(at)
        time.sleep(1.0)
        assert not run.running and run.latest().step == step  # waiting does not train
        other.pause()  # the slot is this session's now
        wait_until(at, lambda a: a.button(key="train").label == "Pause" and shown_step(a) > step)
        assert not any("in the queue" in w.value for w in at.warning)
        at.button(key="train").click().run()
        assert other.play() == 0 and at.button(key="train").click().run().button(key="train").label == "Cancel"
        at.button(key="train").click().run()  # Cancel: stop waiting
        assert at.button(key="train").label == "Train" and not run.queue_place and not run.running
    finally:
        other.request_stop()


def test_no_stray_value_is_written_under_the_picture_while_training():
    # a bare `a() if c else b()` in a page is written by Streamlit's magic: a "None" under the plot
    at = open_app()
    at.button(key="train").click().run()
    at = wait_until(at, lambda a: (shown_step(a) or 0) > 0)
    assert not at.exception
    assert not [m.value for m in at.markdown if m.value.strip("`").strip() == "None"]


def test_presentation_mode_from_a_link_and_the_toggle():
    at = open_app({"present": "on"})
    assert not at.exception and not at.warning
    assert not at.title and at.toggle(key="present_toggle").value  # the title and introduction make way
    assert at.query_params.get("present") in ("on", ["on"])
    assert any("--ebm-present" in h.proto.body for h in at.get("html"))  # the canvas is told to grow
    at.toggle(key="present_toggle").set_value(False).run()
    assert at.title and at.title[0].value.startswith("Energy Landscape Explorer")
    assert "present" not in at.query_params
    assert not any("--ebm-present" in h.proto.body for h in at.get("html"))
    bad = open_app({"present": "loud"})
    assert any("present" in w.value for w in bad.warning) and bad.title  # a bad value: a warning, normal mode
