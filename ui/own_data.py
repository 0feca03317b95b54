""""Your own data" for the 2D Playground: draw points, or load them from a CSV file or an image.

The points live in st.session_state under keys that start with the panel's prefix, always in the
coordinates of the box [-EXTENT, EXTENT]^2 shown on the pad: drawn points are there already, and a
file's points are moved and scaled the way `userdata.points_dataset` does it (to fill [-FIT, FIT]),
so the pad shows them where the model will see them. Every change (a stroke, a file, Clear) first
saves the previous point set, so Undo steps back through them.

The plain functions at the top hold the logic (no Streamlit); `own_data_panel` draws the widgets and
wires them to those functions through callbacks.
"""

from __future__ import annotations

import secrets
from functools import partial

import numpy as np
import streamlit as st
import torch

from ebm_core import userdata
from ui.components.draw_pad import draw_pad

EXTENT = userdata.EXTENT  # half-width of the box the points live in (the box of `userdata.points_dataset`)
MAX_POINTS = 20_000  # the most points a session may hold
MIN_POINTS = 20  # fewer than this is not worth training on
UNDO_DEPTH = 20  # point sets kept for Undo

# ---------------------------------------------------------------------------------------------------
# Logic: plain functions of arrays and bytes


def add_stroke(points: np.ndarray, centres: np.ndarray, *, brush: float, per_dab: int,
               generator: torch.Generator | None, extent: float = EXTENT,
               max_points: int = MAX_POINTS) -> tuple[np.ndarray, str | None]:
    """Append per_dab * k points scattered in discs of radius `brush` around the stroke's centres (k, 2).

    Points that land outside the box are dropped, and nothing is added beyond `max_points`.
    Returns the new (N', 2) float32 point set and a message when the cap cut the stroke short.
    """
    c = np.asarray(centres, dtype=np.float64).reshape(-1, 2)  # (k, 2)
    new = (userdata.brush_points(c[:, 0], c[:, 1], brush, per_dab * len(c), generator=generator)
           if len(c) else np.zeros((0, 2)))  # (per_dab * k, 2), each point around a random centre
    new = new[(np.abs(new) <= extent).all(axis=1)]
    room = max(0, max_points - len(points))
    note = None
    if len(new) > room:
        note = (f"The point set is full ({max_points:,} points): only {room:,} of this stroke's {len(new):,} "
                "points were added. Undo or Clear to draw more." if room else
                f"The point set is full ({max_points:,} points). Undo or Clear to draw more.")
        new = new[:room]
    return np.concatenate([points, new.astype(np.float32)]).reshape(-1, 2), note


def load_csv(data: bytes) -> np.ndarray:
    """Points (N, 2) float32 from CSV bytes, fitted into the box. ValueError (with a message for the
    user) when the file cannot be used."""
    return userdata.fit_to_box(userdata.parse_csv(data, max_rows=MAX_POINTS)).astype(np.float32)


def load_image(data: bytes, n: int, *, generator: torch.Generator | None) -> np.ndarray:
    """n points (n, 2) float32 drawn from an image (darker = more points), fitted into the box.
    ValueError when the image cannot be used."""
    pixels = userdata.image_to_points(data, min(n, MAX_POINTS), generator=generator)
    return userdata.fit_to_box(pixels).astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# Session state: one point set per prefix, with an undo stack and a note for the user


def _k(p: str, name: str) -> str:
    return f"{p}_{name}"


def _init(p: str) -> None:
    ss = st.session_state
    ss.setdefault(_k(p, "points"), _frozen(np.zeros((0, 2), np.float32)))
    ss.setdefault(_k(p, "history"), [])
    ss.setdefault(_k(p, "note"), None)  # (kind, text), kind one of "success", "warning", "error"
    ss.setdefault(_k(p, "source"), "draw")  # "image" while the points are exactly an image's sample
    ss.setdefault(_k(p, "rng_calls"), 0)
    ss.setdefault(_k(p, "seed"), secrets.randbits(31))
    for name, value in (("brush", 0.4), ("per_dab", 6), ("image_n", 1000)):  # widget values (see session.keep)
        ss.setdefault(_k(p, name), value)


