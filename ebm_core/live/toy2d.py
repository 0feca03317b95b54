"""The 2D toy task of a live run: what the worker builds, measures and publishes for a 2D dataset.

The generic machinery (training processes, commands, divergence pause, rollback, history) is in live/;
a task supplies the model and trainer, the exact diagnostics, the snapshot the page draws, and the
plain-language reason when a step went wrong.
"""

import math
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import density, toy2d
from ..config import RunConfig
from ..lessons.phases import PhaseRecord, cd_update_by_phase
from ..samplers import energy_and_grad
from ..train2d import build_model_2d, make_trainer_2d
from ..training import (
    StepLog,
    Trainer,
    energies_broken,
    explain_energies,
    to_numpy,
)
from .share import CpuShare

GRID_EVERY_S = 0.25  # while training, the display grid is rebuilt at most this often,
GRID_SHARE = 0.05  # and within this share of the worker's CPU time (live/share.py)


@dataclass(frozen=True)
class Diagnostics:
    """Exact numbers from the grid, for the weights at `step`."""

    step: int
    log_z: float
    kl: float
    nll: float
    bias: float
    mass_outside: float


@dataclass(frozen=True)
class Snapshot:
    """Everything the page draws, as numpy copies; never mutated after publishing."""

    seq: int  # increases with every published snapshot
    config: RunConfig
    status: str  # "starting" | "paused" | "running" | "diverged" | "stopped"
    message: str
    step: int
    steps_per_s: float
    device: str
    extent: float
    energy: np.ndarray  # (n, n) float32 energy of the evaluated weights on the display grid
    log_z_display: float  # log Z for turning `energy` into a normalised density
    density_max: float  # max of the data density: a fixed colour scale for density views
    x_data: np.ndarray  # (N, 2) float32 a fixed data sample
    x_pos: np.ndarray  # (B, 2) the last batch of data
    x_neg: np.ndarray  # (B, 2) the last negatives
    trails: np.ndarray  # (C, T, 2) a few chains of the last update, start to end
    field: np.ndarray  # (F, 4) x, y, -dE/dx, -dE/dy on a coarse grid
    history: dict[str, np.ndarray]  # per step: live.HISTORY_KEYS (from the worker: rows from history_start on)
    diag_history: dict[str, np.ndarray]  # per diagnostics refresh: the fields of Diagnostics
    diagnostics: Diagnostics | None
    data_entropy: float
    can_rollback: bool
    rollback_step: int
    history_start: int = 0  # index of the first history row carried
    ack: int = 0  # number of the last command the worker had handled (LiveRun.running)
    recorded: tuple[int, ...] = ()  # steps of the recording's frames (live/recording.py)
    kept: tuple[int, ...] = ()  # steps where training can roll back to (their state is kept)

    # The same objects from one snapshot to the next until they change: sent only then (worker._unchanged)
    STEADY: ClassVar[tuple[str, ...]] = ("energy", "x_data")


DENSITY_GRID_N = 128  # side of the grid of the exact diagnostics (log Z, KL, NLL)
_DATA_CACHE: dict[tuple[str, int], density.DataDensity] = {}
_DATA_LOCK = threading.Lock()


def data_density_for(ds: toy2d.Dataset, grid: density.Grid) -> density.DataDensity:
    """The exact data density on a grid, computed once per (built-in dataset, grid size) per process."""
    if ds.name not in toy2d.DATASETS:  # a user's own points: one run uses them
        return density.data_density(ds.log_density, grid)
    key = (ds.name, grid.n)
    with _DATA_LOCK:
        if key not in _DATA_CACHE:
            _DATA_CACHE[key] = density.data_density(ds.log_density, grid)
        return _DATA_CACHE[key]


def dataset_for(cfg: RunConfig, points: np.ndarray | None) -> toy2d.Dataset:
    """The run's dataset: a built-in one by name, or the user's own points (in box coordinates,
    as the Playground's own-data panel gives them) for "custom"."""
    if cfg.data.dataset != toy2d.CUSTOM:
        return toy2d.get(cfg.data.dataset)
    if points is None:
        raise ValueError("dataset 'custom' needs points: draw or upload some first")
    from ..userdata import points_dataset

    return points_dataset(points, fit=False)  # the page already placed them in the box


