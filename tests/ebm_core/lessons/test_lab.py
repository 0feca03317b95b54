"""Langevin Lab: the library on analytic targets (histogram KL, convergence, bias, tuning, figures)
and the page in AppTest for every target."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ebm_core import density
from ebm_core.figures import lab as lab_figures
from ebm_core.lessons import lab

PAGE = str(ROOT / "pages" / "2_Langevin_Lab.py")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def gaussian() -> lab.Target:
    return lab.analytic_target("gaussian")


# ----------------------------------------------------------------------------------------------
# Histograms, KL and exact marginals


def test_histograms_match_a_plain_loop_and_count_outside_and_nonfinite_points():
    x = torch.randn(4, 300, 2, generator=gen()) * 2.5  # (T, B, 2), some beyond the box
    x[0, 0, 0] = float("nan")
    x[1, 1, 1] = float("inf")
    extent, bins = 4.0, 16
    counts = density.cell_counts(x, extent, bins)
    assert counts.shape == (4, bins * bins + 1)
    for t in range(4):
        want = torch.zeros(bins * bins + 1, dtype=torch.float64)
        for px, py in x[t].tolist():
            if not (math.isfinite(px) and math.isfinite(py)) or abs(px) >= extent or abs(py) >= extent:
                want[-1] += 1
            else:
                col, row = int((px + extent) / (2 * extent) * bins), int((py + extent) / (2 * extent) * bins)
                want[row * bins + col] += 1
        assert torch.equal(counts[t], want)
    assert counts[0, -1] >= 1 and counts[1, -1] >= 1


@pytest.mark.parametrize("name", lab.TARGET_NAMES)
def test_cell_probabilities_of_every_target_sum_to_one(name):
    target = lab.analytic_target(name)
    assert target.log_p_cells.shape == (target.bins**2 + 1,)
    assert abs(float(target.log_p_cells.exp().sum()) - 1) < 1e-6
    assert target.exact.mass_outside < 2e-3  # the box holds the density


def test_kl_is_zero_for_the_exact_cell_probabilities_and_positive_otherwise(gaussian):
    p = gaussian.log_p_cells.exp()
    assert float(density.kl_from_counts((p * 1e6)[None], gaussian.log_p_cells)[0]) < 1e-9
    uniform = torch.ones(1, len(p), dtype=torch.float64)
    assert float(density.kl_from_counts(uniform, gaussian.log_p_cells)[0]) > 0.5


def test_exact_samples_score_the_floor_which_shrinks_like_one_over_n(gaussian):
    f256 = lab.kl_floor(gaussian, 256, generator=gen(1))
    f4096 = lab.kl_floor(gaussian, 4096, generator=gen(2))
    occupied = int((gaussian.log_p_cells.exp() > 1e-3).sum())
    assert 0.3 < f256 / ((occupied - 1) / (2 * 256)) < 2  # the usual (cells - 1) / (2 N) bias of a histogram
    assert 8 < f256 / f4096 < 32


def test_exact_marginals_match_closed_forms():
    xs, p = lab.exact_marginal(lab.analytic_target("gaussian"), 0)
    assert np.abs(p - np.exp(-xs**2 / 2) / math.sqrt(2 * math.pi)).max() < 2e-3
    xs, p = lab.exact_marginal(lab.analytic_target("banana"), 0)  # x1 ~ N(0, 1.5^2)
    assert np.abs(p - np.exp(-xs**2 / 4.5) / (1.5 * math.sqrt(2 * math.pi))).max() < 2e-3
    xs, p = lab.exact_marginal(lab.analytic_target("correlated_gaussian"), 1)
    assert abs(p.sum() * (xs[1] - xs[0]) - 1) < 1e-3


def test_a_target_without_a_sampler_samples_its_grid_density():
    target = lab.make_target(lambda x: 0.5 * ((x - 1.0) ** 2).sum(dim=1), 5.0, name="shifted")  # N((1, 1), I)
    x = target.sample(20000, generator=gen())
    assert torch.allclose(x.mean(0), torch.ones(2), atol=0.04)
    assert torch.allclose(torch.cov(x.T), torch.eye(2), atol=0.06)
    assert lab.kl_floor(target, 4096, generator=gen(1)) < 0.05


def test_marginal_histograms_integrate_to_the_share_inside_the_box():
    x1 = np.array([[0.1, -0.5, 0.7, 9.0], [np.nan, 0.0, 0.0, 0.0]])  # (F=2, B=4)
    dens = lab.marginal_histograms(x1, 2.0, 8)
    width = 4.0 / 8
    assert np.allclose(dens.sum(axis=1) * width, [0.75, 0.75])


# ----------------------------------------------------------------------------------------------
# Chains: convergence, bias, determinism


def test_mala_kl_falls_to_the_floor_while_a_too_large_ula_step_stalls_at_a_visible_bias(gaussian):
    start, n = lab.Start("uniform"), 1024
    mala = lab.run_chains(gaussian, start, lab.ChainSettings("mala", 0.1, 1.0, 150, n), generator=gen())
    ula = lab.run_chains(gaussian, start, lab.ChainSettings("ula", 1.0, 1.0, 150, n), generator=gen())
    floor = lab.kl_floor(gaussian, n, generator=gen(1))
    assert mala.trajectory.shape == (151, n, 2) and mala.trajectory.dtype == np.float32
    assert mala.kl.shape == (151,) and mala.acceptance.shape == (150,)
    assert mala.kl[0] > 2  # a uniform start is far from N(0, I)
    stages = [mala.kl[a:b].mean() for a, b in ((0, 3), (3, 8), (8, 15), (120, 151))]
    assert stages == sorted(stages, reverse=True) and stages[0] > 10 * stages[-1]  # it falls ...
    assert stages[-1] < floor + 0.03  # ... to the level of exact samples
    assert mala.stationary_kl < 0.02
    # ULA with eta = 1 on N(0, I): x <- sqrt(2) xi, so it samples N(0, 2 I), KL = 1 - ln 2 = 0.31 nats
    assert ula.kl[-30:].mean() > floor + 0.15
    assert 0.2 < ula.stationary_kl < 0.36
    assert ula.mean_energy[-30:].mean() > 1.6  # E_p[E] = 1; ULA's wider N(0, 2 I) has E[E] = 2
    assert mala.mean_energy[-30:].mean() < 1.2
    assert mala.acceptance_rate > 0.95 and np.isnan(ula.acceptance).all()


def test_same_seed_same_start_and_noise_for_every_step_size(gaussian):
    s = lab.ChainSettings("ula", 0.1, 1.0, 20, 64)
    a = lab.run_chains(gaussian, lab.Start(), s, generator=gen(3))
    b = lab.run_chains(gaussian, lab.Start(), s, generator=gen(3))
    c = lab.run_chains(gaussian, lab.Start(), lab.ChainSettings("ula", 0.4, 1.0, 20, 64), generator=gen(3))
    assert np.array_equal(a.trajectory, b.trajectory)
    assert np.array_equal(a.trajectory[0], c.trajectory[0]) and not np.array_equal(a.trajectory[-1], c.trajectory[-1])


def test_starts_uniform_point_and_exact_samples(gaussian):
    x = lab.start_points(gaussian, lab.Start("uniform"), 4000, generator=gen())
    assert x.abs().max() <= 4 and x.abs().mean() > 1.5
    x = lab.start_points(gaussian, lab.Start("point", (1.5, -2.0)), 10)
    assert torch.equal(x, torch.tensor([[1.5, -2.0]]).expand(10, 2))
    x = lab.start_points(gaussian, lab.Start("data"), 4000, generator=gen())
    assert abs(float(x.std()) - 1) < 0.05


def test_cold_langevin_huddles_in_the_valley(gaussian):
    s = lab.ChainSettings("ula", 0.05, 0.3, 200, 512)
    assert s.temperature == pytest.approx(0.09)
    run = lab.run_chains(gaussian, lab.Start("data"), s, generator=gen())
    assert run.mean_energy[-50:].mean() == pytest.approx(0.09, rel=0.25)  # E_T[|x|^2 / 2] = T, not 1
    assert run.stationary_kl > 0.5


def test_a_blow_up_is_reported_and_the_kl_stays_finite():
    target = lab.analytic_target("double_well")
    run = lab.run_chains(target, lab.Start(), lab.ChainSettings("ula", 0.05, 1.0, 30, 256), generator=gen())
    assert run.blew_up_at is not None and run.blew_up_at < 10
    assert np.isfinite(run.kl).all() and run.outside[-1] > 0.2


@pytest.mark.parametrize("name, target", [("gaussian", 0.574), ("banana", 0.574), ("ring", 0.574), ("mixture", 0.8)])
def test_autotune_lands_within_005_of_the_target_acceptance(name, target):
    t = lab.analytic_target(name)
    x0 = lab.start_points(t, lab.Start(), 256, generator=gen())
    result = lab.autotune_mala(t.energy, x0, target=target, generator=gen(1))
    assert abs(result.acceptance - target) < 0.05, (result.step_size, result.acceptance)
    assert result.step_history.shape == (300,) and result.x.shape == (256, 2)
    # the step it reports really gives that acceptance in a fresh run from exact samples
    check = lab.run_chains(t, lab.Start("data"), lab.ChainSettings("mala", result.step_size, 1.0, 100, 512),
                           generator=gen(2))
    assert abs(check.acceptance.mean() - target) < 0.05


def test_suggested_step_sizes_scale_with_the_curvature():
    assert lab.suggest_step_sizes(lab.analytic_target("gaussian"), generator=gen()) == [0.05, 0.3, 1.0, 1.5]
    steep = lab.make_target(lambda x: 12.5 * x.square().sum(dim=1), 1.0)  # curvature 25
    assert lab.suggest_step_sizes(steep, generator=gen()) == [0.002, 0.012, 0.04, 0.06]


def test_bad_arguments_raise_value_errors_that_name_them(gaussian):
    for kwargs, word in [(dict(sampler="hmc"), "sampler"), (dict(step_size=0.0), "step_size"),
                         (dict(step_size=float("nan")), "step_size"), (dict(noise_scale=-1.0), "noise_scale"),
                         (dict(n_steps=0), "n_steps"), (dict(n_chains=10**6), "n_chains"),
                         (dict(n_steps=2.5), "n_steps")]:
        with pytest.raises(ValueError, match=word):
            lab.ChainSettings(**kwargs)
    with pytest.raises(ValueError, match="start kind"):
        lab.Start("moon")
    with pytest.raises(ValueError, match="outside the box"):
        lab.start_points(gaussian, lab.Start("point", (5.0, 0.0)), 4)
    with pytest.raises(ValueError, match="target"):
        lab.autotune_mala(gaussian.energy, torch.zeros(4, 2), target=1.5)
    with pytest.raises(ValueError, match="n_adapt"):
        lab.autotune_mala(gaussian.energy, torch.zeros(4, 2), n_adapt=0)
    with pytest.raises(ValueError, match="extent"):
        lab.make_target(gaussian.energy, 0.0)
    with pytest.raises(ValueError, match="dim"):
        lab.exact_marginal(gaussian, 2)
    with pytest.raises(ValueError, match="not finite"):
        lab.make_target(lambda x: x[:, 0] / 0.0, 2.0)


# ----------------------------------------------------------------------------------------------
# Figures


def test_the_chains_figure_is_compact_and_its_frames_move_only_what_moves(gaussian):
    runs = [lab.run_chains(gaussian, lab.Start(), lab.ChainSettings("ula", h, 1.0, 200, 256), generator=gen())
            for h in (0.05, 0.3, 1.0)]
    fig = lab_figures.chains_figure(gaussian, runs)
    spec = json.loads(fig.to_json())
    assert len(spec["frames"]) == 101  # every 2nd of 200 steps, plus step 0
    frame = spec["frames"][50]
    assert frame["name"] == "100" and len(frame["data"]) == 9 and len(frame["traces"]) == 9
    chains = frame["data"][2]
    assert chains["x"]["dtype"] == "f4" and "marker" not in chains  # float32 positions only
    assert len(spec["layout"]["sliders"][0]["steps"]) == 101
    assert [b["label"] for b in spec["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert len(spec["layout"]["images"]) == 3  # the exact density, once per panel
    assert len(fig.to_json()) < 1_700_000
    with pytest.raises(ValueError, match="runs"):
        lab_figures.chains_figure(gaussian, runs * 2)


def test_curves_and_marginals_figures_show_every_run_and_the_references(gaussian):
    runs = [lab.run_chains(gaussian, lab.Start(), lab.ChainSettings(s, 0.3, 1.0, 40, 128), generator=gen())
            for s in ("ula", "mala")]
    curves = lab_figures.curves_figure(runs, dashed=[False, True], kl_floor=0.2, exact_energy=1.0,
                                       target_acceptance=0.574)
    names = [t.name for t in curves.data]
    assert "exact samples (KL floor)" in names and "exact E_p[E]" in names
    assert sum(t.name == "MALA η=0.3" for t in curves.data) == 3  # KL, energy and acceptance
    marg = lab_figures.marginals_figure(gaussian, runs)
    assert len(marg.data) == 2 * (1 + len(runs))


# ----------------------------------------------------------------------------------------------
# The page in AppTest


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
    assert at.number_input(key="lab_step_0").value == lab.STEP_PRESETS[name][0]  # its own step sizes


def test_playground_target_without_a_trained_model_says_what_to_do():
    at = open_page({**QUICK, "lab_target": "playground"})
    assert not at.exception
    assert any("Train a model in the Playground first" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 0


class _Quadratic(torch.nn.Module):
    """Stands in for a trained energy net: E(x) = |W x|^2 / 2 with W = I, so p = N(0, I)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.eye(2))

    def forward(self, x):
        return 0.5 * (x @ self.w.T).square().sum(dim=1)


