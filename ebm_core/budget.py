"""What a live run costs: an estimate of the CPU time of one training update and of one refresh of the
live diagnostics, and a check that refuses settings whose cost would pin the worker.

The worker reads Pause and Reset only between updates, and refreshes the diagnostics in the same loop,
so one update or one refresh that takes minutes makes a run unanswerable. `fits(cfg)` says, before a
run starts or takes new settings, whether both fit in a limit (EBM_UPDATE_LIMIT_S, 1 s of one core by
default); `budget_advice.check(cfg)` says, if not, what it would cost and which change would fit.

The model counts work in point-parameter units: one multiply-add of one network weight with one point
(one image, for the image task), counted on the net itself (built on the meta device, so counting costs
no memory and no arithmetic). A pass of the net over n points costs n x (multiply-adds per point) units
forward, and as much again for each gradient it takes (measured: a forward pass with the input gradient
costs twice a forward pass): one for a Langevin step (MALA takes K + 1 of them, ULA K), two for the loss
(through the layers, into the weights). On top ride the costs that multiply-adds miss, each priced in
units by a constant: numbers written by elementwise steps (every layer's output, the chains' moves, the
optimiser's per-weight arithmetic, copies), dearer in tensors so large that their memory comes fresh from
the system; a fixed price per torch operation launched (what a small net pays); and, for conv layers,
the unfolded inputs of a backward pass (what a thin conv layer pays). One constant per task turns units
into seconds of one core here. All were fitted to measured updates and refreshes (`python
bench/budget.py --fit`, a 90% quantile regression: 9 in 10 of the measurements fitted come in at or under
the estimate); bench/results/budget.md, a later run, has the measurements next to the estimates.
"""

import dataclasses
import inspect
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from . import config
from .config import ImageRunConfig, RunConfig
from .nets import IMAGE_NETS, EnergyMLP

LIMIT_ENV = "EBM_UPDATE_LIMIT_S"
DEFAULT_LIMIT_S = 1.0


