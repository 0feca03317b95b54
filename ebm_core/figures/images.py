"""Pure functions from image-run data to the Images page's figures: energy curves and bands,
histograms, and animations of chains (its pixel grids are images.tile). No Streamlit here."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..live.images import QUANTILES, ImageSnapshot

DATA, NEG, TEST, NOISE = "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"


def scale_for(image_size: int, nrow: int, width_px: int = 420) -> int:
    return max(1, width_px // (nrow * (image_size + 1) + 1))


def curves_figure(snap: ImageSnapshot) -> go.Figure:
    """Left: mean energy of each update's data batch and negatives, and of held-out digits and
    noise. Right: the spread (5-95% and 25-75% bands, median line) of E over held-out digits and
    over the replay buffer, over training: the histograms over time."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Mean energy", "Spread of energies over training"),
                        horizontal_spacing=0.1)
    h, d = snap.history, snap.diag_history
    if len(h["step"]):
        step, e_pos, e_neg = _thin(h["step"]), _thin(h["e_pos"]), _thin(h["e_neg"])
        fig.add_scatter(x=step, y=e_pos, name="E(data batch)", mode="lines", line=dict(color=DATA, width=1.5),
                        row=1, col=1)
        fig.add_scatter(x=step, y=e_neg, name="E(negatives)", mode="lines", line=dict(color=NEG, width=1.5),
                        row=1, col=1)
    if len(d.get("step", [])):
        fig.add_scatter(x=d["step"], y=d["e_test"], name="E(held-out digits)", mode="lines+markers",
                        line=dict(color=TEST, width=2, dash="dot"), row=1, col=1)
        fig.add_scatter(x=d["step"], y=d["e_noise"], name="E(uniform noise)", mode="lines+markers",
                        line=dict(color=NOISE, width=2, dash="dot"), row=1, col=1)
        for key, color, label in (("q_data", TEST, "held-out digits"), ("q_neg", NEG, "replay buffer")):
            q = np.atleast_2d(d[key])
            for lo, hi, alpha in ((0, 4, 0.15), (1, 3, 0.3)):
                fig.add_scatter(x=np.r_[d["step"], d["step"][::-1]], y=np.r_[q[:, hi], q[::-1, lo]],
                                mode="lines", fill="toself", fillcolor=_rgba(color, alpha), line=dict(width=0),
                                hoverinfo="skip", showlegend=False, row=1, col=2)
            fig.add_scatter(x=d["step"], y=q[:, len(QUANTILES) // 2], name=f"median E, {label}", mode="lines",
                            line=dict(color=color, width=2), row=1, col=2)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="energy", row=1, col=1)
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), uirevision="keep",
                      legend=dict(orientation="h", y=-0.25), font=dict(size=14))
    return fig


def histogram_figure(snap: ImageSnapshot) -> go.Figure:
    """Energies of the last data batch and of the last negatives, now."""
    fig = go.Figure()
    fig.add_histogram(x=snap.e_data, name="data", marker_color=DATA, opacity=0.65, nbinsx=25)
    fig.add_histogram(x=snap.e_neg, name="negatives", marker_color=NEG, opacity=0.65, nbinsx=25)
    fig.update_layout(barmode="overlay", height=260, margin=dict(l=10, r=10, t=30, b=10), font=dict(size=14),
                      title=dict(text="E now: data vs negatives", font=dict(size=14)),
                      xaxis_title="energy", yaxis_title="count", legend=dict(orientation="h", y=1.12, x=0.45))
    return fig


def energy_trace_figure(steps: list[int], energies: np.ndarray) -> go.Figure:
    """Mean energy along chains: it should fall as noise turns into a digit."""
    fig = go.Figure(go.Scatter(x=steps, y=energies, mode="lines+markers", line=dict(color=NEG, width=2)))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), font=dict(size=14),
                      title=dict(text="Energy along the chain", font=dict(size=14)),
                      xaxis_title="Langevin step", yaxis_title="energy")
    return fig


def animation_figure(frames: np.ndarray, *, labels: list[str], energies: np.ndarray | None = None,
                     height: int = 420, duration_ms: int = 80) -> go.Figure:
    """Play / pause / scrub through pictures (T, H, W) uint8 (a chain, or a tiled grid of chains).
    `energies` (T,) adds the mean energy of each frame to its label."""
    def image(k: int) -> go.Heatmap:
        return go.Heatmap(z=frames[k], colorscale="gray", zmin=0, zmax=255, showscale=False, hoverinfo="skip")

    names = [f"{lab}" + (f" · E = {energies[k]:.3g}" if energies is not None else "") for k, lab in enumerate(labels)]
    fig = go.Figure(data=[image(len(frames) - 1)],
                    frames=[go.Frame(data=[image(k)], name=str(k), layout=dict(title_text=names[k]))
                            for k in range(len(frames))])
    play = dict(frame=dict(duration=duration_ms, redraw=True), fromcurrent=True, transition=dict(duration=0))
    fig.update_layout(
        title=dict(text=names[-1], font=dict(size=15)), height=height, margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(visible=False, constrain="domain"), yaxis=dict(visible=False, autorange="reversed",
                                                                    scaleanchor="x"),
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.02, xanchor="left", yanchor="top",
                          pad=dict(t=0, r=10), buttons=[
                              dict(label="▶ Play", method="animate", args=[None, play]),
                              dict(label="❚❚ Pause", method="animate",
                                   args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])],
        sliders=[dict(active=len(frames) - 1, x=0.22, len=0.78, y=-0.02, yanchor="top", pad=dict(t=0),
                      currentvalue=dict(visible=False),
                      steps=[dict(label=labels[k], method="animate",
                                  args=[[str(k)], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                             for k in range(len(frames))])],
    )
    return fig


def _thin(a: np.ndarray, n: int = 600) -> np.ndarray:
    """At most about n points of a long curve, by averaging consecutive blocks."""
    k = max(1, len(a) // n)
    m = len(a) // k * k
    return a[:m].reshape(-1, k).mean(1) if m else a


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i: i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
