"""Exact 2D diagnostics by quadrature on a grid: log Z, normalised density, NLL, KL, sampler bias.

In 2D the partition function Z = integral of exp(-E(x)) dx is a plain numerical integral. We use
the midpoint rule on two nested grids: a fine n x n grid on the displayed box [-B, B]^2 and a coarse
grid on [-F B, F B]^2 outside it, so Z counts the mass the model puts beyond the box too (the
confining term of the 2D nets makes the rest negligible). The share of the mass outside the box is
reported: a large value means the picture on screen is not the whole model.

Grid layout: values on the fine grid are (n, n) arrays with row i at y = ys[i] and column j at
x = xs[j] (image layout with y increasing downward in memory).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor
Energy = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Grid:
    """Fine grid on [-extent, extent]^2 plus a coarse ring out to outer_factor * extent."""

    extent: float
    n: int
    xs: Tensor  # (n,) cell centres, float32 unless asked otherwise
    points: Tensor  # (n*n, 2) fine cell centres, row-major over (y, x)
    cell_area: float
    outer_points: Tensor  # (M, 2) coarse cell centres outside the box
    outer_cell_area: float


def make_grid(extent: float, n: int = 128, *, outer_factor: int = 3, outer_n: int = 144,
              dtype: torch.dtype = torch.float32) -> Grid:
    """A Grid; outer_n must be a multiple of outer_factor so the box aligns with coarse cells. The
    points are float32 for the nets; analytic energies may ask for float64."""
    if extent <= 0 or n < 2:
        raise ValueError(f"need extent > 0 and n >= 2, got extent={extent}, n={n}")
    if outer_n % (2 * outer_factor):
        raise ValueError(f"outer_n must be a multiple of 2 * outer_factor, got {outer_n}")
    h = 2 * extent / n
    xs = -extent + h * (torch.arange(n, dtype=dtype) + 0.5)
    yy, xx = torch.meshgrid(xs, xs, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # (n*n, 2)
    big = outer_factor * extent
    ho = 2 * big / outer_n
    xo = -big + ho * (torch.arange(outer_n, dtype=dtype) + 0.5)
    yo, xo2 = torch.meshgrid(xo, xo, indexing="ij")
    outer = torch.stack([xo2.reshape(-1), yo.reshape(-1)], dim=1)
    outer = outer[(outer.abs() > extent).any(dim=1)]  # cells wholly outside the box
    return Grid(extent, n, xs, points, h * h, outer, ho * ho)


@torch.no_grad()
def evaluate(energy: Energy, points: Tensor, *, batch: int = 16384) -> Tensor:
    """Energies at points (N, 2) -> (N,) float64 on the CPU, in batches, without gradients."""
    device = _device_of(energy)
    out = [energy(p.to(device)).double().cpu() for p in points.split(batch)]
    return torch.cat(out)


def _device_of(energy: Energy) -> torch.device:
    if isinstance(energy, torch.nn.Module):
        for p in energy.parameters():
            return p.device
    return torch.device("cpu")


@dataclass(frozen=True)
class GridDensity:
    """A model's energy on the fine grid and what quadrature says about it."""

    energy: Tensor  # (n, n) float64
    log_density: Tensor  # (n, n) float64, normalised over the whole plane
    log_z: float
    mass_outside: float  # share of exp(-E) beyond the displayed box
    finite: bool  # False when any energy was NaN/inf: the other fields are then meaningless


def grid_density(energy: Energy, grid: Grid) -> GridDensity:
    """Evaluate the model on the grid and normalise it exactly (up to quadrature)."""
    e_in = evaluate(energy, grid.points)  # (n*n,)
    e_out = evaluate(energy, grid.outer_points)  # (M,)
    finite = bool(torch.isfinite(e_in).all() and torch.isfinite(e_out).all())
    log_in = torch.logsumexp(-e_in, 0) + math.log(grid.cell_area)
    log_out = torch.logsumexp(-e_out, 0) + math.log(grid.outer_cell_area)
    log_z = torch.logaddexp(log_in, log_out)
    mass_outside = float(torch.exp(log_out - log_z)) if finite else float("nan")
    e = e_in.view(grid.n, grid.n)
    return GridDensity(e, -e - log_z, float(log_z), mass_outside, finite)


