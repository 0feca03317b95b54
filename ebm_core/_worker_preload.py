"""Imported once by the fork server that starts live-run workers (see live.py). Importing torch and
building one Adam optimiser here (its first use imports torch._dynamo: ~2.5 s and ~70 MB) means
every forked worker starts warm and shares those pages instead of loading them again."""

import torch

from . import live, live_toy2d  # noqa: F401  (the worker code itself)

torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]).step()
