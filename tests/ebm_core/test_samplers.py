"""Sampler properties on analytic targets: one contract suite over every sampler, ULA's known
stationary bias on a Gaussian, MALA's exactness and acceptance."""

import math

import pytest
import torch

from ebm_core import samplers
from ebm_core.energies import make_energy


def std_normal(x):
    return 0.5 * x.square().sum(dim=1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(samplers.SAMPLERS))
class TestContract:
    def test_returns_sample_result_whatever_the_flags(self, name):
        f = samplers.SAMPLERS[name]
        x0 = torch.randn(16, 2, generator=gen())
        for rec in (0, 5):
            r = f(std_normal, x0, step_size=0.1, n_steps=10, record_every=rec, generator=gen())
            assert isinstance(r, samplers.SampleResult)
            assert r.x.shape == (16, 2) and not r.x.requires_grad
            assert r.mean_energy.shape == r.grad_norm.shape == r.acceptance.shape == (10,)
            assert r.trajectory.shape == ((0, 16, 2) if rec == 0 else (3, 16, 2))

    def test_deterministic_given_generator(self, name):
        f = samplers.SAMPLERS[name]
        x0 = torch.randn(32, 2, generator=gen())
        a = f(std_normal, x0, step_size=0.1, n_steps=20, generator=gen(3))
        b = f(std_normal, x0, step_size=0.1, n_steps=20, generator=gen(3))
        assert torch.equal(a.x, b.x)

    def test_works_on_images_and_lambdas(self, name):
        x0 = torch.rand(4, 1, 8, 8, generator=gen())
        r = samplers.SAMPLERS[name](lambda x: x.flatten(1).square().sum(1), x0, step_size=0.01, n_steps=3,
                                    generator=gen())
        assert r.x.shape == x0.shape

    def test_rejects_bad_energy_shape_and_arguments(self, name):
        f = samplers.SAMPLERS[name]
        with pytest.raises(ValueError, match="shape"):
            f(lambda x: x.sum(1, keepdim=True), torch.zeros(4, 2), step_size=0.1, n_steps=1)
        with pytest.raises(ValueError, match="step_size"):
            f(std_normal, torch.zeros(4, 2), step_size=-1.0, n_steps=1)

    def test_lowers_energy_from_far_start(self, name):
        r = samplers.SAMPLERS[name](std_normal, torch.full((256, 2), 6.0), step_size=0.05, n_steps=200,
                                    generator=gen())
        assert r.mean_energy[-1] < 0.1 * r.mean_energy[0]


def test_ula_stationary_variance_matches_prediction():
    # For E = x^2/2, ULA is x' = (1 - eta) x + sqrt(2 eta) xi: stationary variance 2 eta / (1 - (1-eta)^2)
    # = 1 / (1 - eta / 2), above the target's 1.
    eta = 0.5
    r = samplers.langevin(std_normal, torch.zeros(20_000, 2), step_size=eta, n_steps=60, generator=gen())
    var = float(r.x.var())
    assert abs(var - 1 / (1 - eta / 2)) < 0.03
    m = samplers.mala(std_normal, torch.randn(20_000, 2, generator=gen(1)), step_size=eta, n_steps=60,
                      generator=gen())
    assert abs(float(m.x.var()) - 1.0) < 0.03  # MALA removes the bias


def test_noise_scale_sets_the_temperature():
    eta, s = 0.01, 0.5
    r = samplers.langevin(std_normal, torch.zeros(20_000, 2), step_size=eta, n_steps=600, noise_scale=s,
                          generator=gen())
    assert abs(float(r.x.var()) - s**2 / (1 - eta / 2)) < 0.01


def test_mala_acceptance_tends_to_one_as_step_shrinks():
    rates = []
    x0 = torch.randn(4000, 2, generator=gen())
    for eta in (1.0, 0.3, 0.1, 0.01, 0.001):
        rates.append(samplers.mala(std_normal, x0, step_size=eta, n_steps=20, generator=gen()).acceptance_rate)
    assert all(a <= b + 0.01 for a, b in zip(rates, rates[1:]))
    assert rates[-1] > 0.99 and rates[0] < 0.9


def test_mala_samples_a_correlated_gaussian():
    target = make_energy("correlated_gaussian", rho=0.9)
    x0 = target.sample(8000, generator=gen())
    r = samplers.mala(target, x0 * 0 + 1.0, step_size=0.05, n_steps=400, generator=gen(2))
    cov = torch.cov(r.x.T.double())
    assert (cov - target.cov).abs().max() < 0.08
    assert r.x.mean(0).abs().max() < 0.06


def test_grad_clip_bounds_each_move():
    x0 = torch.full((10, 2), 100.0)
    r = samplers.langevin(std_normal, x0, step_size=1.0, n_steps=1, noise_scale=0.0, grad_clip=0.5)
    assert torch.allclose(r.x, x0 - 0.5)
    assert math.isclose(float(r.grad_norm[0]), 100 * math.sqrt(2), rel_tol=1e-5)


