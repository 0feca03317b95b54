"""Properties of the 2D toy datasets: normalised exact densities that match their samplers,
geometry of the noise-free generators, determinism, clear errors."""

import math

import pytest
import torch

from ebm_core import density, toy2d

NAMES = list(toy2d.DATASETS)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_registry_has_the_design_names():
    assert set(NAMES) >= {"eight_gaussians", "two_moons", "swiss_roll", "rings", "two_spirals", "checkerboard",
                          "pinwheel", "gaussian"}


@pytest.mark.parametrize("name", NAMES)
def test_log_density_integrates_to_one(name):
    grid = density.make_grid(toy2d.extent(name) + 1.0, 200)
    mass = torch.exp(toy2d.log_density(name, grid.points.double())).sum() * grid.cell_area
    assert abs(float(mass) - 1) < 0.01


@pytest.mark.parametrize("name", NAMES)
def test_samples_match_density_histogram(name):
    n, bins = 100_000, 24
    x = toy2d.sample(name, n, generator=gen(1))
    assert x.shape == (n, 2) and x.dtype == torch.float32
    B = toy2d.extent(name)
    grid = density.make_grid(B, bins * 8)
    p = toy2d.log_density(name, grid.points.double()).exp().view(bins, 8, bins, 8).sum((1, 3)) * grid.cell_area
    inside = (x.abs() < B).all(1)
    ij = ((x[inside] + B) / (2 * B) * bins).long().clamp(0, bins - 1)
    q = torch.zeros(bins * bins).index_add_(0, ij[:, 1] * bins + ij[:, 0], torch.ones(len(ij))) / n
    tv = 0.5 * (q.double() - p.flatten()).abs().sum() + 0.5 * abs(float(1 - p.sum()) - float((~inside).float().mean()))
    assert tv < 0.03, f"total variation {tv:.3f}"


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_deterministic_and_local(name):
    state = torch.get_rng_state()
    a = toy2d.sample(name, 64, generator=gen(7))
    b = toy2d.sample(name, 64, generator=gen(7))
    assert torch.equal(a, b)
    assert torch.equal(state, torch.get_rng_state())  # no global randomness used


def test_eight_gaussians_is_the_benchmark_task():
    x = toy2d.sample("eight_gaussians", 80_000, generator=gen())
    r = x.norm(dim=1)
    assert abs(float(r.mean()) - 2.0) < 0.02
    # each point's nearest centre: 8 modes with equal weight and std 0.15 per axis
    angle = torch.arange(8) * (2 * math.pi / 8)
    c = 2 * torch.stack([angle.cos(), angle.sin()], 1)
    k = torch.cdist(x, c).argmin(1)
    share = torch.bincount(k, minlength=8).float() / len(x)
    assert (share - 1 / 8).abs().max() < 0.01
    assert abs(float((x - c[k]).std()) - 0.15) < 0.005


def test_gaussian_is_standard_normal():
    x = toy2d.sample("gaussian", 100_000, generator=gen())
    assert x.mean(0).abs().max() < 0.02
    assert (torch.cov(x.T) - torch.eye(2)).abs().max() < 0.02
    assert torch.allclose(toy2d.log_density("gaussian", torch.zeros(1, 2)), torch.tensor([-math.log(2 * math.pi)]))


def test_noise_free_moons_lie_on_their_circles():
    c = toy2d.curve_points("two_moons") / 2.0 + torch.tensor([0.5, 0.25], dtype=torch.float64)
    upper, lower = c[: len(c) // 2], c[len(c) // 2:]
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper), dtype=torch.float64))
    assert torch.allclose((lower - torch.tensor([1.0, 0.5], dtype=torch.float64)).norm(dim=1),
                          torch.ones(len(lower), dtype=torch.float64))
    assert (upper[:, 1] >= 0).all() and (lower[:, 1] <= 0.5).all()


def test_noise_free_swiss_roll_radius_grows_with_angle():
    c = toy2d.curve_points("swiss_roll")
    r = c.norm(dim=1)
    assert (r[1:] > r[:-1]).all()  # the roll never crosses itself
    assert abs(float(r[0]) - 1.5 * math.pi / 5) < 0.01 and abs(float(r[-1]) - 4.5 * math.pi / 5) < 0.01


def test_two_spirals_are_point_symmetric():
    c = toy2d.curve_points("two_spirals")
    half = len(c) // 2
    assert torch.allclose(c[:half], -c[half:])


def test_rings_radii_and_checkerboard_squares():
    x = toy2d.sample("rings", 40_000, generator=gen())
    r = x.norm(dim=1)
    radii = torch.tensor(toy2d.RING_RADII)
    nearest = (r[:, None] - radii).abs().min(1).values
    assert float(nearest.std()) < 0.1 and float(nearest.max()) < 0.5
    y = toy2d.sample("checkerboard", 40_000, generator=gen())
    assert (y.abs() <= 4).all()
    assert torch.isfinite(toy2d.log_density("checkerboard", y)).all()  # every sample on a black square
    assert toy2d.log_density("checkerboard", torch.tensor([[-3.0, -1.0]])).item() == -math.inf


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="valid names"):
        toy2d.sample("moons", 10)
    with pytest.raises(ValueError, match="shape"):
        toy2d.log_density("gaussian", torch.zeros(4, 3))
    with pytest.raises(ValueError, match="n must be"):
        toy2d.sample("gaussian", -1)
