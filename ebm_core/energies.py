"""Analytic 2D energies whose normaliser, moments and exact samples are known.

They serve two purposes: oracles for sampler tests (a sampler run on one of these must reproduce
`mean`, `cov` and `log_density`), and targets for the Langevin Lab page.

Convention: p(x) = exp(-E(x)) / Z with Z = exp(log_z); lower energy is more likely. Calling an
energy on x of shape (B, 2) returns a tensor of shape (B,) in x's dtype, differentiable with
autograd. Where Z has no closed form (double_well) or sampling needs an inverse CDF (double_well,
ring), we tabulate a 1D density once, in float64, on a grid of 20001 points that reaches past the
point where the density falls below exp(-80) of its peak; trapezoid sums of such smooth, fast
decaying integrands are exact to far below the tolerances anyone checks.

Usage:
    energy = make_energy("double_well", a=0.25)
    e = energy(x)                                               # (B,)
    x = energy.sample(1000, generator=torch.Generator().manual_seed(0))  # (1000, 2)
    logp = energy.log_density(x)                                # (1000,)
"""

import math
from dataclasses import dataclass, fields
from functools import cached_property

import torch

Tensor = torch.Tensor
LOG_2PI = math.log(2 * math.pi)
GRID_POINTS = 20001  # points of every 1D quadrature / inverse-CDF table
TAIL_NATS = 80.0  # tables stop where the 1D density is below exp(-80) of its peak


def _round_up(v: float, step: float = 0.5) -> float:
    return step * math.ceil(v / step - 1e-9)


def _normal_cdf(t: float) -> float:
    return 0.5 * math.erfc(-t / math.sqrt(2))


def _cdf_table(grid: Tensor, density: Tensor) -> Tensor:
    """Normalised cumulative trapezoid of an unnormalised density on a 1D grid, both (G,)."""
    cells = 0.5 * (density[1:] + density[:-1]) * grid.diff()  # (G-1,)
    cdf = torch.cat([cells.new_zeros(1), cells.cumsum(0)])  # (G,)
    return cdf / cdf[-1]


def _inverse_cdf(grid: Tensor, cdf: Tensor, u: Tensor) -> Tensor:
    """Map u in [0, 1) through the piecewise-linear inverse of a tabulated CDF."""
    i = torch.searchsorted(cdf, u, right=True).clamp(1, len(grid) - 1)  # cdf[i-1] <= u < cdf[i]
    w = (u - cdf[i - 1]) / (cdf[i] - cdf[i - 1])
    return grid[i - 1] + w * (grid[i] - grid[i - 1])


