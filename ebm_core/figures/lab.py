"""Plotly figures for the Langevin Lab, built from `lab.ChainRun`s. No Streamlit here.

The chains figure animates in the browser without the server: every frame is stored in the figure
(`frames`) and plotly.js plays them from its Play button and slider. To keep the figure small, a
frame carries only what moves (chain positions, a few trail tails, the x1 histogram) as float32
arrays, which plotly serialises as base64 typed arrays; the exact density under the chains is a
small PNG sent once per panel; long runs are thinned to at most `max_frames` frames.
"""

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from ..lessons.lab import ChainRun, Target, exact_marginal, frame_steps, marginal_histograms
from ..samplers import get_sampler

RUN_COLOURS = ("#2563eb", "#16a34a", "#ea580c", "#9333ea")  # blue, green, orange, purple
DENSITY_SCALE = [[0.0, "#ffffff"], [0.25, "#eef2f7"], [1.0, "#8593a8"]]  # pale: coloured chains stay visible
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=14, color="#1f2937")
STRIP = 0.5  # height of the marginal strip under each panel, as a share of the box half-width
MARGINAL_BINS = 32


def run_label(run: ChainRun) -> str:
    """'ULA η=0.05' style name of a run."""
    s = run.settings
    spec = get_sampler(s.sampler)
    label = f"{spec.label} η={s.step_size:g}"
    return label + (f" T={s.temperature:.3g}" if spec.tempered and s.noise_scale != 1 else "")


def _ticks(extent: float) -> list[float]:
    step = 1.0 if extent <= 3.5 else 2.0
    k = math.floor(extent / step)
    return [step * i for i in range(-k, k + 1)]


