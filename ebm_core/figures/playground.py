"""Pure functions from a live Snapshot to what the page draws: colour-ready grids, gradient arrows,
and plotly figures (training curves, 3D surface, a hoverable heatmap). No Streamlit here."""

import copy
import functools
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..live.toy2d import Snapshot

ENERGY_SPAN = 12.0  # at most this many nats above the minimum get colours; higher energies saturate


def view_grid(snap: Snapshot, view: str) -> tuple[np.ndarray, float, float]:
    """(grid, vmin, vmax) for the canvas. Energy: E - min E over [0, span], span the 98th percentile
    of E - min E within [1, ENERGY_SPAN] (an untrained, nearly flat net still shows its shape).
    Density: exp(-E) / Z on a scale fixed by the data density's peak, so colours compare over time
    and with the true density."""
    e = snap.energy.astype(np.float64)
    if not np.isfinite(e).all():
        e = np.nan_to_num(e, nan=0.0, posinf=1e6, neginf=-1e6)
    if view == "density":
        p = np.exp(-(e - e.min())) * math.exp(-e.min() - snap.log_z_display)
        return p.astype(np.float32), 0.0, 1.15 * snap.density_max
    rel = e - e.min()
    span = float(np.clip(np.percentile(rel, 98), 1.0, ENERGY_SPAN))
    return rel.astype(np.float32), 0.0, span


def field_arrows(snap: Snapshot) -> np.ndarray:
    """(F, 4) arrows of -grad E scaled for drawing: length grows with |grad E| up to 90% of the
    spacing of the arrow grid, so the field reads without arrows crossing."""
    f = snap.field.astype(np.float64)
    if len(f) == 0:
        return f.astype(np.float32)
    g = np.nan_to_num(f[:, 2:])
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    spacing = 2 * snap.extent / (math.isqrt(len(f)) + 1)
    ref = np.percentile(norm, 90) + 1e-12
    length = 0.9 * spacing * np.minimum(norm / ref, 1.0)
    return np.concatenate([f[:, :2], g / (norm + 1e-12) * length], axis=1).astype(np.float32)


def _downsample(h: dict[str, np.ndarray], n: int = 600) -> dict[str, np.ndarray]:
    """At most n rows, as float32 (plotly sends typed arrays: half the bytes of float64)."""
    size = len(next(iter(h.values()))) if h else 0
    idx = np.linspace(0, size - 1, n).astype(int) if size > n else slice(None)
    return {k: v[idx].astype(np.float32) for k, v in h.items()}


_ENERGY_CURVES = [("e_pos", "mean E(data)", "#2563eb"), ("e_neg", "mean E(negatives)", "#ea580c"),
                  ("gap", "gap E(neg) - E(data)", "#16a34a"), ("loss", "loss", "#6b7280")]
_EXACT_CURVES = [("kl", "KL(data || model)", "#7c3aed"), ("nll", "test NLL", "#0891b2"),
                 ("bias", "sampler bias", "#dc2626")]


