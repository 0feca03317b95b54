"""How fast a live run answers Pause and Stop (a closed tab, a Reset) at the most expensive settings the
budget lets through (ebm_core/budget.py): the worker reads commands between updates, so one update's cost
bounds the wait.

    .venv/bin/python bench/pause_latency.py      # writes bench/results/pause_latency.md
"""

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebm_core import budget, config  # noqa: E402
from ebm_core.live import LiveRun  # noqa: E402


def main() -> None:
    lines = ["# Pause and Stop at the costliest affordable settings", "",
             "`bench/pause_latency.py`: per setting, 4 Pause clicks at random moments of training, then a Stop; "
             "the time until the worker's snapshot acknowledges the Pause, and until the worker has exited.", "",
             "| settings | estimated update / diagnostics | Pause answered (median, worst) | Stop |",
             "|---|---|---|---|"]
    link = config.RunConfig().replace(width=1024, depth=1, sampler="mala", n_steps=1000, batch_size=82)
    cfgs = {"the tracker's link, as the budget sets it back": link,
            "width 256 depth 8": config.RunConfig().replace(width=256, depth=8),
            "batch 8192 K 20": config.RunConfig().replace(batch_size=8192, n_steps=20)}
    for name, cfg in cfgs.items():
        est = budget.estimate(cfg)
        r = LiveRun(cfg).start()
        r.wait_for(lambda s: s.status == "paused", timeout=120)
        waits = []
        for _ in range(4):
            r.play()
            time.sleep(2 + random.random())
            t0 = time.monotonic()
            r.pause()
            r.wait_for(lambda s, seq=r._intent_seq: s.ack >= seq and s.status == "paused", timeout=60)
            waits.append(time.monotonic() - t0)
        r.play()
        time.sleep(1.5)
        t1 = time.monotonic()
        r.request_stop()
        r.thread.join(60)
        stop = time.monotonic() - t1
        lines.append(f"| {name} | {est.update_s:.2f} s / {est.diagnostics_s:.2f} s | "
                     f"{sorted(waits)[len(waits) // 2]:.2f} s, {max(waits):.2f} s | {stop:.2f} s |")
        print(lines[-1], flush=True)
    out = ROOT / "bench" / "results" / "pause_latency.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