def default_limit_s() -> float:
    """The limit on one update and one diagnostics refresh: $EBM_UPDATE_LIMIT_S, else 1 s."""
    text = os.environ.get(LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_LIMIT_S
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{LIMIT_ENV} must be a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{LIMIT_ENV} must be a positive number of seconds, got {text!r}")
    return value


# ----------------------------------------------------------------------------------------------
# The constants, measured on this box on one thread (fitted by `python bench/budget.py --fit`; the
# estimates next to measurements in bench/results/budget.md).


@dataclass(frozen=True)
class Costs:
    """How one task's work turns into seconds."""

    seconds_per_unit: float  # one point-parameter multiply-add
    unfold: float  # units per number of a conv layer's unfolded input in a backward pass (thin layers pay)
    elem: float  # units per number written by an elementwise step
    huge_elem: float  # the same in a tensor larger than FRESH_NUMBERS (memory fresh from the system)
    op: float  # units per torch operation launched


COSTS = {
    "toy2d": Costs(seconds_per_unit=2.6e-11, unfold=0.0, elem=57.0, huge_elem=116.0, op=3.5e5),
    "images": Costs(seconds_per_unit=1.1e-11, unfold=340.0, elem=87.0, huge_elem=280.0, op=7.6e5),
}
# Tensors of more than 2**22 float32 numbers (16 MiB) come fresh from the system at every allocation here
# (the allocator hands such blocks back when they are freed), and the first write of each page faults:
# about 2.5 ns a number instead of 0.3-0.5 ns for a write into memory already in use (measured on silu).
FRESH_NUMBERS = 2**22


# ----------------------------------------------------------------------------------------------
# Work


@dataclass(frozen=True)
class Work:
    """Work of one part of an update or refresh, before pricing."""

    macs: float = 0.0  # point-parameter multiply-adds, forward and backward
    unfolded: float = 0.0  # numbers of conv layers' unfolded inputs (channels x kernel x output positions), backward
    elems: float = 0.0  # numbers written by elementwise steps
    huge_elems: float = 0.0  # the same in tensors larger than FRESH_NUMBERS
    ops: float = 0.0  # torch operations launched

    def __add__(self, other: "Work") -> "Work":
        return Work(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def __mul__(self, k: float) -> "Work":
        return Work(*(k * a for a in dataclasses.astuple(self)))

    def units(self, costs: Costs) -> float:
        return (self.macs + costs.unfold * self.unfolded + costs.elem * self.elems
                + costs.huge_elem * self.huge_elems + costs.op * self.ops)

    def seconds(self, costs: Costs) -> float:
        return costs.seconds_per_unit * self.units(costs)


def numbers(count: float, tensor: float, ops: float = 0.0) -> Work:
    """`count` numbers written elementwise into tensors of `tensor` numbers each, by `ops` operations."""
    return Work(elems=count, ops=ops) if tensor <= FRESH_NUMBERS else Work(huge_elems=count, ops=ops)


@dataclass(frozen=True)
class Net:
    """What a pass of an energy net costs per point, counted on the net itself (nets.py)."""

    macs: int  # multiply-adds per point
    unfolded: int  # numbers per point of the conv layers' unfolded inputs (in channels x kernel x positions)
    sizes: tuple[int, ...]  # numbers per point of each tensor a forward pass writes (layer outputs)
    dim: int  # numbers per point of the input (2 for the plane, pixels for an image)
    params: int  # weights
    tensors: int  # weight tensors (the optimiser launches a few operations per tensor)
    largest: int  # weights in the largest tensor (the optimiser and the copies allocate tensors this big)
    ops: int  # operations launched by one forward pass


FORWARD, WITH_INPUT_GRAD, WITH_WEIGHT_GRAD = 1, 2, 3  # pass factors: forward, then one backward per gradient
SPECTRAL_OPS = 6  # operations per layer per forward when spectral norm recomputes the weight
INPUT_OPS = 6  # operations on the input (the 2D net's clamp and wall, the check of the energy's shape)


def _count(model: nn.Module, x: torch.Tensor, spectral_norm: bool) -> Net:
    """Count a net built on the meta device (no memory, no arithmetic) by running it on x (1, ...)."""
    macs, unfolded, sizes = [0], [0], []

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        if isinstance(m, nn.Linear):
            macs[0] += m.in_features * m.out_features
        elif isinstance(m, nn.Conv2d):
            macs[0] += out.numel() * m.in_channels * math.prod(m.kernel_size) // m.groups
            unfolded[0] += out[0].numel() // m.out_channels * m.in_channels * math.prod(m.kernel_size)
        if not isinstance(m, nn.Flatten):  # a view
            sizes.append(out.numel())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    layers = sum(isinstance(m, (nn.Linear, nn.Conv2d)) for m in leaves)
    params = list(model.parameters())
    dim = x[0].numel()
    return Net(macs[0], unfolded[0], (*sizes, *[dim] * 3), dim, sum(p.numel() for p in params), len(params),
               max(p.numel() for p in params),
               len(sizes) + INPUT_OPS + (SPECTRAL_OPS * layers if spectral_norm else 0))


@lru_cache(maxsize=256)
def net_2d(width: int, depth: int, spectral_norm: bool = False) -> Net:
    """The 2D task's EnergyMLP (train2d.build_model_2d), counted."""
    with torch.device("meta"):
        model = EnergyMLP(width=width, depth=depth, box=1.0)
        return _count(model, torch.zeros(1, 2), spectral_norm)


@lru_cache(maxsize=64)
def net_image(width: int, image_size: int, spectral_norm: bool = False, net: str = "conv") -> Net:
    """The image task's net `net` (image_train.build_image_model), counted."""
    with torch.device("meta"):
        model = IMAGE_NETS[net](channels=1, image_size=image_size, width=width)
        return _count(model, torch.zeros(1, 1, image_size, image_size), spectral_norm)


def passes(net: Net, n: int, factor: int, *, chunk: int | None = None) -> Work:
    """n points through the net (in calls of at most `chunk` points) with `factor` - 1 backward passes:
    the multiply-adds, every layer's output written once per pass, the operations of each call."""
    if n <= 0:
        return Work()
    calls = math.ceil(n / chunk) if chunk else 1
    per_call = min(n, chunk) if chunk else n
    work = Work(macs=factor * n * net.macs, unfolded=(factor - 1) * n * net.unfolded,
                ops=factor * calls * net.ops)
    for size in net.sizes:
        work = work + numbers(factor * n * size, per_call * size)
    return work


# Numbers written per chain coordinate and torch operations per Langevin step, outside the net:
# ULA: gradient norm, clip, move, noise, clamp; MALA: the same plus the proposal densities, the
# accept/reject test and three selects.
STEP_NUMBERS = {"ula": 8, "mala": 20}
STEP_OPS = {"ula": 14, "mala": 34}
OPT_NUMBERS = 16  # per weight per update: zero_grad, the gradient norm, Adam (about 10), the EMA
OPT_OPS = 16  # per weight tensor per update
UPDATE_OPS = 60  # the rest of an update: data, chain starts, loss, statistics
GOOD_STATE_COPIES = 5  # copies of the weights in Trainer.state(): model, EMA, Adam's two moments, and the model's
# copy made by state_dict (the worker takes one every good_every updates, in the same loop turn as an update)


def _update_work(net: Net, s: config.SamplerConfig, t: config.TrainConfig, *, data_numbers: int) -> dict[str, Work]:
    """One turn of the worker's loop that trains: Trainer.step with its chains recorded (a frame is
    due), the divergence check, and the rollback state taken every good_every updates."""
    b, k, d = t.batch_size, s.n_steps, net.dim
    grads = k + 1 if s.sampler == "mala" else k  # MALA also needs the gradient at the start
    chains = (passes(net, b, WITH_INPUT_GRAD) * grads + numbers(k * b * d * STEP_NUMBERS[s.sampler], b * d)
              + Work(ops=k * STEP_OPS[s.sampler]) + numbers((k + 1) * b * d, (k + 1) * b * d))  # the trajectory
    loss = (passes(net, 2 * b, WITH_WEIGHT_GRAD) + numbers(b * data_numbers + 4 * b * d, 2 * b * d)
            + Work(ops=UPDATE_OPS))
    optimiser = numbers(OPT_NUMBERS * net.params, net.largest, OPT_OPS * net.tensors)
    buffer = t.buffer_size * (d + 1) if t.method == "pcd" else 0  # chains and their ages
    state = numbers(GOOD_STATE_COPIES * net.params, net.largest, 4 * net.tensors) + numbers(buffer, buffer)
    return {"the Langevin chains": chains, "the loss and its gradient": loss,
            "the optimiser and the rollback copy": optimiser + state}


@dataclass(frozen=True)
class _Live:
    """What the live tasks evaluate per refresh, read from them (imported on first use: the live package
    pulls in the trainers and the lessons, which a cost estimate does not need up front)."""

    chunk_2d: int  # density.evaluate's batch
    inner: int  # points of the exact density grid in the box (live/toy2d.py DENSITY_GRID_N squared)
    outer: int  # points of its coarse ring outside the box
    display: int  # points of the display grid (LiveRun's display_n squared)
    chunk_images: int  # image_train.energy_of's batch
    image_sizes: dict[str, int]
    n_show: int  # images in each published grid


@lru_cache(maxsize=1)
def _live() -> _Live:
    from .density import evaluate, make_grid
    from .image_train import energy_of
    from .live import LiveRun
    from .live.images import IMAGE_SIZES, N_SHOW
    from .live.toy2d import DENSITY_GRID_N

    def default(fn, name: str) -> Any:
        return inspect.signature(fn).parameters[name].default

    grid = make_grid(1.0, DENSITY_GRID_N)
    return _Live(default(evaluate, "batch"), len(grid.points), len(grid.outer_points),
                 default(LiveRun.__init__, "display_n") ** 2, default(energy_of, "batch"), dict(IMAGE_SIZES), N_SHOW)


N_TEST_2D = 2000  # test points of the 2D task's NLL (Toy2DTask.setup)
N_FIELD = 225  # points of the gradient field (15 x 15)
N_TEST_IMAGES = 256  # test images, and as many noise images (ImagesTask.setup)
N_CHAINS_IMAGES = 1024  # replay-buffer images whose energies the image diagnostics take


def _toy2d_diagnostics_work(cfg: RunConfig) -> dict[str, Work]:
    """diagnostics() and one snapshot of live/toy2d.py: the exact density grid (inner and outer cells),
    the NLL of the test points, the sampler-bias histogram of the chains, the display grid and the
    gradient field."""
    live, m, t = _live(), cfg.model, cfg.train
    net = net_2d(m.width, m.depth, m.spectral_norm)
    chains = t.buffer_size if t.method == "pcd" else t.batch_size
    grid = (passes(net, live.inner, FORWARD, chunk=live.chunk_2d)
            + passes(net, live.outer, FORWARD, chunk=live.chunk_2d)
            + passes(net, N_TEST_2D, FORWARD, chunk=live.chunk_2d)
            + numbers(12 * (live.inner + live.outer), 2 * live.outer, 40))
    bias = numbers(30 * chains, 4 * chains, 30)  # float64 (x, y), cell indices, counts
    display = (passes(net, live.display, FORWARD, chunk=live.chunk_2d) + passes(net, N_FIELD, WITH_INPUT_GRAD)
               + numbers(6 * live.display + 8 * t.batch_size, live.display, 40))
    return {"the exact density grid": grid, "the sampler-bias histogram": bias, "the display grid": display}


def image_size(cfg: ImageRunConfig) -> int:
    return _live().image_sizes[cfg.data.dataset]


def _image_diagnostics_work(cfg: ImageRunConfig) -> dict[str, Work]:
    """diagnostics() and one snapshot of live/images.py: energies of the test images, as many noise
    images and up to N_CHAINS_IMAGES chains (energy_of, in calls of its batch), then the shown images."""
    live, m, t = _live(), cfg.model, cfg.train
    net = net_image(m.width, image_size(cfg), m.spectral_norm, m.net)
    chains = min(N_CHAINS_IMAGES, t.buffer_size) if t.method == "pcd" else t.batch_size
    energies = (passes(net, N_TEST_IMAGES, FORWARD, chunk=live.chunk_images) * 2
                + passes(net, chains, FORWARD, chunk=live.chunk_images)
                + numbers(2 * (2 * N_TEST_IMAGES + chains) * net.dim, chains * net.dim, 30))
    shown = min(live.n_show, t.batch_size)
    display = (passes(net, 2 * shown, FORWARD, chunk=live.chunk_images)
               + numbers(20 * 3 * live.n_show * net.dim, live.n_show * net.dim, 30))
    return {"the energies of test, noise and chain images": energies, "the shown images": display}


# ----------------------------------------------------------------------------------------------
# The estimate


@dataclass(frozen=True)
class Estimate:
    """Seconds of one core on this box for one training update and one diagnostics refresh."""

    update_s: float
    diagnostics_s: float
    dominant: str  # the part that costs most, in words ("the Langevin chains")
    parts: dict[str, float]  # seconds per part, the update's and the refresh's

    @property
    def worst_s(self) -> float:
        return max(self.update_s, self.diagnostics_s)


def _priced(update: dict[str, Work], diag: dict[str, Work], costs: Costs) -> Estimate:
    u = {k: w.seconds(costs) for k, w in update.items()}
    d = {k: w.seconds(costs) for k, w in diag.items()}
    parts = {**u, **d}
    return Estimate(sum(u.values()), sum(d.values()), max(parts, key=parts.get), parts)


@lru_cache(maxsize=512)  # a page checks its settings on every run: count each setting once per process
def work(cfg: RunConfig | ImageRunConfig) -> tuple[str, dict[str, Work], dict[str, Work]]:
    """The task's name, the work of one training update and of one diagnostics refresh of cfg, by part."""
    if isinstance(cfg, RunConfig):
        m = cfg.model
        net = net_2d(m.width, m.depth, m.spectral_norm)
        return "toy2d", _update_work(net, cfg.sampler, cfg.train, data_numbers=30), _toy2d_diagnostics_work(cfg)
    if isinstance(cfg, ImageRunConfig):
        m = cfg.model
        net = net_image(m.width, image_size(cfg), m.spectral_norm, m.net)
        data = 6 * net.dim if cfg.data.data_noise else 2 * net.dim  # pick, then noise and clamp
        return "images", _update_work(net, cfg.sampler, cfg.train, data_numbers=data), _image_diagnostics_work(cfg)
    raise TypeError(f"estimate needs a RunConfig or an ImageRunConfig, got {type(cfg).__name__}")


def estimate(cfg: RunConfig | ImageRunConfig) -> Estimate:
    """The cost of one training update and one diagnostics refresh of a live run of cfg."""
    task, update, diag = work(cfg)
    return _priced(update, diag, COSTS[task])


# ----------------------------------------------------------------------------------------------
# The check


def fits(cfg: RunConfig | ImageRunConfig, limit_s: float | None = None) -> bool:
    """Whether one update and one diagnostics refresh of cfg both fit in the limit."""
    limit = default_limit_s() if limit_s is None else limit_s
    return estimate(cfg).worst_s <= limit
