"""Property tests for ebm_core.energies: one suite run over every registered energy.

The oracles (log_z, mean, cov, exact samples) are checked against each other and against plain
numerics on a grid, so a mistake in any one of them shows up as a disagreement.
"""

import math

import numpy as np
import pytest
import torch

from ebm_core.energies import ENERGIES, make_energy

N_SAMPLES = 20_000


def _midpoint_grid(half_width: float, n: int) -> tuple[torch.Tensor, float]:
    """Cell centres of an n x n grid over [-half_width, half_width]^2, as (n*n, 2) float64."""
    g = (torch.arange(n, dtype=torch.float64) + 0.5) * (2 * half_width / n) - half_width
    gx, gy = torch.meshgrid(g, g, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1), (2 * half_width / n) ** 2


@pytest.fixture(scope="module", params=list(ENERGIES))
def energy(request):
    return make_energy(request.param)


@pytest.fixture(scope="module")
def samples(energy):
    return energy.sample(N_SAMPLES, generator=torch.Generator().manual_seed(1234)).double()


# ----------------------------------------------------------------------------------------------
# normaliser, moments, samples


def test_density_integrates_to_one_inside_extent(energy):
    # the box holds > 99.9% of the mass, so its integral sits in (0.999, 1]; far tighter than 1%
    x, cell = _midpoint_grid(energy.extent, 400)
    mass = (energy.log_density(x).exp().sum() * cell).item()
    assert 0.999 < mass < 1.0001


def test_grid_moments_match_mean_and_cov(energy):
    x, cell = _midpoint_grid(2 * energy.extent, 500)  # twice the box: truncation is negligible
    p = energy.log_density(x).exp() * cell  # (G,)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-4)
    mean = (p[:, None] * x).sum(0)
    d = x - mean
    cov = (p[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0)
    assert torch.allclose(mean, energy.mean, atol=1e-4)
    assert torch.allclose(cov, energy.cov, rtol=1e-3, atol=1e-4)


def test_sample_moments_match_mean_and_cov(energy, samples):
    n = len(samples)
    se_mean = (energy.cov.diagonal() / n).sqrt()
    assert ((samples.mean(0) - energy.mean).abs() < 5 * se_mean).all()
    # standard error of each covariance entry from the samples' own fourth moments
    d = samples - energy.mean
    prod = d[:, :, None] * d[:, None, :]  # (n, 2, 2)
    se_cov = prod.std(0) / math.sqrt(n)
    assert ((torch.cov(samples.T) - energy.cov).abs() < 5 * se_cov + 1e-9).all()


def test_sample_histogram_matches_binned_density(energy):
    # 60k samples keep the sampling noise of the TV near 0.02, well below the 0.05 threshold
    samples = energy.sample(60_000, generator=torch.Generator().manual_seed(99)).double()
    bins, sub = 20, 10  # 20 x 20 bins, each integrated on a 10 x 10 midpoint sub-grid
    ext = energy.extent
    x, cell = _midpoint_grid(ext, bins * sub)
    p = (energy.log_density(x).exp() * cell).reshape(bins, sub, bins, sub).sum((1, 3))  # (bins, bins)
    edges = np.linspace(-ext, ext, bins + 1)
    counts, _, _ = np.histogram2d(samples[:, 0].numpy(), samples[:, 1].numpy(), bins=[edges, edges])
    p_hat = torch.from_numpy(counts) / len(samples)
    outside = abs((1 - p_hat.sum()) - (1 - p.sum())).item()  # mass beyond the box
    tv = 0.5 * ((p_hat - p).abs().sum().item() + outside)
    assert tv < 0.05


def test_samples_are_deterministic_and_leave_global_rng_alone(energy):
    state = torch.random.get_rng_state()
    a = energy.sample(100, generator=torch.Generator().manual_seed(7))
    b = energy.sample(100, generator=torch.Generator().manual_seed(7))
    c = energy.sample(100, generator=torch.Generator().manual_seed(8))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.shape == (100, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_extent_box_has_the_right_scale(energy, samples):
    # the box is not absurdly loose: some samples land in its outer quarter
    assert (samples.abs().max(dim=1).values > 0.5 * energy.extent).any()


# ----------------------------------------------------------------------------------------------
# the energy callable


def test_energy_shape_dtype_and_gradient(energy):
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0)) + 0.5  # away from 0
    e = energy(x)
    assert e.shape == (16,) and e.dtype == torch.float32 and torch.isfinite(e).all()
    x64 = x[:4].double().requires_grad_()
    assert torch.autograd.gradcheck(energy, (x64,))


def test_log_density_is_shifted_negative_energy(energy):
    x = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(energy.log_density(x), -energy(x) - energy.log_z)


@pytest.mark.parametrize("shape", [(5, 3), (5,), (5, 2, 1), (2, 5)])
def test_energy_rejects_wrong_shapes(energy, shape):
    with pytest.raises(ValueError, match="x must"):
        energy(torch.zeros(shape))


# ----------------------------------------------------------------------------------------------
# geometry of particular energies


def test_double_well_has_minima_at_pm1_and_barrier_1_over_a():
    e = make_energy("double_well", a=0.5)
    x = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(e(x), torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64))


def test_ring_energy_vanishes_on_its_circle_and_grad_is_finite_at_origin():
    e = make_energy("ring", r=1.5, sigma=0.3)
    angle = torch.linspace(0, 2 * math.pi, 9, dtype=torch.float64)
    circle = 1.5 * torch.stack([angle.cos(), angle.sin()], dim=1)
    assert torch.allclose(e(circle), torch.zeros(9, dtype=torch.float64), atol=1e-12)
    origin = torch.zeros(1, 2, requires_grad=True)
    e(origin).sum().backward()
    assert torch.isfinite(origin.grad).all()


def test_banana_samples_follow_the_parabola():
    e = make_energy("banana", s=1.0, b=2.0)
    x = e.sample(5000, generator=torch.Generator().manual_seed(0)).double()
    residual = x[:, 1] - 2.0 * (x[:, 0].square() - 1.0)  # must be N(0, 1)
    assert abs(residual.mean().item()) < 0.1 and abs(residual.std().item() - 1) < 0.05


# ----------------------------------------------------------------------------------------------
# registry


def test_unknown_energy_lists_valid_names():
    with pytest.raises(ValueError) as info:
        make_energy("nope")
    for name in ENERGIES:
        assert name in str(info.value)


def test_make_energy_applies_and_checks_params():
    assert make_energy("ring", r=3).r == 3.0  # an int is fine for a float parameter
    assert make_energy("mixture", n_modes=8).centres.shape == (8, 2)
    with pytest.raises(ValueError, match="radius"):
        make_energy("ring", radius=1.0)  # the ring calls it r
    with pytest.raises(ValueError, match="rho"):
        make_energy("correlated_gaussian", rho=1.0)
    with pytest.raises(ValueError, match="n_modes"):
        make_energy("mixture", n_modes=2.5)
    with pytest.raises(ValueError, match="sigma"):
        make_energy("ring", sigma=-0.1)
    with pytest.raises(ValueError, match="a must"):
        make_energy("double_well", a=float("nan"))


@pytest.mark.parametrize("name", list(ENERGIES))
def test_sample_rejects_bad_n(name):
    with pytest.raises(ValueError, match="n must"):
        make_energy(name).sample(-1)
