"""A class on one server (issue 13's targets), measured in one run; results in class.json and class.md.

    python bench/class_load.py [--sessions 30] [--seconds 30] [--warmup 120] [--click-seconds 60] [--code DIR]
                               [--code-label TEXT] [--results DIR]

1. Capacity: one LiveRun nobody watches (bench/ui.py's HEADLESS: own process, OMP_NUM_THREADS=1) trains for
   10 s, before the class and again after it (the server gone); capacity = the CPUs this process may use x
   the mean of the two rates.
2. `streamlit run serve.py` in --code (while the tree is edited, measure a `git archive HEAD` copy).
3. sessions-1 browserless tabs (bench/st_client.py, a subprocess printing JSON events) open and press Train all
   at once, train through --warmup, then st_client's window: --seconds + --click-seconds (so the class is still
   training while the tab's clicks are timed; the clients' steps/s are over all of it).
4. The real Chromium tab opens last, at the clients' "training" event: page, canvas, Train, frame counter
   (bench/ui.py's COUNT_FRAMES); the report says whether it trained before the window began.
5. In the window's first --seconds: the tab's steps/s (both halves) and canvas frames/s drawn, each client's
   steps/s and whether it advanced in both halves (st_client); GET /_stcore/health every 0.2 s from a thread
   here (a blocked server event loop answers late; also while Train was answered and during the clicks); cores
   used by server / training workers / clients / browser / this script / others; at its end RSS and PSS
   (/proc/PID/smaps_rollup) summed over the server, its fork server and the training workers.
6. Then the tab's 6 clicks alternating Pause/Train, each timed with perf_counter from the click to the label's
   flip (DOM polled every 50 ms, 30 s at most; Playwright's round trips included, so an upper bound); only clicks
   that began before st_client's window ended count. After the window st_client times a Pause click in its first
   session. No stException may be on the page; st_client's errors are reported.
7. Verdicts, printed (FAIL lines) and stored. A missed target still exits 0: this is a measurement.
Every wait is bounded: a tab that never trains is reported (screenshot class_tab_failed.png) and the run goes on.
"""

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from bench import ui as ui_bench  # noqa: E402
from bench.ui import COUNT_FRAMES, CpuMeter, browser_pids, code_version, frame_stats, server_groups, step_value  # noqa: E402
from devtools.browser import SERVER_PIDS, browser, streamlit_server, training_processes  # noqa: E402
from devtools.memory import tree_mb  # noqa: E402

BUTTON = ".st-key-train button"
LABEL_IS = f"""(want) => {{ const b = [...document.querySelectorAll('{BUTTON}')].find(e => e.offsetParent);
  return !!b && b.innerText.includes(want); }}"""


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def health_probe(url, samples: list, done: threading.Event):
    """GET /_stcore/health every 0.2 s until `done`: (wall time, seconds to answer or None if it failed)."""
    while not done.is_set():
        t = time.perf_counter()
        try:
            ok = urllib.request.urlopen(url + "/_stcore/health", timeout=10).read() == b"ok"
        except OSError:
            ok = False
        samples.append((time.time(), time.perf_counter() - t if ok else None))
        done.wait(max(0.0, 0.2 - (time.perf_counter() - t)))


def health_in(samples, w0, w1) -> dict:
    xs = [dt for t, dt in samples if w0 <= t <= w1]
    ok = [dt for dt in xs if dt is not None]
    return {"probes": len(xs), "failed": len(xs) - len(ok), "median_ms": 1e3 * median(ok) if ok else None,
            "max_ms": 1e3 * max(ok) if ok else None}


