"""Plotly figures for the "How EBMs work" page, built from `theory.Profile1D` / `Profile2D`.
No Streamlit here. Sized for a projector: 15 px text, thick lines, every axis titled."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..lessons.theory import Profile1D, Profile2D

FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=15, color="#1f2937")
ENERGY_COLOUR = "#1d4ed8"  # blue, as in the curve editor
WEIGHT_COLOUR = "#b45309"  # amber: exp(-E/T), whose area is Z
P_COLOUR = "#047857"  # green: the normalised density
GREY = "#6b7280"
ENERGY_AXIS = (-1.0, 8.5)  # the presets' interesting part; matches the editor's 0..8 handles
DENSITY_SCALE = [[0.0, "#ffffff"], [0.08, "#e0ecf4"], [0.35, "#8c96c6"], [0.7, "#88419d"], [1.0, "#4d004b"]]


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(height=height, template="plotly_white", font=FONT, hovermode="x unified",
                      margin=dict(l=70, r=20, t=30, b=55), plot_bgcolor="white")
    fig.update_xaxes(showline=True, linecolor="#9ca3af", ticks="outside", zeroline=False)
    fig.update_yaxes(showline=True, linecolor="#9ca3af", ticks="outside", zeroline=False)
    return fig


def energy_figure(profile: Profile1D, *, height: int = 430) -> go.Figure:
    """E(x) over the view, on the same axes the curve editor uses."""
    x, e = profile.x.astype(np.float32), profile.energy.astype(np.float32)
    fig = go.Figure(go.Scatter(x=x, y=e, mode="lines", line=dict(color=ENERGY_COLOUR, width=3.5), name="E(x)",
                               hovertemplate="E = %{y:.2f}<extra></extra>"))
    lo = min(ENERGY_AXIS[0], float(e.min()) - 0.5)
    fig.update_xaxes(title_text="x", range=[float(x[0]), float(x[-1])], dtick=1)
    fig.update_yaxes(title_text="energy E(x)", range=[lo, ENERGY_AXIS[1]], dtick=2)
    return _layout(fig, height)


def boltzmann_figure(profile: Profile1D, *, reference: Profile1D | None = None, height: int = 430) -> go.Figure:
    """Two panels over the view: exp(-E/T) with its area Z shaded, and p = exp(-E/T) / Z with area 1.

    Args:
        profile: the energy at the chosen temperature.
        reference: the same energy at another temperature (T = 1), drawn dashed on the p panel.
    """
    x = profile.x.astype(np.float32)
    T = profile.temperature
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1)
    fig.add_trace(go.Scatter(x=x, y=profile.weight.astype(np.float32), mode="lines", fill="tozeroy",
                             line=dict(color=WEIGHT_COLOUR, width=3), fillcolor="rgba(180,83,9,0.22)",
                             name="exp(−E/T)", hovertemplate="%{y:.3g}<extra>exp(−E/T)</extra>"), row=1, col=1)
    if reference is not None:
        t_ref = f"{reference.temperature:g}"
        fig.add_trace(go.Scatter(x=reference.x.astype(np.float32), y=reference.p.astype(np.float32), mode="lines",
                                 line=dict(color=GREY, width=2.5, dash="dash"), name=f"p at T = {t_ref}",
                                 hovertemplate="%{y:.3g}<extra>T = " + t_ref + "</extra>"), row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=profile.p.astype(np.float32), mode="lines", fill="tozeroy",
                             line=dict(color=P_COLOUR, width=3), fillcolor="rgba(4,120,87,0.22)",
                             name=f"p at T = {T:g}", hovertemplate="%{y:.3g}<extra>p(x)</extra>"), row=2, col=1)
    box = dict(xref="x domain", x=0.01, xanchor="left", y=0.97, yanchor="top", showarrow=False, align="left",
               bgcolor="rgba(255,255,255,0.85)", font=dict(size=15))
    fig.add_annotation(text=f"shaded area = <b>Z = {profile.z:.4g}</b>", yref="y domain", **box)
    fig.add_annotation(text="shaded area = <b>1</b>", yref="y2 domain", **{**box, "xref": "x2 domain"})
    fig.update_xaxes(range=[float(x[0]), float(x[-1])], dtick=1)
    fig.update_xaxes(title_text="x", row=2, col=1)
    fig.update_yaxes(title_text="exp(−E(x)/T)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="p(x)", rangemode="tozero", row=2, col=1)
    fig.update_layout(showlegend=reference is not None,
                      legend=dict(x=0.99, xanchor="right", y=0.44, yanchor="top", bgcolor="rgba(255,255,255,0.85)"))
    return _layout(fig, height)


def density_figure_2d(profile: Profile2D, *, height: int = 520) -> go.Figure:
    """Heatmap of p_T(x1, x2) on the view box, equal axes."""
    xs = profile.xs.astype(np.float32)
    e = float(xs[-1])
    fig = go.Figure(go.Heatmap(x=xs, y=xs, z=profile.p.astype(np.float32), colorscale=DENSITY_SCALE, zmin=0,
                               colorbar=dict(title=dict(text="p(x)", side="top"), thickness=16),
                               hovertemplate="x₁ = %{x:.2f}, x₂ = %{y:.2f}<br>p = %{z:.3g}<extra></extra>"))
    ticks = list(range(-int(e), int(e) + 1))
    fig.update_xaxes(title_text="x₁", range=[-e, e], tickvals=ticks, constrain="domain")
    fig.update_yaxes(title_text="x₂", range=[-e, e], tickvals=ticks, scaleanchor="x", scaleratio=1,
                     constrain="domain")
    fig = _layout(fig, height)
    fig.update_layout(hovermode="closest", margin=dict(l=60, r=10, t=20, b=55))
    return fig

