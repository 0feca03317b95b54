"""How EBMs work: the library's quadrature against closed forms and independent finer numerics, and the
hand-made curve."""

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import ROOT

from ebm_core import energies
from ebm_core.lessons import theory

PAGE = str(ROOT / "pages" / "1_How_EBMs_work.py")
TEMPERATURES = [0.1, 0.3, 1.0, 3.0, 5.0]
RANDOM_HEIGHTS = tuple(np.random.default_rng(7).uniform(*theory.CURVE_RANGE, len(theory.CURVE_X)).round(2))
ENERGIES_1D = {**theory.ENERGIES_1D, "curve": theory.curve_energy(theory.CURVE_DEFAULT),
               "random_curve": theory.curve_energy(RANDOM_HEIGHTS)}


def fine_log_z_1d(energy, T: float, half_width: float = 40.0, n: int = 400_001) -> float:
    """Composite Simpson over a much wider range with ~80x more points; plain sums, no shared code."""
    x = np.linspace(-half_width, half_width, n)
    a = -energy(x) / T
    shift = a.max()
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return shift + math.log(np.sum(w * np.exp(a - shift)) * (x[1] - x[0]) / 3)


# ----------------------------------------------------------------------------------------------
# 1D


@pytest.mark.parametrize("T", TEMPERATURES)
@pytest.mark.parametrize("k", [0.5, 1.0, 4.0])
def test_quadratic_energy_has_the_gaussian_normaliser(T, k):
    lo, hi = theory.SUPPORT_1D
    log_z = theory.log_partition_1d(lambda x: 0.5 * k * x**2, T, lo, hi, theory.N_SUPPORT_1D)
    sigma = math.sqrt(T / k)  # Z over [-L, L] = sqrt(2 pi) sigma erf(L / (sigma sqrt 2))
    assert log_z == pytest.approx(math.log(math.sqrt(2 * math.pi) * sigma * math.erf(hi / (sigma * math.sqrt(2)))),
                                  abs=1e-9)


@pytest.mark.parametrize("T", TEMPERATURES)
def test_page_profile_of_the_quadratic_matches_sqrt_2_pi_t(T):
    profile = theory.boltzmann_1d(theory.quadratic, T)
    assert profile.z == pytest.approx(math.sqrt(2 * math.pi * T), rel=1e-9)
    # the view [-4, 4] holds the Gaussian's mass within 4 / sqrt(T) standard deviations
    assert profile.mass_in_view == pytest.approx(math.erf(4 / math.sqrt(2 * T)), abs=1e-6)


def test_the_mixture_is_normalised_at_t_equal_one():
    assert theory.boltzmann_1d(theory.gaussian_mixture, 1.0).log_z == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("T", TEMPERATURES)
@pytest.mark.parametrize("name", list(ENERGIES_1D))
def test_1d_z_matches_a_much_finer_independent_quadrature(name, T):
    energy = ENERGIES_1D[name]
    assert theory.boltzmann_1d(energy, T).log_z == pytest.approx(fine_log_z_1d(energy, T), abs=1e-6)


@pytest.mark.parametrize("name", list(ENERGIES_1D))
def test_1d_density_integrates_to_one(name):
    energy = ENERGIES_1D[name]
    x, p = theory.density_1d(energy, 0.7, -5.0, 5.0, 2001)
    assert np.trapezoid(p, x) == pytest.approx(1.0, abs=1e-12)
    profile = theory.boltzmann_1d(energy, 0.7)
    assert 0.99 < profile.mass_in_view <= 1 + 1e-6
    assert np.all(profile.p >= 0)


@pytest.mark.parametrize("name", list(ENERGIES_1D))
def test_higher_temperature_gives_a_flatter_density(name):
    profiles = [theory.boltzmann_1d(ENERGIES_1D[name], T) for T in TEMPERATURES]
    entropies = [p.entropy for p in profiles]
    assert all(a < b for a, b in itertools.pairwise(entropies)), entropies
    # the flattest p is closer to uniform on the view than the sharpest
    spread = [p.p.max() / p.p.mean() for p in profiles]
    assert spread[-1] < spread[0]