def test_one_dispatch_runs_the_named_sampler_and_an_unknown_name_raises():
    x0 = torch.randn(64, 2, generator=gen())
    for name, f in samplers.SAMPLERS.items():
        kw = dict(step_size=0.05, n_steps=7, record_every=1)
        direct = f(std_normal, x0, **kw, **({"noise_scale": 0.5} if f.tempered else {}), generator=gen(2))
        via = samplers.sample(name, std_normal, x0, **kw, noise_scale=0.5, generator=gen(2))
        assert torch.equal(direct.x, via.x) and torch.equal(direct.trajectory, via.trajectory)
    assert samplers.temperature("ula", 0.5) == 0.25 and samplers.temperature("mala", 0.5) == 1.0
    with pytest.raises(ValueError, match="sampler must be one of ula, mala"):
        samplers.sample("hmc", std_normal, x0, step_size=0.1, n_steps=1)
    from ebm_core import config
    from ebm_core.lessons import lab

    with pytest.raises(ValueError, match="sampler: 'hmc' is not one of ula, mala"):
        config.RunConfig().replace(sampler="hmc")  # settings take their choices from the registry
    with pytest.raises(ValueError, match="sampler must be one of"):
        lab.ChainSettings(sampler="hmc")


def test_an_exact_sampler_keeps_its_steps_unclamped_and_its_results_in_bounds():
    x0 = torch.full((32, 2), 0.9)
    fixed = (torch.tensor([True, False]), torch.tensor([0.25, 0.0]))
    r = samplers.sample("mala", std_normal, x0, step_size=0.5, n_steps=20, bounds=(-1.0, 1.0), fixed=fixed,
                        record_every=1, generator=gen(4))
    assert r.x.abs().max() <= 1 and r.trajectory.abs().max() <= 1
    assert (r.x[:, 0] == 0.25).all() and (r.trajectory[..., 0] == 0.25).all()  # held after the clamp too
    free = samplers.mala(std_normal, x0, step_size=0.5, n_steps=20, fixed=fixed, record_every=1, generator=gen(4))
    assert torch.equal(r.x, free.x.clamp(-1, 1).where(~fixed[0], 0.25))  # the same chain, clamped only at the end
    assert free.trajectory.abs().max() > 1  # (the chain itself did leave the box)


def test_uniform_points_fill_their_box_evenly():
    x = samplers.uniform((20_000, 2), 3.0, generator=gen(1))
    assert x.abs().max() <= 3.0 and x.min() < -2.99 and x.max() > 2.99
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=0.05)
    assert torch.allclose(x.var(0), torch.full((2,), 3.0), atol=0.1)  # the variance of U[-h, h] is h^2 / 3


@pytest.mark.parametrize("name", list(samplers.SAMPLERS))
def test_per_step_statistics_describe_the_recorded_chain(name):
    # the statistics are gathered once after the loop: they must still be those of each step's state
    x0 = 3 * torch.randn(64, 2, generator=gen())
    r = samplers.SAMPLERS[name](std_normal, x0, step_size=0.05, n_steps=12, record_every=1, generator=gen(1))
    states = r.trajectory[:-1]  # (12, 64, 2): the state at the start of each step
    if name == "ula":  # MALA's statistics are those of its current state, which a rejection keeps
        assert torch.allclose(r.mean_energy, std_normal(states.flatten(0, 1)).view(12, 64).mean(1), rtol=1e-5)
        assert torch.allclose(r.grad_norm, states.norm(dim=2).mean(1), rtol=1e-5)  # grad of |x|^2/2 is x
    assert r.mean_energy[-1] < r.mean_energy[0] / 2  # chains from far out fall towards the mode
    fixed = (torch.tensor([True, False]), torch.tensor([1.0, 0.0]))  # x held at 1: only y moves
    r = samplers.SAMPLERS[name](std_normal, x0, step_size=0.05, n_steps=12, fixed=fixed, record_every=1,
                                generator=gen(1))
    if name == "ula":
        assert torch.allclose(r.grad_norm, r.trajectory[:-1, :, 1].abs().mean(1), rtol=1e-5)  # free part only


@pytest.mark.parametrize("name", list(samplers.SAMPLERS))
def test_without_stats_the_chains_are_the_same_and_only_mala_keeps_acceptance(name):
    x0 = 3 * torch.randn(64, 2, generator=gen())
    full = samplers.sample(name, std_normal, x0, step_size=0.05, n_steps=12, generator=gen(1))
    lean = samplers.sample(name, std_normal, x0, step_size=0.05, n_steps=12, generator=gen(1), stats=False)
    assert torch.equal(full.x, lean.x)
    assert lean.mean_energy.numel() == lean.grad_norm.numel() == 0
    if samplers.get_sampler(name).metropolis:
        assert torch.equal(full.acceptance, lean.acceptance) and 0 < lean.acceptance_rate < 1
    else:
        assert lean.acceptance.numel() == 0


def test_an_energy_of_the_wrong_shape_is_refused_before_any_step():
    with pytest.raises(ValueError, match="energy must return shape"):
        samplers.langevin(lambda x: x.sum(), torch.zeros(4, 2), step_size=0.1, n_steps=3)
