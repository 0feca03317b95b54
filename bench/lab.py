"""Langevin Lab benchmark: what the animated figure costs to send, how long the page takes to become
interactive, and how smoothly the animation plays in a real browser.

    python bench/lab.py [--visits 3]

Measured in one run on this machine, at the page's defaults (mixture target, 3 step sizes, 256 chains
x 200 steps; ULA with MALA references):
  1. library: seconds per run_chains (ULA and MALA), per autotune, per figure build;
  2. figure size: bytes of the chains figure's JSON as the page sends it (float32 typed arrays,
     every 2nd step), against the same figure with float64 arrays, with plain JSON number lists
     (what plotly sent before typed arrays), with every step, and gzip-compressed;
  3. browser: `streamlit run app.py` + headless Chromium. Time from navigation to a clickable Play
     button on the first visit after the server starts (cold: torch import and every computation)
     and on later visits (warm: cached results), next to a one-chart Streamlit page for scale; the
     WebSocket bytes the page receives; then Play at 1x and 4x: slider frames advanced per second
     against the frames requested, browser paints per second, the longest gap between paints, and
     the WebSocket messages received while playing (zero: the animation is client-side).
Results go to bench/results/lab.json and bench/results/lab.md.
"""

import argparse
import base64
import gzip
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from devtools.browser import browser, streamlit_server  # noqa: E402
from ebm_core.figures import lab as lab_figures  # noqa: E402
from ebm_core.lessons import lab, step_sizes  # noqa: E402

CHART = ".st-key-lab_chains_figure .js-plotly-plot"
STEPS, CHAINS, TARGET = 200, 256, "mixture"

# Records every animation frame's slider position while the chart plays.
SAMPLE_PLAY = """(gd, ms) => new Promise(done => {
  const t0 = performance.now(), seen = [];
  const tick = () => { seen.push([performance.now() - t0, gd._fullLayout.sliders[0].active]);
    if (performance.now() - t0 < ms) requestAnimationFrame(tick); else done(seen); };
  requestAnimationFrame(tick); })"""

MINI_APP = """import plotly.graph_objects as go, streamlit as st
st.title("One chart")
fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
fig.update_layout(updatemenus=[dict(type="buttons", buttons=[dict(label="Play", method="animate", args=[None])])])
st.plotly_chart(fig, key="lab_chains_figure")
"""


def default_runs() -> tuple[lab.Target, list[lab.ChainRun]]:
    target = lab.analytic_target(TARGET)
    steps = step_sizes.STEP_PRESETS[TARGET][:3]
    runs = [lab.run_chains(target, lab.Start(), lab.ChainSettings("ula", h, 1.0, STEPS, CHAINS),
                           generator=torch.Generator().manual_seed(0)) for h in steps]
    return target, runs


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def library_timings(target: lab.Target, runs: list[lab.ChainRun]) -> dict:
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    s = lab.ChainSettings("ula", 0.1, 1.0, STEPS, CHAINS)
    mala = lab.ChainSettings("mala", 0.1, 1.0, STEPS, CHAINS)
    x0 = lab.start_points(target, lab.Start(), CHAINS, generator=g())
    fig = lab_figures.chains_figure(target, runs)
    return {
        "ula_run_s": timed(lambda: lab.run_chains(target, lab.Start(), s, generator=g())),
        "mala_run_s": timed(lambda: lab.run_chains(target, lab.Start(), mala, generator=g())),
        "autotune_s": timed(lambda: step_sizes.autotune_mala(target.energy, x0, generator=g()), repeat=1),
        "chains_figure_build_s": timed(lambda: lab_figures.chains_figure(target, runs)),
        "chains_figure_to_json_s": timed(lambda: fig.to_json()),
    }


def _recode(node, how: str):
    """Re-encode every float32 typed array in a plotly JSON spec as float64 ('f8') or as a list."""
    if isinstance(node, dict):
        if node.get("dtype") == "f4" and "bdata" in node:
            a = np.frombuffer(base64.b64decode(node["bdata"]), dtype="<f4")
            if how == "f8":
                return {**node, "dtype": "f8", "bdata": base64.b64encode(a.astype("<f8").tobytes()).decode()}
            return [None if not np.isfinite(v) else float(v) for v in a.astype(np.float64)]
        return {k: _recode(v, how) for k, v in node.items()}
    if isinstance(node, list):
        return [_recode(v, how) for v in node]
    return node


