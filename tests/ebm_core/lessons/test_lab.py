"""Langevin Lab: the library on analytic targets (histogram KL, convergence, bias, starts, comparisons)."""

import math

import numpy as np
import pytest
import torch
from conftest import ROOT

from ebm_core import density
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
    with pytest.raises(ValueError, match="extent"):
        lab.make_target(gaussian.energy, 0.0)
    with pytest.raises(ValueError, match="dim"):
        lab.exact_marginal(gaussian, 2)
    with pytest.raises(ValueError, match="not finite"):
        lab.make_target(lambda x: x[:, 0] / 0.0, 2.0)


def test_a_comparison_runs_each_step_size_and_an_exact_reference_only_for_a_biased_sampler():
    runs, refs = lab.comparison("ula", [0.1, 0.3], 0.5, 40, 64, exact_reference=True)
    assert [(r.sampler, r.step_size, r.noise_scale, r.n_steps, r.n_chains) for r in runs] == [
        ("ula", 0.1, 0.5, 40, 64), ("ula", 0.3, 0.5, 40, 64)]
    assert [(r.sampler, r.step_size, r.noise_scale) for r in refs] == [("mala", 0.1, 1.0), ("mala", 0.3, 1.0)]
    runs, refs = lab.comparison("mala", [0.2], 0.5, 40, 64, exact_reference=True)
    assert refs == [] and runs[0].noise_scale == 1.0  # MALA is its own reference and always at T = 1
    assert lab.comparison("ula", [0.2], 0.5, 40, 64)[1] == []
