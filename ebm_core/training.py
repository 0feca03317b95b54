"""Contrastive divergence training: one step, a replay buffer, and a trainer the caller drives.

One CD update (maximum likelihood gradient of the negative log-likelihood, with the intractable
expectation under the model replaced by Langevin samples):
    1. take a batch of data x_pos and start chains x0: at the data (CD-k), from a replay buffer of
       earlier chains with a few fresh restarts (persistent CD), or from noise (short-run);
    2. run K Langevin steps from x0 on the current energy: x_neg;
    3. loss = mean E(x_pos) - mean E(x_neg) + alpha * mean(E(x_pos)^2 + E(x_neg)^2)
       (push data energy down, push negatives' energy up, keep energies bounded);
    4. one Adam step on the weights; optionally update an exponential moving average of them.

The trainer never touches any UI: it yields `StepLog` records; `ebm_core.live` wraps it in a thread.
"""

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from . import config
from .config import SamplerConfig, TrainConfig
from .samplers import SampleResult, get_sampler, sample

Tensor = torch.Tensor
PointSource = Callable[[int, torch.Generator | None], Tensor]  # (n, generator) -> (n, ...)
# Data sources get a CPU generator (datasets are generated on the CPU); noise sources get a
# generator on the training device, and return tensors there.


def default_device(prefer: str | None = None) -> torch.device:
    """CUDA if present, then MPS, then CPU; `prefer` ("cpu", "cuda", "mps") overrides."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device if device.type != "mps" else "cpu")
    g.manual_seed(seed)
    return g


@dataclass(frozen=True)
class StepLog:
    """What one training update did. Energies are means over the batch; gap = e_neg - e_pos."""

    step: int
    loss: float
    e_pos: float
    e_neg: float
    gap: float
    grad_norm: float  # L2 norm of the weight gradient
    acceptance: float  # MALA acceptance over the chains (1 for ULA)
    seconds: float
    finite: bool


def to_numpy(t: Tensor):
    """A float32 numpy copy of a tensor on any device (for snapshots and records sent to a page)."""
    return t.detach().float().cpu().numpy()


ENERGY_LIMIT = 1e4  # |mean energy| beyond this counts as exploding


def energies_broken(log: StepLog) -> bool:
    """Non-finite weights or energies, or mean energies beyond ENERGY_LIMIT."""
    return (not log.finite or not (math.isfinite(log.e_pos) and math.isfinite(log.e_neg))
            or max(abs(log.e_pos), abs(log.e_neg)) > ENERGY_LIMIT)


def explain_energies(log: StepLog, train: TrainConfig) -> str | None:
    """The divergence checks every live task shares, in plain words naming the likely setting: the
    weights stopped being finite, or the energies ran away. None when neither happened."""
    if not log.finite or not (math.isfinite(log.e_pos) and math.isfinite(log.e_neg)):
        return (f"The weights stopped being finite numbers (learning rate {train.lr:g}). Updates were too big "
                "for the network. Lower the learning rate, or raise alpha to keep energies bounded.")
    if max(abs(log.e_pos), abs(log.e_neg)) > ENERGY_LIMIT:
        return (f"The energies ran away (mean E of data {log.e_pos:.3g}, of negatives {log.e_neg:.3g}). "
                f"Raise alpha (now {train.alpha:g}) so energies stay near zero, or lower the learning rate.")
    return None


class ReplayBuffer:
    """Persistent chains: a bank of past negatives; each draw restarts a fraction from noise.

    With a burn-in of m > 1 updates, a restarted chain is drawn again in each of the next m - 1 draws,
    so its first m runs come one after another: the bank then holds almost no chain that is only K
    steps from noise (with m = 1 about reinit_frac of it is, until its next turn comes).
    """

    def __init__(self, size: int, noise: PointSource, generator: torch.Generator | None, device: torch.device,
                 host_generator: torch.Generator | None = None):
        """host_generator: a CPU generator for the number of restarts of a draw with burn-in (a count
        the host needs, which a device generator would make it wait for)."""
        self.noise, self.generator = noise, generator
        self.host_generator = host_generator if host_generator is not None else torch.Generator()
        self.x = noise(size, generator).to(device)  # (N, ...)
        self.age = torch.zeros(size, dtype=torch.long, device=device)  # updates since a restart
        self.flight: list[Tensor] = []  # burn-in: the indices restarted by each of the last draws, newest first
        self._drawn_age: Tensor | None = None  # the drawn chains' ages, reset where restarted

    def draw(self, n: int, reinit_frac: float, restarts: PointSource | None = None,
             burn_in: int = 1) -> tuple[Tensor, Tensor]:
        """n starting points and their buffer indices; about reinit_frac of them restart, from
        `restarts` if given, else from the buffer's noise; with burn_in > 1 the chains restarted by
        the last burn_in - 1 draws come too (see the class docstring)."""
        if burn_in > 1:
            return self._draw_with_burn_in(n, reinit_frac, restarts or self.noise, burn_in)
        self.flight = []
        idx = torch.randint(0, len(self.x), (n,), generator=self.generator, device=self.x.device)
        x0 = self.x[idx]
        fresh = torch.rand(n, generator=self.generator, device=self.x.device) < reinit_frac
        noise = (restarts or self.noise)(n, self.generator).to(x0)
        x0 = torch.where(fresh.view(-1, *([1] * (x0.ndim - 1))), noise, x0)
        self._drawn_age = torch.where(fresh, 0, self.age[idx])  # the ages update() advances
        return x0, idx

    def _draw_with_burn_in(self, n: int, reinit_frac: float, restarts: PointSource,
                           burn_in: int) -> tuple[Tensor, Tensor]:
        device = self.x.device
        carry = self.flight[: burn_in - 1]
        while carry and sum(len(c) for c in carry) > n:  # the batch shrank mid-run: the oldest go back first
            carry = carry[:-1]
        n_carry = sum(len(c) for c in carry)
        u = float(torch.rand((), generator=self.host_generator))
        n_new = min(n - n_carry, math.floor(n * reinit_frac + u))  # reinit_frac * n on average
        new = torch.randint(0, len(self.x), (n_new,), generator=self.generator, device=device)
        rest = torch.randint(0, len(self.x), (n - n_carry - n_new,), generator=self.generator, device=device)
        kept = torch.cat([*carry, rest])  # chains that go on
        x0 = self.x[kept]
        if n_new:
            x0 = torch.cat([restarts(n_new, self.generator).to(x0), x0])
        age = torch.cat([torch.zeros_like(new), self.age[kept]])
        order = torch.randperm(n, generator=self.generator, device=device)  # restarts spread over the batch
        self._drawn_age = age[order]
        self.flight = [new, *carry][: burn_in - 1]
        return x0[order], torch.cat([new, kept])[order]

    def update(self, idx: Tensor, x: Tensor) -> None:
        """Write back the chains drawn at idx (by the last draw, if any) after one more run."""
        self.x[idx] = x.detach()
        self.age[idx] = (self._drawn_age if self._drawn_age is not None else self.age[idx]) + 1
        self._drawn_age = None


def sample_chains(model: nn.Module, x0: Tensor, cfg: SamplerConfig, *, record_every: int = 0,
                  bounds: tuple[float, float] | None = None, fixed: tuple[Tensor, Tensor] | None = None,
                  generator: torch.Generator | None = None, stats: bool = True) -> SampleResult:
    """Run the configured sampler (samplers.sample) on `model` from x0."""
    return sample(cfg.sampler, model, x0, step_size=cfg.step_size, n_steps=cfg.n_steps, noise_scale=cfg.noise_scale,
                  grad_clip=cfg.grad_clip, bounds=bounds, fixed=fixed, record_every=record_every, generator=generator,
                  stats=stats)


def cd_loss(e_pos: Tensor, e_neg: Tensor, alpha: float) -> Tensor:
    """Contrastive divergence loss with the L2 energy regulariser (step 3 above)."""
    return e_pos.mean() - e_neg.mean() + alpha * (e_pos.square().mean() + e_neg.square().mean())


class Trainer:
    """Owns model, optimiser, EMA, replay buffer and generator. Drive it with step() or run().

    Sampler settings and the learning rate may be changed between steps (set_sampler, set_lr);
    they take effect on the next step without a reset.
    """

    def __init__(
        self,
        model: nn.Module,
        data: PointSource,
        noise: PointSource,
        sampler: SamplerConfig,
        train: TrainConfig,
        *,
        device: torch.device | None = None,
        bounds: tuple[float, float] | None = None,
        data_noise: float = 0.0,
        model_restarts: PointSource | None = None,
    ):
        """model_restarts: draws from the model's own density, for train.restart == "model" (2D:
        density.ModelDensitySampler on this model); without it that setting is refused."""
        self.device = device or default_device()
        self.model = model.to(self.device)
        self.data, self.noise, self.model_restarts = data, noise, model_restarts
        self.sampler, self.cfg = sampler, train
        self.bounds, self.data_noise = bounds, data_noise
        self.generator = make_generator(train.seed, self.device)
        self.data_generator = torch.Generator().manual_seed(train.seed + 1)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=train.lr, betas=(train.beta1, 0.999))
        self.ema = copy.deepcopy(self.model).requires_grad_(False) if train.ema > 0 else None
        pcd = train.method == "pcd"
        self.buffer = (ReplayBuffer(train.buffer_size, noise, self.generator, self.device, self.data_generator)
                       if pcd else None)
        self._restarts(train)  # refuses restart="model" without a source
        self.step_count = 0
        self.last_x_neg: Tensor | None = None
        self.last_x_pos: Tensor | None = None
        self.last_x0: Tensor | None = None
        self.last_trajectory: Tensor | None = None  # (T, B, ...) when step() was asked to record

    @property
    def eval_model(self) -> nn.Module:
        """The weights to evaluate and display: the EMA when enabled, else the live weights."""
        return self.ema if self.ema is not None else self.model

    def set_sampler(self, sampler: SamplerConfig) -> None:
        self.sampler = sampler

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def set_train(self, train: TrainConfig) -> None:
        """Apply the settings that can change mid-run: lr, alpha, batch size, reinit fraction, restarts.
        The others (method, buffer size, beta1, EMA, seed) define the run and need a new Trainer."""
        changed = [f.name for f in dataclasses.fields(train)
                   if not f.metadata.get("live") and getattr(train, f.name) != getattr(self.cfg, f.name)]
        if changed:
            raise ValueError(f"{', '.join(changed)} cannot change during a run; start a new run instead")
        self._restarts(train)
        self.cfg = train
        self.set_lr(train.lr)

    def _restarts(self, train: TrainConfig | None = None) -> PointSource:
        """Where fresh chains start under `train` (the current settings by default): the noise source,
        or the model's own density (restart="model"), which ValueError refuses when there is none."""
        if getattr(train or self.cfg, "restart", "noise") != "model":
            return self.noise
        if self.model_restarts is None:
            raise ValueError("restart='model' needs the model's exact density, which only a 2D run has")
        return self.model_restarts

    def _start_chains(self, x_pos: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.cfg.method == "cd":
            return x_pos, None
        if self.cfg.method == "short_run":
            return self._restarts()(len(x_pos), self.generator).to(self.device), None
        return self.buffer.draw(len(x_pos), self.cfg.reinit_frac, self._restarts(), self.cfg.burn_in)

    def step(self, *, record_every: int = 0) -> StepLog:
        """One CD update (steps 1-4 of the module docstring); record_every > 0 keeps the chains'
        trajectory in `last_trajectory`."""
        t0 = time.perf_counter()
        n = self.cfg.batch_size
        # 1. data batch and chain starts
        x_pos = self.data(n, self.data_generator).to(self.device)  # (B, ...)
        if self.data_noise:
            x_pos = x_pos + self.data_noise * torch.randn(x_pos.shape, generator=self.generator, device=self.device)
            if self.bounds is not None:  # else the net tells data from chains by pixels the chains cannot reach
                x_pos = x_pos.clamp(*self.bounds)
        x0, idx = self._start_chains(x_pos)
        # 2. negatives by Langevin; weights need no gradient while sampling
        self.model.requires_grad_(False)
        res = sample_chains(self.model, x0, self.sampler, bounds=self.bounds, record_every=record_every,
                            generator=self.generator, stats=False)
        self.model.requires_grad_(True)
        x_neg = res.x
        if idx is not None:
            self.buffer.update(idx, x_neg)
        # 3. loss
        e = self.model(torch.cat([x_pos, x_neg]))  # (2B,)
        e_pos, e_neg = e[:n], e[n:]
        loss = cd_loss(e_pos, e_neg, self.cfg.alpha)
        # 4. update, taken only when the loss and the weight gradient are finite; the statistics and
        # that check share one host sync (a CUDA step waits for the device once)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            grad_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            metropolis = get_sampler(self.sampler.sampler).metropolis  # else acceptance is 1 and not kept
            stats = torch.stack([loss, e_pos.mean(), e_neg.mean(), grad_norm]
                                + ([res.acceptance.mean()] if metropolis else [])).tolist()
        finite = math.isfinite(stats[0]) and math.isfinite(stats[3])
        if finite:
            self.opt.step()
            if self.ema is not None:
                _ema_update(self.ema, self.model, self.cfg.ema)
        self.step_count += 1
        self.last_x_pos, self.last_x_neg, self.last_x0 = x_pos, x_neg, x0
        self.last_trajectory = res.trajectory if record_every else None
        return StepLog(self.step_count, stats[0], stats[1], stats[2], stats[2] - stats[1], stats[3],
                       stats[4] if metropolis else 1.0, time.perf_counter() - t0, finite)

    def run(self, n_steps: int | None = None, seconds: float | None = None, *,
            record: Callable[[int], bool] | None = None) -> Iterator[StepLog]:
        """Yield logs until n_steps updates or `seconds` of wall-clock time (whichever is given);
        the updates whose step number `record` accepts keep their chains' trajectory."""
        start = time.perf_counter()
        done = 0
        while (n_steps is None or done < n_steps) and (seconds is None or time.perf_counter() - start < seconds):
            yield self.step(record_every=1 if record is not None and record(self.step_count + 1) else 0)
            done += 1

    def state(self) -> dict:
        """A deep copy of everything a rollback needs (weights, EMA, optimiser, buffer)."""
        return copy.deepcopy({
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt": self.opt.state_dict(),
            "buffer": self.buffer.x if self.buffer is not None else None,
            "step": self.step_count,
        })

    def restore(self, state: dict) -> None:
        state = copy.deepcopy(state)
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        if self.buffer is not None and state["buffer"] is not None:
            self.buffer.x.copy_(state["buffer"])
            self.buffer.age.zero_()
            self.buffer.flight = []
        self.step_count = state["step"]

    def apply_live_settings(self, current, new):
        """Take the settings of config `new` that may change mid-run (config.live_settings); returns
        `current` with those settings taken from `new`."""
        merged = config.with_live_settings(current, new)
        self.set_sampler(merged.sampler)
        self.set_train(merged.train)
        return merged


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1 - decay)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)