def explain_divergence(log: StepLog, x_neg: torch.Tensor, extent: float, cfg: RunConfig) -> str | None:
    """None when the step looks healthy, else a plain-language reason naming the likely setting."""
    s = cfg.sampler
    # One host sync for a healthy update: a non-finite coordinate is never <= the bound, so it counts as far
    far = float((~(x_neg.abs() <= 10 * extent)).any(dim=1).float().mean())
    chains_ok = far == 0 or bool(torch.isfinite(x_neg).all())
    far = far if chains_ok else 1.0
    # Chains that fly off reach energies the net was never trained on: when some of them are far out
    # and the energies blow up, the step size is the cause, not alpha or the learning rate.
    if not chains_ok or far > 0.5 or (energies_broken(log) and far > 0.02):
        return (f"The Langevin chains exploded: {far:.0%} of them flew far outside the box (step size "
                f"{s.step_size:g}, {s.n_steps} steps). Each step overshot the valley it aimed for. Lower the "
                "step size (try half), or set a gradient clip.")
    return explain_energies(log, cfg.train)


def display_energy(model: torch.nn.Module, grid: density.Grid, mass_outside: float = 0.0) -> tuple[np.ndarray, float]:
    """The energy on a display grid (n, n) float32 (row 0 the lowest y), and the log Z it implies
    (the grid's sum, corrected by the mass outside the box when known)."""
    e = density.evaluate(model, grid.points).view(grid.n, grid.n)
    log_inner = float(torch.logsumexp(-e.flatten(), 0)) + math.log(grid.cell_area)
    return e.float().numpy(), log_inner - math.log(max(1e-12, 1 - mass_outside))


def frame_of(trainer: Trainer, display_grid: density.Grid, mass_outside: float = 0.0, n_trails: int = 8,
             landscape: tuple[np.ndarray, float] | None = None) -> dict:
    """One frame of a 2D recording, in float16 (about 10 KB): the landscape on the display grid (its
    display_energy, computed unless given), up to 256 negatives of the last update and, when that
    update recorded its chains, n_trails of them (chains, T, 2). The live worker and the command
    line's `train` record the same frames."""
    energy, log_z = landscape or display_energy(trainer.eval_model, display_grid, mass_outside)
    x_neg = trainer.last_x_neg if trainer.last_x_neg is not None else torch.zeros(0, 2)
    traj = trainer.last_trajectory
    trails = (traj[:, :n_trails].transpose(0, 1) if traj is not None and len(traj) else torch.zeros(0, 0, 2))
    return {"energy": energy.astype(np.float16), "log_z_display": np.float64(log_z),
            "x_neg": to_numpy(x_neg[:256]).astype(np.float16), "trails": to_numpy(trails).astype(np.float16)}


def recording_meta(extent: float, x_data: np.ndarray, density_max: float) -> dict[str, np.ndarray]:
    return {"extent": np.float64(extent), "x_data": np.asarray(x_data, np.float16),
            "density_max": np.float64(density_max)}


