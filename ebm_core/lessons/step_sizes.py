"""Step sizes for the Langevin Lab: presets that tell a story, suggestions from the curvature, MALA tuning.

Step-size auto-tuning adapts the MALA step on the log scale by Robbins-Monro,
    log eta <- log eta + gamma_t (acceptance_t - target),  gamma_t = gamma0 / (t + 1)^0.6,
during a warm-up, averages log eta over the second half of the warm-up, and then measures the
acceptance of that fixed step in a check run. Roberts & Rosenthal (1998) give 0.574 as the optimal
MALA acceptance in high dimension; in 2D it is a sensible default, not a law.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..samplers import energy_and_grad, mala
from .lab import Energy, Start, Target, TargetSource, Tensor, start_points

# Step sizes to compare that tell a story from a uniform start: too small (slow), about right, large
# enough for ULA's bias to show, and (fourth) too large. Found by running every target.
STEP_PRESETS: dict[str, tuple[float, ...]] = {
    "gaussian": (0.05, 0.3, 1.0, 1.5),
    "correlated_gaussian": (0.01, 0.05, 0.15, 0.19),
    "mixture": (0.02, 0.1, 0.3, 0.5),
    "double_well": (0.001, 0.003, 0.008, 0.03),
    "banana": (0.02, 0.08, 0.2, 0.3),
    "ring": (0.003, 0.01, 0.04, 0.06),
}



def default_step_sizes(target: Target, *, generator: torch.Generator | None = None) -> list[float]:
    """Four step sizes worth comparing: the preset for a registered energy, else suggested ones."""
    if target.name in STEP_PRESETS:
        return list(STEP_PRESETS[target.name])
    return suggest_step_sizes(target, generator=generator)


def suggest_step_sizes(target: Target, *, factors: tuple[float, ...] = (0.05, 0.3, 1.0, 1.5), n: int = 512,
                       generator: torch.Generator | None = None) -> list[float]:
    """Step sizes spread around 1 / L, L the typical curvature of the energy where p lives.

    L is the 90th percentile over exact samples x of |grad E(x + d v) - grad E(x)| / d along a
    random unit direction v. ULA is stable for eta below about 2 / L, and biased visibly near 1 / L.

    Returns:
        one step size per factor, rounded to two significant digits.
    """
    x = target.sample(n, generator=generator).double()
    v = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    v = v / v.norm(dim=1, keepdim=True)
    d = 1e-3 * target.extent
    energy = lambda z: target.energy(z.float()).double()  # noqa: E731  (nets are float32)
    _, g0 = energy_and_grad(energy, x)
    _, g1 = energy_and_grad(energy, x + d * v)
    curvature = ((g1 - g0).norm(dim=1) / d).nan_to_num(0.0)
    L = max(float(torch.quantile(curvature, 0.9)), 1e-6)
    return [float(f"{f / L:.2g}") for f in factors]


@dataclass(frozen=True)
class TuneResult:
    """What MALA step-size tuning found.

    step_size: the tuned eta. acceptance: the mean acceptance of that fixed eta in the check run.
    target: the acceptance aimed for. step_history: (n_adapt,) eta at each warm-up step.
    x: (B, 2) chain positions after the warm-up and the check run.
    """

    step_size: float
    acceptance: float
    target: float
    step_history: np.ndarray
    x: Tensor


def autotune_mala(energy: Energy, x0: Tensor, *, target: float = 0.574, step_size: float = 0.01,
                  n_adapt: int = 300, n_check: int = 100, gamma0: float = 2.0,
                  generator: torch.Generator | None = None) -> TuneResult:
    """Adapt the MALA step size toward a target acceptance (Robbins-Monro on log eta).

    Each warm-up step runs one MALA step on all chains and moves log eta by
    gamma0 / (t + 1)^0.6 * (mean acceptance - target). The result is eta averaged on the log scale
    over the second half of the warm-up; a check run with that fixed eta measures its acceptance.

    Args:
        energy: callable (B, 2) -> (B,).
        x0: (B, 2) starting points; more chains give a less noisy acceptance per step.
        target: acceptance to aim for, in (0, 1).
        step_size: initial eta > 0.
        n_adapt: warm-up steps (>= 2). n_check: check-run steps (>= 1).
        gamma0: adaptation gain > 0.
        generator: randomness source.

    Raises:
        ValueError: naming the first bad argument.
    """
    if not 0 < target < 1:
        raise ValueError(f"target must lie strictly between 0 and 1, got {target!r}")
    if not 0 < step_size < math.inf:
        raise ValueError(f"step_size must be positive and finite, got {step_size!r}")
    for name, v, lo in (("n_adapt", n_adapt, 2), ("n_check", n_check, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    if not gamma0 > 0:
        raise ValueError(f"gamma0 must be positive, got {gamma0!r}")
    x = x0.detach()
    log_eta = math.log(step_size)
    history = np.empty(n_adapt)
    for t in range(n_adapt):
        eta = math.exp(log_eta)
        r = mala(energy, x, step_size=eta, n_steps=1, generator=generator)
        x = r.x
        history[t] = eta
        log_eta += gamma0 / (t + 1) ** 0.6 * (float(r.acceptance[0]) - target)
        log_eta = min(max(log_eta, -25.0), 10.0)  # keep eta in [1e-11, 2e4] whatever the energy does
    eta = float(np.exp(np.log(history[n_adapt // 2:]).mean()))
    check = mala(energy, x, step_size=eta, n_steps=n_check, generator=generator)
    return TuneResult(eta, check.acceptance_rate, target, history, check.x)


def default_step_sizes_from(source: TargetSource, seed: int = 0) -> list[float]:
    """default_step_sizes of the source's target (a job's entry point)."""
    return default_step_sizes(source.build(), generator=torch.Generator().manual_seed(seed))


def autotune_from(source: TargetSource, start: Start, n_chains: int, seed: int, accept: float) -> tuple[float, float]:
    """(step size, acceptance) of autotune_mala on the source's target from `start` (a job's entry point)."""
    target = source.build()
    g = torch.Generator().manual_seed(seed)
    result = autotune_mala(target.energy, start_points(target, start, n_chains, generator=g), target=accept,
                           generator=g)
    return result.step_size, result.acceptance
