"""Live UI benchmark: frames the browser really draws while training, training speed with the page
open against headless speed, and many sessions at once.

    python bench/ui.py [--seconds 15] [--rounds 2] [--sessions 10] [--no-watch] [--code DIR]
                       [--script serve.py|app.py] [--results DIR]
    python bench/ui.py --report-only        # rewrite ui.md from ui.json (in --results)

Every server is `streamlit run <--script>` in the measured code: serve.py (the default, what
`make run` serves) lets the canvas fetch its frames itself over HTTP (ui/frame_route.py); app.py
pushes them through a 0.1 s fragment, as before serve.py existed (runs whose ui.json records no
script served app.py).

While others edit the working tree, measure a frozen copy: `git archive HEAD | tar -x -C /tmp/snap`,
then `--code /tmp/snap --code-label "git archive of <commit>"` (a server imports the ui modules once
but re-reads app.py on every run, so an edit mid-benchmark can break every new session).

  1. One watched session, in two placements, `--rounds` times interleaved (medians reported):
     - shared: server, its training workers and headless Chromium all on this machine's cores, as
       they fall (an honest worst case: here the browser takes about one of the two cores);
     - split: the server and its workers pinned to CPU 0, Chromium (and this script, which drives
       it) pinned to CPU 1: "the browser is on the student's laptop".
     Each placement measures
     - headless: a LiveRun nobody watches, steps/s over the window, in a process of its own with
       the same CPUs as the server gets (all, or CPU 0);
     - watched: the server + Chromium, press Train, count distinct canvas frames drawn per second
       (the canvas's data-frame attribute, sampled every animation frame) and the step counter's
       rate. kept fraction = watched steps/s / headless steps/s (median of per-round ratios: each
       watched window sits next to its own headless one).
  2. Many sessions: N browserless clients (bench/st_client.py: the WebSocket protocol of a tab,
     fragment timers and, with serve.py, the canvas's frame pulls and the live panels' pulls and
     "state" triggers included, no rendering) on one server all press Train; every session's
     steps/s (the step its live numbers show) over the window must stay above zero in both halves
     of it, and each session's frames/s pulled is reported beside it (0 with app.py, whose canvas
     frames arrive in the WebSocket: frames/s pushed there), with serve.py also its panel answers
     per second and the reruns its panels asked for (state triggers); then one presses Pause and we
     time the answer. Run twice: clients only, then (unless --no-watch) with one real Chromium
     tab also training, to see that a real page still draws.
CPU use is read from /proc for process trees (server process, its training workers, the browser,
the clients); "others" is everything else busy on the machine in the window (other people's jobs).
Results go to ui.json and ui.md in --results (default bench/results; another directory for
exploratory runs), a screenshot to ui_watched.png there.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from devtools.browser import SERVER_PIDS, browser, descendants, streamlit_server  # noqa: E402

RESULTS = ROOT / "bench" / "results"  # --results
CODE = ROOT  # the checkout whose app.py and ebm_core are measured (--code)
CLK = os.sysconf("SC_CLK_TCK")
ALL_CPUS = frozenset(os.sched_getaffinity(0))

# The start snapshot must be fresh too: latest() returns the last snapshot received (possibly from
# seconds ago, if nobody asked since) and asks for a new one. So both ends wait for a snapshot
# newer than one received after the request: built after the moment that it stands for.
HEADLESS = """
import time, torch
from ebm_core import config, live
r = live.LiveRun(config.RunConfig()).start()
r.wait_for(lambda s: s.status == "paused", 120)
r.play(); time.sleep(3)
def fresh():
    a = r.wait_for(lambda s: s.status == "running")
    b = r.wait_for(lambda s: s.seq > a.seq)
    return r.wait_for(lambda s: s.seq > b.seq), time.perf_counter()
s0, t0 = fresh()
time.sleep({seconds})
s1, t1 = fresh()
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


# ---- CPU placement and accounting -------------------------------------------------------------

