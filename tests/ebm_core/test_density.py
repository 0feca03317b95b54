"""Exact 2D diagnostics checked against Gaussians whose answers are known in closed form."""

import math

import pytest
import torch

from ebm_core import density, toy2d


def gaussian_energy(mu, s, offset=0.0):
    mu = torch.tensor(mu)
    return lambda x: (x - mu).square().sum(1) / (2 * s * s) + offset


def test_log_z_of_a_gaussian_energy_matches_closed_form():
    grid = density.make_grid(3.0, 128)
    for s, offset in [(0.3, 0.0), (1.0, 2.5), (0.15, -4.0)]:
        lz = density.log_z(gaussian_energy([0.5, -0.5], s, offset), grid)
        assert abs(lz - (math.log(2 * math.pi * s * s) - offset)) < 1e-3


def test_log_z_counts_mass_beyond_the_box():
    grid = density.make_grid(2.0, 128)
    gd = density.grid_density(gaussian_energy([0.0, 0.0], 2.0), grid)  # wide: much mass off screen
    assert abs(gd.log_z - math.log(2 * math.pi * 4.0)) < 0.01
    inside = math.erf(2.0 / (2.0 * math.sqrt(2))) ** 2  # P(|x|<2, |y|<2) for std 2
    assert abs(gd.mass_outside - (1 - inside)) < 0.01
    assert abs(float(gd.log_density.exp().sum() * grid.cell_area) - inside) < 0.01


def test_kl_of_a_density_with_itself_is_zero():
    grid = density.make_grid(toy2d.extent("eight_gaussians"), 128)
    data = density.data_density(lambda x: toy2d.log_density("eight_gaussians", x), grid)
    model = density.grid_density(lambda x: -toy2d.log_density("eight_gaussians", x), grid)
    assert abs(density.kl_data_model(data, model)) < 1e-3
    assert abs(model.log_z) < 1e-3


def test_kl_between_gaussians_matches_closed_form():
    # KL(N(0, a^2 I) || N(m, b^2 I)) in 2D = 2 log(b/a) + (2 a^2 + |m|^2) / (2 b^2) - 1
    a, b, m = 0.5, 0.8, (0.3, 0.0)
    grid = density.make_grid(4.0, 160)
    data = density.data_density(lambda x: -gaussian_energy([0, 0], a)(x) - math.log(2 * math.pi * a * a), grid)
    model = density.grid_density(gaussian_energy(list(m), b), grid)
    expected = 2 * math.log(b / a) + (2 * a * a + 0.09) / (2 * b * b) - 1
    assert abs(density.kl_data_model(data, model) - expected) < 2e-3


def test_data_entropy_and_nll_of_the_true_model():
    grid = density.make_grid(4.0, 160)
    data = density.data_density(lambda x: toy2d.log_density("gaussian", x), grid)
    assert abs(data.entropy - (1 + math.log(2 * math.pi))) < 2e-3  # entropy of N(0, I) in 2D
    x = toy2d.sample("gaussian", 50_000, generator=torch.Generator().manual_seed(0))
    e = gaussian_energy([0, 0], 1.0)
    assert abs(density.nll(e, x, density.log_z(e, grid)) - data.entropy) < 0.02


def test_sampler_bias_small_for_exact_samples_large_for_wrong_ones():
    grid = density.make_grid(3.0, 128)
    e = gaussian_energy([0.0, 0.0], 0.7)
    gd = density.grid_density(e, grid)
    g = torch.Generator().manual_seed(0)
    exact = 0.7 * torch.randn(20_000, 2, generator=g)
    collapsed = 0.2 * torch.randn(20_000, 2, generator=g)
    assert density.sampler_bias(exact, gd, grid) < 0.02
    assert density.sampler_bias(collapsed, gd, grid) > 0.5


def test_non_finite_energy_is_flagged():
    grid = density.make_grid(1.0, 16)
    gd = density.grid_density(lambda x: torch.full((len(x),), float("nan")), grid)
    assert not gd.finite
    assert math.isnan(density.kl_data_model(density.data_density(lambda x: toy2d.log_density("gaussian", x), grid), gd))


