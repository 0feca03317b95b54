"""A live run's training, recorded for rewinding: a compact frame every few updates (for the 2D task:
the landscape on the display grid and the negatives, in float16) and, at every STATE_EVERY-th
frame, the trainer's whole state, so that training can go on from there ("roll back to here").

The memory is bounded whatever the run's length: frames are taken at steps that are multiples of a
spacing; when there are more than max_frames, the spacing doubles and the frames (and states) off the
new spacing are dropped. A frame is about 9.5 KB (a 64x64 float16 grid and 256 points), a state of the
default 2D run about 340 KB (weights, EMA, Adam's moments, an 8192-chain buffer), so a run keeps at
most 200 frames and 11 states: about 1.9 MB + 3.7 MB, measured by `nbytes`. A 20-minute run at 100
updates a second (120,000 updates) ends with a spacing of 640 updates.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

MAX_FRAMES = 200
SPACING = 10  # updates between frames at the start
STATE_EVERY = 20  # every this-many-th frame (by step) also keeps the trainer's state


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

    def due(self, step: int) -> bool:
        """Whether the frame of this step is to be kept."""
        return step % self.spacing == 0 and step not in self.frames

    def keeps_state(self, step: int) -> bool:
        return step % (self.spacing * self.state_every) == 0

    def add(self, step: int, frame: dict, state: dict | None = None) -> None:
        """Keep the frame of `step` (and the trainer's state, when keeps_state(step)), then thin the
        recording if it is over its budget."""
        self.frames[step] = frame
        if state is not None:
            self.states[step] = state
        while len(self.frames) > self.max_frames:
            self.spacing *= 2
            self.frames = {s: f for s, f in self.frames.items() if s % self.spacing == 0}
            self.states = {s: v for s, v in self.states.items() if self.keeps_state(s)}

    def truncate(self, step: int) -> None:
        """Forget what came after `step` (training goes on from there)."""
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
