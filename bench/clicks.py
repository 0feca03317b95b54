"""Click-to-answer latency on the 2D Playground, for ONE user, in a real browser.

    python bench/clicks.py [--rounds 5] [--results bench/results] [--code DIR [--code-label TEXT]]

Starts `streamlit run serve.py` (as `make run` does; --code DIR measures another checkout, e.g. a
`git archive` snapshot while others edit this one) and drives headless Debian Chromium through
Playwright on this machine, so server, training worker and browser share its cores.

Each timed click is ONE `page.evaluate`: it reads performance.now(), dispatches element.click() on
the control (for a selectbox, Playwright first opens the dropdown, untimed, and the click on the
option is timed), then checks the answer condition on every requestAnimationFrame and on every DOM
mutation, and resolves with the elapsed ms; no answer within 15 s counts as 15000 ms and fails.
Visible answers:
  train / pause   the Train button's text contains "Pause" / "Train"
  step            the canvas's aria-label ("step N", the title it drew) shows a larger N
  reset           the canvas's aria-label is "step 0"
  view            canvas data-mode equals the chosen view; without data-mode: data-draws grew and
                  the drawn colours match the view: on a 24x24 grid of plot pixels (legend corner
                  left out) > 50 % near-white for density, < 10 % for energy (checked on Eight
                  Gaussians, the data set of the view clicks; "pixels differ" alone would fire on any
                  training frame)
  dataset         canvas data-src changed and aria-label is "step 0"; without data-src (or with an
                  empty one: frames pushed, no frame route): aria-label "step 0" and the pixels
                  differ from before the click (the run was at step N > 0 before)
  preset          a visible alert with "Lesson: <label>" of the chosen lesson
  rollback        the Roll back button is gone and a visible alert says "Rolled back"
Every round opens a fresh tab (a fresh session and run) and clicks, ~1.5 s apart:
  Train (from paused) -> view energy->density, density->energy (training) -> Pause (training)
  -> Step (paused) -> Dataset (paused after training; cycles two_moons, rings) -> [Train] -> Reset
  (training) -> Preset (cycles lessons) -> [Train, step size 5 + Enter, wait for the divergence
  guard's Roll back button] -> Roll back.      ([...] = untimed set-up)
Writes clicks.json (raw samples, with the rule each used) and clicks.md (the table) to --results.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.browser import browser, streamlit_server  # noqa: E402

CANVAS = ".st-key-live_canvas canvas[data-frame]"
TIMEOUT_MS = 15000
GAP_S = 1.5
TARGET_MEDIAN, TARGET_WORST = 500, 1000
CONTROLS = ["train", "view", "pause", "step", "dataset", "reset", "preset", "rollback"]
DATASETS = [("two_moons", "Two moons"), ("rings", "Concentric rings")]
PRESETS = ["pcd", "cd1", "long_run", "short_run", "step_too_small"]  # not step_too_large: it diverges

# args: [target, kind, arg, limit ms]. target: a CSS selector (first visible match), or "option:<text>" (an
# open dropdown's option). Resolves {ms, timeout, rule, seen}.
MEASURE_JS = """async ([target, kind, arg, limit]) => {
  const vis = e => e && e.isConnected && e.checkVisibility();
  const first = sel => [...document.querySelectorAll(sel)].find(vis);
  const canvas = () => {  // the live canvas sits in a (open) shadow root
    for (const e of document.querySelectorAll('.st-key-live_canvas, .st-key-live_canvas *')) {
      const c = (e.shadowRoot || e).querySelector && (e.shadowRoot || e).querySelector('canvas[data-frame]');
      if (c) return c;
    }
    return null;
  };
  const alerts = () => [...document.querySelectorAll('[data-testid=stAlert]')].filter(vis).map(e => e.innerText);
  const stepOf = c => {
    const m = /step (\\d+)/.exec(c && c.getAttribute('aria-label') || '');
    return m ? +m[1] : null;
  };
  const el = target.startsWith('option:')
    ? [...document.querySelectorAll('[role=option]')].find(o => o.innerText.trim() === target.slice(7))
    : first(target);
  if (!el) return {ms: null, error: 'no element ' + target};
  const c0 = canvas(), b = {step: stepOf(c0), draws: c0 ? +c0.dataset.draws : 0,
    src: (c0 && c0.dataset.src) || undefined, mode: c0 && c0.dataset.mode, shot: null};
  if (kind === 'dataset' && b.src === undefined && c0) b.shot = c0.toDataURL();
  let lastDraws = -1, hit = false;  // the pixel rules look only at newly drawn frames
  const onNewDraw = (c, test) => {
    const d = +c.dataset.draws;
    if (!hit && d !== lastDraws) { lastDraws = d; hit = d > b.draws && test(c); }
    return hit;
  };
  const whiteShare = c => {  // share of near-white plot pixels (layout as in ui/components/canvas.js, `layout`)
    const W = c.width, dpr = window.devicePixelRatio || 1, ml = 36 * dpr, mt = 34 * dpr, P = W - 48 * dpr;
    const px = c.getContext('2d').getImageData(0, 0, W, c.height).data;
    let white = 0, n = 0;
    for (let i = 0; i < 24; i++) for (let j = 0; j < 24; j++) {
      const x = Math.round(ml + (i + .5) / 24 * P), y = Math.round(mt + (j + .5) / 24 * P);
      if (x > ml + .6 * P && y < mt + .35 * P) continue;  // the legend
      const k = 4 * (y * W + x);
      n++; white += px[k] > 215 && px[k + 1] > 215 && px[k + 2] > 215;
    }
    return white / n;
  };
  const btnText = () => { const e = first('.st-key-train button'); return e ? e.innerText : ''; };
  const conds = {
    train: () => btnText().includes('Pause'),
    pause: () => btnText().includes('Train'),
    step: () => { const s = stepOf(canvas()); return s !== null && b.step !== null && s > b.step; },
    reset: () => stepOf(canvas()) === 0,
    view: () => { const c = canvas(); if (!c) return false;
      return b.mode !== undefined ? c.dataset.mode === arg
        : onNewDraw(c, c => arg === 'density' ? whiteShare(c) > .5 : whiteShare(c) < .1); },
    dataset: () => { const c = canvas(); if (!c || stepOf(c) !== 0) return false;
      return b.src !== undefined ? c.dataset.src !== b.src : onNewDraw(c, c => c.toDataURL() !== b.shot); },
    preset: () => alerts().some(t => t.includes('Lesson: ' + arg)),
    rollback: () => !first('.st-key-rollback button') && alerts().some(t => t.includes('Rolled back')),
  };
  const rule = kind === 'view' ? (b.mode !== undefined ? 'data-mode' : 'draws+colours')
    : kind === 'dataset' ? (b.src !== undefined ? 'data-src+step 0' : 'step 0+pixels') : 'dom';
  return await new Promise(resolve => {
    let done = false, obs;
    const t0 = performance.now();
    const check = () => {
      if (done) return;
      const ms = performance.now() - t0, ok = conds[kind]();
      if (ok || ms > limit) {
        done = true; obs.disconnect();
        const c = canvas();
        resolve({ms: ok ? ms : null, timeout: !ok, rule,
                 seen: {label: c && c.getAttribute('aria-label'), mode: c && c.dataset.mode, button: btnText(),
                        alerts: alerts().map(t => t.slice(0, 80)), before_step: b.step}});
      } else requestAnimationFrame(check);
    };
    obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    if (c0) obs.observe(c0, {attributes: true});
    el.click();
    requestAnimationFrame(check);
  });
}"""


class Bench:
    def __init__(self, page, url: str):
        self.page, self.url, self.samples = page, url, []

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def timed(self, rnd: int, control: str, target: str, kind: str, arg: str = "", note: str = "") -> dict:
        r = self.page.evaluate(MEASURE_JS, [target, kind, arg, TIMEOUT_MS])
        ms = TIMEOUT_MS if r.get("ms") is None else round(r["ms"], 1)
        s = {"round": rnd, "control": control, "ms": ms, "note": note, **r, **busy()}
        self.samples.append(s)
        late = "TIMEOUT " + json.dumps(r.get("seen")) if r.get("timeout") else ""
        self.log(f"  round {rnd} {control:<8} {ms:8.1f} ms {late}{r.get('error', '')}")
        time.sleep(GAP_S)
        return s

    def open(self) -> None:
        self.page.goto(self.url + "/")
        self.page.locator(CANVAS).wait_for(timeout=120_000)
        time.sleep(3)  # let the new session's worker finish starting

    def button(self, key: str, text: str, timeout: float = 15_000):
        return self.page.locator(f".st-key-{key} button:visible").filter(has_text=text).first.wait_for(timeout=timeout)

    def pick(self, key: str, option: str, rnd: int, control: str, kind: str, arg: str) -> dict:
        self.page.locator(f".st-key-{key} input").click()  # open the dropdown (untimed)
        self.page.locator("[role=option]").filter(has_text=option).first.wait_for(timeout=10_000)
        return self.timed(rnd, control, "option:" + option, kind, arg)

    def round(self, rnd: int, presets: dict) -> None:
        p = self.page
        self.open()
        self.timed(rnd, "train", ".st-key-train button", "train")
        time.sleep(1)  # training for a moment before the view changes
        self.timed(rnd, "view", ".st-key-view input[type=radio][value='1']", "view", "density", "energy->density")
        self.timed(rnd, "view", ".st-key-view input[type=radio][value='0']", "view", "energy", "density->energy")
        self.timed(rnd, "pause", ".st-key-train button", "pause")
        self.button("train", "Train")
        self.timed(rnd, "step", ".st-key-step button", "step")
        key, label = DATASETS[rnd % len(DATASETS)]
        self.pick("dataset", label, rnd, "dataset", "dataset", key)
        p.locator(".st-key-train button:visible").first.click()  # untimed: train, then reset while training
        self.button("train", "Pause")
        time.sleep(2)
        self.timed(rnd, "reset", ".st-key-reset button", "reset", note="while training")
        pkey = PRESETS[rnd % len(PRESETS)]
        self.pick("preset_pick", presets[pkey], rnd, "preset", "preset", presets[pkey])
        p.locator(".st-key-train button:visible").first.click()  # untimed: make the run diverge
        self.button("train", "Pause")
        time.sleep(1)
        box = p.locator(".st-key-step_size input")
        box.fill("5")
        box.press("Enter")
        try:
            self.button("rollback", "Roll back", timeout=60_000)
        except Exception:
            self.log(f"  round {rnd} rollback: no Roll back button within 60 s")
            self.samples.append({"round": rnd, "control": "rollback", "ms": TIMEOUT_MS, "timeout": True,
                                 "error": "the divergence guard never showed Roll back", **busy()})
            return
        time.sleep(GAP_S)
        self.timed(rnd, "rollback", ".st-key-rollback button", "rollback")


def busy() -> dict:
    """1-min load and how many other `streamlit run` servers are up (others' tests share the cores)."""
    servers = 0
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0") if d.name.isdigit() else []
        except OSError:
            continue
        servers += b"streamlit" in cmd[:3] and b"run" in cmd[:4] or any(c.endswith(b"/streamlit") for c in cmd[:2])
    return {"load1": round(os.getloadavg()[0], 2), "other_servers": max(0, servers - 1)}


def summarize(samples: list[dict]) -> list[dict]:
    rows = []
    for c in CONTROLS:
        ms = [s["ms"] for s in samples if s["control"] == c]
        if not ms:
            continue
        med, worst = statistics.median(ms), max(ms)
        rules = sorted({s.get("rule", "dom") for s in samples if s["control"] == c})
        rows.append({"control": c, "n": len(ms), "median_ms": round(med), "worst_ms": round(worst),
                     "timeouts": sum(1 for s in samples if s["control"] == c and s.get("timeout")),
                     "pass": med <= TARGET_MEDIAN and worst <= TARGET_WORST, "rule": ", ".join(rules)})
    return rows


def write(results: Path, samples: list[dict], meta: dict) -> list[dict]:
    rows = summarize(samples)
    results.mkdir(parents=True, exist_ok=True)
    (results / "clicks.json").write_text(json.dumps({"meta": meta, "summary": rows, "samples": samples}, indent=1))
    lines = ["# Click to visible answer, 2D Playground (bench/clicks.py)", "",
             f"{meta['date']}, {meta['machine']} (1-min load {meta['loadavg_1min_start_end']} at start/end), "
             f"code: {meta['code']}, {meta['rounds']} rounds, one user, "
             f"headless Chromium on the same machine as the server. Target: median <= {TARGET_MEDIAN} ms and "
             f"worst <= {TARGET_WORST} ms; no answer in 15 s counts as 15000 ms.", "",
             "| control | n | median ms | worst ms | timeouts | target | answer rule |",
             "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['control']} | {r['n']} | {r['median_ms']} | {r['worst_ms']} | {r['timeouts']} | "
                     f"{'pass' if r['pass'] else 'FAIL'} | {r['rule']} |")
    if samples:
        lines.append(f"\nWhile measuring, 1-min load median {statistics.median(s['load1'] for s in samples):.1f} "
                     f"(max {max(s['load1'] for s in samples):.1f}); other streamlit servers up at a click: "
                     f"{sum(s['other_servers'] > 0 for s in samples)} of {len(samples)} clicks.")
    for a in meta.get("aborted_rounds", []):
        lines.append(f"\nRound {a['round']} aborted in a set-up step (its later controls have no sample): {a['error']}")
    lines += ["", "Answer rules (module docstring): dom = a DOM condition; data-mode / data-src+step 0 = the "
              "canvas's own attributes; draws+colours / step 0+pixels = fallbacks for a canvas without them "
              "(a newly drawn frame whose colours match the view / whose pixels differ).",
              "", "Samples (ms) by round: " + "; ".join(
                  f"{c}: " + ", ".join(str(round(s["ms"])) for s in samples if s["control"] == c)
                  for c in CONTROLS)]
    (results / "clicks.md").write_text("\n".join(lines) + "\n")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout to serve (default: this one)")
    ap.add_argument("--code-label", help="what --code is, for the results (default: its path)")
    a = ap.parse_args()
    sys.path.insert(0, str(a.code))
    from ebm_core.lessons import presets  # noqa: E402  (labels of the lessons, from the measured code)

    labels = {k: p.label for k, p in presets.PRESETS.items()}
    meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "rounds": a.rounds,
            "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            "code": a.code_label or str(a.code), "timeout_ms": TIMEOUT_MS, "gap_s": GAP_S}
    load0 = os.getloadavg()[0]
    with streamlit_server(a.code / "serve.py", cwd=a.code) as url, browser() as ctx:
        page = ctx.new_page()
        bench = Bench(page, url)
        bench.log(f"server {url}; {a.rounds} rounds")
        for rnd in range(a.rounds):
            try:
                bench.round(rnd, labels)
            except Exception as e:  # a set-up step failed: record it and go on with a fresh tab
                why = f"{type(e).__name__}: {str(e).splitlines()[0]}"
                bench.log(f"  round {rnd} aborted: {why}")
                meta.setdefault("aborted_rounds", []).append({"round": rnd, "error": why})
                page.screenshot(path=str(Path("/tmp") / f"clicks_round{rnd}.png"))
            page.close()
            page = bench.page = ctx.new_page()
            time.sleep(2)  # the closed tab's worker goes away
    meta["loadavg_1min_start_end"] = [round(load0, 2), round(os.getloadavg()[0], 2)]  # with others' jobs
    rows = write(a.results, bench.samples, meta)
    for r in rows:
        print(f"{r['control']:<9} n={r['n']} median={r['median_ms']} worst={r['worst_ms']} "
              f"{'pass' if r['pass'] else 'FAIL'} ({r['rule']})")


if __name__ == "__main__":
    main()
