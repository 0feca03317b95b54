"""The image task of a live run: an energy net on digits (or MNIST), trained in the worker.

The generic machinery (training processes, commands, divergence pause, rollback, history) is in live/;
this task supplies the model and trainer, what the page draws (the current negatives, a view of the
replay buffer, per-sample energies) and the slower diagnostics (energy of held-out digits and of
noise, spread of the energies over time).
"""

from dataclasses import dataclass

import numpy as np
import torch

from .. import images
from ..config import ImageRunConfig
from ..image_train import build_image_model, energy_of, make_trainer_images
from ..training import StepLog, Trainer, explain_energies, to_numpy

IMAGE_SIZES = images.IMAGE_SIZES
GAP_LIMIT = 1.0  # |E(neg) - E(data)| beyond this: the chains can no longer reach the data's energy
# (healthy digit runs keep |gap| below about 0.01; runs whose learning rate was too high jumped to ~10
# and never came back, showing noise while every number stayed finite)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
N_SHOW = 64  # images in each published grid
RECORDED_SMALL, RECORDED_LARGE = 64, 36  # negatives kept per recorded frame: 8x8 digits, 28x28 images


def recorded_frame(x_neg: torch.Tensor, image_size: int) -> dict:
    """One frame of an image run's recording (live/recording.py): the first negatives as pixels, 64 of
    8x8 digits (4 KB) or 36 of 28x28 images (28 KB). The live worker and the CLI's `train` record these."""
    return {"negatives": images.to_pixels(x_neg[:RECORDED_SMALL if image_size <= 16 else RECORDED_LARGE])}


def recorded_rows(n: int) -> int:
    """Images per row when a recorded frame of n negatives is tiled: 8 x 8, or 6 x 6."""
    return 8 if n > RECORDED_LARGE else 6


@dataclass(frozen=True)
class ImageDiagnostics:
    """Slow numbers, refreshed every few seconds. Quantiles follow QUANTILES."""

    step: int
    e_test: float  # mean energy of held-out test images (should sink below e_noise)
    e_noise: float  # mean energy of uniform noise images
    q_data: tuple[float, ...]  # quantiles of E over held-out images
    q_neg: tuple[float, ...]  # quantiles of E over the replay buffer (or the last negatives)


@dataclass(frozen=True)
class ImageSnapshot:
    # common fields (live/worker.py, _Worker._publish)
    seq: int
    config: ImageRunConfig
    status: str
    message: str
    step: int
    steps_per_s: float
    device: str
    history: dict[str, np.ndarray]
    diag_history: dict[str, np.ndarray]
    can_rollback: bool
    rollback_step: int
    # image fields; images are (N, H, W) uint8, 0 = -1 (black) and 255 = +1 (white)
    image_size: int
    negatives: np.ndarray  # the last update's negatives
    buffer: np.ndarray  # a fixed sample of the replay buffer (empty unless persistent CD)
    buffer_age: np.ndarray  # (N,) updates since each shown buffer chain was restarted from noise
    data: np.ndarray  # the last data batch
    e_data: np.ndarray  # (N,) energies of `data` now
    e_neg: np.ndarray  # (N,) energies of `negatives` now
    diagnostics: ImageDiagnostics | None
    history_start: int = 0  # index of the first history row carried
    ack: int = 0  # number of the last command the worker had handled (LiveRun.running)
    recorded: tuple[int, ...] = ()  # steps of the recording's frames (live/recording.py)
    kept: tuple[int, ...] = ()  # steps where training can roll back to (their state is kept)


def explain_divergence(log: StepLog, x_neg: torch.Tensor, cfg: ImageRunConfig) -> str | None:
    """None when the step looks healthy, else a plain-language reason naming the likely setting."""
    s, t = cfg.sampler, cfg.train
    if not bool(torch.isfinite(x_neg).all()):
        return (f"The Langevin chains produced non-numbers (step size {s.step_size:g}, gradient clip "
                f"{s.grad_clip:g}). Set a gradient clip (the image recipe uses 0.03) or lower the step size.")
    reason = explain_energies(log, t)
    if reason:
        return reason
    if abs(log.gap) > GAP_LIMIT:
        return (f"The model split apart: real images sit at energy {log.e_pos:.3g} and the chains' images at "
                f"{log.e_neg:.3g}, a gap the Langevin chains can no longer cross, so what they draw stops looking "
                f"like data. Lower the learning rate (now {t.lr:g}), then roll back.")
    return None