def reader(proc, url, groups, seconds, events: queue.Queue, res: dict):
    """st_client's events into `events`. Here, on time whatever the main thread (the tab) does: the CPU meter over
    the window's first `seconds` and, at their end, the server tree's memory."""
    def phase1_end(meter):
        res["cores_used"], pid = meter.stop(), SERVER_PIDS[url]
        res["memory"] = {**tree_mb(pid), "training_processes": len(training_processes(pid))}

    for line in proc.stdout:
        ev = json.loads(line)
        res.setdefault("client_events", {})[ev["event"]] = ev["wall"]
        if ev["event"] == "window_start":
            threading.Timer(seconds, phase1_end, (CpuMeter(groups).__enter__(),)).start()
        events.put(ev)
    events.put({"event": "eof"})


def next_event(events: queue.Queue, name: str, timeout: float) -> dict:
    deadline = time.time() + timeout
    while (left := deadline - time.time()) > 0:
        try:
            ev = events.get(timeout=left)
        except queue.Empty:
            break
        print(f"  clients: {ev['event']}", flush=True)
        if ev["event"] == name:
            return ev
        if ev["event"] == "eof":
            raise RuntimeError(f"st_client ended before its {name!r} event")
    raise RuntimeError(f"no {name!r} event from st_client within {timeout:.0f} s")


def open_tab(ctx, url):
    """Open the page, press Train, wait until its step counter passes 5 (every wait bounded)."""
    page = ctx.new_page()
    page.goto(url, timeout=120_000)
    page.locator("canvas[data-frame]").first.wait_for(timeout=120_000)
    page.wait_for_timeout(2000)  # let the first run finish laying out the page (see bench/ui.py's open_and_train)
    for attempt in range(3):  # a click while the layout moves can miss: press again if it did not start
        if page.evaluate(LABEL_IS, "Train"):
            page.locator(f"{BUTTON}:visible").first.click(timeout=30_000)
        try:
            page.wait_for_function(LABEL_IS, arg="Pause", timeout=30_000 * (attempt + 1), polling=100)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    deadline = time.time() + 120  # the numbers panel sits in a shadow root: a locator enters it, page JS does not
    while step_value(page) <= 5:
        if time.time() > deadline:
            raise TimeoutError("the tab's step counter did not pass 5 within 120 s")
        page.wait_for_timeout(500)
    page.evaluate(COUNT_FRAMES)
    return page


def flips(page, n=6) -> list:
    """n clicks on Train/Pause: [seconds from the click until the label flipped (None: not in 30 s), wall time]."""
    out = []
    for _ in range(n):
        want = "Train" if page.evaluate(LABEL_IS, "Pause") else "Pause"
        t, wall = time.perf_counter(), time.time()
        try:
            page.locator(f"{BUTTON}:visible").first.click(timeout=10_000)
            page.wait_for_function(LABEL_IS, arg=want, timeout=30_000, polling=50)
            out.append([time.perf_counter() - t, wall])
        except PlaywrightTimeout:
            print(f"  FAIL tab: the label did not flip to {want} within 30 s", flush=True)
            out.append([None, wall])
        page.wait_for_timeout(1000)
    return out


