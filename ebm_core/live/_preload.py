"""Imported once by the fork server that starts live-run workers (see live/__init__.py). Importing torch and
building one Adam optimiser here (its first use imports torch._dynamo: ~2.5 s and ~70 MB) means
every forked worker starts warm and shares those pages instead of loading them again. The exact data
densities of the built-in datasets are computed here too: for the datasets known only through
samples it takes about a second each, which every new run (a Reset, a dataset change) would pay."""

import torch

from .. import density, live, toy2d  # noqa: F401  (the worker code itself)
from . import toy2d as live_toy2d  # noqa: F401  (the worker code itself)

torch.set_num_threads(1)
torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]).step()
for _name in toy2d.DATASETS:
    _ds = toy2d.get(_name)
    live_toy2d.data_density_for(_ds, density.make_grid(_ds.extent, live_toy2d.DENSITY_GRID_N))