def test_playground_target_with_a_trained_model(monkeypatch):
    session = pytest.importorskip("ui.session")
    snap = SimpleNamespace(step=321, extent=4.0, config=SimpleNamespace(data=SimpleNamespace(dataset="gaussian")))
    run = SimpleNamespace(latest=lambda: snap, copy_model=lambda timeout=10: _Quadratic())
    monkeypatch.setattr(session, "current_run", lambda: run, raising=False)
    at = open_page({**QUICK, "lab_target": "playground"})
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    assert any("Playground model" in c.value and "321" in c.value for c in at.caption)
    assert at.number_input(key="lab_step_0").value == pytest.approx(0.05)  # suggested from its curvature
    snap.step = 400  # training goes on: the Lab keeps the weights it holds until asked for newer ones
    at.run()
    assert any("step 321" in c.value for c in at.caption)
    at.button(key="lab_reload_model").click().run()
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
    assert at.number_input(key="lab_step_0").value == lab.STEP_PRESETS["mixture"][0]
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


def test_a_comparison_runs_each_step_size_and_an_exact_reference_only_for_a_biased_sampler():
    runs, refs = lab.comparison("ula", [0.1, 0.3], 0.5, 40, 64, exact_reference=True)
    assert [(r.sampler, r.step_size, r.noise_scale, r.n_steps, r.n_chains) for r in runs] == [
        ("ula", 0.1, 0.5, 40, 64), ("ula", 0.3, 0.5, 40, 64)]
    assert [(r.sampler, r.step_size, r.noise_scale) for r in refs] == [("mala", 0.1, 1.0), ("mala", 0.3, 1.0)]
    runs, refs = lab.comparison("mala", [0.2], 0.5, 40, 64, exact_reference=True)
    assert refs == [] and runs[0].noise_scale == 1.0  # MALA is its own reference and always at T = 1
    assert lab.comparison("ula", [0.2], 0.5, 40, 64)[1] == []


def test_a_weights_digest_changes_with_the_weights_only():
    from ebm_core import nets

    a, b = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)
    b.load_state_dict(a.state_dict())
    assert nets.weights_digest(a) == nets.weights_digest(b)
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert nets.weights_digest(a) != nets.weights_digest(b)