def test_lower_energy_is_more_likely_at_every_temperature():
    for T in TEMPERATURES:
        profile = theory.boltzmann_1d(theory.double_well, T)
        order = np.argsort(profile.energy)
        assert np.all(np.diff(profile.p[order]) <= 1e-15)  # sorted by energy, p only falls


def test_the_entropy_of_a_gaussian_is_the_closed_form():
    for T in TEMPERATURES:
        assert theory.boltzmann_1d(theory.quadratic, T).entropy == pytest.approx(
            0.5 * math.log(2 * math.pi * math.e * T), abs=1e-6)


def test_the_deepest_valley_is_the_left_well_and_grabs_the_mass_when_cold():
    shares = []
    for T in TEMPERATURES:
        profile = theory.boltzmann_1d(theory.double_well, T)
        x_min, lo, hi = theory.valley_of_minimum(profile)
        assert x_min == pytest.approx(-1.03, abs=0.02) and lo == theory.VIEW_1D[0] and 0 < hi < 0.1
        shares.append(theory.mass_between(profile, lo, hi))
    assert shares[0] > 0.999 and all(a > b for a, b in itertools.pairwise(shares))


# ----------------------------------------------------------------------------------------------
# The hand-made curve


def curve_points(heights):
    return np.column_stack([theory.CURVE_X, heights])


@pytest.mark.parametrize("heights", [theory.CURVE_DEFAULT, RANDOM_HEIGHTS, (2, 2, 2, 2, 2, 2, 2),
                                     (0, 1, 2, 3, 4, 5, 6), (8, 0, 8, 0, 8, 0, 8)])
def test_the_curve_passes_through_its_points_without_overshooting(heights):
    pts = curve_points(heights)
    assert np.allclose(theory.interpolate_curve(pts, pts[:, 0]), heights)
    for (xa, ya), (xb, yb) in itertools.pairwise(pts):
        e = theory.interpolate_curve(pts, np.linspace(xa, xb, 201))
        assert min(ya, yb) - 1e-12 <= e.min() and e.max() <= max(ya, yb) + 1e-12


def test_the_curve_is_smooth_at_its_points_and_rises_as_walls_outside():
    pts = curve_points(RANDOM_HEIGHTS)
    h = 1e-6
    for xk in pts[:, 0]:
        left = (theory.interpolate_curve(pts, np.array([xk])) - theory.interpolate_curve(pts, np.array([xk - h]))) / h
        right = (theory.interpolate_curve(pts, np.array([xk + h])) - theory.interpolate_curve(pts, np.array([xk]))) / h
        assert left[0] == pytest.approx(right[0], abs=1e-4)  # once differentiable everywhere
    outside_right = theory.interpolate_curve(pts, np.linspace(3, 12, 500))
    outside_left = theory.interpolate_curve(pts, np.linspace(-12, -3, 500))
    assert np.all(np.diff(outside_right) >= 0) and np.all(np.diff(outside_left) <= 0)
    assert outside_right[-1] > 200 and outside_left[0] > 200


def test_a_single_low_point_is_the_minimum_and_holds_the_mass_when_cold():
    heights = [6, 6, 6, 0, 6, 6, 6]
    profile = theory.boltzmann_1d(theory.curve_energy(heights), 0.1)
    x_min, lo, hi = theory.valley_of_minimum(profile)
    assert x_min == 0 and theory.mass_between(profile, lo, hi) > 0.999


# ----------------------------------------------------------------------------------------------
# 2D


def fine_log_z_2d(energy, T: float, half_width: float = 14.0, n: int = 1000) -> float:
    """Midpoint rule on a wider box with cell centres (not the trapezoid's nodes)."""
    g = (torch.arange(n, dtype=torch.float64) + 0.5) * (2 * half_width / n) - half_width
    gx, gy = torch.meshgrid(g, g, indexing="ij")
    a = -energy(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)) / T
    return float(torch.logsumexp(a, dim=0)) + 2 * math.log(2 * half_width / n)


