"""Figures for "CD, one step at a time": one plotly figure per phase of phases.PHASES, drawn from a
PhaseRecord. No Streamlit here."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..lessons.phases import PhaseRecord

DATA, NEG, START = "#ffffff", "#ff7f0e", "#f5d90a"
SPAN = 12.0  # energies more than this above the minimum share the top colour


def phase_figure(rec: PhaseRecord, key: str) -> go.Figure:
    """The picture for phase `key` (a key of phases.PHASES)."""
    builders = {"data": _data, "push_down": _push_down, "negatives": _negatives,
                "negative_energies": _negative_energies, "push_up": _push_up, "change": _change}
    if key not in builders:
        raise ValueError(f"unknown phase {key!r}; valid: {', '.join(builders)}")
    return builders[key](rec)


def _landscape(rec: PhaseRecord, energy: np.ndarray | None = None) -> go.Figure:
    e = rec.energy_before if energy is None else energy
    rel = np.clip(e - e.min(), 0, min(SPAN, max(1.0, float(np.percentile(e - e.min(), 98)))))
    fig = go.Figure(go.Contour(x=rec.xs, y=rec.xs, z=rel, colorscale="Viridis", ncontours=14, showscale=True,
                               line=dict(width=0.5, color="rgba(255,255,255,0.35)"), hoverinfo="skip",
                               colorbar=dict(title=dict(text="E − min E", side="right"), thickness=14)))
    return _frame(fig, rec)


def _frame(fig: go.Figure, rec: PhaseRecord, title: str = "") -> go.Figure:
    r = [-rec.extent, rec.extent]
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=40, b=10), font=dict(size=14),
                      title=dict(text=title, font=dict(size=15)),
                      legend=dict(orientation="h", y=-0.08, bgcolor="rgba(0,0,0,0)"))
    fig.update_xaxes(range=r, constrain="domain", showgrid=False, zeroline=False)
    fig.update_yaxes(range=r, scaleanchor="x", showgrid=False, zeroline=False)
    return fig


def _points(x: np.ndarray, e: np.ndarray, name: str, color: str, symbol: str = "circle", size: int = 9):
    return go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name=name,
                      marker=dict(color=color, size=size, symbol=symbol, line=dict(width=1, color="#111")),
                      customdata=e, hovertemplate="E = %{customdata:.3f}<extra>" + name + "</extra>")


def _data(rec: PhaseRecord) -> go.Figure:
    fig = _landscape(rec)
    fig.add_trace(_points(rec.x_pos, rec.e_pos, "data batch", DATA, size=10))
    fig.update_layout(title_text=f"{len(rec.x_pos)} points of the batch · mean E(data) = {rec.e_pos_mean:.3f}")
    return fig


def _push_down(rec: PhaseRecord) -> go.Figure:
    fig = _landscape(rec)
    fig.add_trace(_points(rec.x_pos, rec.e_pos, "data: energy pushed down", "#4ea1ff", "triangle-down", 13))
    fig.update_layout(title_text=f"Loss part 1: + mean E(data) = {rec.e_pos_mean:.3f} · lowering it lowers the loss")
    return fig


def _negatives(rec: PhaseRecord) -> go.Figure:
    """The chains animated from their starts: positions at each recorded step, trails so far."""
    fig = _landscape(rec)
    traj = rec.trajectory  # (T, n, 2)
    t_last = len(traj) - 1

    def at(t: int) -> list[go.Scatter]:
        seg = traj[: t + 1]  # (t+1, n, 2)
        trails = np.concatenate([seg, np.full((1, seg.shape[1], 2), np.nan)]).transpose(1, 0, 2).reshape(-1, 2)
        return [go.Scatter(x=trails[:, 0], y=trails[:, 1], mode="lines", name="chain paths",
                           line=dict(color="rgba(255,127,14,0.55)", width=1.5), hoverinfo="skip"),
                go.Scatter(x=traj[t, :, 0], y=traj[t, :, 1], mode="markers", name="chains",
                           marker=dict(color=NEG, size=9, line=dict(width=1, color="#111")), hoverinfo="skip")]

    fig.add_trace(_points(rec.x0, np.zeros(len(rec.x0)), "chain starts", START, "x", 8))
    for tr in at(t_last):
        fig.add_trace(tr)
    base = len(fig.data) - 2
    fig.frames = [go.Frame(data=at(t), traces=[base, base + 1], name=str(t)) for t in range(len(traj))]
    play = dict(frame=dict(duration=120, redraw=False), fromcurrent=True, transition=dict(duration=0))
    fig.update_layout(
        title_text=f"{len(traj) - 1} recorded Langevin steps from the starts ({_start_words(rec.method)})",
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.06, xanchor="left", yanchor="top",
                          pad=dict(t=0, r=10), buttons=[
                              dict(label="▶ Play", method="animate", args=[None, {**play, "fromcurrent": False}]),
                              dict(label="❚❚ Pause", method="animate",
                                   args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])],
        sliders=[dict(active=t_last, x=0.25, len=0.75, y=-0.06, yanchor="top", pad=dict(t=0),
                      currentvalue=dict(prefix="Langevin step "),
                      steps=[dict(label=str(t), method="animate",
                                  args=[[str(t)], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
                             for t in range(len(traj))])],
        height=620, margin=dict(l=10, r=10, t=80, b=60),
        legend=dict(orientation="h", y=1.0, x=0, xanchor="left", yanchor="bottom"),
    )
    return fig


def _start_words(method: str) -> str:
    return {"cd": "at the data: textbook CD-k", "pcd": "from the replay buffer: persistent CD",
            "short_run": "from uniform noise: short-run"}.get(method, method)


def _negative_energies(rec: PhaseRecord) -> go.Figure:
    fig = _landscape(rec)
    fig.add_trace(go.Scatter(x=rec.x_pos[:, 0], y=rec.x_pos[:, 1], mode="markers", name="data",
                             marker=dict(color="rgba(255,255,255,0.5)", size=7), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=rec.x_neg[:, 0], y=rec.x_neg[:, 1], mode="markers", name="negatives", customdata=rec.e_neg,
        hovertemplate="E = %{customdata:.3f}<extra>negative</extra>",
        marker=dict(color=rec.e_neg, colorscale="Oranges", size=11, line=dict(width=1, color="#111"),
                    colorbar=dict(title=dict(text="E(neg)", side="right"), x=1.13, thickness=12))))
    gap = rec.e_neg_mean - rec.e_pos_mean
    fig.update_layout(title_text=f"mean E(neg) = {rec.e_neg_mean:.3f} · gap E(neg) − E(data) = {gap:.3f}")
    return fig


def _push_up(rec: PhaseRecord) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.08,
                        subplot_titles=("Negatives: energy pushed up", "The loss of this batch"))
    land = _landscape(rec)
    land.data[0].showscale = False
    fig.add_trace(land.data[0], row=1, col=1)
    fig.add_trace(_points(rec.x_pos, rec.e_pos, "data (pushed down)", "#4ea1ff", "triangle-down", 10), row=1, col=1)
    fig.add_trace(_points(rec.x_neg, rec.e_neg, "negatives (pushed up)", "#ff5a36", "triangle-up", 12), row=1, col=1)
    parts = ["+ mean E(data)", "− mean E(neg)", "+ α·regulariser", "= loss", "loss after"]
    values = [rec.e_pos_mean, -rec.e_neg_mean, rec.regulariser, rec.loss, rec.loss_after]
    fig.add_trace(go.Bar(x=parts, y=values, marker_color=["#4ea1ff", "#ff5a36", "#999", "#333", "#2ca02c"],
                         text=[f"{v:.3f}" for v in values], textposition="outside", showlegend=False,
                         hovertemplate="%{x}: %{y:.4f}<extra></extra>"), row=1, col=2)
    r = [-rec.extent, rec.extent]
    fig.update_xaxes(range=r, constrain="domain", showgrid=False, zeroline=False, row=1, col=1)
    fig.update_yaxes(range=r, scaleanchor="x", showgrid=False, zeroline=False, row=1, col=1)
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=40, b=10), font=dict(size=14),
                      legend=dict(orientation="h", y=-0.08))
    return fig


def _change(rec: PhaseRecord) -> go.Figure:
    d = rec.energy_change
    m = float(np.percentile(np.abs(d), 99)) or 1e-6
    fig = go.Figure(go.Heatmap(x=rec.xs, y=rec.xs, z=d, zmin=-m, zmax=m, colorscale="RdBu_r", zsmooth="best",
                               colorbar=dict(title=dict(text="ΔE", side="right"), thickness=14),
                               hovertemplate="ΔE = %{z:.4f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=rec.x_pos[:, 0], y=rec.x_pos[:, 1], mode="markers", name="data",
                             marker=dict(color="#1f4e9c", size=7, line=dict(width=1, color="white"))))
    fig.add_trace(go.Scatter(x=rec.x_neg[:, 0], y=rec.x_neg[:, 1], mode="markers", name="negatives",
                             marker=dict(color=NEG, size=7, line=dict(width=1, color="white"))))
    down = float(np.mean(rec.de_pos < 0))
    up = float(np.mean(rec.de_neg > 0))
    return _frame(fig, rec, f"Change made by this update (blue: energy fell, red: rose) · fell under {down:.0%} "
                            f"of data, rose under {up:.0%} of negatives")
