"""Teaching presets: named Playground setups, each demonstrating one claim about EBM training.

A preset is a handful of flat RunConfig settings plus one sentence saying what it demonstrates
and one saying what to watch. Every claim is measured by bench/presets.py at update counts (numbers in
bench/results/presets.md), at the clock a class sees by bench/lesson_clock.py (through the page's live
run, on three seeds: bench/results/lesson_clock.md), and, in reduced form, by
tests/ebm_core/lessons/test_presets.py; the numbers in the sentences are the measured ones, rounded so
that they hold across seeds.

All presets use eight_gaussians, the benchmark task, so they can be compared with each other:
eight Gaussians of std 0.15 on a circle of radius 2, in the box [-3, 3]^2.

The measures used to check the claims are here too (`mass_away`, `sample_tv`, `model_tv`): they
say in one number whether samples look like the data and whether the density is right.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from .. import density
from ..config import RunConfig


@dataclass(frozen=True)
class Preset:
    """A named setup: `overrides` are flat RunConfig settings applied to the defaults."""

    key: str
    label: str
    claim: str  # what it demonstrates, in one plain sentence
    watch: str  # what to look at while it trains, in one sentence
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))  # read-only


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in [
        Preset(
            "cd1", "Textbook CD-1 (chains start at the data)",
            "Negatives that start at the data and take one Langevin step look like the data from the very "
            "first update, whatever the model believes, so they hardly tell the model what it gets wrong: "
            "CD-1 updates are cheap (about 300 a second on a free core), yet after half a minute "
            "KL(data || model) is still 0.13 to 0.17 nats where persistent CD is at about 0.1, and after a "
            "minute it is still 0.12 to 0.16.",
            "Watch the negatives sit on top of the data from the start while the density view stays blurry; "
            "then raise the Langevin steps K to 10 and see CD-k learn faster.",
            {"dataset": "eight_gaussians", "method": "cd", "n_steps": 1},
        ),
        Preset(
            "pcd", "Persistent CD (the good default)",
            "Chains kept in a replay buffer continue from where they stopped, so over many updates they "
            "explore the whole model and find its wrong valleys: KL(data || model) falls below 0.15 nats "
            "within 20 seconds (about 2000 updates on a free core).",
            "Watch the exact KL curve fall while the negatives spread over all eight modes and stay there.",
            {"dataset": "eight_gaussians", "method": "pcd"},
        ),
        Preset(
            "short_run", "Short-run chains from noise (good samples, wrong density)",
            "Twenty cold Langevin steps from fresh noise learn to carry noise onto the data, so after 1500 "
            "updates (about 25 seconds) fewer than a fifth of the samples are out of place, yet the energy is "
            "not the data's "
            "density: KL(data || model) stays near 2 nats and two thirds of the model's probability lies "
            "away from the data.",
            "Compare the negatives, which sit on the eight modes, with the density view, which spreads far "
            "beyond them, and watch the sampler bias stay high.",
            {"dataset": "eight_gaussians", "method": "short_run", "n_steps": 20, "step_size": 0.05,
             "noise_scale": 0.1},
        ),
        Preset(
            "long_run", "Long-run chains (the density comes out right)",
            "Chains that are never restarted continue with exact Langevin (full noise) from update to update, "
            "so each runs over a thousand steps on average, the negatives become true samples of the model and "
            "learning is maximum likelihood: KL(data || model) falls below 0.1 nats within 45 seconds (about "
            "2400 updates on a free core) and the sampler bias stays below 0.1 (short-run: about 1.5).",
            "Compare with the short-run preset: here the density view shows eight sharp modes and the "
            "sampler bias stays low.",
            {"dataset": "eight_gaussians", "method": "pcd", "reinit_frac": 0.0, "n_steps": 20,
             "noise_scale": 1.0},
        ),
        Preset(
            "step_too_large", "Step size too large (chains explode)",
            "With step size 2 each Langevin step overshoots the valley it aims for, so during the first "
            "update the chains fly far outside the box, and the divergence guard pauses training and names "
            "the step size.",
            "Press Step once and read the guard's message, then roll back and try smaller steps: at 0.5 about "
            "half the chains still roam outside the box, and 0.01 is the default.",
            {"dataset": "eight_gaussians", "step_size": 2.0},
        ),
        Preset(
            "step_too_small", "Step size too small (chains do not mix)",
            "With step size 0.0001 the chains move about 0.05 per update (0.4 at the default step), so they "
            "stay near their random starts: the negatives cover the data hardly better than uniform noise and "
            "are nothing like samples of the model (sampler bias above 2 through the first minute, the worst "
            "of all presets), even though the density comes out well (KL 0.03 to 0.05 after a minute), since "
            "negatives scattered like noise still push the energy up everywhere but on the data.",
            "Watch the chain trails, which are dots, and the negatives, which stay scattered over the whole "
            "box whatever the density view shows.",
            {"dataset": "eight_gaussians", "step_size": 1e-4},
        ),
    ]
}


def apply_preset(key: str, base: RunConfig | None = None) -> RunConfig:
    """The preset's setup: RunConfig defaults plus its overrides, keeping only the seed of `base`.

    Everything else comes from the defaults, not from `base`, so the claim holds whatever was on
    screen before (the claims are measured from the defaults). Unknown key: ValueError.
    """
    if key not in PRESETS:
        raise ValueError(f"unknown preset {key!r}; valid presets: {', '.join(PRESETS)}")
    seed = base.train.seed if base is not None else RunConfig().train.seed
    return RunConfig().replace(seed=seed, **PRESETS[key].overrides)


# ----------------------------------------------------------------------------------------------
# Measuring the claims. Densities are compared on `bins` x `bins` cells of the box (plus one cell
# for everything outside it): total variation is the share of probability in the wrong place,
# 0 for a perfect match, 1 for no overlap.


def sample_histogram(x: torch.Tensor, extent: float, bins: int = 16) -> torch.Tensor:
    """Share of samples x (N, 2) in each coarse cell of the box, then outside it: (bins^2 + 1,)."""
    return density.cell_counts(x, extent, bins) / max(1, len(x))


def sample_tv(x: torch.Tensor, data: density.DataDensity, grid: density.Grid, *, bins: int = 16) -> float:
    """Total variation between the histogram of samples x (N, 2) and the data: "do they look right?".

    Finite samples alone give a floor: about 0.05 for 2048 samples of eight_gaussians at 16 bins.
    """
    p = density.with_outside(density.coarse_cells(data.prob, bins))
    return 0.5 * float((sample_histogram(x, grid.extent, bins) - p).abs().sum())


def model_tv(model: density.GridDensity, data: density.DataDensity, grid: density.Grid, *, bins: int = 16) -> float:
    """Total variation between the model's density and the data's, on the same coarse cells."""
    p_model = density.with_outside(density.coarse_cells(model.log_density.exp() * grid.cell_area, bins))
    return 0.5 * float((p_model - density.with_outside(density.coarse_cells(data.prob, bins))).abs().sum())


def mass_away(model: density.GridDensity, data: density.DataDensity, grid: density.Grid, *,
              level: float = 1e-3) -> float:
    """Share of the model's probability where the data are absent: cells whose data density is
    below `level` times its peak, plus everything outside the box."""
    p_model = model.log_density.exp() * grid.cell_area  # (n, n) cell probabilities
    away = data.prob < level * data.prob.max()
    return float(p_model[away].sum()) + model.mass_outside