def figure_sizes(target: lab.Target, runs: list[lab.ChainRun]) -> dict:
    spec = lab_figures.chains_figure(target, runs).to_json()
    every_step = lab_figures.chains_figure(target, runs, max_frames=STEPS).to_json()
    parsed = json.loads(spec)
    frames = parsed["frames"]
    four = [lab.run_chains(target, lab.Start(), lab.ChainSettings("ula", h, 1.0, 500, 1024),
                           generator=torch.Generator().manual_seed(0)) for h in step_sizes.STEP_PRESETS[TARGET]]
    return {
        "frames": len(frames),
        "float32_every_2nd_step": len(spec),
        "float32_every_2nd_step_gzip": len(gzip.compress(spec.encode())),
        "float32_every_step": len(every_step),
        "float64_every_2nd_step": len(json.dumps(_recode(parsed, "f8"), separators=(",", ":"))),
        "json_lists_every_2nd_step": len(json.dumps(_recode(parsed, "list"), separators=(",", ":"))),
        "per_frame": len(json.dumps(frames[len(frames) // 2], separators=(",", ":"))),
        "static_part": len(json.dumps({k: v for k, v in parsed.items() if k != "frames"}, separators=(",", ":"))),
        "worst_case_4_runs_1024_chains_500_steps": len(lab_figures.chains_figure(target, four).to_json()),
    }


def visit(ctx, url: str, path: str) -> tuple[object, float, int]:
    """(page, seconds from navigation to a visible Play button, WebSocket bytes received by then)."""
    page = ctx.new_page()
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: received.append(len(p))))
    t = time.perf_counter()
    page.goto(url + path)
    page.locator(CHART.split()[0] + " .updatemenu-button").first.wait_for(timeout=180_000)
    seconds = time.perf_counter() - t
    page.received = received
    return page, seconds, sum(received)


def play(page, label: str, ms: float) -> dict:
    chart = page.locator(CHART)
    chart.evaluate("gd => Plotly.animate(gd, ['0'], {frame: {duration: 0, redraw: false}, mode: 'immediate'})")
    time.sleep(0.5)
    n_ws = len(page.received)
    chart.locator(".updatemenu-button").filter(has_text=label).first.click()
    samples = chart.evaluate(SAMPLE_PLAY, ms)
    chart.locator(".updatemenu-button").filter(has_text="Pause").click()
    times = [t for t, _ in samples]
    gaps = np.diff(times)
    moves = [(t, a) for (t, a), (_, b) in zip(samples[1:], samples[:-1]) if a != b]
    active = [a for _, a in moves]
    span = (moves[-1][0] - moves[0][0]) / 1000 if len(moves) > 1 else float("nan")
    return {"frames_advanced_per_s": (len(active) - 1) / span if len(moves) > 1 else 0.0,
            "last_frame_reached": max(active) if active else 0,
            "paints_per_s": len(samples) / (times[-1] / 1000), "longest_paint_gap_ms": float(gaps.max()),
            "p90_paint_gap_ms": float(np.percentile(gaps, 90)), "ws_messages_while_playing": len(page.received) - n_ws}


def browser_numbers(visits: int) -> dict:
    out: dict = {}
    with streamlit_server(ROOT / "app.py") as url, browser(width=1500, height=1000) as ctx:
        page, cold, cold_bytes = visit(ctx, url, "/Langevin_Lab")
        page.close()
        warm, warm_bytes = [], []
        for _ in range(visits):
            page, s, b = visit(ctx, url, "/Langevin_Lab")
            warm.append(s)
            warm_bytes.append(b)
            if len(warm) < visits:
                page.close()
        time.sleep(1.0)
        out.update(cold_tti_s=cold, warm_tti_s=statistics.median(warm), warm_tti_all_s=warm,
                   ws_bytes_on_load=statistics.median(warm_bytes), cold_ws_bytes=cold_bytes)
        chart = page.locator(CHART)
        n_frames = chart.evaluate("gd => gd._transitionData._frames.length")
        frame_ms = chart.evaluate("gd => gd.layout.updatemenus[0].buttons[0].args[1].frame.duration")
        out["frame_ms_at_1x"] = frame_ms
        out["requested_frames_per_s"] = {"1x": 1000 / frame_ms, "4x": 4000 / frame_ms}
        out["play_1x"] = play(page, "▶ Play", n_frames * frame_ms * 0.8)
        out["play_4x"] = play(page, "4×", n_frames * frame_ms / 4 * 0.8)
        page.screenshot(path=str(ROOT / "bench" / "results" / "lab_playing.png"))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "one_chart.py").write_text(MINI_APP)
        with streamlit_server(Path(tmp) / "one_chart.py", cwd=Path(tmp)) as url, browser() as ctx:
            times = []
            for _ in range(visits + 1):  # the first visit warms the server up
                page, seconds, _ = visit(ctx, url, "/")
                page.close()
                times.append(seconds)
            out["one_chart_page_tti_s"] = statistics.median(times[1:])
    return out