def log_z(energy: Energy, grid: Grid) -> float:
    """log of the integral of exp(-E) over the plane, by quadrature."""
    return grid_density(energy, grid).log_z


def nll(energy: Energy, x: Tensor, log_z_value: float) -> float:
    """Mean negative log-likelihood of samples x (B, 2) in nats: mean E(x) + log Z."""
    return float(evaluate(energy, x).mean()) + log_z_value


@dataclass(frozen=True)
class DataDensity:
    """The exact data density on the fine grid (normalised over the grid) and its entropy."""

    log_density: Tensor  # (n, n) float64
    prob: Tensor  # (n, n) float64 cell probabilities, summing to 1
    entropy: float  # nats


def data_density(log_density_fn: Callable[[Tensor], Tensor], grid: Grid) -> DataDensity:
    """Tabulate an exact log-density (N, 2) -> (N,) on the grid."""
    lp = log_density_fn(grid.points.double()).double().view(grid.n, grid.n)
    lp_cells = lp + math.log(grid.cell_area)
    lp_cells = lp_cells - torch.logsumexp(lp_cells.flatten(), 0)  # renormalise on the grid
    prob = lp_cells.exp()
    ent = -float(torch.where(prob > 0, prob * (lp_cells - math.log(grid.cell_area)), 0.0).sum())
    return DataDensity(lp_cells - math.log(grid.cell_area), prob, ent)


def kl_data_model(data: DataDensity, model: GridDensity) -> float:
    """KL(data || model) in nats on the grid; the model is normalised over the whole plane."""
    if not model.finite:
        return float("nan")
    terms = torch.where(data.prob > 0, data.prob * (data.log_density - model.log_density), 0.0)
    return float(terms.sum())


# Histograms of samples over a coarse grid of the box plus one "outside" cell: how the sampler checks
# (here, the presets' lessons and the Langevin Lab) compare samples with a density.
def cell_index(x: Tensor, extent: float, bins: int) -> Tensor:
    """Cell of each point of x (..., 2): row * bins + col inside the box [-extent, extent]^2 cut into
    bins x bins cells, bins * bins outside it (non-finite points count as outside)."""
    finite = torch.isfinite(x).all(dim=-1)
    x = torch.where(torch.isfinite(x), x, torch.zeros_like(x))
    inside = finite & (x.abs() < extent).all(dim=-1)
    ij = ((x + extent) / (2 * extent) * bins).floor().clamp(0, bins - 1).long()  # (..., 2) as (col, row)
    return torch.where(inside, ij[..., 1] * bins + ij[..., 0], torch.full_like(ij[..., 0], bins * bins))


def cell_counts(x: Tensor, extent: float, bins: int) -> Tensor:
    """Counts per cell (`cell_index`) of points x (B, 2) -> (bins^2 + 1,), or of each row of x
    (T, B, 2) -> (T, bins^2 + 1), in one bincount; float64, the last column outside the box."""
    flat = x.dim() == 2
    x = x.detach().double().cpu()[None] if flat else x.detach().double().cpu()
    T, m = x.shape[0], bins * bins + 1
    idx = cell_index(x, extent, bins) + m * torch.arange(T)[:, None]  # (T, B)
    counts = torch.bincount(idx.flatten(), minlength=T * m).view(T, m).double()
    return counts[0] if flat else counts


def coarse_cells(prob: Tensor, bins: int) -> Tensor:
    """Probabilities of the (n, n) fine cells summed into the (bins^2,) coarse ones (n a multiple of bins)."""
    n = prob.shape[0]
    if n % bins:
        raise ValueError(f"the grid size {n} must be a multiple of bins={bins}")
    f = n // bins
    return prob.view(bins, f, bins, f).sum(dim=(1, 3)).flatten()