def density_png(target: Target, size: int = 128) -> str:
    """The exact density as a PNG data URI (size x size pixels, top row at x2 = +extent), coloured
    with DENSITY_SCALE (darker = more likely). A layout image rather than a heatmap trace: plotly drops
    non-scatter traces when it animates frames without a full redraw, and an image is smaller to send."""
    p = target.exact.log_density.exp().numpy()  # (n, n), row i at x2 = xs[i]
    n = p.shape[0]
    f = max(1, n // size)
    p = p[: n // f * f, : n // f * f].reshape(n // f, f, n // f, f).mean(axis=(1, 3))
    t = (p / max(p.max(), 1e-300)) ** 0.6  # 0..1; the gamma keeps low-density tails (the banana's arms) visible
    stops = np.array([s for s, _ in DENSITY_SCALE])
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in DENSITY_SCALE], dtype=np.float64)
    img = np.stack([np.interp(t, stops, rgb[:, k]) for k in range(3)], axis=-1)  # (m, m, 3)
    buf = io.BytesIO()
    Image.fromarray(np.round(img[::-1]).astype(np.uint8)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class _Strip:
    """Maps marginal densities into the strip [-extent * (1 + STRIP), -extent] below a panel."""

    def __init__(self, extent: float, peak: float):
        self.base = -extent * (1 + STRIP)
        self.height = extent * STRIP
        self.scale = 0.8 * self.height / max(peak, 1e-12)

    def y(self, dens: np.ndarray) -> np.ndarray:
        return self.base + np.minimum(dens * self.scale, 0.97 * self.height)


def _step_outline(edges: np.ndarray, values: np.ndarray, base: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed histogram outline (2 nb + 2 points) for heights values (..., nb)."""
    x = np.concatenate([[edges[0]], np.repeat(edges, 2)[1:-1], [edges[-1]]])
    lead = np.full(values.shape[:-1] + (1,), base)
    y = np.concatenate([lead, np.repeat(values, 2, axis=-1), lead], axis=-1)
    return x, y


def _tails(traj: np.ndarray, steps: np.ndarray, chains: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Trail polylines per frame: (F, C * (length + 2)) x and y, NaN between chains.

    Each trail holds the chain's last `length` recorded frames; early frames repeat the start so
    every frame has the same number of points (plotly animates equal-length arrays best)."""
    F = len(steps)
    k = np.arange(F)[:, None] - np.arange(length, -1, -1)[None, :]  # (F, length+1) frame indices
    pts = traj[steps[np.clip(k, 0, None)]][:, :, chains]  # (F, length+1, C, 2)
    pts = np.transpose(pts, (0, 2, 1, 3))  # (F, C, length+1, 2)
    sep = np.full((F, len(chains), 1, 2), np.nan, dtype=np.float32)
    pts = np.concatenate([pts, sep], axis=2).reshape(F, -1, 2)
    return pts[..., 0], pts[..., 1]


def _visible(xy: np.ndarray, extent: float) -> np.ndarray:
    """NaN for points outside the box (or non-finite), so none is drawn over the marginal strip."""
    inside = np.isfinite(xy).all(axis=-1) & (np.abs(xy) <= extent).all(axis=-1)
    return np.where(inside[..., None], xy, np.nan).astype(np.float32)


def chains_figure(target: Target, runs: list[ChainRun], *, max_frames: int = 100, max_chains: int = 256,
                  n_trails: int = 3, trail_length: int = 6, frame_ms: int = 100) -> go.Figure:
    """Side-by-side panels, one per run, animated client-side over the run's steps.

    Each panel shows the exact density (a pale image), the chains (dots), `n_trails` chains' recent
    path, and below the box the x1 histogram of the chains against the exact x1 marginal (line).

    Args:
        target: the target the runs sampled.
        runs: 1 to 4 runs with the same number of steps.
        max_frames: frames kept; steps are thinned evenly (always keeping the first and last).
        max_chains: chains drawn per panel (all chains still count in the diagnostics).
        n_trails, trail_length: trails drawn and their length in frames.
        frame_ms: frame duration at normal speed.

    Returns:
        A figure whose `frames` each update only the moving traces, with Play/Pause, speed buttons
        and a step slider.
    """
    steps = frame_steps(_shared_n_steps(runs), max_frames)
    scene = _Scene.of(target, steps)
    n = len(runs)
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.035 if n > 1 else 0.0,
                        subplot_titles=[f"<b>{run_label(r)}</b>" for r in runs])
    moving: list[list[dict]] = [[] for _ in steps]  # per frame: the data of every animated trace
    moving_idx: list[int] = []
    for c, (run, colour) in enumerate(zip(runs, RUN_COLOURS), start=1):
        idx, per_frame = _add_panel(fig, scene, c, run, colour, max_chains=max_chains, n_trails=n_trails,
                                    trail_length=trail_length)
        moving_idx += idx
        for f, data in enumerate(per_frame):
            moving[f] += data
    # plain dicts: plotly validates frames once here, not twice (a go.Frame validates on its own too)
    fig.frames = [dict(name=str(int(s)), data=d, traces=moving_idx) for s, d in zip(steps, moving)]
    _style_panels(fig, scene.extent, n)
    fig.update_layout(_controls(steps, frame_ms))
    fig.update_layout(height=_height(n), margin=dict(l=40, r=20, t=40, b=10), showlegend=False, hovermode=False,
                      template="plotly_white", font=FONT, plot_bgcolor="white", dragmode=False)
    return fig


def _shared_n_steps(runs: list[ChainRun]) -> int:
    """The runs' common number of steps; ValueError unless there are 1 to 4 runs that share one."""
    if not 1 <= len(runs) <= len(RUN_COLOURS):
        raise ValueError(f"runs must hold 1 to {len(RUN_COLOURS)} runs, got {len(runs)}")
    n_steps = {r.settings.n_steps for r in runs}
    if len(n_steps) != 1:
        raise ValueError(f"runs must share one number of steps, got {sorted(n_steps)}")
    return n_steps.pop()


@dataclass(frozen=True, eq=False)  # eq=False: its fields are arrays
class _Scene:
    """What every panel of the chains figure shares: the box, the frames' steps, the density image,
    the exact x1 marginal and the strip and bins its histograms are drawn in."""

    extent: float
    steps: np.ndarray  # the step of each frame
    image: str  # density_png of the target
    mx: np.ndarray  # exact x1 marginal: x values
    mp: np.ndarray  # and densities
    strip: _Strip
    edges: np.ndarray  # MARGINAL_BINS + 1 histogram edges over [-extent, extent]

    @classmethod
    def of(cls, target: Target, steps: np.ndarray) -> "_Scene":
        e = target.extent
        image = density_png(target)
        mx, mp = exact_marginal(target, 0)
        return cls(e, steps, image, mx, mp, _Strip(e, float(mp.max())), np.linspace(-e, e, MARGINAL_BINS + 1))


def _add_panel(fig: go.Figure, scene: _Scene, c: int, run: ChainRun, colour: str, *, max_chains: int,
               n_trails: int, trail_length: int) -> tuple[list[int], list[list[dict]]]:
    """Panel c (1-based) of the chains figure: the exact marginal, then the three animated traces (the
    chains' x1 histogram, the trails, the chains), the density image and the box's bottom edge.

    Returns the animated traces' indices in fig.data and, per frame, their data."""
    e, steps, strip = scene.extent, scene.steps, scene.strip
    traj = run.trajectory[:, :max_chains]  # (T+1, B', 2)
    fig.add_trace(go.Scatter(x=scene.mx.astype(np.float32), y=strip.y(scene.mp).astype(np.float32), mode="lines",
                             line=dict(color="#111827", width=2), hoverinfo="skip"), row=1, col=c)
    trails = np.linspace(0, traj.shape[1] - 1, min(n_trails, traj.shape[1])).astype(int)
    tx, ty = _tails(traj, steps, trails, trail_length)
    pos = _visible(traj[steps], e)  # (F, B', 2)
    hist = marginal_histograms(run.trajectory[steps, :, 0].astype(np.float64), e, MARGINAL_BINS)  # (F, nb)
    hx, hy = _step_outline(scene.edges, strip.y(hist), strip.base)
    hx = hx.astype(np.float32)
    first = len(fig.data)
    fig.add_trace(go.Scatter(x=hx, y=hy[0].astype(np.float32), mode="lines", fill="toself",
                             fillcolor=_rgba(colour, 0.35), line=dict(color=colour, width=1), hoverinfo="skip"),
                  row=1, col=c)
    fig.add_trace(go.Scatter(x=tx[0], y=ty[0], mode="lines", line=dict(color=_rgba("#111827", 0.55), width=1.3),
                             hoverinfo="skip"), row=1, col=c)
    # plain markers with the opacity on the trace: plotly restyles every point of every frame, and an
    # outline or a per-marker opacity makes that several times slower (11 vs 15 frames/s measured)
    fig.add_trace(go.Scatter(x=pos[0, :, 0], y=pos[0, :, 1], mode="markers", hoverinfo="skip", opacity=0.85,
                             marker=dict(size=5.5, color=colour)), row=1, col=c)
    per_frame = [[dict(type="scatter", y=hy[f].astype(np.float32)),
                  dict(type="scatter", x=tx[f], y=ty[f]),
                  dict(type="scatter", x=pos[f, :, 0], y=pos[f, :, 1])] for f in range(len(steps))]
    axis = "" if c == 1 else str(c)
    fig.add_layout_image(source=scene.image, xref=f"x{axis}", yref=f"y{axis}", x=-e, y=e, sizex=2 * e, sizey=2 * e,
                         xanchor="left", yanchor="top", sizing="stretch", layer="below")
    fig.add_shape(type="line", x0=-e, x1=e, y0=-e, y1=-e, line=dict(color="#9ca3af", width=1),
                  xref=f"x{axis}", yref=f"y{axis}")
    return [first, first + 1, first + 2], per_frame


def _style_panels(fig: go.Figure, e: float, n: int) -> None:
    """Axes of the n panels: the box and the strip below it, square, fixed; tick labels on the first
    panel only (with 'p(x₁)' beside the strip); the panel titles' font."""
    ticks = _ticks(e)
    fig.update_xaxes(range=[-e, e], tickvals=ticks, showgrid=False, zeroline=False, constrain="domain",
                     mirror=True, showline=True, linecolor="#d1d5db", fixedrange=True)
    fig.update_yaxes(range=[-e * (1 + STRIP), e], tickvals=ticks, showgrid=False, zeroline=False, constrain="domain",
                     mirror=True, showline=True, linecolor="#d1d5db", fixedrange=True)
    for c in range(1, n + 1):
        axis = "" if c == 1 else str(c)
        fig.layout[f"yaxis{axis}"].update(scaleanchor=f"x{axis}", scaleratio=1)
        if c > 1:
            fig.layout[f"yaxis{axis}"].update(showticklabels=False)
    fig.layout.yaxis.update(tickvals=ticks + [-e * (1 + STRIP / 2)], ticktext=[f"{t:g}" for t in ticks] + ["p(x₁)"])
    for a in fig.layout.annotations[:n]:
        a.update(font=dict(size=15, color="#111827"))


def _height(n_panels: int) -> int:
    # square-ish panels at a typical 1100 px main column; the strip makes each panel 1.5 boxes tall
    panel = min(420, 1050 / n_panels)
    return int(panel * (1 + STRIP / 2) + 150)


def _controls(steps: np.ndarray, frame_ms: int) -> dict:
    """Play / Pause, speed buttons and a slider over the frames (all client-side)."""
    def play(ms: float) -> dict:
        return dict(frame=dict(duration=ms, redraw=False), transition=dict(duration=0), fromcurrent=True,
                    mode="immediate")

    still = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    buttons = [dict(label="▶ Play", method="animate", args=[None, play(frame_ms)]),
               dict(label="❚❚ Pause", method="animate", args=[[None], still])]
    speeds = [dict(label=label, method="animate", args=[None, play(frame_ms / k)])
              for label, k in (("½×", 0.5), ("1×", 1), ("2×", 2), ("4×", 4))]
    common = dict(type="buttons", direction="left", showactive=False, x=0, xanchor="left", y=0, yanchor="top",
                  bgcolor="#f3f4f6", bordercolor="#d1d5db", font=dict(size=13))
    slider = dict(active=0, x=0.25, len=0.75, y=0, yanchor="top", pad=dict(t=30, b=0),
                  currentvalue=dict(prefix="Langevin step ", font=dict(size=14, color="#111827"), xanchor="left"),
                  font=dict(color="rgba(0,0,0,0)", size=1), ticklen=0, minorticklen=0, tickcolor="rgba(0,0,0,0)",
                  steps=[dict(label=str(int(s)), method="animate", args=[[str(int(s))], still]) for s in steps])
    return dict(updatemenus=[dict(buttons=buttons, pad=dict(t=46, r=6), **common),
                             dict(buttons=speeds, pad=dict(t=84, r=6), **common)],
                sliders=[slider])


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _smooth(v: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average over k points (NaN stays NaN)."""
    if k <= 1 or len(v) < k:
        return v
    w = np.ones(k)
    return np.convolve(v, w, mode="same") / np.convolve(np.ones_like(v), w, mode="same")


def curves_figure(runs: list[ChainRun], *, colours: list[str] | None = None, dashed: list[bool] | None = None,
                  kl_floor: float | None = None, exact_energy: float | None = None,
                  target_acceptance: float | None = None) -> go.Figure:
    """Per-step diagnostics of several runs: KL to the exact density (log scale), mean energy,
    MALA acceptance.

    Args:
        runs: the runs to draw, any number.
        colours: one colour per run (default: RUN_COLOURS in turn).
        dashed: which runs to draw dashed (e.g. MALA references of ULA runs).
        kl_floor: KL that exact samples of the same size score, drawn as a grey line.
        exact_energy: E_p[E], where a sampler of p settles, drawn as a grey line.
        target_acceptance: drawn as a grey line on the acceptance panel.
    """
    colours = colours or [RUN_COLOURS[i % len(RUN_COLOURS)] for i in range(len(runs))]
    dashed = dashed or [False] * len(runs)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07,
                        subplot_titles=("KL(chains ‖ exact), nats", "Mean energy of the chains", "MALA acceptance"))
    energies = []
    for run, colour, dash in zip(runs, colours, dashed):
        t = np.arange(len(run.kl))
        style = dict(color=colour, width=2.2, dash="dash" if dash else "solid")
        name = run_label(run)
        fig.add_trace(go.Scatter(x=t, y=np.maximum(run.kl, 1e-4).astype(np.float32), name=name, mode="lines",
                                 line=style, legendgroup=name), row=1, col=1)
        fig.add_trace(go.Scatter(x=t, y=run.mean_energy.astype(np.float32), name=name, mode="lines", line=style,
                                 legendgroup=name, showlegend=False), row=1, col=2)
        energies.append(run.mean_energy[len(run.mean_energy) // 10:])
        if get_sampler(run.settings.sampler).metropolis:
            a = _smooth(run.acceptance, 5)
            fig.add_trace(go.Scatter(x=np.arange(1, len(a) + 1), y=a.astype(np.float32), name=name, mode="lines",
                                     line=style, legendgroup=name, showlegend=False), row=1, col=3)
    grey = dict(color="#6b7280", width=2, dash="dot")
    n_steps = max((len(r.kl) - 1 for r in runs), default=1)
    # reference levels as traces, not shapes: shapes on a log axis would need log10 coordinates
    if kl_floor is not None and math.isfinite(kl_floor):
        fig.add_trace(go.Scatter(x=[0, n_steps], y=[kl_floor, kl_floor], name="exact samples (KL floor)",
                                 mode="lines", line=grey), row=1, col=1)
    if exact_energy is not None and math.isfinite(exact_energy):
        fig.add_trace(go.Scatter(x=[0, n_steps], y=[exact_energy, exact_energy], name="exact E_p[E]", mode="lines",
                                 line=dict(color="#6b7280", width=2, dash="dash")), row=1, col=2)
    finite = np.concatenate([v[np.isfinite(v)] for v in energies] + [np.array([exact_energy or 0.0])])
    if len(finite):
        lo, hi = float(finite.min()), float(np.percentile(finite, 99))
        pad = 0.08 * max(hi - lo, 1e-3)
        fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=2)
    if any(get_sampler(r.settings.sampler).metropolis for r in runs):
        if target_acceptance is not None:
            fig.add_hline(y=target_acceptance, line=grey, row=1, col=3, annotation_text=f"{target_acceptance:g}",
                          annotation_font=dict(size=11, color="#4b5563"))
    else:
        fig.add_annotation(text="ULA accepts every move:<br>no acceptance rate", xref="x3 domain", yref="y3 domain",
                           x=0.5, y=0.5, showarrow=False, font=dict(size=13, color="#6b7280"))
    kl_all = np.concatenate([r.kl for r in runs] + [np.array([kl_floor or 1.0])])
    lo, hi = math.floor(math.log10(max(np.nanmin(kl_all), 1e-4))), math.ceil(math.log10(max(np.nanmax(kl_all), 1e-3)))
    fig.update_yaxes(type="log", row=1, col=1, tickvals=[v * 10.0**k for k in range(lo, hi + 1) for v in (1, 3)],
                     ticktext=[f"{v * 10.0**k:g}" for k in range(lo, hi + 1) for v in (1, 3)])
    fig.update_yaxes(range=[0, 1.02], row=1, col=3)
    fig.update_xaxes(title_text="Langevin step", title_font=dict(size=13))
    fig.update_layout(height=340, margin=dict(l=50, r=20, t=40, b=40), template="plotly_white", font=FONT,
                      legend=dict(orientation="h", y=-0.25, x=0), hovermode="x unified")
    return fig


def marginals_figure(target: Target, runs: list[ChainRun], *, colours: list[str] | None = None,
                     dashed: list[bool] | None = None, bins: int = 40) -> go.Figure:
    """x1 and x2 histograms of the positions pooled over the second half of each run (what each
    sampler settles into) against the exact marginals."""
    colours = colours or [RUN_COLOURS[i % len(RUN_COLOURS)] for i in range(len(runs))]
    dashed = dashed or [False] * len(runs)
    e = target.extent
    edges = np.linspace(-e, e, bins + 1)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=("x₁", "x₂"))
    for dim in (0, 1):
        xs, p = exact_marginal(target, dim)
        fig.add_trace(go.Scatter(x=xs.astype(np.float32), y=p.astype(np.float32), name="exact", mode="lines",
                                 line=dict(color="#111827", width=2.5), showlegend=dim == 0), row=1, col=dim + 1)
        for run, colour, dash in zip(runs, colours, dashed):
            half = run.trajectory[len(run.trajectory) // 2:, :, dim].reshape(1, -1).astype(np.float64)
            dens = marginal_histograms(half, e, bins)[0]
            hx, hy = _step_outline(edges, dens, 0.0)
            fig.add_trace(go.Scatter(x=hx.astype(np.float32), y=hy.astype(np.float32), name=run_label(run),
                                     mode="lines", line=dict(color=colour, width=1.8, dash="dash" if dash else "solid"),
                                     legendgroup=run_label(run), showlegend=dim == 0), row=1, col=dim + 1)
    fig.update_xaxes(range=[-e, e])
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(height=320, margin=dict(l=40, r=20, t=40, b=30), template="plotly_white", font=FONT,
                      legend=dict(orientation="h", y=-0.18, x=0), hovermode=False)
    return fig