class ImagesTask:
    """Train an energy net on an image dataset; publish samples, buffer and energies."""

    def __init__(self, cfg: ImageRunConfig, device: torch.device, opts: dict):
        self.cfg, self.device = cfg, device

    @staticmethod
    def build_model(cfg: ImageRunConfig) -> torch.nn.Module:
        return build_image_model(cfg, 1, IMAGE_SIZES[cfg.data.dataset])

    def setup(self) -> Trainer:
        train = images.load_images(self.cfg.data.dataset, split="train")
        test = images.load_images(self.cfg.data.dataset, split="test")
        self.trainer = make_trainer_images(self.cfg, device=self.device, dataset=train)
        g = torch.Generator().manual_seed(self.cfg.train.seed + 999)
        self.x_test = test.images[torch.randperm(len(test), generator=g)[:256]].to(self.device)
        self.x_noise = (2 * torch.rand(self.x_test.shape, generator=g) - 1).to(self.device)
        buf = self.trainer.buffer
        self.buffer_idx = (torch.randperm(len(buf.x), generator=g)[:N_SHOW].to(buf.x.device)
                           if buf is not None else None)
        self.diag: ImageDiagnostics | None = None
        return self.trainer

    def apply_settings(self, cfg: ImageRunConfig) -> ImageRunConfig:
        """Take the live settings (sampler, lr, alpha, batch size, reinit fraction) from cfg."""
        self.cfg = self.trainer.apply_live_settings(self.cfg, cfg)
        return self.cfg

    def explain_divergence(self, log: StepLog) -> str | None:
        return explain_divergence(log, self.trainer.last_x_neg, self.cfg)

    def diagnostics(self) -> ImageDiagnostics:
        tr = self.trainer
        model = tr.eval_model
        e_test, e_noise = energy_of(model, self.x_test), energy_of(model, self.x_noise)
        x_neg = tr.buffer.x[:1024] if tr.buffer is not None else tr.last_x_neg
        e_neg = energy_of(model, x_neg) if x_neg is not None else e_noise
        q = torch.tensor(QUANTILES)
        self.diag = ImageDiagnostics(
            tr.step_count, float(e_test.mean()), float(e_noise.mean()),
            tuple(torch.quantile(e_test.float().cpu(), q).tolist()),
            tuple(torch.quantile(e_neg.float().cpu(), q).tolist()),
        )
        return self.diag

    def frame_record(self) -> dict:
        """The run now as one frame of its recording: see recorded_frame (noise before the first update)."""
        tr = self.trainer
        x_neg = tr.last_x_neg if tr.last_x_neg is not None else self.x_noise
        return recorded_frame(x_neg, IMAGE_SIZES[self.cfg.data.dataset])

    def snapshot(self, needs: tuple[str, ...], **common) -> ImageSnapshot:
        """The page's view of the run now; `common` holds the fields every task's snapshot has."""
        tr = self.trainer
        model = tr.eval_model
        x_neg = tr.last_x_neg[:N_SHOW] if tr.last_x_neg is not None else self.x_noise[:N_SHOW]
        x_pos = tr.last_x_pos[:N_SHOW] if tr.last_x_pos is not None else self.x_test[:N_SHOW]
        e = energy_of(model, torch.cat([x_pos, x_neg]))
        if tr.buffer is not None:
            buffer, age = tr.buffer.x[self.buffer_idx], tr.buffer.age[self.buffer_idx]
        else:
            buffer, age = x_neg[:0], torch.zeros(0, dtype=torch.long)
        return ImageSnapshot(
            **common, image_size=IMAGE_SIZES[self.cfg.data.dataset], negatives=images.to_pixels(x_neg),
            buffer=images.to_pixels(buffer), buffer_age=age.cpu().numpy(), data=images.to_pixels(x_pos),
            e_data=to_numpy(e[: len(x_pos)]), e_neg=to_numpy(e[len(x_pos):]), diagnostics=self.diag,
        )
