"""Live UI benchmark: frames the browser really draws while training, training speed with the page
open against headless speed, and many sessions at once.

    python bench/ui.py [--seconds 15] [--sessions 10]

Measured in one run on this machine:
  1. headless: a LiveRun nobody watches, steps/s over the window (in a separate process, like the
     server's trainer thread would run with no page open);
  2. watched: `streamlit run app.py` + headless Chromium, press Train, count distinct canvas frames
     drawn per second (the canvas's data-frame attribute, sampled every animation frame) and the step
     counter's rate; the ratio watched / headless is the share of speed kept while watched;
  3. N sessions: N tabs on one server all press Train; each one's step counter must keep advancing.
Results go to bench/results/ui.json and bench/results/ui.md.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import browser, streamlit_server  # noqa: E402

HEADLESS = """
import time, torch
from ebm_core import config, live
r = live.LiveRun(config.RunConfig()).start()
r.wait_for(lambda s: s.status == "paused", 120)
r.play(); time.sleep(3)
s0 = r.wait_for(lambda s: s.status == "running"); t0 = time.perf_counter()  # one snapshot now, one at the end
time.sleep({seconds})
stale = r.wait_for(lambda s: s.seq > s0.seq)  # may have been asked for before the sleep
s1 = r.wait_for(lambda s: s.seq > stale.seq); t1 = time.perf_counter()
print((s1.step - s0.step) / (t1 - t0), flush=True)
r.request_stop(); r.thread.join(10)
"""

# The canvas lives in the component's shadow root, which document.querySelector does not enter.
COUNT_FRAMES = """() => { window.__frames = [];
  const find = (root) => { const c = root.querySelector('canvas[data-frame]'); if (c) return c;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
    return null; };
  let c = null; const tick = () => { if (!c || !c.isConnected) c = find(document);
    if (c) window.__frames.push([performance.now(), c.dataset.frame]);
    requestAnimationFrame(tick); }; requestAnimationFrame(tick); }"""


def step_value(page) -> int:
    txt = page.locator("[data-testid=stMetric]").filter(has_text="Step").first.locator(
        "[data-testid=stMetricValue]").inner_text()
    return int(txt.replace(",", ""))


def open_and_train(ctx, url):
    page = ctx.new_page()
    page.goto(url)
    page.locator("canvas[data-frame]").first.wait_for(timeout=120_000)
    page.locator(".st-key-train button:visible").first.click()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stMetricValue]')]"
                           ".some(e => +e.innerText.replace(/,/g, '') > 5)", timeout=60_000)
    return page


def headless_rate(seconds: float) -> float:
    out = subprocess.run([sys.executable, "-c", HEADLESS.format(seconds=seconds)], cwd=ROOT, capture_output=True,
                         text=True, timeout=seconds + 180, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    return float(out.stdout.strip().splitlines()[-1])


def cpu_seconds(name: str) -> float:
    """utime + stime of every process whose command line contains `name`."""
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if name not in (d / "cmdline").read_bytes().decode(errors="ignore"):
                continue
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def watched(url: str, seconds: float) -> dict:
    with browser() as ctx:
        page = open_and_train(ctx, url)
        time.sleep(2)
        page.evaluate(COUNT_FRAMES)
        s0, t0 = step_value(page), time.perf_counter()
        c0 = {k: cpu_seconds(k) for k in ("streamlit", "chromium")}
        time.sleep(seconds)
        s1, t1 = step_value(page), time.perf_counter()
        cpu = {k: (cpu_seconds(k) - c0[k]) / (t1 - t0) for k in c0}
        frames = page.evaluate("() => window.__frames")
        changes = [t for (t, f), (_, g) in zip(frames[1:], frames[:-1]) if f != g]
        gaps = sorted(b - a for a, b in zip(changes, changes[1:]))
        page.screenshot(path=str(ROOT / "bench" / "results" / "ui_watched.png"))
        return {"fps": len(changes) / (frames[-1][0] - frames[0][0]) * 1000 if len(frames) > 1 else 0.0,
                "p90_gap_ms": gaps[int(0.9 * len(gaps))] if gaps else None,
                "steps_per_s": (s1 - s0) / (t1 - t0), "cores_used": cpu}


def many(url: str, n: int, seconds: float) -> list[float]:
    """n tabs, all training. Their browsers run on this same 2-core machine, which a class's
    laptops would not: the per-session rates are a floor."""
    with browser(width=1200, height=900) as ctx:
        pages = []
        for _ in range(n):
            # a context per tab: like separate students (one context would also hit Chromium's
            # limit of six connections per host after a few tabs)
            page = ctx.browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            page.goto(url, timeout=300_000)
            page.locator("canvas[data-frame]").first.wait_for(timeout=300_000)
            page.locator(".st-key-train button:visible").first.click()
            pages.append(page)
            print(f"session {len(pages)} open", flush=True)
        time.sleep(10)
        first = [step_value(p) for p in pages]
        t0 = time.perf_counter()
        time.sleep(seconds)
        last = [step_value(p) for p in pages]
        dt = time.perf_counter() - t0
        # click latency: Pause in the first tab while all of them train
        t = time.perf_counter()
        pages[0].locator(".st-key-train button:visible").first.click()
        pages[0].locator(".st-key-train button:visible").filter(has_text="Train").first.wait_for(timeout=30_000)
        latency = time.perf_counter() - t
        return [(b - a) / dt for a, b in zip(first, last)], latency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--sessions", type=int, default=10)
    args = ap.parse_args()
    res: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
                 "seconds": args.seconds}
    res["headless_steps_per_s"] = headless_rate(args.seconds)
    with streamlit_server(ROOT / "app.py") as url:
        res["watched"] = watched(url, args.seconds)
        res["kept_fraction"] = res["watched"]["steps_per_s"] / res["headless_steps_per_s"]
        rates, latency = many(url, args.sessions, args.seconds)
        res["sessions"] = {"n": args.sessions, "steps_per_s": rates, "all_advancing": all(r > 0 for r in rates),
                           "pause_click_latency_s": latency}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ui.json").write_text(json.dumps(res, indent=2))
    w = res["watched"]
    md = [f"# Live UI benchmark ({res['date']}, {res['machine']}, {args.seconds:g} s windows)", "",
          f"- browser frames drawn: **{w['fps']:.1f} frames/s** (p90 gap {w['p90_gap_ms'] or float('nan'):.0f} ms; "
          "target >= 5)",
          f"- training: headless {res['headless_steps_per_s']:.1f} steps/s, watched {w['steps_per_s']:.1f} steps/s: "
          f"**{res['kept_fraction']:.2f}** of headless kept (target >= 0.8); cores busy while watched: server "
          f"{w['cores_used']['streamlit']:.2f}, browser {w['cores_used']['chromium']:.2f}",
          f"- {args.sessions} sessions training at once: steps/s per session "
          f"{', '.join(f'{r:.1f}' for r in rates)}; all advancing: **{res['sessions']['all_advancing']}**; "
          f"a Pause click in one tab answered in {latency:.2f} s"]
    (out / "ui.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