@contextlib.contextmanager
def affinity(cpus):
    """Run the block with this thread pinned to `cpus`: processes started in it inherit them."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def proc_cpu(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK
    except (OSError, IndexError):
        return 0.0


def allowed_cpus(pid: int) -> str | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(f) - f[3] - f[4]) / CLK  # all but idle and iowait


class CpuMeter:
    """CPU seconds of named process groups over a window, in cores (seconds per second).
    groups: name -> function returning the pids of that group now."""

    def __init__(self, groups: dict):
        self.groups = groups

    def __enter__(self):
        self.pids = {k: set(f()) for k, f in self.groups.items()}
        self.c0 = {k: {p: proc_cpu(p) for p in ps} for k, ps in self.pids.items()}
        self.busy0, self.t0 = machine_busy(), time.perf_counter()
        return self

    def stop(self) -> dict:
        dt = time.perf_counter() - self.t0
        out = {}
        for k, f in self.groups.items():
            pids = self.pids[k] | set(f())  # processes that started in the window count from 0
            out[k] = sum(proc_cpu(p) - self.c0[k].get(p, 0.0) for p in pids) / dt
        out["all_busy"] = (machine_busy() - self.busy0) / dt
        out["others"] = max(0.0, out["all_busy"] - sum(out[k] for k in self.groups))
        return out

    def __exit__(self, *exc):
        return False


def server_groups(url: str) -> dict:
    pid = SERVER_PIDS[url]
    return {"server": lambda: [pid], "workers": lambda: descendants(pid)}


def browser_pids(exclude: tuple[int, ...] = ()) -> list[int]:
    """This script's descendants except the servers' trees and `exclude`: the browser's processes."""
    skip = set(exclude)
    for p in SERVER_PIDS.values():
        skip |= {p, *descendants(p)}
    return [p for p in descendants(os.getpid()) if p not in skip]


# ---- measurements -----------------------------------------------------------------------------