@functools.cache
def _curves_skeleton(entropy_line: bool) -> dict:
    """The curves figure without its numbers, as a plain dict. Plotly checks every property it is given
    (about 50 ms for this figure): done once per process, not for every refresh of every session."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Energies and loss", "Exact diagnostics (nats)"),
                        horizontal_spacing=0.1)
    for _, name, colour in _ENERGY_CURVES:
        fig.add_trace(go.Scatter(x=[], y=[], name=name, mode="lines", line=dict(color=colour, width=1.6)),
                      row=1, col=1)
    for _, name, colour in _EXACT_CURVES:
        fig.add_trace(go.Scatter(x=[], y=[], name=name, mode="lines+markers", marker=dict(size=3),
                                 line=dict(color=colour, width=1.6)), row=1, col=2)
    if entropy_line:
        fig.add_hline(y=0.0, line=dict(color="#0891b2", dash="dot", width=1), row=1, col=2,
                      annotation_text="data entropy (best NLL)", annotation_font_size=10)
    fig.update_xaxes(title_text="step")
    fig.update_layout(height=300, margin=dict(l=40, r=10, t=30, b=40), legend=dict(orientation="h", y=-0.25),
                      uirevision="curves", template="plotly_white")
    return fig.to_dict()


def curves_figure(snap: Snapshot) -> go.Figure:
    """Energies and loss (left), exact KL / NLL / sampler bias (right) against the step."""
    h = _downsample(snap.history)
    d = _downsample(snap.diag_history)
    entropy_line = math.isfinite(snap.data_entropy)
    spec = copy.deepcopy(_curves_skeleton(entropy_line))
    columns = [(h, key) for key, _, _ in _ENERGY_CURVES] + [(d, key) for key, _, _ in _EXACT_CURVES]
    for trace, (rows, key) in zip(spec["data"], columns, strict=True):
        trace["x"], trace["y"] = rows.get("step", np.zeros(0, np.float32)), rows.get(key, np.zeros(0, np.float32))
    if entropy_line:
        line, label = spec["layout"]["shapes"][-1], spec["layout"]["annotations"][-1]
        line["y0"] = line["y1"] = label["y"] = snap.data_entropy
    return go.Figure(spec, _validate=False)


def _on_surface(snap: Snapshot, xy: np.ndarray, z_grid: np.ndarray, lift: float) -> np.ndarray:
    """(k, 3) points at their height on the drawn surface (bilinear in the grid of cell centres),
    lifted a little so they show above it; points outside the box or not finite are dropped."""
    n = z_grid.shape[0]
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    ok = np.isfinite(xy).all(axis=1) & (np.abs(xy) <= snap.extent).all(axis=1)
    xy = xy[ok]
    u = np.clip((xy + snap.extent) / (2 * snap.extent) * n - 0.5, 0, n - 1)  # grid index coordinates (x, y)
    i0 = np.minimum(u.astype(int), n - 2)
    f = u - i0
    col, row = i0[:, 0], i0[:, 1]  # the grid is row = y, column = x
    z = (z_grid[row, col] * (1 - f[:, 0]) * (1 - f[:, 1]) + z_grid[row, col + 1] * f[:, 0] * (1 - f[:, 1])
         + z_grid[row + 1, col] * (1 - f[:, 0]) * f[:, 1] + z_grid[row + 1, col + 1] * f[:, 0] * f[:, 1])
    return np.column_stack([xy, z + lift])


def surface_figure(snap: Snapshot, layers: set[str] | frozenset[str] = frozenset()) -> go.Figure:
    """The energy as a 3D surface over the box (clipped ENERGY_SPAN above its minimum), with the
    layers named in `layers` ("data", "negatives", "trails") drawn on it at their energy."""
    n = snap.energy.shape[0]
    xs = np.linspace(-snap.extent, snap.extent, n + 1)[:-1] + snap.extent / n
    e = np.nan_to_num(snap.energy.astype(np.float64), nan=0.0)
    z = np.minimum(e - e.min(), ENERGY_SPAN)
    fig = go.Figure(go.Surface(x=xs, y=xs, z=z.astype(np.float32), colorscale="Viridis", showscale=False,
                               contours=dict(z=dict(show=True, usecolormap=True, project_z=True)), name="energy",
                               hoverinfo="skip"))
    lift = 0.03 * ENERGY_SPAN
    for key, name, colour, size in [("data", "data", "white", 3.5), ("negatives", "negatives", "#ff8c1a", 4)]:
        if key in layers:
            pts = _on_surface(snap, snap.x_data if key == "data" else snap.x_neg, z, lift).astype(np.float32)
            fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", name=name,
                                       marker=dict(size=size, color=colour, line=dict(width=0.5, color="#111"))))
    if "trails" in layers and snap.trails.size:
        xyz = []  # one polyline per chain, separated by gaps (None) so one trace draws them all
        for chain in snap.trails:
            p = _on_surface(snap, chain, z, lift)
            xyz += [p, np.full((1, 3), np.nan)]
        p = np.concatenate(xyz).astype(np.float32)
        fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="lines", name="chains",
                                   line=dict(color="#38bdf8", width=4), connectgaps=False))
    fig.update_layout(height=520, margin=dict(l=0, r=0, t=10, b=0), uirevision="surface",
                      legend=dict(orientation="h", y=0.02, x=0.02, bgcolor="rgba(255,255,255,0.8)"),
                      scene=dict(xaxis_title="x", yaxis_title="y", zaxis_title="E(x) - min E",
                                 xaxis=dict(range=[-snap.extent, snap.extent]),
                                 yaxis=dict(range=[-snap.extent, snap.extent]),
                                 camera=dict(eye=dict(x=1.2, y=-1.2, z=1.6))))  # from above: valleys show
    return fig


def inspect_figure(snap: Snapshot, view: str) -> go.Figure:
    """A hoverable heatmap of the paused frame with data and negatives on top."""
    grid, vmin, vmax = view_grid(snap, view)
    n = grid.shape[0]
    xs = np.linspace(-snap.extent, snap.extent, n + 1)[:-1] + snap.extent / n
    label = "p(x)" if view == "density" else "E(x) - min E"
    fig = go.Figure(go.Heatmap(x=xs, y=xs, z=grid, zmin=vmin, zmax=vmax, colorscale="Viridis" if view == "energy"
                               else "Purples", colorbar=dict(title=label), hovertemplate=f"x=%{{x:.2f}}, y=%{{y:.2f}}"
                               f"<br>{label}=%{{z:.3f}}<extra></extra>"))
    fig.add_trace(go.Scatter(x=snap.x_data[:, 0], y=snap.x_data[:, 1], mode="markers", name="data",
                             marker=dict(size=4, color="white", line=dict(width=0.5, color="#111"))))
    fig.add_trace(go.Scatter(x=snap.x_neg[:, 0], y=snap.x_neg[:, 1], mode="markers", name="negatives",
                             marker=dict(size=4, color="#f97316")))
    r = [-snap.extent, snap.extent]
    fig.update_layout(height=520, width=560, margin=dict(l=10, r=10, t=10, b=10), template="plotly_white",
                      xaxis=dict(range=r, constrain="domain"), yaxis=dict(range=r, scaleanchor="x"),
                      legend=dict(orientation="h", y=-0.08))
    return fig
