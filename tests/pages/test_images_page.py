"""The Images page in AppTest: defaults render, Step advances, every section works on the live
model, bad links and an unreachable MNIST warn and fall back to the bundled digits."""

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_app import metric, no_leaked_trainers, wait_until  # noqa: F401  (fixture)

PAGE = str(ROOT / "pages" / "3_Images.py")


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """An empty download cache and no network, as on CI: MNIST cannot be found."""
    monkeypatch.setenv("EBM_DATA_DIR", str(tmp_path))
    import ebm_core.images as images

    def refuse(*args, **kwargs):
        raise OSError("no network in tests")

    monkeypatch.setattr(images.urllib.request, "urlopen", refuse)


def open_page(query=None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def answered(at: AppTest) -> AppTest:
    """The page once the worker handed over the weights a click asked for: the page does not wait for
    them, it says so and its fragment reruns it (AppTest does not run fragments' timers: rerun here)."""
    todo = at.session_state["img_pending"] if "img_pending" in at.session_state else None
    if todo is not None:
        assert any("Fetching the current weights" in i.value for i in at.info)
        todo["request"].wait()
        at.run()
    return at


def test_defaults_render_and_step_advances():
    at = open_page()
    assert not at.exception and not at.error and not at.warning
    at = wait_until(at, lambda a: any(m.label == "Step" for m in a.metric), timeout=60)
    assert metric(at, "Step") == "0"
    assert at.session_state["img_dataset"] == "digits"
    recognised = next(m for m in at.metric if m.label.startswith("Recognised"))
    assert recognised.value.endswith("%")
    at.button(key="img_step").click().run()
    at = wait_until(at, lambda a: metric(a, "Step") == "1", timeout=60)
    assert not at.exception


def test_bad_link_parameters_warn_and_fall_back():
    at = open_page({"step_size": "banana", "depth": "3", "tab": "nowhere"})
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "step_size" in text and "depth" in text and "tab" in text
    assert at.session_state["img_step_size"] == 10.0 or at.session_state["img_step_size"] > 0


def test_link_settings_are_applied():
    at = open_page({"n_steps": "7", "lr": "0.0005", "tab": "generate"})
    assert not at.exception and not at.warning
    assert at.session_state["img_n_steps"] == 7 and at.session_state["img_lr"] == 0.0005
    assert at.session_state["img_tab"] == "generate"


def test_unreachable_mnist_says_so_and_trains_on_digits():
    at = open_page({"dataset": "mnist"})
    assert not at.exception
    assert at.error and "digits" in at.error[0].value
    at = wait_until(at, lambda a: any(m.label == "Step" for m in a.metric), timeout=60)
    run = at.session_state["img__run"]
    assert run.cfg.data.dataset == "digits"


@pytest.mark.parametrize("tab, button", [("chain", "img_chain_run"), ("generate", "img_gen_run"),
                                         ("inpaint", "img_inp_run")])
def test_each_section_runs_on_the_live_model(tab, button):
    at = open_page({"tab": tab})
    at = wait_until(at, lambda a: a.session_state["img__run"].latest() is not None, timeout=60)
    for k in ("img_chain_k", "img_gen_k", "img_inp_k"):
        if k in at.session_state:
            at.number_input(key=k).set_value(20)
    answered(at.button(key=button).click().run())
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) >= 1  # the animation
    if tab == "inpaint":
        assert "Known pixels kept exactly: **yes**" in " ".join(c.value for c in at.caption)


def test_a_split_apart_model_is_caught_by_the_guard():
    import torch

    from ebm_core import config
    from ebm_core.live.images import explain_divergence
    from ebm_core.training import StepLog

    cfg = config.ImageRunConfig()
    ok = StepLog(10, 0.0, -0.01, -0.005, 0.005, 1.0, 1.0, 0.1, True)
    split = StepLog(10, 0.0, -4.8, 4.8, 9.6, 1.0, 1.0, 0.1, True)
    x = torch.zeros(4, 1, 8, 8)
    assert explain_divergence(ok, x, cfg) is None
    assert "learning rate" in explain_divergence(split, x, cfg)
    assert "non-numbers" in explain_divergence(ok, torch.full_like(x, float("nan")), cfg)


@pytest.mark.parametrize("tab, button", [("generate", "img_gen_run"), ("inpaint", "img_inp_run")])
def test_generate_and_fill_in_run_outside_the_web_servers_process(tab, button, monkeypatch):
    from ebm_core import image_sampling

    def here(*args, **kwargs):
        raise AssertionError("Langevin on images ran in the server's process")

    monkeypatch.setattr(image_sampling, "_sample", here)  # this process only: the jobs' processes have the real one
    at = open_page({"tab": tab})
    at = wait_until(at, lambda a: a.session_state["img__run"].latest() is not None, timeout=60)
    for k in ("img_gen_k", "img_inp_k"):
        if k in at.session_state:
            at.number_input(key=k).set_value(20)
    answered(at.button(key=button).click().run())
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) >= 1


def test_the_ready_model_loads_in_one_click_and_generates_digits_at_once():
    at = open_page()
    at = wait_until(at, lambda a: any(m.label == "Step" for m in a.metric), timeout=60)
    ready = at.button(key="img_ready")
    assert not ready.disabled and "trained ahead of time" in ready.help
    ready.click().run()
    at = wait_until(at, lambda a: any("Loaded the ready digits model" in i.value for i in a.info), timeout=60)
    from ebm_core import checkpoint

    _, cfg = checkpoint.load_run(checkpoint.READY["digits"])
    steps = int(checkpoint.read_metrics(checkpoint.READY["digits"])[-1]["step"])
    assert metric(at, "Step") == f"{steps:,}"
    assert at.session_state["img_width"] == cfg.model.width and at.session_state["img_seed"] == cfg.train.seed
    at.segmented_control(key="img_tab").set_value("generate").run()
    at.button(key="img_gen_run").click().run()
    at = answered(at)
    gen = next(m for m in at.metric if m.label == "Recognised (generated)")
    assert int(gen.value.rstrip("%")) >= 50, gen.value  # digits, not the noise an untrained model makes
    assert not at.exception and not at.error
