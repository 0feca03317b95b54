"""CD, one step at a time: one real training update, recorded phase by phase for the classroom.

`cd_update_by_phase` runs exactly the update `trainer.step()` would have run (same data batch,
chains, loss, optimiser and EMA step, buffer writes, step_count + 1: it *is* a call of
trainer.step) and records what each phase of PHASES needs to be drawn: the data batch, the chains
from their starts, the energies before and after, the parts of the loss, and the energy surface
before and after on a grid.

Which weights each number comes from:
  - energies at points and the surfaces before/after: `trainer.eval_model` (the EMA when enabled),
    the model the Playground shows, so the pictures join up with the live view;
  - the loss parts: the live weights on the whole batch, the numbers the gradient came from;
  - the change of the surface (and of the energies at the shown points): the live weights, after
    minus before. An EMA moves only 1 - decay (1% by default) of the way to the live weights per
    update, and that move is mostly the average catching up with earlier updates rather than this
    batch's pushes; the live weights' change is exactly what this update's gradient did.
    Only differences of energy matter (p is proportional to exp(-E)), and one update also moves
    all energies by a common amount (the output bias; the regulariser pulls energies towards 0)
    that is often larger than the pushes and would paint the whole map one colour. So changes are
    reported relative to the midpoint of the batch's two mean changes, `energy_shift` =
    (mean change at the data + mean change at the negatives) / 2: the data's mean change is then
    minus, and the negatives' plus, half of how much the gap E(negatives) - E(data) widened.

What one update reliably does (measured in tests/ebm_core/lessons/test_phases.py): it lowers the loss on its own
batch, and nearly always (about 95% of updates) widens the gap. Neither the absolute energies
nor every single point need move the "right" way: the common shift, pushes from neighbouring
points and Adam's per-weight step sizes mix.

All models are evaluated on copies in eval mode, so recording never changes the trainer's state
(spectral norm's power iteration would otherwise advance on every evaluation).
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import density
from ..training import StepLog, Trainer, cd_loss, to_numpy

# (key, title, what happens and why), in the order a teacher walks through one update
PHASES: list[tuple[str, str, str]] = [
    ("data", "A batch of data",
     ("We draw a batch of real data points; the model should give them low energy, because low energy "
      "means likely.")),
    ("push_down", "Push down on the data",
     ("The loss starts with the mean energy of the data batch, so following its gradient pushes the "
      "energy down where the data are.")),
    ("negatives", "Negatives by Langevin",
     ("Chains start (at the data, from the replay buffer or from noise) and roll downhill on the current "
      "energy with a little noise, so they end where the model itself believes points are likely.")),
    ("negative_energies", "Energies of the negatives",
     ("The negatives show what the model believes: where they gather but no data are, the model is "
      "wrong, and the gap E(negatives) - E(data) says how differently the model scores the two sets.")),
    ("push_up", "Push up on the negatives",
     ("The loss subtracts the mean energy of the negatives, so following its gradient pushes the energy "
      "up where the negatives are; where negatives and data overlap, the two pushes cancel.")),
    ("change", "The surface changes",
     ("One optimiser step applies both pushes at once, so relative to each other the data sink and the "
      "negatives rise; once the negatives look like the data, the pushes balance and learning stops.")),
]


@dataclass(frozen=True)
class PhaseRecord:
    """One recorded CD update. Points are the first n_show of the batch; arrays are float32."""

    step: int  # trainer.step_count after the update
    method: str  # "cd" | "pcd" | "short_run": where the chains started
    # data batch
    x_pos: np.ndarray  # (n, 2)
    e_pos: np.ndarray  # (n,) energy before the update (eval model)
    e_pos_after: np.ndarray  # (n,) energy after (eval model)
    de_pos: np.ndarray  # (n,) this update's push: change of the live weights' energy, minus energy_shift
    # negatives
    x0: np.ndarray  # (n, 2) chain starts
    trajectory: np.ndarray  # (T, n, 2) chains from x0, every record_every Langevin steps
    x_neg: np.ndarray  # (n, 2) chain ends: the negatives
    e_neg: np.ndarray  # (n,) energy before the update (eval model)
    e_neg_after: np.ndarray  # (n,)
    de_neg: np.ndarray  # (n,) as de_pos
    # the loss of the whole batch, live weights: loss = e_pos_mean - e_neg_mean + regulariser
    loss: float
    e_pos_mean: float
    e_neg_mean: float
    regulariser: float  # alpha * (mean E(data)^2 + mean E(neg)^2)
    loss_after: float  # the same batch's loss with the weights after the update
    gap_after: float  # mean E(neg) - mean E(data) of the batch after the update (before: e_neg_mean - e_pos_mean)
    # the surface on the grid's fine cells, (g, g) in density.Grid layout (row i is y = xs[i])
    extent: float
    xs: np.ndarray  # (g,) cell centres along each axis
    energy_before: np.ndarray  # (g, g) eval model
    energy_after: np.ndarray  # (g, g) eval model
    energy_change: np.ndarray  # (g, g) live weights, after - before - energy_shift
    energy_shift: float  # the common move removed from every change (see the module docstring)
    log: StepLog  # what trainer.step() returned


def cd_update_by_phase(trainer: Trainer, grid: density.Grid, *, n_show: int = 64, record_every: int = 1) -> PhaseRecord:
    """Perform one real CD update on `trainer` and record it phase by phase (see the module docstring).

    record_every: keep the chains' positions every this many Langevin steps (1: every step).
    """
    if n_show < 1 or record_every < 1:
        raise ValueError(f"n_show and record_every must be >= 1, got n_show={n_show}, record_every={record_every}")
    # 1. frozen copies of the weights before the update
    live_before = _frozen(trainer.model)
    shown_before = _frozen(trainer.eval_model) if trainer.ema is not None else live_before
    # 2. the update itself
    log = trainer.step(record_every=record_every)
    live_after = _frozen(trainer.model)
    shown_after = _frozen(trainer.eval_model) if trainer.ema is not None else live_after
    # 3. the whole batch: the change of the live weights' energy, and its midpoint between the two sets
    b = len(trainer.last_x_pos)
    batch = torch.cat([trainer.last_x_pos, trainer.last_x_neg]).detach()  # (2B, 2)
    e_live = density.evaluate(live_after, batch)  # (2B,)
    de_batch = e_live - density.evaluate(live_before, batch)  # (2B,)
    shift = 0.5 * float(de_batch[:b].mean() + de_batch[b:].mean())
    loss_after = float(cd_loss(e_live[:b], e_live[b:], trainer.cfg.alpha))
    # 4. what it saw, on the first n_show points
    n = min(n_show, b)
    x_pos, x0, x_neg = (t[:n].detach() for t in (trainer.last_x_pos, trainer.last_x0, trainer.last_x_neg))
    traj = trainer.last_trajectory[:, :n]  # (T, n, 2)
    pts = torch.cat([x_pos, x_neg])  # (2n, 2)
    e_before, e_after = density.evaluate(shown_before, pts), density.evaluate(shown_after, pts)  # (2n,)
    de = torch.cat([de_batch[:n], de_batch[b:b + n]]) - shift  # (2n,)
    # 5. the surface
    g = grid.n
    surface_before = density.evaluate(shown_before, grid.points).view(g, g)
    surface_after = density.evaluate(shown_after, grid.points).view(g, g)
    change = density.evaluate(live_after, grid.points) - density.evaluate(live_before, grid.points) - shift
    return PhaseRecord(
        step=trainer.step_count, method=trainer.cfg.method,
        x_pos=to_numpy(x_pos), e_pos=to_numpy(e_before[:n]), e_pos_after=to_numpy(e_after[:n]), de_pos=to_numpy(de[:n]),
        x0=to_numpy(x0), trajectory=to_numpy(traj), x_neg=to_numpy(x_neg), e_neg=to_numpy(e_before[n:]),
        e_neg_after=to_numpy(e_after[n:]),
        de_neg=to_numpy(de[n:]),
        loss=log.loss, e_pos_mean=log.e_pos, e_neg_mean=log.e_neg, regulariser=log.loss - (log.e_pos - log.e_neg),
        loss_after=loss_after, gap_after=float(e_live[b:].mean() - e_live[:b].mean()),
        extent=grid.extent, xs=to_numpy(grid.xs), energy_before=to_numpy(surface_before),
        energy_after=to_numpy(surface_after),
        energy_change=to_numpy(change.view(g, g)), energy_shift=shift, log=log,
    )


def _frozen(model: nn.Module) -> nn.Module:
    """A copy to evaluate: eval mode, no gradients; the trainer's own module is never run here."""
    return copy.deepcopy(model).eval().requires_grad_(False)
