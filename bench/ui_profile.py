"""Where the browser's CPU goes while the Playground trains: one Chromium tab per variant of the page,
its renderer process's CPU and a CDP profile of its main thread, so a cost can be pinned on a panel.

    python bench/ui_profile.py [--seconds 12] [--script serve.py] [--code DIR]

Variants (classroom links hide panels, so every variant is the real page): everything shown; the
curves hidden; the numbers hidden; both hidden (the canvas alone). For each: frames/s the canvas
drew, training steps/s, cores used by the tab's renderer process, the main thread's busy time
(CDP Performance.getMetrics TaskDuration) and its JavaScript time per script (CDP Profiler: React,
emotion, Plotly, the canvas's own module...). Results: bench/results/ui_profile.md and .json.
"""

import argparse
import collections
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.browser import browser, descendants, streamlit_server  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CLK = os.sysconf("SC_CLK_TCK")
CANVAS = ".st-key-live_canvas canvas[data-frame]"
VARIANTS = {"everything": "", "curves hidden": "?hide=curves", "numbers hidden": "?hide=numbers",
            "canvas alone": "?hide=panels"}


def renderer_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by the Chromium renderer processes among pids."""
    total = 0.0
    for p in pids:
        try:
            if "--type=renderer" not in Path(f"/proc/{p}/cmdline").read_text().replace("\0", " "):
                continue
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
        except OSError:
            pass
    return total


def canvas_state(page) -> tuple[int, int]:
    """(draws so far, training step shown in the canvas's title)."""
    cv = page.locator(CANVAS).first
    return int(cv.get_attribute("data-draws")), int(cv.get_attribute("aria-label").split()[1])


def measure(ctx, url: str, seconds: float) -> dict:
    page = ctx.new_page()
    page.goto(url, timeout=300_000)
    page.locator(CANVAS).first.wait_for(timeout=300_000)
    page.wait_for_timeout(2000)
    page.locator(".st-key-train button:visible").first.click()
    page.locator(".st-key-train button:visible").filter(has_text="Pause").first.wait_for(timeout=60_000)
    page.wait_for_timeout(3000)
    cdp = ctx.new_cdp_session(page)
    cdp.send("Performance.enable")
    cdp.send("Profiler.enable")
    pids = descendants(os.getpid())
    metrics = lambda: {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}  # noqa: E731
    c0, m0, (d0, s0), t0 = renderer_seconds(pids), metrics(), canvas_state(page), time.perf_counter()
    cdp.send("Profiler.start")
    page.wait_for_timeout(seconds * 1000)
    profile = cdp.send("Profiler.stop")["profile"]
    c1, m1, (d1, s1), t1 = renderer_seconds(pids), metrics(), canvas_state(page), time.perf_counter()
    span = t1 - t0
    nodes = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    by_script = collections.Counter()
    for sample, dt in zip(profile["samples"], profile["timeDeltas"]):
        frame = nodes[sample]
        name = frame["url"].rsplit("/", 1)[-1] if frame["url"] else (frame["functionName"] or "?")
        if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f-]{27}", name):
            name = "the canvas component's own JS (inline module)"
        by_script[name] += dt / 1e6 / span
    page.locator(".st-key-train button:visible").first.click()
    page.close()
    return {"fps": (d1 - d0) / span, "steps_per_s": (s1 - s0) / span, "renderer_cores": (c1 - c0) / span,
            "main_thread_busy": (m1["TaskDuration"] - m0["TaskDuration"]) / span,
            "script_cores": (m1["ScriptDuration"] - m0["ScriptDuration"]) / span,
            "top_scripts": {k: round(v, 3) for k, v in by_script.most_common(10) if k != "(idle)"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--script", default="serve.py", help="serve.py (frames fetched by the canvas) or app.py (pushed)")
    ap.add_argument("--only", help="measure just this variant (a name above)")
    ap.add_argument("--code", type=Path, default=ROOT, help="measure the app in this directory")
    args = ap.parse_args()
    code = args.code.resolve()
    res = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
           "cpus": os.cpu_count(), "script": args.script, "seconds": args.seconds,
           "loadavg_start": os.getloadavg(), "variants": {}}
    with streamlit_server(code / args.script, cwd=code) as url, browser() as ctx:
        for name, query in VARIANTS.items():
            if args.only and name != args.only:
                continue
            print(name, flush=True)
            r = measure(ctx, url + "/" + query, args.seconds)
            print(f"  {r['fps']:.1f} frames/s, renderer {r['renderer_cores']:.2f} cores, "
                  f"main thread {r['main_thread_busy']:.2f}", flush=True)
            res["variants"][name] = r
    if args.only:
        return  # a quick look, not a report
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ui_profile.json").write_text(json.dumps(res, indent=2))
    lines = [f"# Browser cost of the Playground's panels ({res['date']}, {res['machine']}, {res['cpus']} CPUs)", "",
             f"`streamlit run {args.script}`, headless Chromium (software rendering), one tab at a time, "
             f"{args.seconds:g} s of training per variant; load average at the start "
             f"{', '.join(f'{x:.1f}' for x in res['loadavg_start'])}.", "",
             "| variant | frames/s drawn | steps/s | renderer process, cores | main thread busy "
             "| of which JavaScript |",
             "|---|---|---|---|---|---|"]
    for name, r in res["variants"].items():
        lines.append(f"| {name} ({VARIANTS[name] or 'no hide'}) | {r['fps']:.1f} | {r['steps_per_s']:.0f} | "
                     f"{r['renderer_cores']:.2f} | {r['main_thread_busy']:.2f} | {r['script_cores']:.2f} |")
    lines += ["", "Main-thread time by script (cores), everything shown:", ""]
    lines += [f"- {k}: {v:.3f}" for k, v in res["variants"]["everything"]["top_scripts"].items()]
    (RESULTS / "ui_profile.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
