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
