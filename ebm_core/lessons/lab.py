"""Langevin Lab: run many chains on a 2D target and score them against its exact density, step by step.

A `Target` is an energy plus its exact density tabulated on a grid over the box [-extent, extent]^2
(quadrature, see density.py), so any energy works: an analytic one or a trained network. Every step
of every chain is recorded; the chain positions at step t form a histogram on `bins x bins` cells
of the box plus one cell for everything outside it (or non-finite), and

    KL_t = sum_c q_t(c) log(q_t(c) / p(c))

compares that histogram q_t with the exact cell probabilities p. All T histograms come from a single
`bincount`. With N chains the histogram alone scores about (occupied cells - 1) / (2 N) nats even
for perfect samples: `kl_floor` measures that floor with exact samples of the same size, so a curve
that settles on it has converged and one that settles above it is biased (ULA with a large step).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from .. import density
from ..energies import ENERGIES, AnalyticEnergy, make_energy
from ..samplers import get_sampler, sample, temperature, uniform

Tensor = torch.Tensor
Energy = Callable[[Tensor], Tensor]

START_KINDS = ("uniform", "point", "data")
MAX_STEPS = 2000
MAX_CHAINS = 4096
GRID_N = 128  # fine quadrature grid per side
KL_BINS = 16  # histogram cells per side for the KL (GRID_N must be a multiple)
LOG_P_MIN = -700.0  # log-probabilities below this are clamped so an empty-looking cell stays finite


# ----------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True, eq=False)
class Target:
    """An energy with its exact density on a grid.

    Attributes:
        name: registry name or a free label ("playground").
        energy: callable (B, 2) -> (B,); p(x) = exp(-E(x)) / Z.
        extent: half-width of the box [-extent, extent]^2.
        grid: the fine quadrature grid (GRID_N x GRID_N cells).
        exact: the grid density: energy and log-density (n, n) float64, log Z, mass outside the box.
        bins: histogram cells per side for the KL.
        log_p_cells: (bins * bins + 1,) float64 log-probabilities of the KL cells, the last one
            being 'outside the box'.
        sampler: exact sampler (n, generator) -> (n, 2), or None to sample the grid density.
    """

    name: str
    energy: Energy
    extent: float
    grid: density.Grid
    exact: density.GridDensity
    bins: int
    log_p_cells: Tensor
    sampler: Callable[..., Tensor] | None = None

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """n exact samples (n, 2) float32: the energy's own sampler, else cells drawn in proportion
        to their exact probability with a uniform position inside each cell."""
        if self.sampler is not None:
            return self.sampler(n, generator=generator).float()
        g = self.grid
        cell = torch.multinomial(self.exact.log_density.flatten().softmax(0), n, replacement=True,
                                 generator=generator)  # (n,) row-major over (y, x)
        h = 2 * g.extent / g.n
        jitter = (torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5) * h  # (n, 2)
        return (g.points.double()[cell] + jitter).float()

    @property
    def mean_energy(self) -> float:
        """E_p[E(x)] over the box, by quadrature: where chains sampling p settle on the energy curve."""
        w = self.exact.log_density.flatten().softmax(0)  # (n*n,) weights inside the box
        return float((w * self.exact.energy.flatten()).sum())


def make_target(energy: Energy, extent: float, *, name: str = "custom",
                sampler: Callable[..., Tensor] | None = None, grid_n: int = GRID_N, bins: int = KL_BINS) -> Target:
    """Tabulate an energy's exact density on [-extent, extent]^2.

    Args:
        energy: callable (B, 2) -> (B,).
        extent: half-width of the box, > 0.
        name: a label for the target.
        sampler: optional exact sampler (n, *, generator) -> (n, 2).
        grid_n: fine grid cells per side; a multiple of bins.
        bins: KL histogram cells per side.

    Raises:
        ValueError: on a non-positive extent, bins not dividing grid_n, or an energy that is not
            finite on the grid.
    """
    if not (isinstance(extent, (int, float)) and 0 < extent < math.inf):
        raise ValueError(f"extent must be positive and finite, got {extent!r}")
    if bins < 1 or grid_n % bins:
        raise ValueError(f"bins must divide grid_n, got bins={bins}, grid_n={grid_n}")
    grid = density.make_grid(float(extent), grid_n)
    exact = density.grid_density(energy, grid)
    if not exact.finite:
        raise ValueError(f"energy of target {name!r} is not finite everywhere on the grid")
    f = grid_n // bins
    log_mass = exact.log_density + math.log(grid.cell_area)  # (n, n) log-probability of fine cells
    blocks = log_mass.view(bins, f, bins, f).permute(0, 2, 1, 3).reshape(bins, bins, f * f)
    log_in = torch.logsumexp(blocks, dim=2).flatten()  # (bins*bins,) row-major over (y, x)
    log_out = torch.tensor([math.log(exact.mass_outside) if exact.mass_outside > 0 else LOG_P_MIN],
                           dtype=torch.float64)
    log_p = torch.cat([log_in, log_out]).clamp_min(LOG_P_MIN)
    return Target(name, energy, float(extent), grid, exact, bins, log_p, sampler)


def analytic_target(name: str, **params: float) -> Target:
    """A Target for a registered analytic energy (see energies.ENERGIES), with its exact sampler."""
    energy: AnalyticEnergy = make_energy(name, **params)
    return make_target(energy, energy.extent, name=name, sampler=energy.sample)


TARGET_NAMES = tuple(ENERGIES)


@dataclass(frozen=True, eq=False)
class TargetSource:
    """What a target is made from, in a form that travels to another process (ebm_core/jobs.py):
    a registered energy's name, or a trained 2D network as its flat RunConfig and its weights."""

    name: str
    extent: float | None = None  # the trained network's box
    config: dict | None = None  # config.flat of the network's RunConfig
    weights: dict | None = None  # its state_dict, on the CPU

    def build(self) -> Target:
        if self.weights is None:
            return analytic_target(self.name)
        from ..config import RunConfig
        from ..train2d import build_model_2d

        model = build_model_2d(RunConfig().replace(**self.config))
        model.load_state_dict(self.weights)
        return make_target(model.eval().requires_grad_(False), float(self.extent), name=self.name)