def _frozen(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    x.flags.writeable = False
    return x


def _generator(p: str) -> torch.Generator:
    """A generator for the next random draw of this session: seeded by the session seed and a counter,
    so a session's drawing is reproducible and two draws never share a stream."""
    ss = st.session_state
    ss[_k(p, "rng_calls")] += 1
    return torch.Generator().manual_seed(ss[_k(p, "seed")] * 1_000_003 + ss[_k(p, "rng_calls")])


def _replace(p: str, points: np.ndarray, note: tuple[str, str] | None, source: str = "draw") -> None:
    ss = st.session_state
    ss[_k(p, "history")] = (ss[_k(p, "history")] + [ss[_k(p, "points")]])[-UNDO_DEPTH:]
    ss[_k(p, "points")] = _frozen(points)
    ss[_k(p, "note")] = note
    ss[_k(p, "source")] = source


def _on_stroke(p: str, centres: np.ndarray) -> None:
    ss = st.session_state
    points, cut = add_stroke(ss[_k(p, "points")], centres, brush=ss[_k(p, "brush")], per_dab=ss[_k(p, "per_dab")],
                             generator=_generator(p))
    if len(points) == len(ss[_k(p, "points")]):  # nothing added: no undo step
        if cut:
            ss[_k(p, "note")] = ("warning", cut)
        return
    _replace(p, points, ("warning", cut) if cut else None)


def _on_csv(p: str) -> None:
    ss = st.session_state
    f = ss[_k(p, "csv")]
    if f is None:  # the file was removed from the uploader: keep the points
        return
    try:
        points = load_csv(f.getvalue())
    except ValueError as e:
        ss[_k(p, "note")] = ("error", f"Could not read {f.name}: {e} Your points were left as they were.")
        return
    _replace(p, points, ("success", f"Loaded {len(points):,} points from {f.name} (scaled to fit the box)."))


def _on_image(p: str) -> None:
    ss = st.session_state
    f = ss[_k(p, "image")]
    if f is None:
        ss.pop(_k(p, "image_bytes"), None)
        return
    _sample_image(p, f.name, f.getvalue())


def _on_image_n(p: str) -> None:
    """A new number of points resamples the image, unless the points were changed since."""
    ss = st.session_state
    if ss[_k(p, "source")] == "image" and _k(p, "image_bytes") in ss:
        _sample_image(p, *ss[_k(p, "image_bytes")])


def _sample_image(p: str, name: str, data: bytes) -> None:
    ss = st.session_state
    try:
        points = load_image(data, ss[_k(p, "image_n")], generator=_generator(p))
    except ValueError as e:
        ss[_k(p, "note")] = ("error", f"Could not use {name}: {e} Your points were left as they were.")
        return
    ss[_k(p, "image_bytes")] = (name, data)
    _replace(p, points, ("success", f"Drew {len(points):,} points from {name}: darker pixels got more."), "image")


def _on_undo(p: str) -> None:
    ss = st.session_state
    if ss[_k(p, "history")]:
        ss[_k(p, "points")] = ss[_k(p, "history")].pop()
        ss[_k(p, "note")] = None
        ss[_k(p, "source")] = "draw"


def _on_clear(p: str) -> None:
    if len(st.session_state[_k(p, "points")]):
        _replace(p, np.zeros((0, 2), np.float32), None)


# ---------------------------------------------------------------------------------------------------
# The panel


def own_data_panel(key_prefix: str = "own") -> np.ndarray | None:
    """Draw the "your own data" panel: the pad on the left, the ways in (Draw, CSV file, Image) and
    Undo/Clear on the right. Returns the session's points (N, 2) float32 in the box
    [-EXTENT, EXTENT]^2 (read-only) when there are at least MIN_POINTS of them, else None."""
    p = key_prefix
    _init(p)
    ss = st.session_state
    pad_col, side = st.columns([3, 2], gap="medium")
    with side:
        draw_tab, csv_tab, image_tab = st.tabs(["Draw", "CSV file", "Image"], key=_k(p, "tabs"))
        with draw_tab:
            brush = st.slider("Brush size", 0.1, 1.5, step=0.05, key=_k(p, "brush"),
                              help="Radius of the disc each dab scatters its points in, in the units of the axes.")
            st.slider("Points per dab", 1, 30, key=_k(p, "per_dab"),
                      help="A stroke places a dab every few pixels along the drag; each dab adds this many points.")
        with csv_tab:
            st.file_uploader("CSV file with two number columns, x and y", type=["csv", "txt"], key=_k(p, "csv"),
                             on_change=_on_csv, args=(p,), max_upload_size=10)
            st.caption(f"One point per row, a header row is fine, at most {MAX_POINTS:,} rows. The points are "
                       "shifted and scaled to fill the box; they replace the current ones (Undo brings those back).")
        with image_tab:
            st.slider("Points to draw from the image", 200, 5000, step=100, key=_k(p, "image_n"),
                      on_change=_on_image_n, args=(p,))
            st.file_uploader("Image (PNG, JPEG, GIF, BMP, WebP)", type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
                             key=_k(p, "image"), on_change=_on_image, args=(p,), max_upload_size=15)
            st.caption("The image is turned to grayscale: darker pixels get more points, white gets none. "
                       "A bold dark shape on a white background works best.")
        points = ss[_k(p, "points")]
        n = len(points)
        count, undo, clear = st.columns([2, 1, 1], vertical_alignment="bottom")
        count.metric("Points", f"{n:,}")
        undo.button("Undo", key=_k(p, "undo"), on_click=_on_undo, args=(p,), disabled=not ss[_k(p, "history")],
                    width="stretch")
        clear.button("Clear", key=_k(p, "clear"), on_click=_on_clear, args=(p,), disabled=not n,
                     width="stretch")
        note = ss[_k(p, "note")]
        if note:
            getattr(st, note[0])(note[1])
        if n < MIN_POINTS:
            st.info(f"Add at least {MIN_POINTS} points to train on them (now {n}).")
        st.caption("The model will learn the density of these points: each point is blurred by a small Gaussian, "
                   "so the true density is known exactly and the exact KL still works.")
    with pad_col:
        draw_pad(points, extent=EXTENT, brush=brush, key=_k(p, "pad"), on_stroke=partial(_on_stroke, p))
    return points if n >= MIN_POINTS else None