def headless_rate(seconds: float, cpus) -> float:
    with affinity(cpus):
        out = subprocess.run([sys.executable, "-c", HEADLESS.format(seconds=seconds)], cwd=CODE, capture_output=True,
                             text=True, timeout=seconds + 180,
                             env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    if out.returncode:
        raise RuntimeError(f"headless run failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def step_value(page) -> int:
    """The step the live numbers show (their block carries it as data-step, with serve.py's panel and
    with app.py's fragment alike)."""
    return int(page.locator(".ebm-numbers[data-step]").first.get_attribute("data-step", timeout=30_000))


def open_and_train(ctx, url):
    page = ctx.new_page()
    try:
        page.goto(url, timeout=300_000)
        page.locator("canvas[data-frame]").first.wait_for(timeout=300_000)
        page.wait_for_timeout(2000)  # let the first run finish laying out the page
        for attempt in range(3):
            # A click while the layout still moves can land on the Step button next to Train (seen:
            # "paused at step 1"), so check that training started, and press Train again if not.
            button = page.locator(".st-key-train button:visible").first
            if "Train" in button.inner_text():
                button.click()
            try:
                page.locator(".st-key-train button:visible").filter(has_text="Pause").first.wait_for(
                    timeout=60_000 * (attempt + 1))
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        deadline = time.time() + 300  # the numbers sit in a shadow root: a locator enters it, page JS does not
        while step_value(page) <= 5:
            if time.time() > deadline:
                raise TimeoutError("the tab's step counter did not pass 5 within 300 s")
            page.wait_for_timeout(500)
    except Exception:
        shot = Path(tempfile.gettempdir()) / f"bench_ui_failed_{int(time.time())}.png"
        page.screenshot(path=str(shot))
        print(f"  page did not start training; screenshot {shot}", flush=True)
        raise
    return page


def frame_stats(frames: list, t0_ms: float | None = None, t1_ms: float | None = None) -> dict:
    if t0_ms is not None:
        frames = [f for f in frames if t0_ms <= f[0] <= t1_ms]
    changes = [t for (t, f), (_, g) in zip(frames[1:], frames[:-1]) if f != g]
    gaps = sorted(b - a for a, b in zip(changes, changes[1:]))
    span = frames[-1][0] - frames[0][0] if len(frames) > 1 else 0
    return {"fps": len(changes) / span * 1000 if span else 0.0,
            "p90_gap_ms": gaps[int(0.9 * len(gaps))] if gaps else None,
            "animation_frames_per_s": len(frames) / span * 1000 if span else 0.0}


def watched(url: str, seconds: float, browser_cpus, screenshot: bool) -> dict:
    with affinity(browser_cpus), browser() as ctx:  # the Playwright driver and Chromium inherit the CPUs
        page = open_and_train(ctx, url)
        time.sleep(2)
        groups = {**server_groups(url), "browser": browser_pids}
        placement = {k: sorted({allowed_cpus(p) for p in f()} - {None}) for k, f in groups.items()}
        page.evaluate(COUNT_FRAMES)
        with CpuMeter(groups) as cpu:
            s0, t0 = step_value(page), time.perf_counter()
            time.sleep(seconds)
            s1, t1 = step_value(page), time.perf_counter()
            cores = cpu.stop()
        res = frame_stats(page.evaluate("() => window.__frames"))
        if screenshot:
            page.mouse.move(5, 5)  # no button tooltip in the picture
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            page.wait_for_timeout(300)
            page.screenshot(path=str(RESULTS / "ui_watched.png"))
        return {**res, "steps_per_s": (s1 - s0) / (t1 - t0), "cores_used": cores, "cpus_allowed": placement}


def many(url: str, n: int, seconds: float, warmup: float, watch: bool) -> dict:
    """n browserless sessions (bench/st_client.py) train at once, optionally with one real tab too."""
    stack = contextlib.ExitStack()
    with stack:
        page = None
        if watch:
            ctx = stack.enter_context(browser())
            page = open_and_train(ctx, url)
            page.evaluate(COUNT_FRAMES)
        cmd = [sys.executable, str(ROOT / "bench" / "st_client.py"), url, "--sessions", str(n),
               "--seconds", str(seconds), "--warmup", str(warmup)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        groups = {**server_groups(url), "clients": lambda: [proc.pid],
                  "browser": lambda: browser_pids((proc.pid,))}
        tab, meter, result, events = {}, None, None, []
        for line in proc.stdout:
            ev = json.loads(line)
            events.append({k: v for k, v in ev.items() if k != "result"})
            print(f"  clients: {ev['event']}", flush=True)
            if ev["event"] == "window_start":
                meter = CpuMeter(groups).__enter__()
                if page is not None:
                    tab = {"s0": step_value(page), "t0": time.perf_counter(),
                           "p0": page.evaluate("() => performance.now()")}
            elif ev["event"] == "window_end":
                cores = meter.stop()
                if page is not None:
                    s1, t1, p1 = step_value(page), time.perf_counter(), page.evaluate("() => performance.now()")
                    tab = {"steps_per_s": (s1 - tab["s0"]) / (t1 - tab["t0"]),
                           **frame_stats(page.evaluate("() => window.__frames"), tab["p0"], p1)}
            elif ev["event"] == "result":
                result = ev["result"]
        if proc.wait() or result is None:
            raise RuntimeError(f"st_client failed (exit {proc.returncode}); events: {events}")
        loaded = next((e["seconds"] for e in events if e["event"] == "loaded"), None)
        return {**result, "cores_used": cores, "load_seconds": loaded,
                "watching_tab": tab if page is not None else None,
                "server_cpu_ms_per_session_s": 1e3 * cores["server"] / (n + (page is not None))}


def code_version(d: Path) -> str:
    """The measured code: its git commit (+ "dirty" if files differ), or the directory if not a checkout."""
    try:
        rev = subprocess.run(["git", "-C", str(d), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(d), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return f"{d} (not a git checkout)"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize_fragments(sessions: list[dict]) -> dict:
    """Per requested interval: median over sessions of fragment reruns requested and run per second."""
    out = {}
    for iv in sorted({k for s in sessions for k in s["fragments"]}, key=float):
        ds = [s["fragments"][iv] for s in sessions if iv in s["fragments"]]
        out[iv] = {k: median([d[k] for d in ds]) for k in ("requested_per_s", "ran_per_s", "dropped_per_s")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=10, help="seconds the sessions train before the window")
    ap.add_argument("--no-watch", action="store_true", help="skip the many-session run with a real tab watching")
    ap.add_argument("--skip-single", action="store_true", help="only the many-session part")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="measure the app in this directory (e.g. a `git archive HEAD` copy while the working tree "
                         "is being edited); results still go to --results")
    ap.add_argument("--code-label", help="what --code holds, for the report (e.g. 'git archive of 204b5fb')")
    ap.add_argument("--script", default="serve.py",
                    help="what every server runs, in --code: serve.py (canvas pulls its frames over HTTP) or app.py "
                         "(frames pushed through a fragment, the old path)")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results",
                    help="directory for ui.json, ui.md and the screenshot (default bench/results; use another one for "
                         "exploratory runs); --report-only reads and writes there too")
    ap.add_argument("--report-only", action="store_true", help="rewrite ui.md from ui.json, measure nothing")
    args = ap.parse_args()
    global CODE, RESULTS
    RESULTS = args.results.resolve()
    if args.report_only:
        res = json.loads((RESULTS / "ui.json").read_text())
        args.seconds, args.rounds = res["seconds"], res["rounds"]
        args.sessions = next((res[k]["n"] for k in ("many_clients", "many_clients_and_tab") if k in res), args.sessions)
        (RESULTS / "ui.md").write_text(report(res, args))
        return
    CODE = args.code.resolve()
    if not (CODE / args.script).is_file():
        ap.error(f"--script: no {args.script} in {CODE}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    res: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
                 "cpus": len(ALL_CPUS), "seconds": args.seconds, "rounds": args.rounds,
                 "loadavg_start": os.getloadavg(), "code": args.code_label or code_version(CODE),
                 "script": args.script}
    cpu0, cpu1 = frozenset({min(ALL_CPUS)}), frozenset(ALL_CPUS - {min(ALL_CPUS)}) or ALL_CPUS
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(streamlit_server(CODE / args.script, cwd=CODE))
        if not args.skip_single:
            with affinity(cpu0):  # the pinned server and every process it starts stay on CPU 0
                url_pinned = stack.enter_context(streamlit_server(CODE / args.script, cwd=CODE))
            modes = {"shared": (url, ALL_CPUS, ALL_CPUS), "split": (url_pinned, cpu0, cpu1)}
            rounds = {m: [] for m in modes}
            for r in range(args.rounds):
                for m, (u, server_cpus, browser_cpus) in modes.items():
                    print(f"round {r + 1}/{args.rounds}, {m}: headless", flush=True)
                    try:
                        h = headless_rate(args.seconds, server_cpus)
                        print(f"  headless {h:.1f} steps/s; watched", flush=True)
                        w = watched(u, args.seconds, browser_cpus, screenshot=(m == "shared"))
                    except Exception as e:  # a loaded machine can time a round out: keep the others
                        print(f"  failed: {e!r}"[:300], flush=True)
                        res.setdefault("failed_rounds", []).append({"mode": m, "round": r + 1, "error": repr(e)[:500]})
                        continue
                    w.update(headless_steps_per_s=h, kept_fraction=w["steps_per_s"] / h, loadavg=os.getloadavg())
                    cores = json.dumps({k: round(v, 2) for k, v in w["cores_used"].items()})
                    print(f"  watched {w['steps_per_s']:.1f} steps/s, {w['fps']:.1f} frames/s, "
                          f"kept {w['kept_fraction']:.2f}; cores {cores}", flush=True)
                    rounds[m].append(w)
            for m, ws in rounds.items():
                if not ws:
                    continue
                res[m] = {"rounds": ws, "fps": median([w["fps"] for w in ws]),
                          "p90_gap_ms": median([w["p90_gap_ms"] for w in ws]),
                          "headless_steps_per_s": median([w["headless_steps_per_s"] for w in ws]),
                          "watched_steps_per_s": median([w["steps_per_s"] for w in ws]),
                          "kept_fraction": median([w["kept_fraction"] for w in ws]),
                          "cores_used": {k: median([w["cores_used"][k] for w in ws]) for k in ws[0]["cores_used"]}}
        runs = [("clients", False)] + ([] if args.no_watch else [("clients_and_tab", True)])
        for name, watch in runs:
            print(f"{args.sessions} sessions ({name})", flush=True)
            try:
                m = many(url, args.sessions, args.seconds, args.warmup, watch)
            except Exception as e:  # keep what the other parts measured
                print(f"  failed: {e!r}"[:300], flush=True)
                res[f"many_{name}_error"] = repr(e)[:500]
                continue
            m["fragment_rates"] = summarize_fragments(m["sessions"])
            m["loadavg"] = os.getloadavg()
            res[f"many_{name}"] = m
            print(f"  steps/s {', '.join(f'{x:.1f}' for x in m['steps_per_s'])}; frames/s pulled "
                  f"{', '.join(f'{x:.1f}' for x in m['frames_pulled_per_s'])}, pushed "
                  f"{', '.join(f'{x:.1f}' for x in m['frames_pushed_per_s'])}; all advancing {m['all_advancing']}",
                  flush=True)
    try:  # keep a one-line summary of earlier runs: on a shared machine one run is not the whole story
        old = json.loads((RESULTS / "ui.json").read_text())
        res["earlier_runs"] = ([summary(old)] + old.get("earlier_runs", []))[:4]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    (RESULTS / "ui.json").write_text(json.dumps(res, indent=2))
    md = report(res, args)
    (RESULTS / "ui.md").write_text(md)
    print(md)


def summary(res: dict) -> dict:
    """The headline numbers of one run (for the history kept in ui.json)."""
    out = {"date": res["date"], "code": res.get("code"), "script": res.get("script", "app.py"),
           "loadavg_start": res.get("loadavg_start")}
    for m in ("shared", "split"):
        if m in res:
            out[m] = {k: res[m][k] for k in ("fps", "kept_fraction", "headless_steps_per_s", "watched_steps_per_s")}
            out[m]["others_cores"] = res[m]["cores_used"]["others"]
    for name in ("clients", "clients_and_tab"):
        m = res.get(f"many_{name}")
        if m:
            out[name] = {"n": m["n"], "steps_per_s": [round(x, 1) for x in m["steps_per_s"]],
                         "all_advancing": m["all_advancing"], "pause_click_latency_s": m["pause_click_latency_s"],
                         "others_cores": m["cores_used"]["others"]}
            if "frames_pulled_per_s" in m:
                out[name]["frames_pulled_per_s"] = [round(x, 1) for x in m["frames_pulled_per_s"]]
            if "state_triggers" in m:
                out[name]["state_triggers"] = m["state_triggers"]
    return out


def frames_line(m: dict, script: str) -> str:
    """The many-sessions report's line on canvas frames per session (serve.py: pulled over HTTP)."""
    ss = m["sessions"]
    pushed = ", ".join(f"{r:.1f}" for r in m.get("frames_pushed_per_s", []))
    if not m.get("frame_sources") and any(m.get("frames_pushed_per_s", [])):
        return f"- canvas frames/s per session, pushed in the WebSocket (no frame pulls): {pushed}"
    line = (f"- canvas frames/s pulled per session: {', '.join(f'{r:.1f}' for r in m['frames_pulled_per_s'])} "
            f"(median {_f(median(m['frames_pulled_per_s']), '.1f')}, at most 12 by the canvas's 83 ms spacing; "
            f"{median([s['frame_kB_per_s'] for s in ss]):.0f} kB/s per session; answered in "
            f"{_f(median([s['frame_wait_ms']['median'] for s in ss]), '.0f')} ms median; "
            f"{median([s['frames_204_per_s'] for s in ss]):.1f} 204s/s)")
    errors: dict[str, int] = {}
    for s in ss:
        for k, v in s["frame_errors"].items():
            errors[k] = errors.get(k, 0) + v
    gone = sum(s["frames_404"] for s in ss)
    if errors or gone:
        line += (f"; **{', '.join(f'{v} {k}' for k, v in errors.items()) or 'no errors'}, {gone} 404s** "
                 "in the window")
    if script != "app.py" and m.get("frame_sources", m["n"]) < m["n"]:
        line += f"; **only {m['frame_sources']} of {m['n']} sessions got a frame source**"
    if any(m.get("frames_pushed_per_s", [])):
        line += f"; frames/s pushed in the WebSocket per session: {pushed}"
    return line


def panels_line(m: dict) -> str | None:
    """The many-sessions report's line on the live panels (serve.py: numbers and curves pulled over HTTP,
    and the page reruns they asked for); None for runs without panels (app.py, older runs)."""
    ss = m["sessions"]
    names = sorted({k for s in ss for k in s.get("panels", {})})
    if not names:
        return None
    parts = []
    for k in names:
        ps = [s["panels"][k] for s in ss if k in s.get("panels", {})]
        errors: dict[str, int] = {}
        for p in ps:
            for e, v in p["errors"].items():
                errors[e] = errors.get(e, 0) + v
        gone = sum(p["404"] for p in ps)
        part = (f"{k.removesuffix('_panel')} {median([p['updates_per_s'] for p in ps]):.2f} answers/s "
                f"({median([p['204_per_s'] for p in ps]):.2f} 204s/s, {median([p['kB_per_s'] for p in ps]):.1f} kB/s)")
        if errors or gone:
            part += f" **{', '.join(f'{v} {e}' for e, v in errors.items()) or 'no errors'}, {gone} 404s**"
        parts.append(part)
    line = f"- live panels per session (median): {'; '.join(parts)}"
    if m.get("panel_sources", m["n"]) < m["n"]:
        line += f"; **only {m['panel_sources']} of {m['n']} sessions got a numbers panel**"
    triggers = m.get("state_triggers", [s.get("state_triggers", 0) for s in ss])
    line += (f"; page reruns asked for by the panels (\"state\" triggers: the run's state moved past what the "
             f"page showed) per session since it opened: {', '.join(map(str, triggers))}")
    if m.get("paused_session_state_triggers"):
        line += f", after the Pause click: {len(m['paused_session_state_triggers'])}"
    return line


def _f(x, fmt=".2f"):
    return "n/a" if x is None else format(x, fmt)


SCRIPTS = {"serve.py": "the canvas fetches its frames itself over HTTP, ui/frame_route.py",
           "app.py": "canvas frames pushed through a 0.1 s fragment"}


def report(res: dict, args) -> str:
    script = res.get("script", "app.py")
    md = [f"# Live UI benchmark ({res['date']}, {res['machine']}, {res['cpus']} CPUs, {args.seconds:g} s windows)", "",
          f"Code measured: {res['code']}, served as `streamlit run {script}` ({SCRIPTS.get(script, 'see --script')})"
          + ("" if "script" in res else "; not recorded in this ui.json: runs before --script existed served app.py")
          + ".", "",
          f"Load average at the start {', '.join(f'{x:.1f}' for x in res['loadavg_start'])}: the machine is shared "
          "with other people's jobs, so every number is a median of interleaved runs and \"others\" below is the "
          "CPU they took in the window.", ""]
    if "shared" in res or "split" in res:
        md += ["## One watched session", "",
               f"Medians of {args.rounds} rounds; each watched window is compared with a headless window measured "
               "just before it with the same CPUs.", "",
               "| placement | frames/s drawn (target >= 5) | p90 frame gap | headless steps/s | watched steps/s | "
               "kept (target >= 0.8) | cores: server / workers / browser / others |",
               "|---|---|---|---|---|---|---|"]
        names = {"shared": "shared: server, workers and Chromium on the same 2 cores",
                 "split": "split: server + workers on CPU 0, Chromium on CPU 1 (browser on another machine)"}
        for m in ("shared", "split"):
            if m not in res:
                md.append(f"| {names[m]} | every round failed | | | | | |")
                continue
            r, c = res[m], res[m]["cores_used"]
            md.append(f"| {names[m]} | **{r['fps']:.1f}** | {_f(r['p90_gap_ms'], '.0f')} ms | "
                      f"{r['headless_steps_per_s']:.1f} | {r['watched_steps_per_s']:.1f} | "
                      f"**{r['kept_fraction']:.2f}** | "
                      f"{c['server']:.2f} / {c['workers']:.2f} / {c['browser']:.2f} / {c['others']:.2f} |")
        md += ["", "Per round (kept fraction, frames/s): " + "; ".join(
            f"{m} " + ", ".join(f"{w['kept_fraction']:.2f} @ {w['fps']:.1f} fps" for w in res[m]["rounds"])
            for m in ("shared", "split") if m in res), ""]
        if res.get("failed_rounds"):
            md += ["Failed rounds: " + "; ".join(f"{f['mode']} {f['round']}: {f['error'][:120]}"
                                                 for f in res["failed_rounds"]), ""]
    for name, title in (("clients", "browserless clients"),
                        ("clients_and_tab", "browserless clients + 1 Chromium tab")):
        m = res.get(f"many_{name}")
        if res.get(f"many_{name}_error"):
            md += [f"## {args.sessions} sessions training at once ({title})", "",
                   f"Failed: {res[f'many_{name}_error'][:300]}", ""]
        if not m:
            continue
        c = m["cores_used"]
        frag = ", ".join(f"every {iv} s: {d['requested_per_s']:.1f} asked / {d['ran_per_s']:.1f} delivered / "
                         f"{d['dropped_per_s']:.1f} dropped per s" for iv, d in m["fragment_rates"].items())
        clicks = [x for x in m["train_click_latency_s"] if x is not None]
        rt = [s["rerun_round_trip_ms"]["median"] for s in m["sessions"]]
        md += [f"## {m['n']} sessions training at once ({title})", "",
               f"- steps/s per session: {', '.join(f'{r:.1f}' for r in m['steps_per_s'])} "
               f"(sum {sum(m['steps_per_s']):.0f}); every session advancing in both halves of the window: "
               f"**{m['all_advancing']}**"]
        if "frames_pulled_per_s" in m:  # not in runs before st_client pulled frames
            md.append(frames_line(m, script))
        pl = panels_line(m)
        if pl:
            md.append(pl)
        md += [f"- Train pressed in all sessions at once: answered in {_f(median(clicks), '.1f')} s median, "
               f"{_f(max(clicks) if clicks else None, '.1f')} s worst; {m['n'] - len(clicks)} not within 120 s",
               f"- then a Pause click in one session answered in **{_f(m['pause_click_latency_s'])} s** "
               f"(its step counter then moved {m['paused_session_steps_after_3s']} steps in 3 s)",
               (f"- fragment reruns per session (median): {frag}; auto-rerun round trip median "
                f"{_f(median(rt), '.0f')} ms; " if frag else "- no fragment reruns (nothing on the page reruns by "
                "itself); ") + f"{median([s['kB_per_s'] for s in m['sessions']]):.0f} kB/s per session in the "
               "WebSocket" + (f", {median([s['received_kB_per_s'] for s in m['sessions']]):.0f} kB/s received in all"
                              if "received_kB_per_s" in m["sessions"][0] else ""),
               f"- cores busy: server process {c['server']:.2f} ({m['server_cpu_ms_per_session_s']:.0f} ms per "
               f"session per second), training workers {c['workers']:.2f}, clients {c['clients']:.2f}, "
               f"browser {c['browser']:.2f}, others {c['others']:.2f}"]
        if m.get("watching_tab"):
            t = m["watching_tab"]
            md.append(f"- the Chromium tab: {t['fps']:.1f} frames/s drawn, {t['steps_per_s']:.1f} steps/s")
        silent = sum(1 for s in m["sessions"] if s.get("received_kB_per_s", s["kB_per_s"]) < 0.5)
        if silent:
            md.append(f"- **{silent} of {m['n']} sessions received (almost) nothing in the window** (< 0.5 kB/s in "
                      "the WebSocket, frames and panels together): "
                      "the server was not sending, not just slow to train (see bench/st_client.py, \"Reading the "
                      "numbers\")")
        timers = [len(s["fragments"]) for s in m["sessions"]]
        short = [i for i, k in enumerate(timers) if k < max(timers)]
        if short:
            md.append(f"- **session(s) {', '.join(map(str, short))} had only "
                      f"{', '.join(str(timers[i]) for i in short)} of {max(timers)} fragment timers**: the server "
                      "never sent their other auto_rerun messages, so those fragments (e.g. the live numbers) stopped "
                      "refreshing until the next full run (see bench/st_client.py, \"Reading the numbers\")")
        md.append("")
    if res.get("earlier_runs"):
        md += ["## Earlier runs (same benchmark; the machine's other load differs from run to run)", ""]
        for e in res["earlier_runs"]:
            script = e.get("script", "app.py")
            parts = [f"{e['date']} (load {e['loadavg_start'][0]:.1f}, code {e.get('code')}, {script})"]
            for m in ("shared", "split"):
                if m in e:
                    parts.append(f"{m}: kept {e[m]['kept_fraction']:.2f}, {e[m]['fps']:.1f} fps, "
                                 f"others {e[m]['others_cores']:.2f} cores")
            for name in ("clients", "clients_and_tab"):
                if name in e:
                    c = e[name]
                    parts.append(f"{c['n']} sessions ({name.replace('_', ' ')}): steps/s {c['steps_per_s']}, "
                                 + (f"frames/s pulled {c['frames_pulled_per_s']}, " if "frames_pulled_per_s" in c
                                    else "")
                                 + f"all advancing {c['all_advancing']}, pause {_f(c['pause_click_latency_s'])} s")
            md.append("- " + "; ".join(parts))
        md.append("")
    return "\n".join(md)


if __name__ == "__main__":
    main()