def measure(url, args, res: dict):
    """Steps 3-6: clients, the tab, the window, the clicks after it; fills res."""
    tab, page = res.setdefault("tab", {}), None

    def tab_failed(what, e):
        tab["error"] = f"{what}: {e!r}"[:400]
        print(f"  FAIL tab: {tab['error']}; screenshot class_tab_failed.png", flush=True)
        with suppress(Exception):
            ctx.pages[-1].screenshot(path=str(args.results / "class_tab_failed.png"), timeout=30_000)

    def sample(page):  # the step the tab shows, when, and the page's clock (ms)
        return step_value(page), time.perf_counter(), page.evaluate("() => performance.now()")

    cmd = [sys.executable, str(ROOT / "bench" / "st_client.py"), url, "--sessions", str(args.sessions - 1),
           "--seconds", str(args.seconds + args.click_seconds), "--warmup", str(args.warmup)]
    with ExitStack() as stack:
        ctx = stack.enter_context(browser())  # Chromium starts now; the page opens when the clients train
        probes, done = [], threading.Event()
        threading.Thread(target=health_probe, args=(url, probes, done), daemon=True).start()
        stack.callback(done.set)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        stack.callback(lambda: proc.poll() is None and proc.kill())
        groups = {**server_groups(url), "clients": lambda: [proc.pid], "browser": lambda: browser_pids((proc.pid,)),
                  "bench": lambda: [os.getpid()]}
        events: queue.Queue = queue.Queue()
        threading.Thread(target=reader, args=(proc, url, groups, args.seconds, events, res), daemon=True).start()
        loaded = next_event(events, "loaded", 900)
        training = next_event(events, "training", 300)
        res["health_train_all"] = health_in(probes, loaded["wall"], training["wall"])
        t = time.perf_counter()
        try:
            page = open_tab(ctx, url)
            tab.update(open_s=time.perf_counter() - t, ready_wall=time.time())
        except Exception as e:
            tab_failed("did not start training", e)
        ws = next_event(events, "window_start", args.warmup + 300)
        tab["training_before_window"] = page is not None and tab["ready_wall"] <= ws["wall"]
        w1 = ws["wall"] + args.seconds  # the throughput part of the window ends here; the tab's clicks follow
        try:
            if page is not None:
                if not tab["training_before_window"]:
                    print("  FAIL tab: not training when the window began; measured from now", flush=True)
                (s0, t0, p0), w_end = sample(page), max(w1, time.time() + 2)
                time.sleep(max(0.0, (w_end - time.time()) / 2))
                sm, tm, _ = sample(page)
                time.sleep(max(0.0, w_end - time.time()))
                s1, t1, p1 = sample(page)
                tab.update(steps_per_s=(s1 - s0) / (t1 - t0), window_s=t1 - t0,
                           halves_steps_per_s=[(sm - s0) / (tm - t0), (s1 - sm) / (t1 - tm)],
                           **frame_stats(page.evaluate("() => window.__frames"), p0, p1))
                tab["advancing"] = all(h > 0 for h in tab["halves_steps_per_s"])
                tab["flips"] = flips(page)
                tab["exceptions"] = page.locator('[data-testid="stException"]').count()
                page.screenshot(path=str(args.results / "class_tab.png"), timeout=30_000)
        except Exception as e:
            tab_failed("lost in the window", e)
        we = next_event(events, "window_end", args.seconds + args.click_seconds + 300)
        res["health"] = health_in(probes, ws["wall"], w1)
        res["health_clicks"] = health_in(probes, w1, we["wall"])
        # a flip counts only if the class was still training when it began (the clients leave after their window)
        tab["flips_s"] = [dt for dt, wall in tab.get("flips", []) if wall < we["wall"]]
        result = next_event(events, "result", 600)["result"]
        if proc.wait(timeout=120):
            raise RuntimeError(f"st_client exited {proc.returncode}")
        res["clients"] = {k: v for k, v in result.items() if k != "sessions"}
        res["clients"]["advancing"] = [s["advancing"] for s in result["sessions"]]
        res["clients"]["per_session"] = [{k: s[k] for k in ("steps_per_s", "halves_steps_per_s", "step_updates",
                                                            "received_kB_per_s", "frames_pulled_per_s")}
                                         for s in result["sessions"]]


def _f(x, fmt=".2f"):
    return "n/a" if x is None else format(x, fmt)