class Toy2DTask:
    """Train an MLP energy on a 2D toy dataset; publish the landscape, chains and exact numbers."""

    def __init__(self, cfg: RunConfig, device: torch.device, opts: dict):
        self.cfg, self.device = cfg, device
        self.display_n, self.n_trails = opts["display_n"], opts["n_trails"]
        self.dataset = dataset_for(cfg, opts.get("points"))
        self.extent = self.dataset.extent
        self.cpu_clock = opts.get("cpu_clock")  # the run's own CPU time (live/worker.py)
        self.extras_scale = opts.get("extras_scale")  # its extras' share is scaled by this (crowded: less)

    @staticmethod
    def build_model(cfg: RunConfig) -> torch.nn.Module:
        return build_model_2d(cfg)

    def setup(self) -> Trainer:
        ds = self.dataset
        self.trainer = make_trainer_2d(self.cfg, device=self.device, dataset=ds)
        self.grid = density.make_grid(ds.extent, DENSITY_GRID_N)
        self.display_grid = density.make_grid(ds.extent, self.display_n)
        self.phase_grid = density.make_grid(ds.extent, 80)
        self.data = data_density_for(ds, self.grid)
        g = torch.Generator().manual_seed(self.cfg.train.seed + 999)
        self.x_data = ds.sample(512, generator=g).float()
        self.x_data_np = self.x_data.numpy()  # one object for every snapshot (Snapshot.STEADY)
        self.x_test = ds.sample(2000, generator=g).float()
        xs = torch.linspace(-ds.extent, ds.extent, 17)[1:-1]
        yy, xx = torch.meshgrid(xs, xs, indexing="ij")
        self.field_points = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)  # (225, 2)
        self.diag: Diagnostics | None = None
        self._grid_share = CpuShare(GRID_EVERY_S, GRID_SHARE, clock=self.cpu_clock, scale=self.extras_scale)
        self._grid_key, self._grid = None, None
        return self.trainer

    def apply_settings(self, cfg: RunConfig) -> RunConfig:
        """Take the live settings (sampler, lr, alpha, batch size, reinit fraction) from cfg."""
        self.cfg = self.trainer.apply_live_settings(self.cfg, cfg)
        return self.cfg

    def call_phase_step(self, *, record) -> PhaseRecord:
        """One real update, recorded phase by phase for "Step by phase" (ebm_core.lessons.phases)."""
        rec = cd_update_by_phase(self.trainer, self.phase_grid, n_show=48)
        record(rec.log)
        return rec

    def explain_divergence(self, log: StepLog) -> str | None:
        return explain_divergence(log, self.trainer.last_x_neg, self.extent, self.cfg)

    def diagnostics(self) -> Diagnostics:
        tr = self.trainer
        model = tr.eval_model
        gd = density.grid_density(model, self.grid)
        x_neg = tr.buffer.x if tr.buffer is not None else tr.last_x_neg
        bias = density.sampler_bias(x_neg, gd, self.grid) if x_neg is not None else float("nan")
        nll = density.nll(model, self.x_test, gd.log_z) if gd.finite else float("nan")
        self.diag = Diagnostics(tr.step_count, gd.log_z, density.kl_data_model(self.data, gd), nll, bias,
                                gd.mass_outside)
        return self.diag

    def _display_energy(self, running: bool) -> tuple[np.ndarray, float]:
        """Energy on the display grid and the log Z it implies. While training, it is rebuilt at
        most every GRID_EVERY_S (the points and trails still move every frame): the grid is the
        costliest part of a frame, and the landscape changes little between two frames."""
        key = self._landscape_key()
        if self._grid is None or (key != self._grid_key and (not running or self._grid_share.due(time.perf_counter()))):
            self._refresh_grid(key)
        return self._grid

    def _landscape_key(self) -> tuple[int, int]:
        """What the display grid's energy depends on: the weights' step and the diagnostics' (log Z)."""
        return self.trainer.step_count, self.diag.step if self.diag else -1

    def _mass_outside(self) -> float:
        """The model's mass beyond the box by the last exact diagnostics (0 before any)."""
        return self.diag.mass_outside if self.diag and math.isfinite(self.diag.mass_outside) else 0.0

    def _refresh_grid(self, key: tuple[int, int]) -> None:
        """The evaluated weights' energy on the display grid (float32) and the log Z it implies, for the
        landscape `key`; every evaluation counts in the grid's CPU share (snapshots' and recording's)."""
        cpu = self._grid_share.start()
        self._grid = display_energy(self.trainer.eval_model, self.display_grid, self._mass_outside())
        self._grid_share.done(cpu)
        self._grid_key = key

    def frame_record(self) -> dict:
        """The run now as one frame of its recording (live/recording.py): see frame_of."""
        key = self._landscape_key()
        if key != self._grid_key:  # evaluated once for the frame and the next snapshot, which shows it
            self._refresh_grid(key)
        return frame_of(self.trainer, self.display_grid, n_trails=self.n_trails, landscape=self._grid)

    def recording_meta(self) -> dict[str, np.ndarray]:
        """What all frames of the recording share: the box, some data points, the density's scale."""
        return recording_meta(self.extent, self.x_data[:256].numpy(),
                              float(self.data.prob.max() / self.grid.cell_area))

    def snapshot(self, needs: tuple[str, ...], **common) -> Snapshot:
        """The page's view of the run now; `common` holds the fields every task's snapshot has.
        The gradient field is built only when `needs` names "field"."""
        tr = self.trainer
        model = tr.eval_model
        energy, log_z_display = self._display_energy(common["status"] == "running")
        x_neg = tr.last_x_neg if tr.last_x_neg is not None else tr.noise(256, tr.generator)
        x_pos = tr.last_x_pos if tr.last_x_pos is not None else self.x_data[:256]
        traj = tr.last_trajectory
        trails = (traj[:, : self.n_trails].transpose(0, 1) if traj is not None and len(traj)
                  else torch.zeros(0, 0, 2))
        if "field" in needs:
            _, f_g = energy_and_grad(model, self.field_points.to(self.device))
            field = torch.cat([self.field_points, -f_g.cpu()], 1)  # (F, 4)
        else:
            field = torch.zeros(0, 4)
        return Snapshot(
            **common, extent=self.extent, energy=energy, log_z_display=log_z_display,
            density_max=float(self.data.prob.max() / self.grid.cell_area),
            x_data=self.x_data_np, x_pos=to_numpy(x_pos), x_neg=to_numpy(x_neg), trails=to_numpy(trails),
            field=to_numpy(field),
            diagnostics=self.diag, data_entropy=self.data.entropy,
        )