@pytest.mark.parametrize("T", TEMPERATURES)
def test_2d_gaussian_z_is_2_pi_t(T):
    log_z = theory.boltzmann_2d(energies.make_energy("gaussian"), T, view=4.0).log_z
    assert log_z == pytest.approx(math.log(2 * math.pi * T), abs=1e-8)


@pytest.mark.parametrize("T", TEMPERATURES)
def test_2d_z_of_ring_and_double_well_match_their_closed_forms_at_every_t(T):
    # (|x| - r)^2 / (2 sigma^2 T) is a ring of width sigma sqrt(T); (x1^2 - 1)^2 / (a T) + x2^2 / (2 T) is a
    # double well with parameter a T times a Gaussian of variance T in x2
    ring = theory.boltzmann_2d(theory.energy_2d("ring"), T, view=3.0).log_z
    assert ring == pytest.approx(energies.make_energy("ring", sigma=0.2 * math.sqrt(T)).log_z, abs=1e-7)
    well = theory.boltzmann_2d(theory.energy_2d("double_well"), T, view=4.0).log_z
    want = energies.make_energy("double_well", a=0.25 * T).log_z + 0.5 * math.log(T)
    assert well == pytest.approx(want, abs=1e-7)


@pytest.mark.parametrize("T", TEMPERATURES)
@pytest.mark.parametrize("name", list(theory.ENERGIES_2D))
def test_2d_z_matches_a_finer_midpoint_rule(name, T):
    energy = theory.energy_2d(name)
    got = theory.boltzmann_2d(energy, T, view=energy.extent).log_z
    assert got == pytest.approx(fine_log_z_2d(energy, T), abs=1e-6)
    if T == 1.0:
        assert got == pytest.approx(energy.log_z, abs=1e-6)


@pytest.mark.parametrize("name", list(theory.ENERGIES_2D))
def test_2d_density_integrates_to_one_and_the_view_holds_it_at_t_1(name):
    energy = theory.energy_2d(name)
    xs, p = theory.density_2d(energy, 1.5, energy.extent, 121)
    assert np.trapezoid(np.trapezoid(p, xs, axis=1), xs) == pytest.approx(1.0, abs=1e-12)
    assert theory.boltzmann_2d(energy, 1.0, view=energy.extent).mass_in_view > 0.998
    hot, cold = (theory.boltzmann_2d(energy, T, view=energy.extent) for T in (5.0, 0.2))
    assert hot.mass_in_view < cold.mass_in_view and hot.p.max() < cold.p.max()


def test_the_2d_grid_puts_x2_on_rows():
    _, p = theory.density_2d(theory.energy_2d("double_well"), 1.0, 4.0, 81)
    assert p[40, 50] > 50 * p[50, 40]  # (x1, x2) = (1, 0) is a well, E = 0; (0, 1) is on the barrier, E = 4.5


def test_bad_arguments_raise_value_errors_that_name_them():
    with pytest.raises(ValueError, match="double_well, mixture, quadratic"):
        theory.energy_1d("banana")
    with pytest.raises(ValueError, match="double_well, ring, mixture"):
        theory.energy_2d("banana")
    with pytest.raises(ValueError, match="temperature"):
        theory.log_partition_1d(theory.quadratic, 0.0, -1, 1, 10)
    with pytest.raises(ValueError, match="lo < hi"):
        theory.log_partition_1d(theory.quadratic, 1.0, 1, -1, 10)
    with pytest.raises(ValueError, match="increasing"):
        theory.interpolate_curve([[0, 1], [0, 2]], np.zeros(3))
    with pytest.raises(ValueError, match="heights"):
        theory.curve_energy([1, 2, 3])
    with pytest.raises(ValueError, match="shape"):
        theory.log_partition_1d(lambda x: x[:-1], 1.0, -1, 1, 10)
