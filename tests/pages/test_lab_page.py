"""The Langevin Lab page in AppTest: every target renders, a Playground model is a target, links round-trip."""

import json
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ebm_core.lessons import lab, step_sizes

PAGE = str(ROOT / "pages" / "2_Langevin_Lab.py")


def open_page(state: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for k, v in (state or {}).items():
        at.session_state[k] = v
    return at.run()


QUICK = {"lab_steps": 60, "lab_chains": 64}


def test_defaults_render_three_runs_with_mala_references():
    at = open_page()
    assert not at.exception and not at.error and not at.warning
    assert at.session_state["lab_target"] == "mixture"
    assert len(at.get("plotly_chart")) == 3
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["frames"]) == 101 and len(spec["layout"]["images"]) == 3
    assert [m.value for m in at.metric] == ["1"]  # temperature
    assert len(at.dataframe[0].value) == 6  # three ULA runs and their MALA references


@pytest.mark.parametrize("name", [n for n in lab.TARGET_NAMES if n != "mixture"])
def test_every_analytic_target_renders(name):
    at = open_page(QUICK)
    at.selectbox(key="lab_target").set_value(name).run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    assert at.number_input(key="lab_step_0").value == step_sizes.STEP_PRESETS[name][0]  # its own step sizes


def test_playground_target_without_a_trained_model_says_what_to_do():
    at = open_page({**QUICK, "lab_target": "playground"})
    assert not at.exception
    assert any("Train a model in the Playground first" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 0


def test_playground_target_with_a_trained_model(monkeypatch):
    from ebm_core import config
    from ebm_core.train2d import build_model_2d

    session = pytest.importorskip("ui.session")
    cfg = config.RunConfig().replace(width=16, depth=2, seed=3)
    torch.manual_seed(3)
    model = build_model_2d(cfg).eval()
    snap = SimpleNamespace(step=321, extent=4.0, config=cfg)
    asked = []

    def request_weights():  # a worker that answers after the page asked, not while it waits
        asked.append(SimpleNamespace(done=False, result=lambda step=snap.step: (step, model.state_dict())))
        return asked[-1]

    run = SimpleNamespace(latest=lambda: snap, request_weights=request_weights, model_from=lambda state: model)
    monkeypatch.setattr(session, "current_run", lambda: run, raising=False)
    at = open_page({**QUICK, "lab_target": "playground"})
    assert not at.exception and not at.error
    assert any("Fetching the weights" in i.value for i in at.info) and len(at.get("plotly_chart")) == 0
    asked[-1].done = True
    at.run()  # what the page's fragment asks for once the weights came
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    assert any("Playground model" in c.value and "321" in c.value for c in at.caption)
    here = lab.make_target(model.requires_grad_(False), 4.0, name="playground")  # built in a job on the page
    suggested = step_sizes.suggest_step_sizes(here, generator=torch.Generator().manual_seed(0))
    assert at.number_input(key="lab_step_0").value == pytest.approx(suggested[0])  # from its own curvature
    snap.step = 400  # training goes on: the Lab keeps the weights it holds until asked for newer ones
    at.run()
    assert any("step 321" in c.value for c in at.caption)
    at.button(key="lab_reload_model").click().run()
    assert len(asked) == 2 and any("Fetching the weights" in i.value for i in at.info)
    asked[-1].done = True
    at.run()
    assert not at.exception and any("step 400" in c.value for c in at.caption)


def test_a_start_point_outside_the_box_is_a_clear_error():
    at = open_page({**QUICK, "lab_target": "gaussian", "lab_start": "point", "lab_start_x": 9.0})
    assert not at.exception
    assert any("outside the box" in e.value for e in at.error)
    assert len(at.get("plotly_chart")) == 0


def test_autotune_adds_a_mala_run_with_the_tuned_step():
    at = open_page({**QUICK, "lab_target": "gaussian"})
    at.button(key="lab_autotune").click().run()
    assert not at.exception
    assert at.session_state["lab_sampler"] == "mala" and at.session_state["lab_n_compare"] == 4
    tuned = at.session_state["_lab_tuned"]
    assert at.number_input(key="lab_step_3").value == pytest.approx(tuned["step"])
    assert abs(tuned["acceptance"] - 0.574) < 0.05
    assert any("acceptance" in s.value for s in at.success)
    assert len(json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["images"]) == 4


def open_link(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(params)
    return at.run()


def test_a_link_sets_the_widgets_and_the_url_mirrors_what_changes():
    at = open_link(target="banana", sampler="mala", steps="120", seed="7", chains="64", eta="0.01,0.1")
    assert not at.exception and not at.warning
    assert at.selectbox(key="lab_target").value == "banana" and at.radio(key="lab_sampler").value == "mala"
    assert at.slider(key="lab_steps").value == 120 and at.select_slider(key="lab_chains").value == 64
    assert at.number_input(key="lab_seed").value == 7
    assert at.slider(key="lab_n_compare").value == 2  # as many runs as the link has step sizes
    assert [at.number_input(key=f"lab_step_{i}").value for i in range(2)] == [0.01, 0.1]
    assert len(at.get("plotly_chart")) == 3
    assert dict(at.query_params) == {"target": "banana", "sampler": "mala", "steps": "120", "chains": "64",
                                     "seed": "7", "n_compare": "2", "eta": "0.01,0.1"}
    at.number_input(key="lab_seed").set_value(11).run()
    assert at.query_params["seed"] == "11"
    at.selectbox(key="lab_target").set_value("gaussian").run()  # its own step sizes: no eta in the link
    assert "eta" not in at.query_params and at.query_params["target"] == "gaussian"


def test_the_defaults_leave_the_url_empty():
    at = open_page(QUICK)
    assert not at.exception
    assert dict(at.query_params) == {"steps": "60", "chains": "64"}


def test_a_bad_link_warns_about_each_parameter_and_keeps_the_good_ones():
    at = open_link(target="nope", steps="abc", chains="3", colour="red", eta="0.1,x", seed="5")
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 5, warnings
    for name, says in [("target", "mixture, "), ("steps", "from 10 to 500"), ("chains", "[16, 1024]"),
                       ("colour", "valid: target"), ("eta", "between 1e-05 and 5")]:
        assert any(w.startswith(f"Link parameter ignored: {name}:") and says in w for w in warnings), (name, warnings)
    assert at.selectbox(key="lab_target").value == "mixture" and at.slider(key="lab_steps").value == 200
    assert at.select_slider(key="lab_chains").value == 256 and at.number_input(key="lab_seed").value == 5
    assert at.number_input(key="lab_step_0").value == step_sizes.STEP_PRESETS["mixture"][0]
    assert dict(at.query_params) == {"seed": "5"}  # the bad ones leave the address bar


def test_every_setting_round_trips_through_the_link():
    link = {"target": "gaussian", "noise": "0.5", "mala_ref": "false", "steps": "30", "chains": "100",
            "start": "point", "start_x": "1.5", "start_y": "-2.0", "seed": "3", "n_compare": "2",
            "accept": "0.6", "eta": "0.2,0.4"}
    at = open_link(**link)
    assert not at.exception and not at.warning and not at.error
    assert dict(at.query_params) == link
    assert at.select_slider(key="lab_chains").value == 100  # a count between the usual stops is kept
    assert at.number_input(key="lab_start_y").value == -2.0 and at.checkbox(key="lab_mala_ref").value is False


def test_the_chains_are_computed_outside_the_web_servers_process(monkeypatch):
    def here(*args, **kwargs):
        raise AssertionError("chains computed in the server's process")

    monkeypatch.setattr(lab, "run_chains", here)  # this process only: the jobs' processes have the real one
    monkeypatch.setattr(lab, "kl_floor", here)
    at = open_page({**QUICK, "lab_target": "banana", "lab_seed": 11})
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
