"""The 2D task assembled: the configured MLP energy on a toy dataset (or a user's own points), and a
Trainer for it whose chains (re)start uniformly in the dataset's display box. The CD machinery
itself is in training.py; the image task's counterpart is image_train.py."""

import torch

from . import toy2d
from .config import RunConfig
from .density import ModelDensitySampler
from .nets import EnergyMLP, init_weights
from .samplers import uniform
from .training import PointSource, Tensor, Trainer


def build_model_2d(cfg: RunConfig) -> EnergyMLP:
    m = cfg.model
    return EnergyMLP(width=m.width, depth=m.depth, activation=m.activation, spectral_norm=m.spectral_norm,
                     box=toy2d.extent(cfg.data.dataset), confine=m.confine)


def uniform_noise(extent: float, dim: int = 2) -> PointSource:
    """A sampler of uniform points in the box [-extent, extent]^dim."""
    def noise(n: int, generator: torch.Generator | None = None) -> Tensor:
        return uniform((n, dim), extent, generator=generator)
    return noise


def make_trainer_2d(cfg, *, device: torch.device | None = None, dataset=None) -> Trainer:
    """A Trainer for a 2D RunConfig: the configured MLP on the configured toy dataset (or on
    `dataset`, a toy2d.Dataset such as a user's own points), chains (re)started uniformly in the
    dataset's display box, or from the model's own density on a grid over it (restart="model")."""
    ds = dataset if dataset is not None else toy2d.get(cfg.data.dataset)
    model = init_weights(build_model_2d(cfg), torch.Generator().manual_seed(cfg.train.seed))
    data = lambda n, g: ds.sample(n, generator=g)  # noqa: E731
    return Trainer(model, data, uniform_noise(ds.extent), cfg.sampler, cfg.train, device=device,
                   model_restarts=ModelDensitySampler(model, ds.extent))
