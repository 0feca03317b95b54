"""Sampling from a trained image EBM: new digits, filled-in halves, denoised images, and movies of it.

Everything works on images (B, C, H, W) with pixels in [-1, 1] (image_train.BOUNDS):
    - `generate`: fresh chains from uniform noise with the current energy;
    - `inpaint`: conditional sampling: the known pixels are held fixed (bit-identical) while the
      unknown ones follow Langevin on E(x_unknown | x_known), started from noise;
    - `denoise`: Langevin started at a noisy image, which slides it downhill to a nearby digit;
    - `chains_from_noise`, `fill_in`: the same, recorded as movies for the Images page.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import ImageRunConfig, SamplerConfig
from .image_train import BOUNDS, build_image_model, device_of, energy_of
from .images import to_pixels
from .samplers import SampleResult, uniform
from .training import sample_chains

Tensor = torch.Tensor


def _sample(model: nn.Module, x0: Tensor, cfg: SamplerConfig, *, fixed: tuple[Tensor, Tensor] | None = None,
            record_every: int = 0, generator: torch.Generator | None = None) -> SampleResult:
    """The configured sampler in the pixel range (samplers.sample: ULA clamps after every step; MALA
    cannot, it would no longer be exact, so its states are clamped only for the result). The weights'
    requires_grad flags are left alone (another thread may be training this model); the samplers
    differentiate with respect to x only."""
    return sample_chains(model, x0, cfg, bounds=BOUNDS, fixed=fixed, record_every=record_every, generator=generator)


def generate_steps(cfg: ImageRunConfig) -> int:
    """How many Langevin steps fresh chains from noise run by default (the Images page's Generate and
    chain from noise, the CLI's sample and score): four training chains' worth, at least 200."""
    return max(200, 4 * cfg.sampler.n_steps)


def generate(model: nn.Module, n: int, sampler: SamplerConfig, *, shape: tuple[int, int, int],
             generator: torch.Generator | None = None, record_every: int = 0) -> SampleResult:
    """n fresh chains from uniform noise, run with `sampler` on `model`; x in [-1, 1].

    Args:
        model: energy (n, *shape) -> (n,).
        n: number of chains.
        sampler: sampler settings (its n_steps is the chain length).
        shape: (C, H, W) of one image.
        generator: randomness source on the model's device.
        record_every: keep every this many states in the result's trajectory (0: none).
    """
    if n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    device = generator.device if generator is not None else device_of(model)
    x0 = uniform((n, *shape), generator=generator, device=device)  # (n, C, H, W)
    return _sample(model, x0, sampler, record_every=record_every, generator=generator)


def _random_half(image_size: int, generator: torch.Generator | None = None) -> Tensor:
    flat = torch.zeros(image_size * image_size, dtype=torch.bool)
    flat[torch.randperm(flat.numel(), generator=generator)[: flat.numel() // 2]] = True
    return flat.view(image_size, image_size)


def _bottom_half(s: int) -> Tensor:  # the bottom half is missing: the top half is known
    known = torch.zeros(s, s, dtype=torch.bool)
    known[: s // 2] = True
    return known


def _right_half(s: int) -> Tensor:  # the right half is missing
    known = torch.zeros(s, s, dtype=torch.bool)
    known[:, : s // 2] = True
    return known


def _centre_square(s: int) -> Tensor:  # a centred square of side s/2 is missing
    known = torch.ones(s, s, dtype=torch.bool)
    lo = s // 4
    known[lo : lo + (s + 1) // 2, lo : lo + (s + 1) // 2] = False
    return known


# Each name says which pixels are MISSING; the masks are True where a pixel is known.
MASKS = {
    "bottom half": lambda s, g=None: _bottom_half(s),
    "top half": lambda s, g=None: _bottom_half(s).flip(0),
    "right half": lambda s, g=None: _right_half(s),
    "left half": lambda s, g=None: _right_half(s).flip(1),
    "centre square": lambda s, g=None: _centre_square(s),
    "random half": _random_half,
}


def make_mask(kind: str, image_size: int, *, generator: torch.Generator | None = None) -> Tensor:
    """A (H, W) bool mask, True where the pixel is KNOWN (kept) and False where it is to be filled.

    Args:
        kind: a key of MASKS, naming the missing region ("bottom half": the bottom half is missing).
        image_size: H = W.
        generator: a CPU generator for "random half" (ignored by the others).
    """
    if kind not in MASKS:
        raise ValueError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(MASKS)}")
    if image_size < 2:
        raise ValueError(f"image_size must be at least 2, got {image_size!r}")
    return MASKS[kind](image_size, generator)




def inpaint(model: nn.Module, x: Tensor, known: Tensor, sampler: SamplerConfig, *,
            generator: torch.Generator | None = None, record_every: int = 0) -> SampleResult:
    """Fill the unknown pixels of x by Langevin with the known ones held fixed (clamped sampling).

    After every step the known pixels are written back, so they equal x's exactly; the unknown
    ones start as uniform noise and follow the gradient of E at the whole image, i.e. they sample
    E(x_unknown | x_known).

    Args:
        model: energy (B, C, H, W) -> (B,).
        x: (B, C, H, W) images in [-1, 1]; only their known pixels are used.
        known: bool mask broadcastable to x, e.g. (H, W) from `make_mask`; True = known.
        sampler: sampler settings.
        generator: randomness source on the model's device.
        record_every: keep every this many states in the trajectory (0: none).
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    device = generator.device if generator is not None else device_of(model)
    x = x.detach().to(device)
    known = known.to(device)
    x0 = uniform(x.shape, generator=generator, device=device)
    return _sample(model, x0, sampler, fixed=(known, x), record_every=record_every, generator=generator)


def denoise(model: nn.Module, x_noisy: Tensor, sampler: SamplerConfig, *, generator: torch.Generator | None = None,
            record_every: int = 0) -> SampleResult:
    """Langevin started at the noisy images (clamped to [-1, 1]); a few cold steps slide them
    downhill to the nearest low-energy image. sampler.n_steps sets how far they go."""
    if x_noisy.ndim != 4:
        raise ValueError(f"x_noisy must have shape (B, C, H, W), got {tuple(x_noisy.shape)}")
    device = generator.device if generator is not None else device_of(model)
    x0 = x_noisy.detach().to(device).clamp(*BOUNDS)
    return _sample(model, x0, sampler, record_every=record_every, generator=generator)


def add_noise(x: Tensor, std: float, *, generator: torch.Generator | None = None) -> Tensor:
    """x plus Gaussian noise of standard deviation std, clamped to [-1, 1] (input for `denoise`)."""
    if not std >= 0:
        raise ValueError(f"std must be >= 0, got {std}")
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp(*BOUNDS)


# ----------------------------------------------------------------------------------------------
# What the Images page shows of a trained model: chains as movies, and filled-in digits.
MAX_FRAMES = 60  # frames kept of a chain for its animation


@dataclass(frozen=True)
class ChainMovie:
    """Chains recorded for an animation.

    frames: (T, n, H, W) uint8 states (images.to_pixels) at `steps`; the last frame is the final state.
    steps: (T,) the Langevin step of each frame, from 0 to K.
    energies: (T,) mean energy of the chains at each frame.
    final: (n, C, H, W) the final states in [-1, 1].
    """

    frames: np.ndarray
    steps: list[int]
    energies: np.ndarray
    final: Tensor


def _movie(model: nn.Module, res: SampleResult, n_steps: int, every: int) -> ChainMovie:
    traj = res.trajectory  # (T, n, C, H, W): the start and every `every`-th state
    if (len(traj) - 1) * every != n_steps:
        traj = torch.cat([traj, res.x[None]])  # end on the final state
    energies = np.array([float(energy_of(model, t).mean()) for t in traj])
    n, _, h, w = res.x.shape
    frames = to_pixels(traj.flatten(0, 1)).reshape(len(traj), n, h, w)
    return ChainMovie(frames, [min(i * every, n_steps) for i in range(len(traj))], energies, res.x)


def chains_from_noise(model: nn.Module, n: int, sampler: SamplerConfig, *, shape: tuple[int, int, int],
                      seed: int, max_frames: int = MAX_FRAMES) -> ChainMovie:
    """n fresh chains from uniform noise (`generate`), recorded as a movie of at most about max_frames
    frames; the same seed gives the same chains."""
    every = max(1, -(-sampler.n_steps // max_frames))  # at most max_frames + 1 frames
    res = generate(model, n, sampler, shape=shape, generator=torch.Generator().manual_seed(seed), record_every=every)
    return _movie(model, res, sampler.n_steps, every)


@dataclass(frozen=True)
class FillIn:
    """Corrupted images filled in by Langevin on the model.

    rows: (3B, H, W) uint8: the originals, what the model was given, and what it made of it.
    movie: the chains, from what the model was given to the result.
    kept: for inpainting, whether the known pixels were kept exactly; None for denoising.
    mse_before, mse_after: mean squared error to the originals of the input and of the result.
    """

    rows: np.ndarray
    movie: ChainMovie
    kept: bool | None
    mse_before: float
    mse_after: float


def fill_in(model: nn.Module, x: Tensor, sampler: SamplerConfig, *, mask: str | None = None,
            noise_std: float | None = None, seed: int = 0, max_frames: int = MAX_FRAMES) -> FillIn:
    """Hide the `mask` region of images x (B, C, H, W) (a key of MASKS) and inpaint it, or add
    Gaussian noise of std `noise_std` and denoise; exactly one of the two must be given."""
    if (mask is None) == (noise_std is None):
        raise ValueError("give exactly one of mask (inpaint) and noise_std (denoise)")
    g = torch.Generator().manual_seed(seed)
    every = max(1, -(-sampler.n_steps // max_frames))  # at most max_frames + 1 frames
    if mask is not None:
        known = make_mask(mask, x.shape[-1], generator=g)
        given = torch.where(known, x, torch.zeros_like(x))
        res = inpaint(model, x, known, sampler, generator=g, record_every=every)
        kept = bool(torch.equal(res.x[..., known], x[..., known]))
    else:
        given = add_noise(x, noise_std, generator=g)
        res = denoise(model, given, sampler, generator=g, record_every=every)
        kept = None
    return FillIn(to_pixels(torch.cat([x, given, res.x])), _movie(model, res, sampler.n_steps, every), kept,
                  float((given - x).square().mean()), float((res.x - x).square().mean()))


def with_weights(fn: Callable, cfg: ImageRunConfig, image_shape: tuple[int, int, int], weights: dict, /,
                 *args: Any, **kwargs: Any) -> Any:
    """fn(model, *args, **kwargs) with the network of cfg (images of `image_shape`) holding `weights`:
    how a job (ebm_core/jobs.py) gets a trained model, which travels as its config and weights."""
    model = build_image_model(cfg, image_shape[0], image_shape[1])
    model.load_state_dict(weights)
    return fn(model.eval().requires_grad_(False), *args, **kwargs)
