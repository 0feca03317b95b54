"""Faults, measured in Chromium against `streamlit run serve.py`: how long a page takes to notice a
killed training process and to show the resumed run, how much training a kill or a server restart
costs (steps shown before the fault vs the step the run resumes at), and the worst update time.

    .venv/bin/python bench/faults.py [--rounds 3]      # writes bench/results/faults.md
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.browser import ROOT, SERVER_PIDS, browser, free_port, streamlit_server, training_processes  # noqa: E402

NUMBERS = ".ebm-numbers[data-step]"


def step(page) -> int:
    return int(page.locator(NUMBERS).first.get_attribute("data-step", timeout=60_000))


def train(page, url: str, query: str) -> None:
    page.goto(url + "/" + query)
    page.locator(NUMBERS).wait_for(timeout=120_000)
    page.locator(".st-key-train button:visible").first.click()
    t0 = time.monotonic()
    while step(page) < 50 and time.monotonic() - t0 < 60:
        time.sleep(0.2)
    time.sleep(5)


def kill_round(url: str, seed: int) -> dict:
    server = SERVER_PIDS[url]
    with browser() as ctx:
        page = ctx.new_page()
        train(page, url, f"?seed={seed}")
        shown = step(page)
        t0 = time.monotonic()
        for pid in training_processes(server):  # the run's training process is one of them
            os.kill(pid, signal.SIGKILL)
        page.get_by_text("stopped unexpectedly").first.wait_for(timeout=60_000)
        noticed = time.monotonic() - t0
        page.get_by_text("Resumed at step").first.wait_for(timeout=60_000)
        resumed = time.monotonic() - t0
        return dict(noticed_s=noticed, resumed_s=resumed, shown=shown, resumed_at=step(page))


def restart_round(seed: int) -> dict:
    port, state = free_port(), tempfile.mkdtemp(prefix="ebm-faults-")
    env = {"EBM_STATE_DIR": state}
    with browser() as ctx:
        page = ctx.new_page()
        with streamlit_server(ROOT / "serve.py", port=port, env=env) as url:
            train(page, url, f"?seed={seed}")
            shown = step(page)  # still training when the server goes
        t0 = time.monotonic()
        with streamlit_server(ROOT / "serve.py", port=port, env=env):
            up = time.monotonic() - t0
            page.get_by_text("Resumed at step").first.wait_for(timeout=120_000)
            return dict(server_up_s=up, resumed_s=time.monotonic() - t0, shown=shown, resumed_at=step(page))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    kills, restarts = [], []
    with streamlit_server(ROOT / "serve.py", env={"EBM_STATE_DIR": tempfile.mkdtemp(prefix="ebm-faults-")}) as url:
        for r in range(args.rounds):
            kills.append(kill_round(url, 10 + r))
            print("kill", kills[-1], flush=True)
    for r in range(args.rounds):
        restarts.append(restart_round(20 + r))
        print("restart", restarts[-1], flush=True)
    lines = ["# Faults: a killed training process, a restarted server", "",
             f"`bench/faults.py --rounds {args.rounds}`, Chromium against `streamlit run serve.py` on this 2-core box; "
             "each round trains the default Playground run for 5 s past step 50, then the fault.", "",
             "## kill -9 of the training process", "",
             "| round | page says so after | resumed run shown after | step shown at the kill | resumed at |",
             "|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {k['noticed_s']:.1f} s | {k['resumed_s']:.1f} s | {k['shown']} | {k['resumed_at']} |"
              for i, k in enumerate(kills)]
    lines += ["", "## server restart under an open, training tab", "",
              "| round | new server up after | resumed run shown after | step shown when the server went "
              "| resumed at |",
              "|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {r['server_up_s']:.1f} s | {r['resumed_s']:.1f} s | {r['shown']} | {r['resumed_at']} |"
              for i, r in enumerate(restarts)]
    lines += ["", "A run saves its state every 3 s of training (ebm_core/live/saved.py) and whenever it stops, so "
              "a fault costs at most the training since the last save; the resumed step can also be a little above "
              "the step shown, which lags the worker by up to a refresh.", ""]
    out = ROOT / "bench" / "results" / "faults.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print(out.read_text())


if __name__ == "__main__":
    main()