class AnalyticEnergy:
    """What every energy here provides; subclasses implement `_energy` and the properties.

    Attributes:
        log_z: log of Z = integral of exp(-E) over R^2.
        mean: (2,) float64 mean of p.
        cov: (2, 2) float64 covariance of p.
        extent: half-width of a square box [-extent, extent]^2 holding more than 99.9% of p.
    """

    log_z: float
    mean: Tensor
    cov: Tensor
    extent: float

    def __call__(self, x: Tensor) -> Tensor:
        """Energy E(x) of x with shape (B, 2); returns shape (B,)."""
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != 2:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (B, 2), got {shape}")
        return self._energy(x)

    def log_density(self, x: Tensor) -> Tensor:
        """Exact log p(x) = -E(x) - log_z for x of shape (B, 2); returns shape (B,)."""
        return -self(x) - self.log_z

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Exact independent samples, shape (n, 2), float32."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        return self._sample(n, generator).float()

    def _energy(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------
# Gaussians


@dataclass(frozen=True)
class Gaussian(AnalyticEnergy):
    """Standard normal: E(x) = |x|^2 / 2, Z = 2 pi."""

    def _energy(self, x: Tensor) -> Tensor:
        return 0.5 * x.square().sum(dim=1)

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        return torch.randn(n, 2, generator=generator)

    @property
    def log_z(self) -> float:
        return LOG_2PI

    @property
    def mean(self) -> Tensor:
        return torch.zeros(2, dtype=torch.float64)

    @property
    def cov(self) -> Tensor:
        return torch.eye(2, dtype=torch.float64)

    @property
    def extent(self) -> float:
        return 4.0  # the disk of radius 4 inside the box already holds 1 - exp(-8) > 99.96%


@dataclass(frozen=True)
class CorrelatedGaussian(AnalyticEnergy):
    """Zero mean, unit variances, correlation rho.

    E(x) = (x1^2 - 2 rho x1 x2 + x2^2) / (2 (1 - rho^2)), Z = 2 pi sqrt(1 - rho^2). At rho = 0.9
    the long axis has std sqrt(1.9) and the short one sqrt(0.1): a narrow ridge that punishes a
    step size tuned for the long direction.
    """

    rho: float = 0.9

    def __post_init__(self):
        if not -1.0 < self.rho < 1.0:
            raise ValueError(f"rho must lie strictly between -1 and 1, got {self.rho}")

    def _energy(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return (x1.square() - 2 * self.rho * x1 * x2 + x2.square()) / (2 * (1 - self.rho**2))

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        z = torch.randn(n, 2, generator=generator)  # (n, 2)
        x2 = self.rho * z[:, 0] + math.sqrt(1 - self.rho**2) * z[:, 1]
        return torch.stack([z[:, 0], x2], dim=1)

    @property
    def log_z(self) -> float:
        return LOG_2PI + 0.5 * math.log(1 - self.rho**2)

    @property
    def mean(self) -> Tensor:
        return torch.zeros(2, dtype=torch.float64)

    @property
    def cov(self) -> Tensor:
        return torch.tensor([[1.0, self.rho], [self.rho, 1.0]], dtype=torch.float64)

    @property
    def extent(self) -> float:
        return 4.0  # each unit-variance marginal leaves 2 Phi(-4) = 6e-5 outside


@dataclass(frozen=True)
class Mixture(AnalyticEnergy):
    """Equal-weight mixture of isotropic Gaussians centred evenly on a circle.

    Centre k sits at radius * (cos 2 pi k / K, sin 2 pi k / K). E(x) = -log p(x), so Z = 1. With
    the defaults, neighbouring modes are 7 std apart: easy to see, hard for Langevin to cross.
    """

    n_modes: int = 4
    radius: float = 2.5
    std: float = 0.5

    def __post_init__(self):
        if isinstance(self.n_modes, bool) or not isinstance(self.n_modes, int) or self.n_modes < 1:
            raise ValueError(f"n_modes must be a positive int, got {self.n_modes!r}")
        if not 0 <= self.radius < math.inf:
            raise ValueError(f"radius must be finite and non-negative, got {self.radius}")
        if not 0 < self.std < math.inf:
            raise ValueError(f"std must be finite and positive, got {self.std}")

    @property
    def centres(self) -> Tensor:
        """Mode centres, shape (K, 2), float64."""
        angle = torch.arange(self.n_modes, dtype=torch.float64) * (2 * math.pi / self.n_modes)
        return self.radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)

    def _energy(self, x: Tensor) -> Tensor:
        d2 = (x[:, None, :] - self.centres.to(x)[None]).square().sum(dim=2)  # (B, K)
        log_pk = -d2 / (2 * self.std**2) - LOG_2PI - 2 * math.log(self.std)  # (B, K)
        return math.log(self.n_modes) - torch.logsumexp(log_pk, dim=1)

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        k = torch.randint(0, self.n_modes, (n,), generator=generator)
        return self.centres[k] + self.std * torch.randn(n, 2, generator=generator, dtype=torch.float64)

    @property
    def log_z(self) -> float:
        return 0.0

    @property
    def mean(self) -> Tensor:
        return self.centres.mean(dim=0)

    @property
    def cov(self) -> Tensor:
        # law of total covariance: within-mode std^2 I plus the spread of the centres
        c = self.centres - self.mean  # (K, 2)
        return self.std**2 * torch.eye(2, dtype=torch.float64) + c.T @ c / self.n_modes

    @property
    def extent(self) -> float:
        # every centre is within `radius` of 0 per coordinate; 4 std more leaves < 4 Phi(-4) out
        return _round_up(self.radius + 4 * self.std)


# ----------------------------------------------------------------------------------------------
# Double well


@dataclass(frozen=True)
class DoubleWell(AnalyticEnergy):
    """Two wells along x1, Gaussian along x2: E(x) = (x1^2 - 1)^2 / a + x2^2 / 2.

    The wells sit at x1 = +-1 with curvature 8 / a and the barrier at x1 = 0 is 1 / a nats high.
    The default a = 0.25 gives a 4-nat barrier: the density on the ridge is exp(-4) = 1.8% of the
    wells', two clearly separate modes, yet Kramers' rate sqrt(32 * 16) / (2 pi) * exp(-4) = 0.07
    per unit of Langevin time means ULA with step 0.01 crosses about once every 1500 steps.
    The x1 marginal has no closed-form normaliser; we tabulate it (see module docstring).
    """

    a: float = 0.25

    def __post_init__(self):
        if not 0 < self.a < math.inf:
            raise ValueError(f"a must be finite and positive, got {self.a}")

    def _energy(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return (x1.square() - 1).square() / self.a + 0.5 * x2.square()

    @cached_property
    def _x1_table(self) -> tuple[Tensor, Tensor, Tensor]:
        """(grid, unnormalised marginal density, cdf) of x1, each (G,) float64."""
        half_width = math.sqrt(1 + math.sqrt(TAIL_NATS * self.a))  # where (x1^2-1)^2/a = 80
        grid = torch.linspace(-half_width, half_width, GRID_POINTS, dtype=torch.float64)
        density = torch.exp(-(grid.square() - 1).square() / self.a)
        return grid, density, _cdf_table(grid, density)

    def _x1_moment(self, power: int) -> float:
        grid, density, _ = self._x1_table
        return (torch.trapezoid(grid**power * density, grid) / torch.trapezoid(density, grid)).item()

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        grid, _, cdf = self._x1_table
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        x1 = _inverse_cdf(grid, cdf, u)  # (n,)
        x2 = torch.randn(n, generator=generator, dtype=torch.float64)  # (n,)
        return torch.stack([x1, x2], dim=1)

    @property
    def log_z(self) -> float:
        grid, density, _ = self._x1_table
        return math.log(torch.trapezoid(density, grid).item()) + 0.5 * LOG_2PI

    @property
    def mean(self) -> Tensor:
        return torch.zeros(2, dtype=torch.float64)  # E is even in x1 and in x2

    @property
    def cov(self) -> Tensor:
        return torch.diag(torch.tensor([self._x1_moment(2), 1.0], dtype=torch.float64))

    @property
    def extent(self) -> float:
        grid, _, cdf = self._x1_table
        x1_tail = _inverse_cdf(grid, cdf, torch.tensor([1 - 1e-4], dtype=torch.float64)).item()
        return _round_up(max(4.0, x1_tail))  # x1 leaves 2e-4 outside, x2 6e-5


# ----------------------------------------------------------------------------------------------
# Banana


@dataclass(frozen=True)
class Banana(AnalyticEnergy):
    """A Gaussian bent into a parabola: E(x) = x1^2 / (2 s^2) + (x2 - b (x1^2 - s^2))^2 / 2.

    Equivalently x1 ~ N(0, s^2) and x2 = b (x1^2 - s^2) + N(0, 1). The map (x1, x2) -> (x1, x2 -
    b (x1^2 - s^2)) has Jacobian 1, so Z = 2 pi s exactly, the mean is 0 (the - s^2 centres x2),
    Cov(x1, x2) = b E[x1^3] = 0 and Var(x2) = b^2 Var(x1^2) + 1 = 2 b^2 s^4 + 1.

    The defaults bend the ridge by 1.7 (in units of its unit width) between x1 = 0 and x1 = +-2s:
    a clear banana that still fits the box [-6.5, 6.5]^2. Larger b bends more, but the x1^2 tail
    then pushes 0.1% of the mass far up in x2 and the box grows quickly (b = 0.5 needs extent 12).
    """

    s: float = 1.5
    b: float = 0.25

    def __post_init__(self):
        if not 0 < self.s < math.inf:
            raise ValueError(f"s must be finite and positive, got {self.s}")
        if not math.isfinite(self.b):
            raise ValueError(f"b must be finite, got {self.b}")

    def _energy(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return 0.5 * (x1 / self.s).square() + 0.5 * (x2 - self.b * (x1.square() - self.s**2)).square()

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64)  # (n, 2)
        x1 = self.s * z[:, 0]
        return torch.stack([x1, self.b * (x1.square() - self.s**2) + z[:, 1]], dim=1)

    @property
    def log_z(self) -> float:
        return math.log(2 * math.pi * self.s)

    @property
    def mean(self) -> Tensor:
        return torch.zeros(2, dtype=torch.float64)

    @property
    def cov(self) -> Tensor:
        return torch.diag(torch.tensor([self.s**2, 2 * self.b**2 * self.s**4 + 1], dtype=torch.float64))

    def box_mass(self, half_width: float) -> float:
        """Probability of [-half_width, half_width]^2, by quadrature over x1."""
        x1 = torch.linspace(-half_width, half_width, GRID_POINTS, dtype=torch.float64)
        centre = self.b * (x1.square() - self.s**2)  # (G,) conditional mean of x2
        cdf = lambda t: 0.5 * torch.erfc(-t / math.sqrt(2))  # noqa: E731
        inside_x2 = cdf(half_width - centre) - cdf(-half_width - centre)  # (G,)
        p_x1 = torch.exp(-0.5 * (x1 / self.s).square()) / (self.s * math.sqrt(2 * math.pi))
        return torch.trapezoid(p_x1 * inside_x2, x1).item()

    @property
    def extent(self) -> float:
        half_width = _round_up(4 * self.s)
        while self.box_mass(half_width) < 0.9992:
            half_width += 0.5
        return half_width


# ----------------------------------------------------------------------------------------------
# Ring


@dataclass(frozen=True)
class Ring(AnalyticEnergy):
    """A circular ridge: E(x) = (|x| - r)^2 / (2 sigma^2).

    In polar coordinates the radius has density proportional to rho exp(-(rho - r)^2 / (2
    sigma^2)) on rho >= 0 and the angle is uniform. With t = rho - r and g(t) = exp(-t^2 / (2
    sigma^2)), the moments M_k = integral over t >= -r of t^k g(t) are closed form:
        M0 = sigma sqrt(2 pi) Phi(r / sigma)     M1 = sigma^2 g(r)
        M2 = sigma^2 (M0 - r g(r))               M3 = sigma^2 (r^2 + 2 sigma^2) g(r)
    so Z = 2 pi (M1 + r M0) and E|x|^2 = 2 pi (M3 + 3 r M2 + 3 r^2 M1 + r^3 M0) / Z.
    """

    r: float = 2.0
    sigma: float = 0.2

    def __post_init__(self):
        if not 0 <= self.r < math.inf:
            raise ValueError(f"r must be finite and non-negative, got {self.r}")
        if not 0 < self.sigma < math.inf:
            raise ValueError(f"sigma must be finite and positive, got {self.sigma}")

    def _energy(self, x: Tensor) -> Tensor:
        # vector_norm has a zero subgradient at the origin, so grad E stays finite there
        return (torch.linalg.vector_norm(x, dim=1) - self.r).square() / (2 * self.sigma**2)

    def _moments(self) -> tuple[float, float, float, float]:
        r, sig = self.r, self.sigma
        g = math.exp(-0.5 * (r / sig) ** 2)
        m0 = sig * math.sqrt(2 * math.pi) * _normal_cdf(r / sig)
        m1 = sig**2 * g
        m2 = sig**2 * (m0 - r * g)
        m3 = sig**2 * (r**2 + 2 * sig**2) * g
        return m0, m1, m2, m3

    @cached_property
    def _radius_table(self) -> tuple[Tensor, Tensor]:
        """(grid, cdf) of the radius on [0, r + sqrt(2 * 80) sigma], each (G,) float64."""
        top = self.r + math.sqrt(2 * TAIL_NATS) * self.sigma
        grid = torch.linspace(0, top, GRID_POINTS, dtype=torch.float64)
        density = grid * torch.exp(-0.5 * ((grid - self.r) / self.sigma).square())
        return grid, _cdf_table(grid, density)

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        grid, cdf = self._radius_table
        radius = _inverse_cdf(grid, cdf, torch.rand(n, generator=generator, dtype=torch.float64))  # (n,)
        angle = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)  # (n,)
        return radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)

    @property
    def log_z(self) -> float:
        m0, m1, _, _ = self._moments()
        return math.log(2 * math.pi * (m1 + self.r * m0))

    @property
    def mean(self) -> Tensor:
        return torch.zeros(2, dtype=torch.float64)

    @property
    def cov(self) -> Tensor:
        m0, m1, m2, m3 = self._moments()
        r = self.r
        mean_sq_radius = (m3 + 3 * r * m2 + 3 * r**2 * m1 + r**3 * m0) / (m1 + r * m0)
        return 0.5 * mean_sq_radius * torch.eye(2, dtype=torch.float64)  # isotropic

    @property
    def extent(self) -> float:
        grid, cdf = self._radius_table
        radius_tail = _inverse_cdf(grid, cdf, torch.tensor([1 - 5e-4], dtype=torch.float64)).item()
        return _round_up(radius_tail + 0.25)  # the disk inside the box holds 99.95%


