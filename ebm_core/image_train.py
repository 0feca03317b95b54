"""Image EBMs: build and train an energy net (an MLP or a conv net) on an image dataset (using it is
image_sampling.py).

Everything works on images (B, C, H, W) with pixels in [-1, 1] (BOUNDS):
    - `make_trainer_images`: a `Trainer` (persistent CD with a replay buffer by default) for an
      ImageRunConfig; chains start from uniform noise and are clamped to the pixel range;
    - `energy_of`: energies of many images, batched and without gradients.
"""


import torch
from torch import nn

from .config import ImageRunConfig
from .images import ImageDataset, load_images
from .nets import IMAGE_NETS, init_weights
from .samplers import uniform
from .training import PointSource, Trainer

Tensor = torch.Tensor
BOUNDS = (-1.0, 1.0)


def build_image_model(cfg: ImageRunConfig, channels: int, image_size: int) -> nn.Module:
    """The configured net (EnergyImageMLP or EnergyConvNet), its weights drawn from a generator seeded
    by cfg.train.seed."""
    m = cfg.model
    model = IMAGE_NETS[m.net](channels=channels, image_size=image_size, width=m.width, activation=m.activation,
                              spectral_norm=m.spectral_norm)
    return init_weights(model, torch.Generator().manual_seed(cfg.train.seed))


def uniform_images(shape: tuple[int, int, int]) -> PointSource:
    """A sampler of images with i.i.d. U[-1, 1] pixels, made on the generator's device."""
    def noise(n: int, generator: torch.Generator | None = None) -> Tensor:
        return uniform((n, *shape), generator=generator)  # (n, C, H, W)
    return noise


def make_trainer_images(cfg: ImageRunConfig, *, device: torch.device | None = None,
                        dataset: ImageDataset | None = None) -> Trainer:
    """A Trainer for an ImageRunConfig: positives are random training images (plus
    cfg.data.data_noise Gaussian noise), chains restart from uniform noise and stay in [-1, 1].

    Args:
        cfg: the run configuration.
        device: training device (default: the best available).
        dataset: the training images; defaults to load_images(cfg.data.dataset, split="train").
    """
    ds = dataset if dataset is not None else load_images(cfg.data.dataset, split="train")
    _, c, h, w = ds.images.shape
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    images = ds.images

    def data(n: int, generator: torch.Generator | None) -> Tensor:
        return images[torch.randint(len(images), (n,), generator=generator)]  # (n, C, H, W), CPU

    model = build_image_model(cfg, c, h)
    return Trainer(model, data, uniform_images((c, h, w)), cfg.sampler, cfg.train, device=device,
                   bounds=BOUNDS, data_noise=cfg.data.data_noise)


def device_of(model: nn.Module) -> torch.device:
    """The device the model's weights are on."""
    return next(model.parameters()).device


@torch.no_grad()
def energy_of(model: nn.Module, x: Tensor, batch: int = 512) -> Tensor:
    """Energies (N,) of images x (N, C, H, W), `batch` at a time on the model's device; on the CPU."""
    if batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    device = device_of(model)
    out = [model(x[i : i + batch].to(device)).cpu() for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.zeros(0)
