"""The Gibbs-Boltzmann distribution made countable: the numbers behind the "How EBMs work" page.

Convention: at temperature T an energy E gives the density p_T(x) = exp(-E(x) / T) / Z_T with
Z_T = integral of exp(-E(x) / T) dx. Lower energy is more likely; T = 1 is the model itself.

Two parts, each plain numerics:
1. 1D energies (a registry, plus a curve through control points the user drags) and their
   normaliser by trapezoid quadrature. Z is integrated over a wide `support` interval while the
   page draws a narrower `view`, and the share of p inside the view is reported, so no mass hides
   off screen unnoticed.
2. The same on a 2D grid, for the analytic energies of `ebm_core.energies`.
Why Z is out of reach for images (enumerating every binary image) is counted in `counting.py`.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .. import density
from ..energies import AnalyticEnergy, make_energy

Tensor = torch.Tensor
Energy1D = Callable[[np.ndarray], np.ndarray]  # (n,) float64 -> (n,) float64

VIEW_1D = (-4.0, 4.0)  # the x range the page draws
SUPPORT_1D = (-16.0, 16.0)  # the x range Z is integrated over (every energy here confines well inside it)
N_SUPPORT_1D = 6401  # trapezoid points on the support: spacing 0.005
CURVE_X = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)  # control points of the hand-made curve
CURVE_RANGE = (0.0, 8.0)  # heights a control point may take
CURVE_DEFAULT = (5.0, 1.0, 3.5, 3.0, 0.5, 2.5, 5.0)
WALL_WIDTH = 0.4  # beyond the last control points the curve rises like u^2 / (2 * WALL_WIDTH^2)
SUPPORT_2D = 16.0  # 2D Z is integrated over [-16, 16]^2 ...
N_SUPPORT_2D = 640  # ... on 640 x 640 cells: spacing 0.05


def check_temperature(temperature: float) -> float:
    """The temperature as a float, or a ValueError unless it is a positive finite number."""
    if not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return float(temperature)


def _check_range(lo: float, hi: float, n: int) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"need finite lo < hi, got lo={lo}, hi={hi}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")


def _logsumexp(a: np.ndarray) -> float:
    m = float(np.max(a))
    return m + math.log(float(np.sum(np.exp(a - m))))


def _trapezoid_log_weights(n: int, h: float) -> np.ndarray:
    w = np.full(n, h)
    w[[0, -1]] = h / 2
    return np.log(w)


# ----------------------------------------------------------------------------------------------
# 1D energies


def double_well(x: np.ndarray) -> np.ndarray:
    """Two valleys near x = -1 and x = +1, the left one 1 nat deeper: E = 2 (x^2 - 1)^2 + x / 2."""
    return 2.0 * (x**2 - 1.0) ** 2 + 0.5 * x


MIXTURE_WEIGHTS, MIXTURE_MEANS, MIXTURE_STDS = (0.35, 0.65), (-1.8, 1.2), (0.45, 0.8)


def gaussian_mixture(x: np.ndarray) -> np.ndarray:
    """E = -log of a normalised two-Gaussian mixture, so Z = 1 at T = 1."""
    w, mu, sd = (np.array(v)[:, None] for v in (MIXTURE_WEIGHTS, MIXTURE_MEANS, MIXTURE_STDS))  # (K, 1)
    log_pk = np.log(w) - 0.5 * ((x[None] - mu) / sd) ** 2 - np.log(sd * math.sqrt(2 * math.pi))  # (K, n)
    m = log_pk.max(axis=0)
    return -(m + np.log(np.exp(log_pk - m).sum(axis=0)))


def quadratic(x: np.ndarray) -> np.ndarray:
    """E = x^2 / 2: p_T is a Gaussian of variance T and Z_T = sqrt(2 pi T)."""
    return 0.5 * x**2


ENERGIES_1D: dict[str, Energy1D] = {
    "double_well": double_well,
    "mixture": gaussian_mixture,
    "quadratic": quadratic,
}


def energy_1d(name: str) -> Energy1D:
    """A registered 1D energy by name."""
    if name not in ENERGIES_1D:
        raise ValueError(f"unknown 1D energy {name!r}; valid names: {', '.join(ENERGIES_1D)}")
    return ENERGIES_1D[name]


def _curve_slopes(xk: np.ndarray, yk: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes: zero at every local extremum, a weighted harmonic mean elsewhere,
    so the curve never overshoots its control points. The end slopes point into the walls."""
    h, delta = np.diff(xk), np.diff(yk) / np.diff(xk)  # (K-1,)
    d = np.zeros_like(yk)
    for k in range(1, len(yk) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    d[0], d[-1] = min(delta[0], 0.0), max(delta[-1], 0.0)
    return d


def interpolate_curve(points, x: np.ndarray, *, wall: float = WALL_WIDTH) -> np.ndarray:
    """Smooth energy through control points (a monotone cubic Hermite spline), with walls outside.

    Between control points the curve is the PCHIP interpolant (Fritsch & Carlson, 1980): once
    differentiable, and each local minimum sits on a control point. Beyond the first and last
    point it continues with the same slope plus u^2 / (2 wall^2), u the distance past the point,
    so exp(-E / T) is integrable at every T and no valley hides outside the points.

    Args:
        points: (K, 2) pairs (x_k, E_k), K >= 2, x_k strictly increasing.
        x: (n,) where to evaluate.

    Returns:
        (n,) float64 energies.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
        raise ValueError(f"points must have shape (K, 2) with K >= 2, got {pts.shape}")
    if not np.isfinite(pts).all() or not (np.diff(pts[:, 0]) > 0).all():
        raise ValueError("points must be finite with strictly increasing x")
    if not 0 < wall < math.inf:
        raise ValueError(f"wall must be positive and finite, got {wall}")
    xk, yk = pts[:, 0], pts[:, 1]
    d = _curve_slopes(xk, yk)
    x = np.asarray(x, dtype=np.float64)
    k = np.clip(np.searchsorted(xk, x, side="right") - 1, 0, len(xk) - 2)  # segment of each x
    h = xk[k + 1] - xk[k]
    t = np.clip((x - xk[k]) / h, 0.0, 1.0)
    # 1. cubic Hermite basis on the segment
    e = ((1 + 2 * t) * (1 - t) ** 2 * yk[k] + t * (1 - t) ** 2 * h * d[k]
         + t**2 * (3 - 2 * t) * yk[k + 1] + t**2 * (t - 1) * h * d[k + 1])
    # 2. walls: the end value, the end slope (pointing uphill or flat) and a quadratic rise
    left, right = np.clip(xk[0] - x, 0, None), np.clip(x - xk[-1], 0, None)
    e = np.where(x < xk[0], yk[0] - d[0] * left + left**2 / (2 * wall**2), e)
    return np.where(x > xk[-1], yk[-1] + d[-1] * right + right**2 / (2 * wall**2), e)


def curve_energy(heights, xs=CURVE_X) -> Energy1D:
    """The hand-made energy: `interpolate_curve` through (xs[k], heights[k])."""
    if len(heights) != len(xs):
        raise ValueError(f"heights must have {len(xs)} values (one per control point), got {len(heights)}")
    points = np.column_stack([np.asarray(xs, dtype=np.float64), np.asarray(heights, dtype=np.float64)])
    interpolate_curve(points, np.zeros(1))  # validate now, not at the first evaluation
    return lambda x: interpolate_curve(points, x)


# ----------------------------------------------------------------------------------------------
# 1D quadrature


def _energies_1d(energy: Energy1D, x: np.ndarray) -> np.ndarray:
    e = np.asarray(energy(x), dtype=np.float64)
    if e.shape != x.shape:
        raise ValueError(f"energy must return shape {x.shape}, got {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError("energy returned non-finite values")
    return e


def log_partition_1d(energy: Energy1D, temperature: float, lo: float, hi: float, n: int) -> float:
    """log of Z_T = integral over [lo, hi] of exp(-E(x) / T) dx: trapezoid rule on n points,
    summed in log space so a cold T cannot overflow."""
    T = check_temperature(temperature)
    _check_range(lo, hi, n)
    x = np.linspace(lo, hi, n)
    return _logsumexp(-_energies_1d(energy, x) / T + _trapezoid_log_weights(n, (hi - lo) / (n - 1)))


def density_1d(energy: Energy1D, temperature: float, lo: float, hi: float, n: int, *,
               log_z: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, p) on n points of [lo, hi]: p = exp(-E / T - log_z). Without log_z, Z is taken over
    [lo, hi] itself (so p integrates to 1 there); pass a wider-range log_z to see the share inside."""
    T = check_temperature(temperature)
    _check_range(lo, hi, n)
    if log_z is None:
        log_z = log_partition_1d(energy, T, lo, hi, n)
    x = np.linspace(lo, hi, n)
    return x, np.exp(-_energies_1d(energy, x) / T - log_z)


@dataclass(frozen=True)
class Profile1D:
    """A 1D energy at one temperature, ready to draw; arrays on the view grid."""

    temperature: float
    x: np.ndarray  # (n,) view grid
    energy: np.ndarray  # (n,) E(x)
    p: np.ndarray  # (n,) exp(-E / T) / Z
    log_z: float  # over the support
    mass_in_view: float  # integral of p over the view
    entropy: float  # differential entropy of p_T in nats, over the support

    @property
    def z(self) -> float:
        return math.exp(self.log_z)

    @property
    def weight(self) -> np.ndarray:
        """exp(-E / T), the curve whose area is Z."""
        return self.p * self.z


def boltzmann_1d(energy: Energy1D, temperature: float, *, view=VIEW_1D, support=SUPPORT_1D,
                 n_view: int = 801, n_support: int = N_SUPPORT_1D) -> Profile1D:
    """E, p_T, Z_T, the share of p in the view and the entropy of one 1D energy at temperature T."""
    T = check_temperature(temperature)
    if not support[0] <= view[0] < view[1] <= support[1]:
        raise ValueError(f"view {view} must lie inside support {support}")
    log_z = log_partition_1d(energy, T, *support, n_support)
    xs = np.linspace(*support, n_support)
    e_s = _energies_1d(energy, xs)
    p_s = np.exp(-e_s / T - log_z)
    entropy = float(np.trapezoid(p_s * (e_s / T + log_z), xs))  # -integral p log p
    x, p = density_1d(energy, T, *view, n_view, log_z=log_z)
    return Profile1D(T, x, _energies_1d(energy, x), p, log_z, float(np.trapezoid(p, x)), entropy)


def valley_of_minimum(profile: Profile1D) -> tuple[float, float, float]:
    """(x at the lowest energy in view, left and right edge of its valley): the valley reaches
    from the minimum uphill to the nearest energy maximum on each side (or the view's edge)."""
    e = profile.energy
    i = int(np.argmin(e))
    lo = i
    while lo > 0 and e[lo - 1] >= e[lo]:
        lo -= 1
    hi = i
    while hi < len(e) - 1 and e[hi + 1] >= e[hi]:
        hi += 1
    return float(profile.x[i]), float(profile.x[lo]), float(profile.x[hi])


def mass_between(profile: Profile1D, a: float, b: float) -> float:
    """Integral of p over [a, b] on the view grid."""
    inside = (profile.x >= a) & (profile.x <= b)
    return float(np.trapezoid(profile.p[inside], profile.x[inside])) if inside.sum() > 1 else 0.0


# ----------------------------------------------------------------------------------------------
# 2D


ENERGIES_2D: dict[str, Callable[[], AnalyticEnergy]] = {
    "double_well": lambda: make_energy("double_well"),
    "ring": lambda: make_energy("ring"),
    "mixture": lambda: make_energy("mixture"),
}


def energy_2d(name: str) -> AnalyticEnergy:
    """A registered 2D energy (from `ebm_core.energies`) by name; its `extent` is the view box."""
    if name not in ENERGIES_2D:
        raise ValueError(f"unknown 2D energy {name!r}; valid names: {', '.join(ENERGIES_2D)}")
    return ENERGIES_2D[name]()


def _energy_grid(energy: Callable[[Tensor], Tensor], extent: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(xs (n,), E (n, n)) on the grid over [-extent, extent]^2; row i at x2 = xs[i]."""
    _check_range(-extent, extent, n)
    xs = torch.linspace(-extent, extent, n, dtype=torch.float64)
    x2, x1 = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)  # (n*n, 2)
    with torch.no_grad():
        e = energy(pts)
    if e.shape != (n * n,):
        raise ValueError(f"energy must return shape ({n * n},), got {tuple(e.shape)}")
    e = e.double().reshape(n, n).numpy()
    if not np.isfinite(e).all():
        raise ValueError("energy returned non-finite values")
    return xs.numpy(), e


def log_partition_2d(energy: Callable[[Tensor], Tensor], temperature: float, extent: float, n: int) -> float:
    """log of Z_T over the plane: `density.grid_density`'s midpoint rule on n x n cells of
    [-extent, extent]^2 (plus its coarse ring beyond), in float64."""
    T = check_temperature(temperature)
    _check_range(-extent, extent, n)
    result = density.grid_density(lambda x: energy(x) / T, density.make_grid(extent, n, dtype=torch.float64))
    if not result.finite:
        raise ValueError("energy returned non-finite values")
    return result.log_z


def density_2d(energy: Callable[[Tensor], Tensor], temperature: float, extent: float, n: int, *,
               log_z: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(xs (n,), p (n, n)) on the grid over [-extent, extent]^2, row i at x2 = xs[i]; Z over that
    box unless log_z is given."""
    T = check_temperature(temperature)
    xs, e = _energy_grid(energy, extent, n)
    if log_z is None:  # the trapezoid rule on these same nodes, so p sums to 1 over the box
        lw = _trapezoid_log_weights(n, 2 * extent / (n - 1))
        log_z = _logsumexp(-e / T + lw[:, None] + lw[None, :])
    return xs, np.exp(-e / T - log_z)


@dataclass(frozen=True)
class Profile2D:
    """A 2D energy at one temperature on the view grid."""

    temperature: float
    xs: np.ndarray  # (n,) grid of both axes
    p: np.ndarray  # (n, n), row i at x2 = xs[i]
    log_z: float  # over [-SUPPORT_2D, SUPPORT_2D]^2
    mass_in_view: float

    @property
    def z(self) -> float:
        return math.exp(self.log_z)


def boltzmann_2d(energy: Callable[[Tensor], Tensor], temperature: float, *, view: float,
                 support: float = SUPPORT_2D, n_view: int = 161, n_support: int = N_SUPPORT_2D) -> Profile2D:
    """p_T on the view box [-view, view]^2, with Z_T over the wider support box."""
    if not 0 < view <= support:
        raise ValueError(f"need 0 < view <= support, got view={view}, support={support}")
    log_z = log_partition_2d(energy, temperature, support, n_support)
    xs, p = density_2d(energy, temperature, view, n_view, log_z=log_z)
    mass = float(np.trapezoid(np.trapezoid(p, xs, axis=1), xs))
    return Profile2D(float(temperature), xs, p, log_z, mass)
