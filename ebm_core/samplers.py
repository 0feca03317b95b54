"""Langevin samplers: pure functions of an energy callable E: Tensor[B, ...] -> Tensor[B].

Unadjusted Langevin (ULA), one step:
    x <- x - eta * grad E(x) + noise_scale * sqrt(2 * eta) * xi,   xi ~ N(0, I)
With noise_scale = 1 the chain targets exp(-E) (up to a discretisation bias of order eta); in
general it targets exp(-E / T) with effective temperature T = noise_scale^2. Much EBM code uses a
small noise_scale ("cold" Langevin): it finds low energy fast but does not sample exp(-E).

MALA proposes the same step with noise_scale = 1 and accepts it with the Metropolis-Hastings
probability, which removes the bias (Roberts & Tweedie 1996).

Conditional sampling (inpainting): with `fixed=(mask, values)` the components where mask is True
are held at `values` (bit-identical: they are written back after every step) and only the others
move; their gradient is zeroed so that MALA's proposal density covers the free components alone
and stays exact for the conditional exp(-E(x_free | x_fixed)).

Both return a `SampleResult` whatever the flags. Per-step statistics stay on the device as tensors
so a CUDA chain never waits for the host inside the loop; stats=False skips them (a training update
does not show them: gathering and reducing them costs about 2% of a 2D update).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

Tensor = torch.Tensor
Energy = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class SampleResult:
    """Final samples plus per-step statistics.

    x: (B, ...) final samples, detached.
    trajectory: (T_rec, B, ...) recorded states (the start and every `record_every`-th step);
        T_rec = 0 when not recorded.
    mean_energy: (n_steps,) mean energy of the chains at the start of each step.
    grad_norm: (n_steps,) mean per-chain L2 norm of grad E (before clipping; over the free
        components only when some are `fixed`) at each step.
    acceptance: (n_steps,) fraction of accepted proposals (MALA); all ones for ULA.
    With stats=False (the trainer's hot loop) mean_energy and grad_norm are empty, and so is
    ULA's acceptance; MALA's is always kept.
    """

    x: Tensor
    trajectory: Tensor
    mean_energy: Tensor
    grad_norm: Tensor
    acceptance: Tensor

    @property
    def acceptance_rate(self) -> float:
        return float(self.acceptance.mean()) if self.acceptance.numel() else float("nan")


def _check_args(step_size: float, n_steps: int, noise_scale: float, grad_clip: float | None) -> None:
    if not (step_size > 0 and math.isfinite(step_size)):
        raise ValueError(f"step_size must be positive and finite, got {step_size}")
    if not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative int, got {n_steps!r}")
    if not (noise_scale >= 0 and math.isfinite(noise_scale)):
        raise ValueError(f"noise_scale must be >= 0, got {noise_scale}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be positive or None, got {grad_clip}")


def _check_energy_shape(e: Tensor, x: Tensor) -> None:
    if e.shape != x.shape[:1]:
        raise ValueError(f"energy must return shape ({x.shape[0]},), got {tuple(e.shape)}")


def energy_and_grad(energy: Energy, x: Tensor) -> tuple[Tensor, Tensor]:
    """E(x) (B,) and grad_x E(x) (B, ...), both detached. Checks the energy's shape."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        e = energy(x)
        _check_energy_shape(e, x)
        (g,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), g


def _per_chain_norm(g: Tensor) -> Tensor:
    # linalg.vector_norm directly: Tensor.norm goes through torch.functional.norm's Python dispatch
    return torch.linalg.vector_norm(g.flatten(1), dim=1)  # (B,)


def _clip(g: Tensor, grad_clip: float | None) -> Tensor:
    # elementwise clamp, as in the image EBM recipes; a deterministic function of x, so MALA stays exact
    return g if grad_clip is None else g.clamp(-grad_clip, grad_clip)


def _clamp_x(x: Tensor, bounds: tuple[float, float] | None) -> Tensor:
    return x if bounds is None else x.clamp(*bounds)


def _check_fixed(fixed: tuple[Tensor, Tensor] | None, x: Tensor) -> tuple[Tensor, Tensor] | None:
    """(mask, values) broadcast to x's shape, or None."""
    if fixed is None:
        return None
    mask, values = fixed
    if mask.dtype != torch.bool:
        raise ValueError(f"fixed mask must be a bool tensor, got {mask.dtype}")
    try:
        mask, values = mask.expand_as(x), values.to(x).expand_as(x)
    except RuntimeError:
        raise ValueError(f"fixed mask {tuple(mask.shape)} and values {tuple(values.shape)} must broadcast "
                         f"to x's shape {tuple(x.shape)}") from None
    return mask, values


def _hold(x: Tensor, fixed: tuple[Tensor, Tensor] | None) -> Tensor:
    return x if fixed is None else torch.where(fixed[0], fixed[1], x)


def uniform(shape: tuple[int, ...], half_width: float = 1.0, *, generator: torch.Generator | None = None,
            device: torch.device | str | None = None) -> Tensor:
    """Points drawn uniformly from the box [-half_width, half_width]^shape (chain starts, noise
    images), on the generator's device unless `device` says otherwise."""
    if device is None:
        device = generator.device if generator is not None else "cpu"
    return (2 * torch.rand(shape, generator=generator, device=device) - 1) * half_width


def _free_grad(g: Tensor, fixed: tuple[Tensor, Tensor] | None) -> Tensor:
    return g if fixed is None else g.masked_fill(fixed[0], 0.0)


def _noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def langevin(
    energy: Energy,
    x0: Tensor,
    *,
    step_size: float,
    n_steps: int,
    noise_scale: float = 1.0,
    grad_clip: float | None = None,
    bounds: tuple[float, float] | None = None,
    fixed: tuple[Tensor, Tensor] | None = None,
    record_every: int = 0,
    generator: torch.Generator | None = None,
    stats: bool = True,
) -> SampleResult:
    """Unadjusted Langevin: x <- x - eta grad E(x) + noise_scale sqrt(2 eta) xi, n_steps times.

    Args:
        energy: callable (B, ...) -> (B,).
        x0: (B, ...) starting points.
        step_size: eta > 0.
        n_steps: number of updates K.
        noise_scale: 1 samples exp(-E); smaller is colder (temperature noise_scale^2).
        grad_clip: clamp each component of grad E to [-grad_clip, grad_clip].
        bounds: clamp x to [lo, hi] after each step (e.g. pixel range).
        fixed: (mask, values) broadcastable to x0: where mask is True, x is held at values
            (also at the start) and only the other components move.
        record_every: record the state every this many steps (0: no trajectory).
        generator: randomness source; must live on x0's device.
        stats: gather the per-step statistics (mean_energy, grad_norm); False leaves them empty.
    """
    _check_args(step_size, n_steps, noise_scale, grad_clip)
    sigma = noise_scale * math.sqrt(2 * step_size)
    fixed = _check_fixed(fixed, x0)
    x = _hold(x0.detach(), fixed)
    traj = [x] if record_every else []
    energies, grads = [], []  # per step (B,) and (B, ...): kept, and reduced once after the loop
    # The loop is written for speed: grad mode is entered once, x is made a leaf in place and the
    # energy's shape is checked on the first step only (each costs about 1% of a 2D update a step).
    with torch.enable_grad():
        for t in range(n_steps):
            x.requires_grad_(True)
            e = energy(x)
            if t == 0:
                _check_energy_shape(e, x)
            (g,) = torch.autograd.grad(e.sum(), x)
            g = _free_grad(g, fixed)
            if stats:
                energies.append(e.detach())
                grads.append(g)
            del e  # its graph goes now, not when the next step's energy replaces it
            x = x.detach() - step_size * _clip(g, grad_clip)
            if sigma > 0:
                x = x + sigma * _noise(x, generator)
            x = _hold(_clamp_x(x, bounds), fixed)
            if record_every and (t + 1) % record_every == 0:
                traj.append(x.detach())
    x = x.detach()
    with torch.no_grad():  # (empty when not stats)
        mean_e = _step_means(energies, x)
        return SampleResult(x, _stack(traj, x), mean_e, _grad_norm_means(grads, x), torch.ones_like(mean_e))


def mala(
    energy: Energy,
    x0: Tensor,
    *,
    step_size: float,
    n_steps: int,
    grad_clip: float | None = None,
    fixed: tuple[Tensor, Tensor] | None = None,
    record_every: int = 0,
    generator: torch.Generator | None = None,
    stats: bool = True,
) -> SampleResult:
    """Metropolis-adjusted Langevin: the ULA proposal y = x - eta grad E(x) + sqrt(2 eta) xi,
    accepted with probability min(1, exp(E(x) - E(y)) q(x | y) / q(y | x)) where
    log q(y | x) = -|y - x + eta grad E(x)|^2 / (4 eta) + const. Targets exp(-E) exactly.
    Arguments as for `langevin` (no bounds: clamping would break exactness).
    """
    _check_args(step_size, n_steps, 1.0, grad_clip)
    fixed = _check_fixed(fixed, x0)
    x = _hold(x0.detach(), fixed)
    traj = [x] if record_every else []
    energies, norms, accepted = [], [], []  # (B,) per step, averaged once after the loop
    e_x, g_x = energy_and_grad(energy, x)
    g_x = _free_grad(g_x, fixed)
    dims = tuple(range(1, x.ndim))
    sigma = math.sqrt(2 * step_size)
    for t in range(n_steps):
        if stats:
            energies.append(e_x)
            norms.append(_per_chain_norm(g_x))
        gc_x = _clip(g_x, grad_clip)
        y = _hold(x - step_size * gc_x + sigma * _noise(x, generator), fixed)
        e_y, g_y = energy_and_grad(energy, y)
        g_y = _free_grad(g_y, fixed)
        gc_y = _clip(g_y, grad_clip)
        log_q_fwd = -(y - x + step_size * gc_x).square().sum(dims) / (4 * step_size)  # log q(y|x)
        log_q_bwd = -(x - y + step_size * gc_y).square().sum(dims) / (4 * step_size)  # log q(x|y)
        log_alpha = e_x - e_y + log_q_bwd - log_q_fwd  # (B,)
        u = torch.rand(log_alpha.shape, generator=generator, device=x.device, dtype=x.dtype)
        accept = torch.log(u) < log_alpha  # (B,) NaN proposals are rejected
        mask = accept.view(-1, *([1] * (x.ndim - 1)))
        x = torch.where(mask, y, x)
        e_x = torch.where(accept, e_y, e_x)
        g_x = torch.where(mask, g_y, g_x)
        accepted.append(accept)
        if record_every and (t + 1) % record_every == 0:
            traj.append(x)
    return SampleResult(x, _stack(traj, x), _step_means(energies, x), _step_means(norms, x),
                        _step_means(accepted, x))


def _step_means(per_step: list[Tensor], x: Tensor) -> Tensor:
    """(n_steps,) batch means of per-step (B,) statistics, reduced once after the loop: writing a
    mean per step into a preallocated tensor costs a few tiny ops a step (~5% of a 2D update)."""
    if not per_step:
        return x.new_zeros(0)
    stacked = torch.stack(per_step)  # (n_steps, B)
    return (stacked if stacked.dtype == x.dtype else stacked.to(x.dtype)).mean(dim=1)


def _grad_norm_means(grads: list[Tensor], x: Tensor) -> Tensor:
    """(n_steps,) batch means of the per-chain L2 norms of per-step gradients (B, ...): one norm
    over all steps at once after the loop costs less than a norm a step (~3% of a 2D update)."""
    if not grads:
        return x.new_zeros(0)
    return torch.linalg.vector_norm(torch.stack(grads).flatten(2), dim=2).mean(dim=1)


def _stack(traj: list[Tensor], x: Tensor) -> Tensor:
    return torch.stack(traj) if traj else x.new_zeros((0, *x.shape))


@dataclass(frozen=True)
class Sampler:
    """A sampler of the registry: its function, how to call it, how to label it.

    run: the function (energy, x0, *, step_size, n_steps, [noise_scale], grad_clip, [bounds], fixed,
        record_every, generator, stats) -> SampleResult.
    label: the short name pages show ("ULA").
    tempered: takes noise_scale (temperature noise_scale^2); else it always samples at T = 1.
    steps_bounded: clamps x into `bounds` after every step; else (an exact sampler, which clamping
        would bias) only its results are clamped, by `sample`.
    metropolis: its acceptance statistic means something (it is all ones otherwise).
    """

    run: Callable[..., SampleResult]
    label: str
    tempered: bool
    steps_bounded: bool
    metropolis: bool

    def __call__(self, energy: Energy, x0: Tensor, **kwargs) -> SampleResult:
        return self.run(energy, x0, **kwargs)


# Every page, the CLI and the settings take their samplers from here: a new one is a function above
# and a line below (and its words in the pages' help texts).
SAMPLERS: dict[str, Sampler] = {
    "ula": Sampler(langevin, "ULA", tempered=True, steps_bounded=True, metropolis=False),
    "mala": Sampler(mala, "MALA", tempered=False, steps_bounded=False, metropolis=True),
}


def get_sampler(name: str) -> Sampler:
    """The registered sampler called `name`; an unknown name raises (never a silent fallback)."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}") from None


def temperature(name: str, noise_scale: float) -> float:
    """The temperature the sampler targets: noise_scale^2 for a tempered one (exp(-E / T)), else 1."""
    return noise_scale**2 if get_sampler(name).tempered else 1.0


def sample(
    name: str,
    energy: Energy,
    x0: Tensor,
    *,
    step_size: float,
    n_steps: int,
    noise_scale: float = 1.0,
    grad_clip: float | None = None,
    bounds: tuple[float, float] | None = None,
    fixed: tuple[Tensor, Tensor] | None = None,
    record_every: int = 0,
    generator: torch.Generator | None = None,
    stats: bool = True,
) -> SampleResult:
    """Run the sampler called `name` (see SAMPLERS); arguments as for `langevin`. noise_scale is
    used by tempered samplers only. A sampler that cannot clamp its steps into `bounds` gets its
    result and trajectory clamped (the fixed components held again)."""
    spec = get_sampler(name)
    kw = dict(step_size=step_size, n_steps=n_steps, grad_clip=grad_clip or None, fixed=fixed,
              record_every=record_every, generator=generator, stats=stats)
    if spec.tempered:
        kw["noise_scale"] = noise_scale
    if spec.steps_bounded:
        return spec.run(energy, x0, bounds=bounds, **kw)
    res = spec.run(energy, x0, **kw)
    if bounds is None:
        return res
    held = _check_fixed(fixed, x0)
    return replace(res, x=_hold(res.x.clamp(*bounds), held), trajectory=_hold(res.trajectory.clamp(*bounds), held))
