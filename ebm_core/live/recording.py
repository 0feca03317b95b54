"""A live run's training, recorded for rewinding: a compact frame every few updates (for the 2D task:
the landscape on the display grid and the negatives, in float16) and, at every STATE_EVERY-th
frame, the trainer's whole state, so that training can go on from there ("roll back to here").

The memory is bounded whatever the run's length: frames are taken at steps that are multiples of a
spacing; when there are more than max_frames, the spacing doubles and the frames (and states) off the
new spacing are dropped. A frame is about 9.5 KB (a 64x64 float16 grid and 256 points), a state of the
default 2D run about 340 KB (weights, EMA, Adam's moments, an 8192-chain buffer), so a run keeps at
most 200 frames and 11 states: about 1.9 MB + 3.7 MB, measured by `nbytes`. A 20-minute run at 100
updates a second (120,000 updates) ends with a spacing of 640 updates.

The frames (not the states) travel as plain arrays (`stacked`, `add_stacked`): into a run folder's
recording file (checkpoint.save_recording), the live run's saved state, and back. `meta` holds what
every frame shares (for the 2D task the box, the data and the density scale), for exports.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

MAX_FRAMES = 200
SPACING = 10  # updates between frames at the start
STATE_EVERY = 20  # every this-many-th frame (by step) also keeps the trainer's state
STATE_BUDGET = 8 * 2**20  # kept states take at most about this much (state_every_for)


def state_every_for(state_bytes: int) -> int:
    """The state spacing (in frames) that keeps a run's states within STATE_BUDGET: STATE_EVERY for the
    2D task (a state of 340 KB: 11 states, 3.7 MB); sparser for larger states (the Images page's digits,
    0.83 MB: 9 states, 7.5 MB); 0, no state kept, when the budget holds fewer than three (MNIST's, 8.4
    MB), so such a run rewinds its pictures but cannot roll back to them. A recording keeps up to
    MAX_FRAMES / state_every + 1 states (step 0 included), and at least two once state_every <= 100."""
    keep = STATE_BUDGET // max(1, state_bytes)  # states that fit
    if keep < 3:
        return 0
    return max(STATE_EVERY, -(-MAX_FRAMES // (keep - 1)))


def _nbytes(x: Any) -> int:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return x.nbytes if isinstance(x, np.ndarray) else x.element_size() * x.nelement()
    if isinstance(x, dict):
        return sum(_nbytes(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return sum(_nbytes(v) for v in x)
    return 0


@dataclass
class Recording:
    max_frames: int = MAX_FRAMES
    spacing: int = SPACING
    state_every: int = STATE_EVERY
    frames: dict[int, dict] = field(default_factory=dict)  # step -> the task's frame record
    states: dict[int, dict] = field(default_factory=dict)  # step -> Trainer.state()
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # shared by all frames (for exports)
    changes: int = 0  # counts the changes: whoever saves the recording can tell whether it changed

    def due(self, step: int) -> bool:
        """Whether the frame of this step is to be kept."""
        return step % self.spacing == 0 and step not in self.frames

    def keeps_state(self, step: int) -> bool:
        return self.state_every > 0 and step % (self.spacing * self.state_every) == 0

    def add(self, step: int, frame: dict, state: dict | None = None) -> None:
        """Keep the frame of `step` (and the trainer's state, when keeps_state(step)), then thin the
        recording if it is over its budget."""
        self.changes += 1
        self.frames[step] = frame
        if state is not None:
            self.states[step] = state
        while len(self.frames) > self.max_frames:
            self.spacing *= 2
            self.frames = {s: f for s, f in self.frames.items() if s % self.spacing == 0}
            self.states = {s: v for s, v in self.states.items() if self.keeps_state(s)}

    def truncate(self, step: int) -> None:
        """Forget what came after `step` (training goes on from there)."""
        self.changes += 1
        self.frames = {s: f for s, f in self.frames.items() if s <= step}
        self.states = {s: v for s, v in self.states.items() if s <= step}

    @property
    def steps(self) -> tuple[int, ...]:
        return tuple(sorted(self.frames))

    @property
    def kept(self) -> tuple[int, ...]:
        """The steps whose trainer state is kept: where training can roll back to."""
        return tuple(sorted(self.states))

    @property
    def nbytes(self) -> int:
        return _nbytes(list(self.frames.values())) + _nbytes(list(self.states.values()))

    def stacked(self) -> dict[str, np.ndarray]:
        """The frames as arrays with a leading frame axis: "step" (T,) int64, each frame key (T, ...)
        padded with NaN where the frames' sizes differ (a batch size or chain length changed while
        training), and each meta entry as "meta_<name>"; empty without frames."""
        steps = self.steps
        if not steps:
            return {}
        out: dict[str, np.ndarray] = {"step": np.asarray(steps, np.int64)}
        common = set.intersection(*(set(self.frames[s]) for s in steps))  # (frames loaded from an older file)
        for key in (k for k in self.frames[steps[0]] if k in common):
            out[key] = _padded([np.asarray(self.frames[s][key]) for s in steps])
        out.update({f"meta_{k}": np.asarray(v) for k, v in self.meta.items()})
        return out

    def add_stacked(self, arrays: dict[str, np.ndarray]) -> None:
        """Take back the frames (and meta) of `stacked` (no states: training cannot roll back to them),
        keeping the frames at steps up to the current spacing's budget."""
        self.changes += 1
        steps = [int(s) for s in np.asarray(arrays.get("step", []))]
        keys = [k for k in arrays if k != "step" and not k.startswith("meta_")]
        self.meta.update({k[5:]: np.asarray(v) for k, v in arrays.items() if k.startswith("meta_")})
        for i, step in enumerate(steps):
            self.frames[step] = {k: _unpadded(np.asarray(arrays[k][i])) for k in keys}
        gaps = np.diff(sorted(self.frames))
        if len(gaps) and gaps.min() > self.spacing and all(s % int(gaps.min()) == 0 for s in self.frames):
            self.spacing = int(gaps.min())  # recorded more sparsely than this run records: go on so
        while len(self.frames) > self.max_frames:
            self.spacing *= 2
            self.frames = {s: f for s, f in self.frames.items() if s % self.spacing == 0}


def _padded(items: list[np.ndarray]) -> np.ndarray:
    """Stack arrays of one rank, padded to the largest size on each axis: floats with NaN, integers
    (an image run's pixels) with 0, keeping their type."""
    shape = tuple(max(a.shape[d] for a in items) for d in range(items[0].ndim))
    if all(a.shape == shape for a in items):
        return np.stack(items)
    dtype = np.result_type(*items)
    fill = 0 if np.issubdtype(dtype, np.integer) else np.nan
    if fill != 0:
        dtype = np.result_type(dtype, np.float16)
    out = np.full((len(items), *shape), fill, dtype=dtype)
    for i, a in enumerate(items):
        out[(i, *(slice(0, n) for n in a.shape))] = a
    return out


def _unpadded(a: np.ndarray) -> np.ndarray:
    """A frame entry without the NaN padding of `_padded` (rows that are NaN throughout)."""
    if a.ndim < 2 or a.size == 0 or not np.issubdtype(a.dtype, np.floating):
        return a
    rows = ~np.isnan(a.reshape(a.shape[0], -1)).all(axis=1)
    return a[rows]