def verdicts(res: dict) -> list:
    """(target, met, what was measured) for each of issue 13's targets; a number not measured is a miss."""
    c, tab, cap, inf = res.get("clients", {}), res.get("tab", {}), res["capacity_steps_per_s"], float("inf")
    rates, adv, pause = c.get("steps_per_s", []) + [tab.get("steps_per_s")], c.get("advancing", []), \
        c.get("pause_click_latency_s")
    known = [r for r in rates if r is not None] or [0.0]
    total, slowest, mid = sum(known), min(known), median(known)
    train = [inf if x is None else x for x in c.get("train_click_latency_s", [])] or [inf]
    fl = [inf if x is None else x for x in tab.get("flips_s", [])] or [inf]
    return [("every session advancing in both halves", bool(c.get("all_advancing")) and bool(tab.get("advancing")),
             f"clients {sum(adv)} of {len(adv)}, tab {tab.get('advancing')}"),
            ("Train pressed all at once: answered, median <= 2 s", median(train) <= 2,
             f"median {median(train):.2f} s, worst {max(train):.2f} s, {train.count(inf)} not within 120 s"),
            ("client Pause click <= 1 s", pause is not None and pause <= 1, f"{_f(pause)} s"),
            ("tab Pause/Train click to label flip: median <= 1 s, worst <= 2 s", median(fl) <= 1 and max(fl) <= 2,
             f"median {median(fl):.2f} s, worst {max(fl):.2f} s ({', '.join(f'{x:.2f}' for x in fl)}; "
             f"{len(tab.get('flips_s', []))} of {len(tab.get('flips', []))} clicks began while the class trained)"),
            ("tab canvas frames/s drawn >= 2", tab.get("fps", 0) >= 2, f"{tab.get('fps', 0):.1f}"),
            ("sum of all sessions' steps/s >= 0.6 x capacity", None not in rates and total >= 0.6 * cap,
             f"{total:.0f} of {cap:.0f} ({total / cap:.2f})"),
            ("slowest session >= 0.5 x median session", None not in rates and slowest >= 0.5 * mid,
             f"{slowest:.1f} vs median {mid:.1f} steps/s"),
            ("no exception on the page, no client errors, run completed",
             tab.get("exceptions") == 0 and not c.get("errors") and "error" not in res,
             f"tab exceptions {tab.get('exceptions')}, client errors {len(c.get('errors', []))}"
             + (f", run error: {res['error'][:150]}" if "error" in res else ""))]