def target_view(source: TargetSource) -> Target:
    """The target without its energy and sampler: the exact density and the cells, all a page draws."""
    return replace(source.build(), energy=None, sampler=None)



def exact_marginal(target: Target, dim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The exact density of x1 (dim 0) or x2 (dim 1) inside the box, by summing the grid density
    over the other coordinate: (xs (n,), p (n,)) float64."""
    if dim not in (0, 1):
        raise ValueError(f"dim must be 0 (x1) or 1 (x2), got {dim!r}")
    g = target.grid
    h = 2 * g.extent / g.n
    # grid rows are x2 and columns x1: the x1 marginal sums over rows (tensor dim 0), x2 over columns
    p = target.exact.log_density.exp().sum(dim=dim) * h  # (n,)
    return g.xs.numpy().astype(np.float64), p.numpy()


# ----------------------------------------------------------------------------------------------
# Histograms and KL


def kl_per_step(trajectory: Tensor, target: Target) -> Tensor:
    """KL between each step's chain histogram and the exact density: (T, B, 2) -> (T,) float64."""
    return density.kl_from_counts(density.cell_counts(trajectory, target.extent, target.bins), target.log_p_cells)


def kl_floor(target: Target, n: int, *, repeats: int = 8, generator: torch.Generator | None = None) -> float:
    """Mean KL that n exact samples score: the level a converged chain ensemble of size n reaches."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    x = torch.stack([target.sample(n, generator=generator) for _ in range(repeats)])  # (repeats, n, 2)
    return float(kl_per_step(x, target).mean())


def marginal_histograms(x1: np.ndarray, extent: float, bins: int) -> np.ndarray:
    """Density histograms of one coordinate over [-extent, extent] for each row.

    Args:
        x1: (F, B) one coordinate of B chains at F steps; non-finite or outside values are
            dropped but still count in the normalisation (so mass that left the box is missing).

    Returns:
        (F, bins) float64 densities: counts / (B * bin width).
    """
    F, B = x1.shape
    ok = np.isfinite(x1) & (np.abs(x1) < extent)
    col = np.clip(np.floor((np.where(ok, x1, 0.0) + extent) / (2 * extent) * bins), 0, bins - 1).astype(np.int64)
    idx = np.where(ok, col + bins * np.arange(F)[:, None], F * bins)  # dropped points -> spare slot
    counts = np.bincount(idx.ravel(), minlength=F * bins + 1)[: F * bins].reshape(F, bins)
    return counts / (B * 2 * extent / bins)


# ----------------------------------------------------------------------------------------------
# Running chains


@dataclass(frozen=True)
class Start:
    """Where chains start: uniform in the box, all at one point, or exact samples ('data')."""

    kind: str = "uniform"
    point: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        if self.kind not in START_KINDS:
            raise ValueError(f"start kind must be one of {', '.join(START_KINDS)}, got {self.kind!r}")
        if len(self.point) != 2 or not all(math.isfinite(v) for v in self.point):
            raise ValueError(f"start point must be two finite numbers, got {self.point!r}")


def start_points(target: Target, start: Start, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """(n, 2) float32 starting positions.

    Raises:
        ValueError: when a start point lies outside the target's box.
    """
    e = target.extent
    if start.kind == "uniform":
        return uniform((n, 2), e, generator=generator)
    if start.kind == "point":
        x, y = start.point
        if abs(x) > e or abs(y) > e:
            raise ValueError(f"start point ({x:g}, {y:g}) lies outside the box [-{e:g}, {e:g}]^2; "
                             f"choose x and y between -{e:g} and {e:g}")
        return torch.tensor([[x, y]], dtype=torch.float32).expand(n, 2).clone()
    return target.sample(n, generator=generator)


@dataclass(frozen=True)
class ChainSettings:
    """One sampler configuration.

    sampler: "ula" or "mala". step_size: eta. noise_scale: ULA only, 1 samples exp(-E); MALA always
    uses 1. n_steps: Langevin steps. n_chains: independent chains run together.
    """

    sampler: str = "ula"
    step_size: float = 0.05
    noise_scale: float = 1.0
    n_steps: int = 200
    n_chains: int = 256

    def __post_init__(self):
        get_sampler(self.sampler)  # an unknown name raises
        if not (isinstance(self.step_size, (int, float)) and 0 < self.step_size < math.inf):
            raise ValueError(f"step_size must be positive and finite, got {self.step_size!r}")
        if not (isinstance(self.noise_scale, (int, float)) and 0 <= self.noise_scale < math.inf):
            raise ValueError(f"noise_scale must be >= 0 and finite, got {self.noise_scale!r}")
        for field, hi in (("n_steps", MAX_STEPS), ("n_chains", MAX_CHAINS)):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise ValueError(f"{field} must be an int between 1 and {hi}, got {v!r}")

    @property
    def temperature(self) -> float:
        """Effective temperature: ULA targets exp(-E / T) with T = noise_scale^2; MALA has T = 1."""
        return temperature(self.sampler, self.noise_scale)


@dataclass(frozen=True)
class ChainRun:
    """Recorded chains and their per-step diagnostics.

    Attributes:
        settings: what ran.
        trajectory: (T + 1, B, 2) float32 positions, row 0 the start, T = n_steps.
        kl: (T + 1,) float64 KL(chain histogram || exact) in nats at each step.
        mean_energy: (T + 1,) float64 mean energy of the chains.
        acceptance: (T,) float64 MALA acceptance per step; NaN for ULA (it accepts every move).
        outside: (T + 1,) share of chains outside the box or non-finite.
        stationary_kl: KL of the positions pooled over the second half of the run: the sampler's
            stationary bias once the start is forgotten (its sampling floor is far lower than kl's).
        seconds: wall-clock time of the sampler.
    """

    settings: ChainSettings
    trajectory: np.ndarray
    kl: np.ndarray
    mean_energy: np.ndarray
    acceptance: np.ndarray
    outside: np.ndarray
    stationary_kl: float
    seconds: float

    @property
    def acceptance_rate(self) -> float:
        """Mean MALA acceptance over the second half of the run (NaN for ULA)."""
        a = self.acceptance[len(self.acceptance) // 2:]
        return float(np.mean(a)) if len(a) else float("nan")

    @property
    def late_mean_energy(self) -> float:
        """Mean energy of the chains over the second half of the run (what they settle at)."""
        return float(np.mean(self.mean_energy[len(self.mean_energy) // 2:]))

    @property
    def blew_up_at(self) -> int | None:
        """First step at which any chain became non-finite, else None."""
        bad = ~np.isfinite(self.trajectory).all(axis=(1, 2))
        return int(np.argmax(bad)) if bad.any() else None


def comparison(sampler: str, step_sizes: list[float], noise_scale: float, n_steps: int, n_chains: int, *,
               exact_reference: bool = False) -> tuple[list[ChainSettings], list[ChainSettings]]:
    """The runs of a step-size comparison: one per step size with `sampler`, and, when asked and the
    sampler is not exact itself, the same step sizes with MALA as the exact reference."""
    noise = noise_scale if get_sampler(sampler).tempered else 1.0
    runs = [ChainSettings(sampler, s, noise, n_steps, n_chains) for s in step_sizes]
    refs = ([ChainSettings("mala", s, 1.0, n_steps, n_chains) for s in step_sizes]
            if exact_reference and not get_sampler(sampler).metropolis else [])
    return runs, refs


def run_chains(target: Target, start: Start, settings: ChainSettings, *,
               generator: torch.Generator | None = None) -> ChainRun:
    """Run settings.n_chains chains for settings.n_steps steps and score every step.

    The start points are drawn from `generator` first, so two calls with equally seeded generators
    start from the same points and see the same noise: a fair comparison of step sizes.

    Args:
        target: the energy and its exact density.
        start: where the chains start.
        settings: sampler, step size, noise scale, steps, chains.
        generator: randomness source (CPU).

    Returns:
        A ChainRun; see its attributes for shapes.

    Raises:
        ValueError: on a start point outside the box.
    """
    s = settings
    x0 = start_points(target, start, s.n_chains, generator=generator)  # (B, 2)
    t0 = time.perf_counter()
    r = sample(s.sampler, target.energy, x0, step_size=s.step_size, n_steps=s.n_steps, noise_scale=s.noise_scale,
               record_every=1, generator=generator)
    acceptance = r.acceptance.double().numpy() if get_sampler(s.sampler).metropolis else np.full(s.n_steps, np.nan)
    seconds = time.perf_counter() - t0
    traj = r.trajectory.float()  # (T+1, B, 2)
    with torch.no_grad():
        e_last = target.energy(r.x).double().mean()
    mean_energy = torch.cat([r.mean_energy.double(), e_last[None]]).numpy()  # (T+1,)
    counts = density.cell_counts(traj, target.extent, target.bins)  # (T+1, m)
    kl = density.kl_from_counts(counts, target.log_p_cells).numpy()
    pooled = counts[(s.n_steps + 1) // 2:].sum(dim=0, keepdim=True)  # (1, m)
    stationary = float(density.kl_from_counts(pooled, target.log_p_cells)[0])
    outside = (counts[:, -1] / s.n_chains).numpy()
    return ChainRun(s, traj.numpy(), kl, mean_energy, acceptance, outside, stationary, seconds)


# ----------------------------------------------------------------------------------------------
# Entry points for jobs (ebm_core/jobs.py): the target is built in the job's process


def run_chains_from(source: TargetSource, start: Start, settings: ChainSettings, seed: int) -> ChainRun:
    """run_chains on the source's target with a generator seeded by seed (a job's entry point)."""
    return run_chains(source.build(), start, settings, generator=torch.Generator().manual_seed(seed))


def kl_floor_from(source: TargetSource, n: int, seed: int = 12345) -> float:
    """kl_floor of the source's target (a job's entry point)."""
    return kl_floor(source.build(), n, generator=torch.Generator().manual_seed(seed))


def frame_steps(n_steps: int, max_frames: int) -> np.ndarray:
    """Steps shown as frames of a run's animation (figures/lab.py, and its export for slides in
    movie2d.py): 0, every k-th step and the last, at most max_frames + 1 of them."""
    every = max(1, math.ceil(n_steps / max(1, max_frames)))
    steps = np.arange(0, n_steps + 1, every)
    return steps if steps[-1] == n_steps else np.append(steps, n_steps)
