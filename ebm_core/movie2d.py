"""A 2D run's recorded training as a movie for slides: the recording's frames (live/recording.py, or a
run folder's recording file) drawn as the Playground draws them (render2d.py), each labelled with its
step, then encoded as a GIF, an MP4, a standalone HTML player, or a PNG of the last frame (export.py).
The page runs `encode_recording` in a job process; `python -m ebm_core export` calls it too. The Langevin
Lab's chain animation exports the same way (`encode_chains`): the exact density under the chains.

    rec = checkpoint.read_recording("runs/demo")
    data = encode_recording(rec, "gif", view="density", layers=("data", "negatives", "trails"))
"""

from collections.abc import Iterable

import numpy as np

from . import export, render2d
from .views import LAYERS

MAX_FRAMES = 100  # 10 s at 10 frames a second
SIZE = 480  # pixels a side of the plot (plus the label band)
GIF_BUDGET = 5 * 2**20  # a GIF for a slide: over this, it is made again on fewer colours (export.encode)


def chosen(steps: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Indices of at most max_frames frames spread evenly over the recording, the first and last included."""
    n = len(steps)
    if n <= max_frames:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_frames)).astype(int))


def _points(a: np.ndarray | None) -> np.ndarray | None:
    """Points (N, 2) without the NaN padding of a recording."""
    if a is None:
        return None
    a = np.asarray(a, np.float64).reshape(-1, 2)
    return a[np.isfinite(a).all(axis=1)]


def _trails(a: np.ndarray | None) -> list[np.ndarray]:
    if a is None or np.asarray(a).size == 0:
        return []
    return [c for c in (_points(chain) for chain in np.asarray(a)) if len(c)]


def pictures(rec: dict, *, view: str = "energy", layers: Iterable[str] = ("data", "negatives", "trails"),
             size: int = SIZE, max_frames: int = MAX_FRAMES) -> tuple[np.ndarray, list[str]]:
    """(frames (T, size, size, 3) uint8, labels "step N") of the recording's frames, at most max_frames."""
    layers = set(layers)
    unknown = layers - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {', '.join(sorted(unknown))}; valid: {', '.join(LAYERS)}")
    steps = np.asarray(rec["step"])
    if len(steps) == 0:
        raise ValueError("the recording holds no frames")
    extent = float(rec.get("meta_extent", 4.0))
    density_max = float(rec.get("meta_density_max", 1.0))
    x_data = _points(rec.get("meta_x_data")) if "data" in layers else None
    out, labels = [], []
    for i in chosen(steps, max_frames):
        out.append(render2d.picture(
            rec["energy"][i], float(rec["log_z_display"][i]), extent, view=view, density_max=density_max,
            x_data=x_data, x_neg=_points(rec["x_neg"][i]) if "negatives" in layers and "x_neg" in rec else None,
            trails=_trails(rec["trails"][i]) if "trails" in layers and "trails" in rec else None,
            arrows="field" in layers, size=size))
        labels.append(f"step {int(steps[i]):,}")
    return np.stack(out), labels


def encode_recording(rec: dict, fmt: str, *, view: str = "energy",
                     layers: Iterable[str] = ("data", "negatives", "trails"), size: int = SIZE, fps: float = 10,
                     max_frames: int = MAX_FRAMES, title: str = "Energy Landscape Explorer: training") -> bytes:
    """The recording as one file of format `fmt` (export.FORMATS; "png" is its last frame)."""
    if fmt not in export.FORMATS:
        raise ValueError(f"format must be one of {', '.join(export.FORMATS)}, got {fmt!r}")
    if len(rec.get("step", ())) == 0:
        raise ValueError("nothing is recorded yet: train a few updates first")
    if fmt == "png":
        rec = {k: (v if k.startswith("meta_") else v[-1:]) for k, v in rec.items()}
    if "negatives" in rec:  # an image run: its negatives at each recorded step, tiled as the page shows them
        frames, labels = image_pictures(rec, max_frames=max_frames)
        scale = max(1, size // frames.shape[2])
        return export.encode(frames, labels, fmt, fps=fps, title=title, scale=scale, gif_budget=GIF_BUDGET)
    frames, labels = pictures(rec, view=view, layers=layers, size=size, max_frames=max_frames)
    return export.encode(frames, labels, fmt, fps=fps, title=title, gif_budget=GIF_BUDGET)


def image_pictures(rec: dict, *, max_frames: int = MAX_FRAMES) -> tuple[np.ndarray, list[str]]:
    """(grey frames (T, H', W') uint8, labels) of an image run's recording: each frame's negatives tiled
    in rows of 8 (64 images) or 6 (36), as the Images page shows them."""
    from .images import tile
    from .live.images import recorded_rows

    steps, neg = np.asarray(rec["step"]), np.asarray(rec["negatives"])
    nrow = recorded_rows(neg.shape[1])
    idx = chosen(steps, max_frames)
    return np.stack([tile(neg[i], nrow) for i in idx]), [f"step {int(steps[i]):,}" for i in idx]


def chains_pictures(log_density: np.ndarray, extent: float, trajectories: list[np.ndarray], titles: list[str], *,
                    size: int = 360, max_frames: int = MAX_FRAMES, max_chains: int = 256, n_trails: int = 3,
                    trail_length: int = 6, last_only: bool = False) -> tuple[np.ndarray, list[str]]:
    """The Langevin Lab's chain animation as pictures: one panel per run side by side (its title above
    it), each the exact density (log_density, (n, n), row 0 the lowest x2) with the chains at that step
    as dots and n_trails of them with their last trail_length frames; labels "step N". The frames are
    the animation's (lessons.lab.frame_steps); last_only draws only the last one (a PNG)."""
    from PIL import Image, ImageDraw, ImageFont

    from .lessons.lab import frame_steps

    if not trajectories or len(trajectories) != len(titles):
        raise ValueError("need one title per run, and at least one run")
    n_steps = min(len(t) for t in trajectories) - 1
    shown = frame_steps(n_steps, max_frames)
    drawn = range(len(shown) - 1, len(shown)) if last_only else range(len(shown))
    energy = -np.asarray(log_density, np.float64)
    peak = float(np.exp(-energy.min()))
    band, gap = 26, 8
    font = ImageFont.load_default(size=15)
    width = len(trajectories) * size + (len(trajectories) - 1) * gap
    out = np.full((len(drawn), band + size, width, 3), 255, np.uint8)
    heads = Image.new("RGB", (width, band), "white")
    for c, title in enumerate(titles):  # Pillow's own font has no Greek
        ImageDraw.Draw(heads).text((c * (size + gap) + 4, 5), title.replace("η=", "step size "), fill=(30, 30, 30),
                                   font=font)
    out[:, :band] = np.asarray(heads)
    for j, f in enumerate(drawn):
        i = shown[f]
        for c, traj in enumerate(trajectories):
            tail = traj[shown[max(0, f - trail_length):f + 1], :n_trails]  # (L, C, 2)
            out[j, band:, c * (size + gap):c * (size + gap) + size] = render2d.picture(
                energy, 0.0, extent, view="density", density_max=peak / 1.15, x_neg=traj[i, :max_chains],
                trails=list(np.transpose(tail, (1, 0, 2))), size=size)
    return out, [f"step {int(shown[f])}" for f in drawn]


def encode_chains(log_density: np.ndarray, extent: float, trajectories: list[np.ndarray], titles: list[str],
                  fmt: str, *, fps: float = 10, title: str = "Energy Landscape Explorer: Langevin chains") -> bytes:
    """The Lab's chains (chains_pictures) as one file of format `fmt` (export.FORMATS)."""
    frames, labels = chains_pictures(log_density, extent, trajectories, titles, last_only=fmt == "png")
    return export.encode(frames, labels, fmt, fps=fps, title=title, gif_budget=GIF_BUDGET)