# ----------------------------------------------------------------------------------------------
# Registry

ENERGIES: dict[str, type[AnalyticEnergy]] = {
    "gaussian": Gaussian,
    "correlated_gaussian": CorrelatedGaussian,
    "mixture": Mixture,
    "double_well": DoubleWell,
    "banana": Banana,
    "ring": Ring,
}


def make_energy(name: str, **params: float) -> AnalyticEnergy:
    """Build a registered energy, overriding any of its default parameters.

    Args:
        name: one of `ENERGIES`.
        **params: parameter overrides; each must be a parameter of that energy, of the type of its
            default (an int is accepted where the default is a float).

    Raises:
        ValueError: on an unknown name or parameter, a wrongly typed value, or one out of range.
    """
    if name not in ENERGIES:
        raise ValueError(f"unknown energy {name!r}; valid names: {', '.join(ENERGIES)}")
    cls = ENERGIES[name]
    defaults = {f.name: f.default for f in fields(cls)}
    for key, value in params.items():
        if key not in defaults:
            valid = ", ".join(defaults) or "none"
            raise ValueError(f"unknown parameter {key!r} for energy {name!r}; valid parameters: {valid}")
        want = type(defaults[key])
        ok = isinstance(value, want) or (want is float and isinstance(value, int))
        if isinstance(value, bool) or not ok:
            raise ValueError(f"{key} must be a {want.__name__}, got {value!r}")
    params = {k: float(v) if isinstance(defaults[k], float) else v for k, v in params.items()}
    return cls(**params)