def report(res: dict) -> str:
    c, tab, h, cu, m = (res.get(k) or {} for k in ("clients", "tab", "health", "cores_used", "memory"))
    n, rates = res["sessions"], c.get("steps_per_s") or [None]
    after = res.get("headless_after_steps_per_s")
    rows = [("headless steps/s (before the class, after it) x CPUs = capacity",
             f"mean({res['headless_steps_per_s']:.1f}, {after:.1f}) x {res['cpus']} = "
             f"{res['capacity_steps_per_s']:.0f} steps/s (the machine was busy {res['headless_machine_busy_cores']:.2f}"
             " cores during the first, the headless run's included)"),
            ("client steps/s over the whole window (clicks included): median, min, max",
             ", ".join(_f(g(rates) if None not in rates else None, ".1f") for g in (median, min, max))),
            ("tab: opened and training after; training before the window", f"{_f(tab.get('open_s'), '.1f')} s; "
             f"{tab.get('training_before_window')}" + (f"; **{tab['error']}**" if "error" in tab else "")),
            ("tab: steps/s (halves); p90 gap between canvas frames", f"{_f(tab.get('steps_per_s'), '.1f')} ("
             + ", ".join(_f(x, ".1f") for x in tab.get("halves_steps_per_s", []))
             + f"); {_f(tab.get('p90_gap_ms'), '.0f')} ms"),
            *((f"GET /_stcore/health every 0.2 s {when}: median / max; failed", f"{_f(h.get('median_ms'), '.0f')} "
               f"ms / {_f(h.get('max_ms'), '.0f')} ms; {h.get('failed')} of {h.get('probes')}")
              for when, h in (("while Train was answered", res.get("health_train_all") or {}),
                              ("in the window", h), ("during the tab's clicks", res.get("health_clicks") or {}))),
            ("cores: server / workers / clients / browser / bench / others",
             " / ".join(_f(cu.get(k)) for k in ("server", "workers", "clients", "browser", "bench", "others"))),
            ("server tree at the window's end: RSS / PSS (per session)",
             f"{_f(m.get('rss_mb'), '.0f')} / {_f(m.get('pss_mb'), '.0f')} MB ({_f(m.get('rss_mb', 0) / n, '.0f')} / "
             f"{_f(m.get('pss_mb', 0) / n, '.0f')} MB); {m.get('processes')} processes, {m.get('training_processes')}"
             " training"),
            ("client errors", "; ".join(c.get("errors", [])[:5]) or "none")]
    return "\n".join([
        f"# A class on one server: {n} sessions ({n - 1} browserless + 1 Chromium tab)", "",
        f"{res['date']}, {res['machine']}, {res['cpus']} CPUs, load average at the start "
        f"{', '.join(f'{x:.1f}' for x in res['loadavg_start'])}; code: {res['code']}; {res['warmup']:g} s warmup, "
        f"{res['seconds']:g} s window + {res['click_seconds']:g} s for the tab's clicks (bench/class_load.py).", "",
        "| target | verdict | measured |", "|---|---|---|",
        *(f"| {name} | {'pass' if ok else '**FAIL**'} | {v} |" for name, ok, v in res["verdicts"]),
        "", "| also measured | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=30, help="sessions in all: clients + the Chromium tab")
    ap.add_argument("--seconds", type=float, default=30, help="the measured window")
    ap.add_argument("--warmup", type=float, default=120, help="seconds of training between Train and the window "
                    "(the tab must open and train in it)")
    ap.add_argument("--click-seconds", type=float, default=60, help="the window goes on this long after --seconds "
                    "for the tab's clicks, so that the class is still there")
    ap.add_argument("--code", type=Path, default=ROOT, help="the app to measure (serve.py there)")
    ap.add_argument("--code-label", help="what --code holds, for the report")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    code, args.results = args.code.resolve(), args.results.resolve()
    args.results.mkdir(parents=True, exist_ok=True)
    cpus = len(os.sched_getaffinity(0))
    res: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.node() + " " +
                 platform.machine(), "cpus": cpus, "loadavg_start": os.getloadavg(), "sessions": args.sessions,
                 "seconds": args.seconds, "warmup": args.warmup, "click_seconds": args.click_seconds,
                 "code": args.code_label or code_version(code)}
    print("headless capacity", flush=True)
    ui_bench.CODE = code  # headless_rate runs in this directory
    with CpuMeter({}) as meter:  # how busy the machine was meanwhile: the headless run is about 1 core of it
        res["headless_steps_per_s"] = ui_bench.headless_rate(10, os.sched_getaffinity(0))
        res["headless_machine_busy_cores"] = meter.stop()["all_busy"]
    print(f"  {res['headless_steps_per_s']:.1f} steps/s x {cpus} CPUs", flush=True)
    try:
        with streamlit_server(code / "serve.py", cwd=code) as url:
            measure(url, args, res)
    except Exception as e:  # keep what was measured
        res["error"] = repr(e)[:500]
        print(f"FAIL run: {res['error']}", flush=True)
    # One 10 s run on this machine varies by 15-40% from one minute to the next, so it runs again once the
    # server is gone, and capacity is the mean of both.
    res["headless_after_steps_per_s"] = ui_bench.headless_rate(10, os.sched_getaffinity(0))
    res["capacity_steps_per_s"] = cpus * (res["headless_steps_per_s"] + res["headless_after_steps_per_s"]) / 2
    print(f"  after: {res['headless_after_steps_per_s']:.1f} steps/s", flush=True)
    res["verdicts"] = verdicts(res)
    for name, ok, v in res["verdicts"]:
        print(f"{'pass' if ok else 'FAIL'}  {name}: {v}", flush=True)
    (args.results / "class.json").write_text(json.dumps(res, indent=2))
    (args.results / "class.md").write_text(report(res))
    print(f"wrote {args.results / 'class.md'}")


if __name__ == "__main__":
    main()
