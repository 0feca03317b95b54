"""A drawing pad for 2D points: a `st.components.v2` element with a <canvas>.

The browser shows the box [-extent, extent]^2 on a dark background with a light grid and the current
points as white dots (readable on a projector). Pressing and dragging paints: a dab is placed every
few pixels along the drag (closer for a small brush), drawn at once in orange, and when the pointer
is released the stroke's dab centres go to Python in data coordinates. Mouse, pen and touch all work
(pointer events). The brush radius follows the pointer as a ring.

Strokes are numbered. The browser keeps every stroke Python has not yet acknowledged and sends all
of them with each new trigger, and Python applies only ids above the last one it applied (which
travels back in the data). So two strokes drawn while the script is busy are both kept, although
Streamlit merges their two rerun requests into one and only the newest trigger value survives.

Data format, version 1 (little-endian; `encode_pad` is the executable spec):

    offset  type      field
    0       4 bytes   magic b"EDP1"
    4       f32       extent (the box is [-extent, extent]^2)
    8       f32       brush radius, data units
    12      u32       id of the last stroke Python applied
    16      u32       N, points shown
    20      N*2 i16   points (x, y), q = round(v / extent * 32767); points outside the box are not sent

For tests the top canvas carries `data-points` (points drawn), `data-sent` (triggers sent),
`data-dabs` (dab centres sent in all strokes), `data-applied` and `data-pending` (strokes sent but
not yet acknowledged).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ui.components import js_source

MAGIC = b"EDP1"
Q = 32767
_HEADER = struct.Struct("<4sffII")  # 20 bytes
MAX_SHOWN = 65535


def encode_pad(points: np.ndarray, *, extent: float, brush: float, applied: int) -> bytes:
    """Pack the pad's data: header, then the points inside the box as int16 pairs.

    Args:
        points: (N, 2) points in data units; non-finite ones and those outside the box are dropped.
        extent: half-width of the box, > 0.
        brush: brush radius in data units, > 0.
        applied: id of the last stroke applied, 0 <= applied < 2**32.
    """
    if not (np.isfinite(extent) and extent > 0):
        raise ValueError(f"extent must be finite and > 0, got {extent}")
    if not (np.isfinite(brush) and brush > 0):
        raise ValueError(f"brush must be finite and > 0, got {brush}")
    if not 0 <= int(applied) < 2**32:
        raise ValueError(f"applied must be in [0, 2**32), got {applied}")
    x = np.asarray(points, dtype=np.float64).reshape(-1, 2)  # (N, 2)
    x = x[np.isfinite(x).all(axis=1) & (np.abs(x) <= extent).all(axis=1)][:MAX_SHOWN]
    q = np.clip(np.rint(x * (Q / extent)), -Q, Q).astype("<i2")
    return _HEADER.pack(MAGIC, extent, brush, int(applied), len(q)) + q.tobytes()


@dataclass(frozen=True)
class DecodedPad:
    """The pad's data read back by `decode_pad`."""

    extent: float
    brush: float
    applied: int
    points: np.ndarray  # (N, 2) float32, data units


def decode_pad(data: bytes) -> DecodedPad:
    """Inverse of `encode_pad` (up to quantisation): the reference reader of the format."""
    magic, extent, brush, applied, n = _HEADER.unpack_from(data, 0)
    if magic != MAGIC or len(data) != _HEADER.size + 4 * n:
        raise ValueError(f"not an EDP1 pad of {n} points: magic={magic!r}, {len(data)} bytes")
    q = np.frombuffer(data, "<i2", 2 * n, _HEADER.size).reshape(n, 2)
    return DecodedPad(extent, brush, applied, (q * (extent / Q)).astype(np.float32))


def new_strokes(sent: object, applied: int) -> tuple[list[np.ndarray], int]:
    """The strokes in a trigger value that are newer than `applied`, oldest first, as (k, 2) arrays of
    dab centres, and the new last applied id. Malformed entries are skipped."""
    out: list[tuple[int, np.ndarray]] = []
    for stroke in sent if isinstance(sent, list) else []:
        try:
            sid, centres = int(stroke["id"]), np.asarray(stroke["centres"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            continue
        if sid > applied and centres.ndim == 2 and centres.shape[1] == 2 and len(centres):
            out.append((sid, centres[np.isfinite(centres).all(axis=1)]))
    out.sort(key=lambda s: s[0])
    return [c for _, c in out if len(c)], max([applied] + [sid for sid, _ in out])


_CSS = """
:host{display:block}
.pad{width:100%;height:100%;display:flex;justify-content:center;user-select:none;-webkit-user-select:none}
.stage{position:relative}
canvas{position:absolute;left:0;top:0;display:block}
canvas.top{touch-action:none;cursor:crosshair}
"""

_JS = js_source("draw_pad.js")  # the element's JavaScript, beside this file


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("ebm_draw_pad", css=_CSS, js=_JS)


def draw_pad(points: np.ndarray, *, extent: float, brush: float, key: str,
             on_stroke: Callable[[np.ndarray], None], height: int = 460) -> None:
    """Show `points` (N, 2) on the pad for the box [-extent, extent]^2 with a brush ring of radius
    `brush`. For every stroke the user finishes, `on_stroke(centres)` runs as a widget callback with
    the (k, 2) dab centres in data units, before the script, so this very run already shows it."""
    import streamlit as st

    applied_key = f"_{key}_applied"  # id of the last stroke handed to on_stroke

    def changed() -> None:
        sent = st.session_state[key].get("strokes")
        strokes, st.session_state[applied_key] = new_strokes(sent, st.session_state.get(applied_key, 0))
        for centres in strokes:
            on_stroke(centres)

    data = encode_pad(points, extent=extent, brush=brush, applied=st.session_state.get(applied_key, 0))
    _component()(key=key, data=data, height=height, on_strokes_change=changed)
