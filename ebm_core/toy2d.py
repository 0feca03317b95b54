"""2D toy datasets, each with a sampler and an exact log-density.

Every dataset is either a Gaussian mixture (eight_gaussians, gaussian), a uniform density on
squares (checkerboard), a radial mixture (rings), or a curve with isotropic Gaussian noise around
it (two_moons, swiss_roll, two_spirals, pinwheel). For the last kind the density is the convolution
of a 1D density along the curve with the noise; we evaluate it by quadrature over 2048 points of
the curve, whose spacing is far below the noise width, so the result is exact to float precision
for plotting and KL purposes.

Usage:
    x = sample("eight_gaussians", 512, generator=torch.Generator().manual_seed(0))  # (512, 2)
    logp = log_density("eight_gaussians", x)                                        # (512,)
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor
LOG_2PI = math.log(2 * math.pi)


def _randn(n: int, d: int, generator: torch.Generator | None) -> Tensor:
    return torch.randn(n, d, generator=generator)


def _rand(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=generator)


def _log_gauss_mixture(x: Tensor, centres: Tensor, std: Tensor | float, log_w: Tensor) -> Tensor:
    """log sum_k w_k N(x; c_k, std_k^2 I) for x (B, 2), centres (K, 2), std scalar or (K,)."""
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    out = []
    for xb in x.split(4096):  # bound memory: (4096, K) at a time
        d2 = torch.cdist(xb, centres.to(xb)).square()  # (b, K)
        lp = -d2 / (2 * std**2) - 2 * torch.log(std) - LOG_2PI + log_w.to(xb)  # (b, K)
        out.append(torch.logsumexp(lp, dim=1))
    return torch.cat(out) if out else x.new_zeros(0)


# ----------------------------------------------------------------------------------------------
# Gaussian mixtures


def _eight_centres() -> Tensor:
    angle = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return 2.0 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (8, 2), radius 2


EIGHT_STD = 0.15


def sample_eight_gaussians(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    k = torch.randint(0, 8, (n,), generator=generator)
    return (_eight_centres().float()[k] + EIGHT_STD * _randn(n, 2, generator)).float()


def log_density_eight_gaussians(x: Tensor) -> Tensor:
    c = _eight_centres()
    return _log_gauss_mixture(x, c, EIGHT_STD, torch.full((8,), -math.log(8), dtype=torch.float64))


def sample_gaussian(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    return _randn(n, 2, generator)


def log_density_gaussian(x: Tensor) -> Tensor:
    return -0.5 * x.square().sum(dim=1) - LOG_2PI


# ----------------------------------------------------------------------------------------------
# Rings: angle uniform, radius from a mixture of Gaussians folded at 0 (|r_k + s * eps|), so the
# density is p(x) = p_r(|x|) / (2 pi |x|) exactly.

RING_RADII = (0.75, 1.5, 2.25, 3.0)
RING_STD = 0.08


def sample_rings(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    k = torch.randint(0, len(RING_RADII), (n,), generator=generator)
    r = (torch.tensor(RING_RADII)[k] + RING_STD * _randn(n, 1, generator)[:, 0]).abs()
    theta = 2 * math.pi * _rand(n, generator)
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)


def log_density_rings(x: Tensor) -> Tensor:
    r = x.norm(dim=1).clamp_min(1e-12)  # (B,)
    radii = torch.tensor(RING_RADII, dtype=x.dtype, device=x.device)  # (K,)
    s = RING_STD
    # folded normal: N(r; r_k, s) + N(-r; r_k, s), averaged over rings
    lp = torch.stack([-(r[:, None] - radii) ** 2, -(r[:, None] + radii) ** 2], dim=0)
    lp = lp / (2 * s * s) - math.log(s) - 0.5 * LOG_2PI - math.log(len(RING_RADII))  # (2, B, K)
    log_pr = torch.logsumexp(lp.permute(1, 0, 2).reshape(len(r), -1), dim=1)  # (B,)
    return log_pr - math.log(2 * math.pi) - torch.log(r)


# ----------------------------------------------------------------------------------------------
# Checkerboard: uniform on 8 squares of side 2 inside [-4, 4]^2 (alternate squares of a 4x4 board).


def sample_checkerboard(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    cell = torch.randint(0, 8, (n,), generator=generator)
    row = cell // 2  # 0..3
    col = 2 * (cell % 2) + (row % 2)  # alternate columns per row
    u = torch.rand(n, 2, generator=generator)
    return torch.stack([-4 + 2 * col + 2 * u[:, 0], -4 + 2 * row + 2 * u[:, 1]], dim=1)


def log_density_checkerboard(x: Tensor) -> Tensor:
    inside = (x.abs() < 4).all(dim=1)
    col = torch.floor((x[:, 0] + 4) / 2)
    row = torch.floor((x[:, 1] + 4) / 2)
    on = inside & ((col + row) % 2 == 0)
    return torch.where(on, torch.full_like(col, -math.log(32.0)), torch.full_like(col, -math.inf))


# ----------------------------------------------------------------------------------------------
# Curves with Gaussian noise. A curve is (points (M, 2), weights (M,), noise std (M,)); a sample is
# a curve point drawn by weight plus noise, and the density is the matching Gaussian mixture.

N_CURVE = 2048


@dataclass(frozen=True)
class _Curve:
    points: Tensor  # (M, 2) float64
    log_w: Tensor  # (M,) float64, normalised
    std: Tensor  # (M,) float64


def _make_curve(points: Tensor, w: Tensor, std: Tensor) -> _Curve:
    return _Curve(points, torch.log(w / w.sum()), std)


def _moons_curve() -> _Curve:
    t = (torch.arange(N_CURVE // 2, dtype=torch.float64) + 0.5) * (math.pi / (N_CURVE // 2))
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    pts = (torch.cat([upper, lower]) - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 2.0
    return _make_curve(pts, torch.ones(N_CURVE, dtype=torch.float64), torch.full((N_CURVE,), 0.1, dtype=torch.float64))


def _swiss_roll_curve() -> _Curve:
    t = 1.5 * math.pi * (1 + 2 * (torch.arange(N_CURVE, dtype=torch.float64) + 0.5) / N_CURVE)
    pts = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 5.0
    # uniform in t (not arc length): the inner turns are denser, as in the classic generator
    return _make_curve(pts, torch.ones(N_CURVE, dtype=torch.float64), torch.full((N_CURVE,), 0.1, dtype=torch.float64))


def _spirals_curve() -> _Curve:
    m = N_CURVE // 2
    t = 3 * math.pi * (torch.arange(m, dtype=torch.float64) + 0.5) / m
    arm = torch.stack([-t * torch.cos(t), t * torch.sin(t)], 1) / 3.0
    pts = torch.cat([arm, -arm])
    w = torch.cat([t, t])  # density in t grows like t: about uniform along the arc
    return _make_curve(pts, w, torch.full((N_CURVE,), 0.1, dtype=torch.float64))


def _pinwheel_curve() -> _Curve:
    blades, m = 5, N_CURVE // 5
    s = 0.3 + 2.7 * (torch.arange(m, dtype=torch.float64) + 0.5) / m  # radius along a blade
    pts, std = [], []
    for k in range(blades):
        angle = 2 * math.pi * k / blades + 0.35 * s  # blades bend as they go out
        pts.append(torch.stack([s * torch.cos(angle), s * torch.sin(angle)], 1))
        std.append(0.04 + 0.08 * s)  # blades widen outwards
    pts, std = torch.cat(pts), torch.cat(std)
    return _make_curve(pts, torch.ones(len(pts), dtype=torch.float64), std)


_CURVES: dict[str, Callable[[], _Curve]] = {
    "two_moons": _moons_curve,
    "swiss_roll": _swiss_roll_curve,
    "two_spirals": _spirals_curve,
    "pinwheel": _pinwheel_curve,
}
_curve_cache: dict[str, _Curve] = {}


def _curve(name: str) -> _Curve:
    if name not in _curve_cache:
        _curve_cache[name] = _CURVES[name]()
    return _curve_cache[name]


def curve_points(name: str) -> Tensor:
    """The noise-free curve of a curve dataset, (M, 2) float64 (for geometry tests and plots)."""
    return _curve(name).points


def _sample_curve(name: str, n: int, noise: float | None, generator: torch.Generator | None) -> Tensor:
    c = _curve(name)
    k = torch.multinomial(c.log_w.exp(), n, replacement=True, generator=generator)
    std = c.std[k] if noise is None else torch.full((n,), noise, dtype=torch.float64)
    return (c.points[k] + std[:, None] * _randn(n, 2, generator).double()).float()


def _log_density_curve(name: str, x: Tensor) -> Tensor:
    c = _curve(name)
    # float32 is ample for a log-density and about twice as fast as float64 here
    return _log_gauss_mixture(x.float(), c.points.float(), c.std.float(), c.log_w.float()).to(x.dtype)


# ----------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class Dataset:
    """A 2D dataset: sampler, exact log-density and the square box [-extent, extent]^2 to show."""

    name: str
    sample: Callable[..., Tensor]
    log_density: Callable[[Tensor], Tensor]
    extent: float
    label: str


def _curve_dataset(name: str, extent: float, label: str) -> Dataset:
    return Dataset(
        name,
        lambda n, *, generator=None, noise=None: _sample_curve(name, n, noise, generator),
        lambda x: _log_density_curve(name, x),
        extent,
        label,
    )


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset("eight_gaussians", sample_eight_gaussians, log_density_eight_gaussians, 3.0, "Eight Gaussians"),
        _curve_dataset("two_moons", 3.5, "Two moons"),
        _curve_dataset("swiss_roll", 3.5, "Swiss roll"),
        Dataset("rings", sample_rings, log_density_rings, 3.75, "Concentric rings"),
        _curve_dataset("two_spirals", 4.0, "Two spirals"),
        Dataset("checkerboard", sample_checkerboard, log_density_checkerboard, 4.5, "Checkerboard"),
        _curve_dataset("pinwheel", 3.75, "Pinwheel"),
        Dataset("gaussian", sample_gaussian, log_density_gaussian, 4.0, "Single Gaussian"),
    ]
}


# A user's own points (drawn, uploaded) go by this name; they become a Dataset through
# userdata.points_dataset, always in a box of this half-width.
CUSTOM = "custom"
CUSTOM_EXTENT = 4.0


def get(name: str) -> Dataset:
    """The dataset called `name`; ValueError listing the valid names otherwise."""
    if name == CUSTOM:
        raise ValueError("'custom' data is made from your own points (ebm_core.userdata.points_dataset)")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name]


def sample(name: str, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """n samples of dataset `name`, float32 of shape (n, 2)."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    return get(name).sample(n, generator=generator).float()


def log_density(name: str, x: Tensor) -> Tensor:
    """Exact log-density of dataset `name` at x (B, 2) -> (B,). -inf where the density is zero."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (B, 2), got {tuple(x.shape)}")
    return get(name).log_density(x)


def extent(name: str) -> float:
    """Half-width of the square display box of dataset `name`."""
    return CUSTOM_EXTENT if name == CUSTOM else get(name).extent