def test_cell_counts_put_each_point_in_its_cell_and_the_rest_outside():
    x = torch.tensor([[-2.99, -2.99], [2.99, -2.99], [-2.99, 2.99], [0.1, 0.1], [3.0, 0.0], [float("nan"), 0.0],
                      [0.0, -7.0]], dtype=torch.float64)
    c = density.cell_counts(x, 3.0, 4)  # cells of width 1.5; row = y, col = x
    assert c.shape == (17,) and float(c.sum()) == len(x)
    assert c[0] == 1 and c[3] == 1 and c[12] == 1 and c[2 * 4 + 2] == 1  # the corners' cells and (0.1, 0.1)
    assert c[-1] == 3  # on the edge (|x| = extent), not a number, and far below: outside
    steps = torch.stack([x, x.flip(0), x])  # (T, B, 2): one bincount for every row
    assert torch.equal(density.cell_counts(steps, 3.0, 4), torch.stack([c, c, c]))
    p = density.with_outside(density.coarse_cells(torch.full((8, 8), 1 / 128, dtype=torch.float64), 4))
    assert p.shape == (17,) and torch.allclose(p[:-1], torch.full((16,), 1 / 32, dtype=torch.float64))
    assert float(p[-1]) == pytest.approx(0.5)  # half the mass was never on the grid
    assert float(density.kl_from_counts(p * 1000, p.log())) == pytest.approx(0.0, abs=1e-12)


def _two_wells(light: float):
    """Energy of two narrow wells at x = -2 (mass 1 - light) and x = +2 (mass light)."""
    def energy(x):
        a = -((x - torch.tensor([-2.0, 0.0])).square().sum(1)) / (2 * 0.15**2) + math.log(1 - light)
        b = -((x - torch.tensor([2.0, 0.0])).square().sum(1)) / (2 * 0.15**2) + math.log(light)
        return -torch.logaddexp(a, b)
    return energy


def test_model_density_sampler_draws_by_the_model_mass_and_follows_it():
    light = [0.1]
    energy = lambda x: _two_wells(light[0])(x)  # noqa: E731
    sampler = density.ModelDensitySampler(energy, 3.0, n=96, refresh_every=5)
    g = torch.Generator().manual_seed(0)
    x = sampler(20_000, g)
    assert x.shape == (20_000, 2) and x.abs().max() <= 3.0
    assert abs(float((x[:, 0] > 0).float().mean()) - 0.1) < 0.01
    assert float((x - torch.tensor([2.0, 0.0])).norm(dim=1)[x[:, 0] > 0].std()) < 0.3  # in the well, not spread
    light[0] = 0.5  # the model changed: the table follows within refresh_every calls
    for _ in range(5):
        sampler(10, g)
    assert abs(float((sampler(20_000, g)[:, 0] > 0).float().mean()) - 0.5) < 0.02
    broken = density.ModelDensitySampler(lambda x: torch.full((len(x),), float("nan")), 3.0, n=16)
    y = broken(4000, g)  # a diverged model: uniform restarts, never an error
    assert torch.isfinite(y).all() and abs(float((y[:, 0] > 0).float().mean()) - 0.5) < 0.05


def test_restarts_from_the_model_give_persistent_chains_the_model_mode_weights():
    # Chains cannot cross between two far wells. Restarted from noise they land by basin size (the
    # light well's basin covers ~half of the box), so the buffer says ~50/50 whatever the model's
    # weights are; restarted from the model, the buffer holds its 90/10.
    from ebm_core import samplers, training

    energy = _two_wells(0.1)
    noise = lambda n, gen: samplers.uniform((n, 2), 3.0, generator=gen)  # noqa: E731
    share = {}
    for name, restarts in (("noise", None), ("model", density.ModelDensitySampler(energy, 3.0))):
        g = torch.Generator().manual_seed(1)
        buf = training.ReplayBuffer(2000, noise, g, torch.device("cpu"))
        for _ in range(150):
            x0, idx = buf.draw(256, 0.3, restarts)
            buf.update(idx, samplers.langevin(energy, x0, step_size=0.002, n_steps=10, generator=g, stats=False).x)
        share[name] = float((buf.x[:, 0] > 0).float().mean())
    assert share["noise"] > 0.3 and abs(share["model"] - 0.1) < 0.05, share
