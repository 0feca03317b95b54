"""Why Z is out of reach for images, counted: the exact log Z of a tiny net by enumerating every
binary image, the energy evaluations per second this machine manages, and how long 2^(side^2) of
them would take (in words a class can read: "1.8 × 10¹⁹ years")."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..nets import EnergyMLP, init_weights
from .theory import check_temperature

Tensor = torch.Tensor


class BinaryImageEnergy(nn.Module):
    """An MLP energy on side x side binary images (B, side, side) with pixels in {0, 1}: it sees
    the pixels as -1/+1 and multiplies its output by `gain` (a random net's raw energies differ by
    a fraction of a nat, which would make every image almost equally likely)."""

    def __init__(self, side: int, *, width: int = 128, gain: float = 1.0):
        super().__init__()
        if isinstance(side, bool) or not isinstance(side, int) or side < 1:
            raise ValueError(f"side must be a positive int, got {side!r}")
        self.side, self.gain = side, float(gain)
        self.net = EnergyMLP(dim=side * side, width=width, depth=2)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or tuple(x.shape[1:]) != (self.side, self.side):
            raise ValueError(f"x must have shape (B, {self.side}, {self.side}), got {tuple(x.shape)}")
        return self.gain * self.net(2 * x.reshape(len(x), -1) - 1)


def make_image_energy(side: int, *, width: int = 128, gain: float = 1.0,
                      generator: torch.Generator | None = None) -> BinaryImageEnergy:
    """A random side^2-width-width-1 energy net, its weights drawn from `generator`."""
    model = BinaryImageEnergy(side, width=width, gain=gain)
    init_weights(model, generator if generator is not None else torch.Generator().manual_seed(0))
    return model.eval().requires_grad_(False)


MAX_ENUMERATION_SIDE = 4  # 2^16 images; 5 x 5 would already be 2^25


def binary_images(side: int, start: int, stop: int) -> Tensor:
    """Images number start..stop-1 as (stop - start, side, side) float32: bit j of the number is
    pixel j in row-major order."""
    idx = torch.arange(start, stop, dtype=torch.int64)[:, None]  # (B, 1)
    bits = (idx >> torch.arange(side * side, dtype=torch.int64)[None]) & 1  # (B, side^2)
    return bits.float().reshape(-1, side, side)


def enumerate_energies(model: Callable[[Tensor], Tensor], side: int, *, batch: int = 16384) -> Tensor:
    """E of every side x side binary image, (2^(side^2),) float64 indexed like `binary_images`."""
    if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= MAX_ENUMERATION_SIDE:
        raise ValueError(f"side must be an int in 1..{MAX_ENUMERATION_SIDE} (2^(side^2) images), got {side!r}")
    n = 2 ** (side * side)
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch):
            x = binary_images(side, start, min(n, start + batch))
            e = model(x)
            if e.shape != (len(x),):
                raise ValueError(f"energy must have shape ({len(x)},), got {tuple(e.shape)}")
            out.append(e.double())
    return torch.cat(out)


@dataclass(frozen=True)
class EnumeratedZ:
    """Z of an energy over every side x side binary image, summed exactly.

    log_z: log of the sum of exp(-E / T). n: number of images, 2^(side^2). e_min, e_max: the
    extreme energies. seconds: time the sum took. shown: indices (as in `binary_images`) of the
    n_shown most likely images, then of the n_shown least likely; shown_p: their exact probabilities.
    """

    log_z: float
    n: int
    e_min: float
    e_max: float
    seconds: float
    shown: tuple[int, ...]
    shown_p: tuple[float, ...]


def enumerate_z(model: Callable[[Tensor], Tensor], side: int, *, temperature: float = 1.0,
                n_shown: int = 3) -> EnumeratedZ:
    """Exact Z by summing exp(-E / T) over all 2^(side^2) binary images (side <= MAX_ENUMERATION_SIDE)."""
    T = check_temperature(temperature)
    t0 = time.perf_counter()
    energies = enumerate_energies(model, side) / T
    log_z = float(torch.logsumexp(-energies, dim=0))
    seconds = time.perf_counter() - t0
    order = torch.argsort(energies)
    shown = tuple(int(i) for i in torch.cat([order[:n_shown], order[-n_shown:]]))
    return EnumeratedZ(log_z, len(energies), float(energies.min()) * T, float(energies.max()) * T, seconds, shown,
                       tuple(float(torch.exp(-energies[i] - log_z)) for i in shown))


def enumerate_log_z(model: Callable[[Tensor], Tensor], side: int, *, temperature: float = 1.0) -> float:
    """Exact log Z = log of the sum over all 2^(side^2) binary images of exp(-E / T)."""
    return enumerate_z(model, side, temperature=temperature, n_shown=0).log_z


def measure_evals_per_second(model: Callable[[Tensor], Tensor], input_shape: tuple[int, ...], *,
                             batch: int = 4096, min_seconds: float = 0.3, min_repeats: int = 3,
                             generator: torch.Generator | None = None) -> float:
    """Energy evaluations per second of `model` on random binary inputs: batches of `batch` timed
    one by one after a warm-up call, for at least `min_seconds` and `min_repeats` batches; the rate
    of the fastest batch. As `timeit` advises, the minimum is the figure to trust: slower batches
    measure the other processes sharing the machine, not the model."""
    if batch < 1 or min_seconds < 0 or min_repeats < 1:
        raise ValueError(f"need batch >= 1, min_seconds >= 0, min_repeats >= 1; got {batch}, {min_seconds}, "
                         f"{min_repeats}")
    x = torch.randint(0, 2, (batch, *input_shape), generator=generator).float()
    fastest, repeats, start = math.inf, 0, time.perf_counter()
    with torch.inference_mode():
        model(x)
        while repeats < min_repeats or time.perf_counter() - start < min_seconds:
            t0 = time.perf_counter()
            model(x)
            fastest = min(fastest, time.perf_counter() - t0)
            repeats += 1
    return batch / fastest


SECONDS_PER_YEAR = 365.25 * 86400
AGE_OF_UNIVERSE_YEARS = 13.8e9
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_power_of_ten(log10_value: float, digits: int = 2) -> str:
    """'1.8 × 10¹⁹' for log10_value = 19.27 (works far beyond float range)."""
    exponent = math.floor(log10_value)
    mantissa = 10 ** (log10_value - exponent)
    if round(mantissa, digits - 1) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.{digits}g} × 10{str(exponent).translate(_SUPERSCRIPT)}"


def format_count(n: int) -> str:
    """An exact count with thousands separators, or a power of ten when it has over 21 digits."""
    return f"{n:,}" if n < 10**21 else "≈ " + format_power_of_ten(math.log10(n))


@dataclass(frozen=True)
class Duration:
    """A length of time held as log10(seconds), so 2^784 evaluations still fit."""

    log10_seconds: float

    @property
    def seconds(self) -> float:
        return 10**self.log10_seconds if self.log10_seconds < 300 else math.inf

    @property
    def log10_years(self) -> float:
        return self.log10_seconds - math.log10(SECONDS_PER_YEAR)

    @property
    def log10_universe_ages(self) -> float:
        """log10 of the duration in ages of the universe (13.8 billion years)."""
        return self.log10_years - math.log10(AGE_OF_UNIVERSE_YEARS)

    def __str__(self) -> str:
        s = self.seconds
        for limit, unit, size in ((1e-3, "µs", 1e-6), (1, "ms", 1e-3), (120, "s", 1), (7200, "minutes", 60),
                                  (2 * 86400, "hours", 3600), (2 * SECONDS_PER_YEAR, "days", 86400)):
            if s < limit:
                return f"{s / size:.3g} {unit}"
        if self.log10_years < 6:
            return f"{10**self.log10_years:,.0f} years"
        return format_power_of_ten(self.log10_years) + " years"


def enumeration_time(n_configs: int, evals_per_s: float) -> Duration:
    """How long evaluating the energy of n_configs configurations takes at evals_per_s."""
    if isinstance(n_configs, bool) or not isinstance(n_configs, int) or n_configs < 1:
        raise ValueError(f"n_configs must be a positive int, got {n_configs!r}")
    if not 0 < evals_per_s < math.inf:
        raise ValueError(f"evals_per_s must be positive and finite, got {evals_per_s!r}")
    return Duration(math.log10(n_configs) - math.log10(evals_per_s))