def with_outside(cells: Tensor) -> Tensor:
    """Coarse cell probabilities (bins^2,) and, last, the mass they leave outside the box."""
    return torch.cat([cells, (1 - cells.sum()).clamp_min(0).view(1)])


def kl_from_counts(counts: Tensor, log_p: Tensor) -> Tensor:
    """KL(q || p) per row, q = counts normalised: (T, m) counts and (m,) log p -> (T,) nats."""
    q = counts / counts.sum(dim=-1, keepdim=True).clamp_min(1)
    terms = torch.where(q > 0, q * (q.clamp_min(1e-300).log() - log_p), torch.zeros_like(q))
    return terms.sum(dim=-1)


def sampler_bias(x: Tensor, model: GridDensity, grid: Grid, *, bins: int = 16) -> float:
    """KL(histogram of samples x || model) over bins x bins cells of the box plus one 'outside' cell.

    It says how far a sampler's output is from the model it is meant to sample. With N samples the
    histogram alone contributes about (occupied cells - 1) / (2 N) nats, the floor of this number.
    """
    if not model.finite or len(x) == 0 or grid.n % bins:
        return float("nan")
    p_cells = coarse_cells(model.log_density.exp() * grid.cell_area, bins)
    p = torch.cat([p_cells, torch.tensor([model.mass_outside], dtype=torch.float64)]).clamp_min(1e-300)
    return float(kl_from_counts(cell_counts(x, grid.extent, bins), p.log()))


class ModelDensitySampler:
    """Points drawn from a model's own normalised density exp(-E)/Z, tabulated on an n x n grid over
    the box: a cell by its probability, then a uniform point inside it. In 2D this is an exact
    sample up to the grid (Langevin then corrects inside the cell); it is what only a 2D model allows.

    Used to restart persistent chains (config `restart="model"`): restarted from uniform noise, a
    chain falls into a mode by the size of its basin and stays there, so the replay buffer keeps the
    mode weights it happened to start with and the gradient never corrects the model's weights between
    modes. Drawn from the model, restarts follow the model's mass, and the usual CD push evens it out.

    The table is refreshed every `refresh_every` calls (one call per training update: about 1% of a
    2D update at n=64, every 10 updates). Called as a PointSource: (n, generator) -> (n, 2), on the
    generator's device.
    """

    def __init__(self, model: torch.nn.Module, extent: float, *, n: int = 64, refresh_every: int = 10):
        if n < 2 or refresh_every < 1:
            raise ValueError(f"need n >= 2 and refresh_every >= 1, got n={n}, refresh_every={refresh_every}")
        self.model, self.refresh_every, self.calls = model, refresh_every, 0
        self.cell = 2 * extent / n
        self.centres = make_grid(extent, n).points  # (n*n, 2)
        self.prob: Tensor | None = None  # (n*n,) cell probabilities

    def __call__(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = generator.device if generator is not None else torch.device("cpu")
        if self.centres.device != device:
            self.centres = self.centres.to(device)
        if self.prob is None or self.calls % self.refresh_every == 0:
            with torch.no_grad():
                e = self.model(self.centres.to(_device_of(self.model))).to(device)  # (n*n,)
            prob = torch.softmax(-e.double(), 0).float()
            # a diverged net gives NaN: draw uniformly then, as restarts from noise would (no host sync)
            self.prob = torch.where(torch.isfinite(prob).all(), prob, torch.full_like(prob, 1.0 / len(prob)))
        self.calls += 1
        k = torch.multinomial(self.prob, n, replacement=True, generator=generator)  # (n,)
        jitter = torch.rand(n, 2, generator=generator, device=device) - 0.5
        return self.centres[k] + jitter * self.cell
