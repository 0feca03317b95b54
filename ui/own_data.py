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

import hashlib
import secrets
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
import torch

from ebm_core import userdata
from ui.components.draw_pad import draw_pad

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

EXTENT = userdata.EXTENT  # half-width of the box the points live in (the box of `userdata.points_dataset`)
MAX_POINTS = userdata.MAX_POINTS  # the most points a session may hold
MIN_POINTS = 20  # fewer than this is not worth training on
UNDO_DEPTH = 20  # point sets kept for Undo
CSV_MAX_MB = 10  # larger CSV files are refused (20,000 rows of x,y take about 1 MB)
IMAGE_MAX_MB = 15  # larger image files are refused
# The browser lets files up to UPLOAD_SLACK times these limits through, so the panel itself refuses them
# and says so in place of any older message: a file the browser refuses never reaches the server, and the
# panel cannot react to it.
UPLOAD_SLACK = 2

# The logic (strokes, CSV and image loading) is in ebm_core/userdata.py; this module holds the session's
# point set and the panel.


# ---------------------------------------------------------------------------------------------------
# Session state: one point set per prefix, with an undo stack and a note for the user


def _k(p: str, name: str) -> str:
    return f"{p}_{name}"


def _init(p: str) -> None:
    ss = st.session_state
    ss.setdefault(_k(p, "points"), _frozen(np.zeros((0, 2), np.float32)))
    ss.setdefault(_k(p, "history"), [])
    ss.setdefault(_k(p, "note"), None)  # (kind, text), kind one of "success", "warning", "error"
    ss.setdefault(_k(p, "note_of"), None)  # the uploader the note is about ("csv", "image"), or None
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


def _replace(p: str, points: np.ndarray, note: tuple[str, str] | None, source: str = "draw",
             note_of: str | None = None) -> None:
    ss = st.session_state
    ss[_k(p, "history")] = (ss[_k(p, "history")] + [ss[_k(p, "points")]])[-UNDO_DEPTH:]
    ss[_k(p, "points")] = _frozen(points)
    _note(p, note, note_of)
    ss[_k(p, "source")] = source


def _note(p: str, note: tuple[str, str] | None, of: str | None = None) -> None:
    """Show `note` (kind, text) in place of the previous one; `of`: the uploader it is about."""
    st.session_state[_k(p, "note")] = note
    st.session_state[_k(p, "note_of")] = of


def _upload(p: str, name: str, max_mb: int) -> UploadedFile | None:
    """The file in uploader `name` ("csv" or "image"), or None: when it was removed (an error about
    it goes too) or is larger than max_mb (the note says so)."""
    ss = st.session_state
    f = ss[_k(p, name)]
    if f is None:  # removed from the uploader: keep the points, forget a complaint about the file
        if ss[_k(p, "note_of")] == name and ss[_k(p, "note")] and ss[_k(p, "note")][0] == "error":
            _note(p, None)
        return None
    if f.size > max_mb * 1_000_000:  # MB as the uploader counts them (outside Windows)
        _note(p, ("error", f"{f.name} is {f.size / 1e6:.1f} MB; files of at most {max_mb} MB are accepted "
                           f"here. Your points were left as they were."), name)
        return None
    return f


def _on_stroke(p: str, centres: np.ndarray) -> None:
    ss = st.session_state
    points, cut = userdata.add_stroke(ss[_k(p, "points")], centres, brush=ss[_k(p, "brush")],
                                      per_dab=ss[_k(p, "per_dab")], generator=_generator(p))
    if len(points) == len(ss[_k(p, "points")]):  # nothing added: no undo step
        if cut:
            _note(p, ("warning", cut))
        return
    _replace(p, points, ("warning", cut) if cut else None)


def _on_csv(p: str) -> None:
    f = _upload(p, "csv", CSV_MAX_MB)
    if f is None:
        return
    try:
        points, dropped = userdata.load_csv(f.getvalue())
    except ValueError as e:
        _note(p, ("error", f"Could not read {f.name}: {e} Your points were left as they were."), "csv")
        return
    if dropped:
        note = ("warning", f"Loaded {len(points):,} of the {len(points) + dropped:,} points in {f.name} (scaled to "
                           f"fit the box). Dropped {dropped:,} outlier point(s) far from the rest.")
    else:
        note = ("success", f"Loaded {len(points):,} points from {f.name} (scaled to fit the box).")
    _replace(p, points, note, note_of="csv")


def _on_image(p: str) -> None:
    """A new image is decoded once; its small darkness array is kept for the points slider."""
    ss = st.session_state
    f = _upload(p, "image", IMAGE_MAX_MB)
    if f is None:
        if ss[_k(p, "image")] is None:  # removed: the slider no longer resamples it
            ss.pop(_k(p, "image_kept"), None)
        return
    data = f.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    kept = ss.get(_k(p, "image_kept"))
    if kept is None or kept[1] != digest:  # the same file again needs no decoding
        try:
            kept = (f.name, digest, userdata.image_darkness(data))
        except ValueError as e:
            _note(p, ("error", f"Could not use {f.name}: {e} Your points were left as they were."), "image")
            return
    ss[_k(p, "image_kept")] = (f.name, *kept[1:])
    _sample_image(p)


def _on_image_n(p: str) -> None:
    """A new number of points resamples the kept image, unless the points were changed since."""
    ss = st.session_state
    if ss[_k(p, "source")] == "image" and _k(p, "image_kept") in ss:
        _sample_image(p)


def _sample_image(p: str) -> None:
    """Draw the chosen number of points from the kept image (no decoding)."""
    ss = st.session_state
    name, _, darkness = ss[_k(p, "image_kept")]
    points = userdata.load_image(darkness, ss[_k(p, "image_n")], generator=_generator(p))
    _replace(p, points, ("success", f"Drew {len(points):,} points from {name}: darker pixels got more."), "image",
             "image")


def _on_undo(p: str) -> None:
    ss = st.session_state
    if ss[_k(p, "history")]:
        ss[_k(p, "points")] = ss[_k(p, "history")].pop()
        _note(p, None)
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
                             on_change=_on_csv, args=(p,), max_upload_size=UPLOAD_SLACK * CSV_MAX_MB)
            st.caption(f"One point per row, a header row is fine, at most {MAX_POINTS:,} rows and {CSV_MAX_MB} MB. "
                       "The points are shifted and scaled to fill the box; they replace the current ones (Undo brings "
                       "those back). A few points far from all the others are dropped, and the message says how many.")
        with image_tab:
            st.slider("Points to draw from the image", 200, 5000, step=100, key=_k(p, "image_n"),
                      on_change=_on_image_n, args=(p,))
            st.file_uploader("Image (PNG, JPEG, GIF, BMP, WebP)", type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
                             key=_k(p, "image"), on_change=_on_image, args=(p,),
                             max_upload_size=UPLOAD_SLACK * IMAGE_MAX_MB)
            st.caption(f"At most {IMAGE_MAX_MB} MB. The image is turned to grayscale: darker pixels get more points, "
                       "white gets none. A bold dark shape on a white background works best.")
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
