"""Live runs without a web server: how many updates/s a class of runs gets from the training processes,
by their number (live/pool.py), against plain training loops doing the same work.

    .venv/bin/python bench/pool.py [--runs 30] [--processes 2 30] [--seconds 15] [--rounds 2] [--watched]

Each layout trains `--runs` default 2D runs at once for `--seconds`: a pool of N training processes
(N = 2 is the server's default on 2 cores; N = runs is one process per run, as before the pool). The
bare layout runs the same number of `Trainer.step` loops, `cores` processes each stepping runs/cores
trainers in turn, at nice 19 like the workers. Layouts alternate, `--rounds` times. `--watched`: a
thread here asks every run for a snapshot 4 times a second, as a page does. Reported: the sum of
updates/s, and updates per CPU second of the training processes. Results: bench/results/pool.md.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebm_core import config, live  # noqa: E402
from ebm_core.live.pool import Pool  # noqa: E402


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def pooled(n_runs: int, processes: int, seconds: float, watched: bool) -> dict:
    live._POOL = Pool(processes, live._context(), live._start_without_main, idle_exit_s=1.0)
    runs = [live.LiveRun(config.RunConfig().replace(seed=i)).start() for i in range(n_runs)]
    try:
        for r in runs:
            r.wait_for(lambda s: s.status == "paused", timeout=120)
        for r in runs:
            r.start_training()
        stop = threading.Event()

        def watch():
            while not stop.wait(0.25):
                for r in runs:
                    r.latest()

        if watched:
            threading.Thread(target=watch, daemon=True).start()
        for r in runs:
            r.wait_for(lambda s: s.step >= 3, timeout=120)
        pids = {r.process.pid for r in runs}
        s0, c0, t0 = [r.latest().step for r in runs], cpu_seconds(pids), time.monotonic()
        time.sleep(seconds)
        s1, c1, t1 = [r.latest().step for r in runs], cpu_seconds(pids), time.monotonic()
        stop.set()
    finally:
        for r in runs:
            r.request_stop()
        for r in runs:
            r.thread.join(10)
    done = sum(s1) - sum(s0)
    rates = [(b - a) / (t1 - t0) for a, b in zip(s0, s1)]
    return {"updates_per_s": done / (t1 - t0), "per_cpu_s": done / max(1e-9, c1 - c0), "cores": (c1 - c0) / (t1 - t0),
            "slowest_vs_median": min(rates) / statistics.median(rates)}


def _bare_loop(n: int, first_seed: int, seconds: float, out) -> None:
    import torch

    from ebm_core import heap
    from ebm_core.train2d import make_trainer_2d

    torch.set_num_threads(1)
    heap.keep_freed_memory()
    os.nice(19)
    trainers = [make_trainer_2d(config.RunConfig().replace(seed=first_seed + i)) for i in range(n)]
    for t in trainers:
        t.step()
    done, c0, t0 = 0, time.process_time(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        for t in trainers:
            t.step()
            done += 1
    out.put((done, time.monotonic() - t0, time.process_time() - c0))


def bare(n_runs: int, seconds: float) -> dict:
    cores = len(os.sched_getaffinity(0))
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    per = [n_runs // cores + (i < n_runs % cores) for i in range(cores)]
    procs = [ctx.Process(target=_bare_loop, args=(n, sum(per[:i]), seconds, out)) for i, n in enumerate(per)]
    for p in procs:
        p.start()
    got = [out.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    return {"updates_per_s": sum(d / w for d, w, _ in got),
            "per_cpu_s": sum(d for d, _, _ in got) / sum(c for *_, c in got), "cores": sum(c / w for d, w, c in got)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--processes", type=int, nargs="+", default=[2, 30])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--watched", action="store_true")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    rows: dict[str, list[dict]] = {}
    for r in range(args.rounds):
        layouts = [("bare", lambda: bare(args.runs, args.seconds))] + [
            (f"pool of {n}", lambda n=n: pooled(args.runs, n, args.seconds, args.watched)) for n in args.processes]
        for name, fn in layouts if r % 2 == 0 else layouts[::-1]:
            rows.setdefault(name, []).append(res := fn())
            print(f"round {r}: {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in res.items()), flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    watched = "watched (a snapshot asked 4 times a second)" if args.watched else "unwatched"
    lines = [f"# {args.runs} live runs without a server, {watched}", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}, {len(os.sched_getaffinity(0))} CPUs, {args.seconds:g} s per layout, "
             f"{args.rounds} rounds, layouts alternating (bench/pool.py).", "",
             "| layout | updates/s (each round) | updates per CPU second | cores used | slowest / median run |",
             "|---|---|---|---|---|"]
    def col(rs: list[dict], key: str, fmt: str) -> str:
        return ", ".join(format(x[key], fmt) for x in rs) if key in rs[0] else "-"

    for name, rs in rows.items():

        lines.append(f"| {name} | {col(rs, 'updates_per_s', '.0f')} | {col(rs, 'per_cpu_s', '.0f')} | "
                     f"{col(rs, 'cores', '.2f')} | {col(rs, 'slowest_vs_median', '.2f')} |")
    stem = "pool_watched" if args.watched else "pool"
    (args.results / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (args.results / f"{stem}.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