def write(res: dict) -> None:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "lab.json").write_text(json.dumps(res, indent=2))
    lib, fs, br = res["library"], res["figure_bytes"], res["browser"]
    kib = lambda b: f"{b / 1024:,.0f} KiB"  # noqa: E731
    p1, p4 = br["play_1x"], br["play_4x"]

    def play_row(speed: str, p: dict) -> str:
        return (f"| {speed} | {br['requested_frames_per_s'][speed]:.1f} | {p['frames_advanced_per_s']:.1f} | "
                f"{p['paints_per_s']:.0f} | {p['p90_paint_gap_ms']:.0f} / {p['longest_paint_gap_ms']:.0f} ms | "
                f"{p['ws_messages_while_playing']} |")

    lines = [
        f"# Langevin Lab benchmark ({res['date']}, {res['machine']}, {res['cpus']} CPUs)",
        "",
        f"1-minute load average {res['load_before']:.1f} before and {res['load_after']:.1f} after the run: other "
        "work on the machine slows the browser numbers, so compare runs made at similar load.",
        "",
        f"Defaults: {TARGET}, 3 step sizes side by side, {CHAINS} chains x {STEPS} steps, ULA plus MALA references.",
        "",
        "## What is sent: the animated figure's JSON",
        "",
        "| encoding | bytes |",
        "|---|---|",
        f"| **float32 typed arrays, every 2nd step ({fs['frames']} frames): what the page sends** | "
        f"**{kib(fs['float32_every_2nd_step'])}** |",
        f"| same, gzip (if `server.enableWebsocketCompression` were on) | {kib(fs['float32_every_2nd_step_gzip'])} |",
        f"| float32, every step | {kib(fs['float32_every_step'])} |",
        f"| float64 typed arrays, every 2nd step | {kib(fs['float64_every_2nd_step'])} |",
        f"| plain JSON number lists, every 2nd step | {kib(fs['json_lists_every_2nd_step'])} |",
        f"| one frame (3 panels: positions, trails, x1 histogram) | {fs['per_frame']:,} B |",
        f"| everything but the frames (density PNGs, axes, slider) | {kib(fs['static_part'])} |",
        f"| worst case: 4 runs, 1024 chains x 500 steps (256 drawn, 101 frames) | "
        f"{kib(fs['worst_case_4_runs_1024_chains_500_steps'])} |",
        "",
        f"The page as a whole received {kib(br['ws_bytes_on_load'])} over its WebSocket on a warm visit "
        f"(three figures, widgets, table).",
        "",
        "## Time to interactive (navigation to a clickable Play button)",
        "",
        f"- first visit after the server starts (torch import, targets, 6 runs, figures): **{br['cold_tti_s']:.1f} s**",
        f"- later visits (cached results): **{br['warm_tti_s']:.1f} s** (median of {len(br['warm_tti_all_s'])}: "
        + ", ".join(f"{s:.1f}" for s in br["warm_tti_all_s"]) + ")",
        f"- for scale, a Streamlit page with one tiny plotly chart: {br['one_chart_page_tti_s']:.1f} s "
        "(Streamlit's and plotly.js's own start in headless Chromium on this machine)",
        "",
        "## Playing (client-side)",
        "",
        f"The figure holds {fs['frames']} frames; 1x plays one every {br['frame_ms_at_1x']:.0f} ms. 'Frames shown' "
        "counts slider moves; 'browser ticks' counts requestAnimationFrame callbacks (60/s when the page is idle, "
        "fewer when drawing a frame keeps the main thread busy).",
        "",
        "| speed | frames requested/s | frames shown/s | browser ticks/s | p90 / longest tick gap "
        "| WebSocket messages |",
        "|---|---|---|---|---|---|",
        play_row("1x", p1),
        play_row("4x", p4),
        "",
        "## Library (one process, 1 thread)",
        "",
        f"- run_chains, {CHAINS} chains x {STEPS} steps: ULA {lib['ula_run_s']:.2f} s, MALA {lib['mala_run_s']:.2f} s "
        "(includes the per-step KL)",
        f"- autotune_mala (300 warm-up + 100 check steps, {CHAINS} chains): {lib['autotune_s']:.2f} s",
        f"- chains figure: build {lib['chains_figure_build_s']:.2f} s (plotly validates ~1500 arrays), "
        f"to_json {lib['chains_figure_to_json_s']:.2f} s; the page caches the built figure per settings",
        "",
    ]
    (out / "lab.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visits", type=int, default=3, help="warm visits to time")
    args = ap.parse_args()
    torch.set_num_threads(1)
    target, runs = default_runs()
    res = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
           "cpus": os.cpu_count(), "load_before": os.getloadavg()[0],
           "library": library_timings(target, runs), "figure_bytes": figure_sizes(target, runs)}
    res["browser"] = browser_numbers(args.visits)
    res["load_after"] = os.getloadavg()[0]
    write(res)
    print((ROOT / "bench" / "results" / "lab.md").read_text())


if __name__ == "__main__":
    main()
