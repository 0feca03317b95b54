"""Do the teaching presets demonstrate what they claim? Train each one and measure its claim.

    python bench/presets.py                  # every preset, seeds 0-2; about 25 min on a loaded 2-core CPU
    python bench/presets.py --quick          # seed 0, shorter runs: a smoke test
    python bench/presets.py --only short_run,long_run --seeds 0
    python bench/presets.py --report         # redo verdicts and presets.md from presets.json (no training)

Each preset trains from ebm_core.lessons.presets.apply_preset on one CPU thread, one run at a time, for a
fixed number of updates. Every `eval_every` updates (off the clock) we record, on a 128 x 128 grid:
    kl          exact KL(data || model) of the displayed (EMA) weights, nats;
    model_tv    total variation between the model's density and the data's (16 x 16 cells + outside):
                the share of the model's probability in the wrong place;
    mass_away   the model's probability where the data density is below 1e-3 of its peak;
    sample_tv   total variation between the negatives' histogram and the data: do samples look right?
    bias        sampler bias, KL(negatives' histogram || model) (density.sampler_bias): do the chains
                sample the model they were run on (the live weights)?
    travel      mean distance a chain moved during the last training update;
    outside     share of the negatives outside the box.
The negatives measured are the replay buffer (8192 chains) for persistent presets, else 2048 fresh
chains run exactly as in training (from the data for CD, from noise for short-run). After every
update the Playground's divergence guard (live.toy2d.explain_divergence) is asked; a run stops at
its first reason. Times: the thread's CPU time spent in Trainer.step() (other jobs share this
machine; on an idle one it equals wall time), and wall time alongside.

Writes bench/results/presets.{md,json} (presets_quick.* with --quick).
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from ebm_core import density, toy2d
from ebm_core.config import to_dict, to_query
from ebm_core.lessons import presets
from ebm_core.live.toy2d import explain_divergence
from ebm_core.train2d import make_trainer_2d
from ebm_core.training import Trainer, sample_chains

RESULTS = Path(__file__).resolve().parent / "results"
CPU = torch.device("cpu")
N_FRESH = 2048  # fresh chains measured for non-persistent presets

# updates per run (full, quick) and what each claim needs, checked on the run's records
BUDGET = {"cd1": (1000, 500), "pcd": (2500, 800), "short_run": (1500, 600), "long_run": (2000, 600),
          "step_too_large": (20, 20), "step_too_small": (1000, 400)}


def _final(run: dict) -> dict:
    return run["curve"][-1]


def _first(run: dict, key: str, below: float) -> int | None:
    return next((p["step"] for p in run["curve"] if p[key] < below), None)


# what a preset's "watch" sentence suggests trying next: (preset, extra settings, updates), measured alongside
VARIANTS = {"cd1_k10": ("cd1", {"n_steps": 10}, 1000), "step_0.5": ("step_too_large", {"step_size": 0.5}, 300)}

# (claim in numbers, check on one run); the thresholds are the ones the preset's sentence states
CHECKS = {
    "cd1": ("KL > 0.75 after 1000 updates, negatives' sample TV < 0.2 throughout",
            lambda r: _final(r)["kl"] > 0.75 and max(p["sample_tv"] for p in r["curve"]) < 0.2),
    "pcd": ("KL < 0.15 within 1500 updates", lambda r: (_first(r, "kl", 0.15) or math.inf) <= 1500),
    "short_run": ("final sample TV < 0.2, KL > 1.5 and mass away > 0.5",
                  lambda r: _final(r)["sample_tv"] < 0.2 and _final(r)["kl"] > 1.5 and _final(r)["mass_away"] > 0.5),
    "long_run": ("KL < 0.2 within 2000 updates, final sampler bias < 0.1",
                 lambda r: (_first(r, "kl", 0.2) or math.inf) <= 2000 and _final(r)["bias"] < 0.1),
    "step_too_large": ("guard within the first 3 updates, naming the step size",
                       lambda r: (r["guard_step"] or math.inf) <= 3 and "step size" in r["guard"]),
    "step_too_small": ("after 1000 updates: travel < 0.1, sample TV > 0.7, sampler bias > 2",
                       lambda r: _final(r)["travel"] < 0.1 and _final(r)["sample_tv"] > 0.7 and _final(r)["bias"] > 2),
}


def negatives(tr: Trainer, ds: toy2d.Dataset) -> torch.Tensor:
    """The chains to measure: the replay buffer, or fresh chains started as in training."""
    if tr.buffer is not None:
        return tr.buffer.x
    g = torch.Generator().manual_seed(12345)
    x0 = ds.sample(N_FRESH, generator=g) if tr.cfg.method == "cd" else tr.noise(N_FRESH, g)
    return sample_chains(tr.model, x0, tr.sampler, generator=g).x


def measure(key: str, *, seed: int, steps: int, eval_every: int, extra: dict | None = None) -> dict:
    """Train preset `key` (plus `extra` settings) and record its curve; see the module docstring."""
    cfg = presets.apply_preset(key).replace(seed=seed, **(extra or {}))
    tr = make_trainer_2d(cfg, device=CPU)
    ds = toy2d.get(cfg.data.dataset)
    grid = density.make_grid(ds.extent, 128)
    data = density.data_density(ds.log_density, grid)

    def point() -> dict:
        gd = density.grid_density(tr.eval_model, grid)
        x_neg = negatives(tr, ds)
        live = gd if tr.ema is None else density.grid_density(tr.model, grid)
        travel = (float((tr.last_x_neg - tr.last_x0).norm(dim=1).mean()) if tr.last_x0 is not None
                  and bool(torch.isfinite(tr.last_x_neg).all()) else math.nan)
        return {"step": tr.step_count, "t_cpu": t_cpu, "t_wall": t_wall, "kl": density.kl_data_model(data, gd),
                "model_tv": presets.model_tv(gd, data, grid) if gd.finite else math.nan,
                "mass_away": presets.mass_away(gd, data, grid) if gd.finite else math.nan,
                "sample_tv": presets.sample_tv(x_neg, data, grid),
                "bias": density.sampler_bias(x_neg, live, grid), "travel": travel,
                "outside": float((~torch.isfinite(x_neg).all(dim=1) | (x_neg.abs() > ds.extent).any(dim=1))
                                 .float().mean())}

    t_cpu = t_wall = 0.0
    curve, guard_step, guard = [point()], None, None
    while tr.step_count < steps:
        c0, w0 = time.thread_time(), time.perf_counter()
        log = tr.step()
        t_cpu += time.thread_time() - c0
        t_wall += time.perf_counter() - w0
        guard = explain_divergence(log, tr.last_x_neg, ds.extent, cfg)
        if guard:
            guard_step = tr.step_count
            far = float((tr.last_x_neg.abs() > 10 * ds.extent).any(dim=1).float().mean())
            curve.append({"step": tr.step_count, "t_cpu": t_cpu, "t_wall": t_wall, "far_share": far})
            break
        if tr.step_count % eval_every == 0 or tr.step_count == steps:
            curve.append(point())
    run = {"key": key, "seed": seed, "config": to_dict(cfg), "steps": tr.step_count, "curve": curve,
           "guard_step": guard_step, "guard": guard, "updates_per_cpu_s": tr.step_count / max(t_cpu, 1e-9),
           "updates_per_s": tr.step_count / max(t_wall, 1e-9)}
    run["claim_holds"] = verdict(run)
    return run


def verdict(run: dict) -> bool:
    """Whether the run shows its preset's claim (a run the guard stopped shows only step_too_large's)."""
    if run["guard"] is not None and run["key"] != "step_too_large":
        return False
    return bool(CHECKS[run["key"]][1](run))


def kl_at(run: dict, step: int) -> float | None:
    return next((p["kl"] for p in run["curve"] if p["step"] == step and "kl" in p), None)


def references(seed: int = 0) -> dict:
    """sample_tv of the data itself (the finite-sample floor) and of uniform noise, N_FRESH points."""
    ds = toy2d.get("eight_gaussians")
    grid = density.make_grid(ds.extent, 128)
    data = density.data_density(ds.log_density, grid)
    g = torch.Generator().manual_seed(seed)
    x_data = ds.sample(N_FRESH, generator=g)
    x_unif = (2 * torch.rand(N_FRESH, 2, generator=g) - 1) * ds.extent
    return {"sample_tv_data": presets.sample_tv(x_data, data, grid),
            "sample_tv_uniform": presets.sample_tv(x_unif, data, grid)}


# ----------------------------------------------------------------------------------------------
# report


def _f(x, fmt=".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def markdown(res: dict) -> str:
    env, ref = res["environment"], res["references"]
    lines = [
        f"# Teaching presets: do the claims hold?{' (quick)' if res['quick'] else ''}",
        "",
        (f"{env['date']} | torch {env['torch']} | 1 thread | {env['machine_cores']} cores | load avg "
         f"start {env['loadavg_start'][0]:.1f}, end {env['loadavg_end'][0]:.1f} | grid 128 x 128 | seeds "
         f"{', '.join(map(str, res['seeds']))}"),
        "",
        ("Measures (see bench/presets.py): KL = exact KL(data || model) of the displayed weights; model TV = "
         "share of the model's probability in the wrong 16 x 16 cell; away = model probability where the data "
         "density is below 1e-3 of its peak; sample TV = the same for the negatives' histogram (do samples look "
         "right?); bias = sampler bias KL(negatives || model); travel = mean distance a chain moved in the last "
         "update. Times are CPU seconds of the training thread (evaluation off the clock)."),
        "",
        (f"References for sample TV with {N_FRESH} points: data itself {ref['sample_tv_data']:.3f} (the "
         f"finite-sample floor), uniform noise over the box {ref['sample_tv_uniform']:.3f}."),
        "",
        "## Verdicts",
        "",
        ("Checked at update counts. The lessons' texts state their claims in seconds, as a class sees them; those "
         "are checked through the page's live run by bench/lesson_clock.py (bench/results/lesson_clock.md)."),
        "",
        "| preset | checked at update counts | holds (seeds) | URL query |",
        "|---|---|---|---|",
    ]
    for key, runs in res["presets"].items():
        held = sum(r["claim_holds"] for r in runs)
        q = "&".join(f"{k}={v}" for k, v in res["queries"][key].items()) or "(defaults)"
        lines.append(f"| {key} | {CHECKS[key][0]} | {held}/{len(runs)} | `{q}` |")
    lines += ["", "## Final numbers per run", "",
              ("| preset | seed | updates | CPU s | updates/CPU-s | KL | model TV | away | sample TV | bias | travel "
               "| first KL < 0.2 | guard at |"),
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, runs in res["presets"].items():
        for r in runs:
            last = next((p for p in reversed(r["curve"]) if "kl" in p), {})
            lines.append(
                f"| {key} | {r['seed']} | {r['steps']} | {r['curve'][-1]['t_cpu']:.0f} | "
                f"{r['updates_per_cpu_s']:.0f} | "
                f"{_f(last.get('kl'))} | {_f(last.get('model_tv'))} | {_f(last.get('mass_away'))} | "
                f"{_f(last.get('sample_tv'))} | {_f(last.get('bias'))} | {_f(last.get('travel'))} | "
                f"{_f(_first(r, 'kl', 0.2) if len(r['curve']) > 1 and 'kl' in r['curve'][-1] else None, 'd')} | "
                f"{r['guard_step'] or '-'} |")
    lines += ["", "(step_too_large stops at the guard: its numbers are those of the untrained model.)",
              "", "## KL curves (seed 0)", "",
              "KL(data || model) at each evaluation; sample TV in brackets.", ""]
    for key, runs in res["presets"].items():
        r = next((r for r in runs if r["seed"] == res["seeds"][0]), runs[0])
        pts = [p for p in r["curve"] if "kl" in p]
        lines.append(f"- **{key}**: " + ", ".join(f"{p['step']}: {_f(p['kl'], '.2f')} ({_f(p['sample_tv'], '.2f')})"
                                                  for p in pts))
    if "cd1" in res["presets"] and "pcd" in res["presets"]:
        lines += ["", "## CD-1 against persistent CD after 1000 updates", "",
                  "KL(data || model); CD-10 is the CD-1 preset with K = 10, as its 'watch' sentence suggests.", "",
                  "| seed | CD-1 | CD-10 | persistent CD |", "|---|---|---|---|"]
        pcd = {r["seed"]: r for r in res["presets"]["pcd"]}
        k10 = {r["seed"]: r for r in res.get("variants", {}).get("cd1_k10", [])}
        for r in res["presets"]["cd1"]:
            other = [_f(kl_at(d[r["seed"]], 1000)) if r["seed"] in d else "-" for d in (k10, pcd)]
            lines.append(f"| {r['seed']} | {_f(kl_at(r, 1000))} | {other[0]} | {other[1]} |")
    if res.get("variants"):
        lines += ["", "## Variants the 'watch' sentences suggest", "",
                  "| variant | settings | seed | updates | KL | outside the box | guard at |",
                  "|---|---|---|---|---|---|---|"]
        for name_v, runs in res["variants"].items():
            for r in runs:
                last = next((p for p in reversed(r["curve"]) if "kl" in p), {})
                settings = ", ".join(f"{k}={v}" for k, v in VARIANTS[name_v][1].items()) if name_v in VARIANTS else ""
                lines.append(f"| {name_v} | {r['key']} + {settings} | {r['seed']} | {r['steps']} | "
                             f"{_f(last.get('kl'))} | "
                             f"{_f(last.get('outside'), '.0%')} | {r['guard_step'] or '-'} |")
    guards = [r for runs in res["presets"].values() for r in runs if r["guard"]]
    if guards:
        lines += ["", "## Guard messages", ""]
        for r in guards:
            far = r["curve"][-1].get("far_share")
            lines.append(f"- {r['key']} seed {r['seed']}, update {r['guard_step']} ({_f(far, '.0%')} of the chains "
                         f"beyond 10x the box): \"{r['guard']}\"")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated preset keys")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2; quick: 0)")
    ap.add_argument("--report", action="store_true", help="only redo the verdicts and the report from the JSON")
    args = ap.parse_args()
    name = "presets_quick" if args.quick else "presets"
    if args.report:
        res = json.loads((RESULTS / f"{name}.json").read_text())
        res["queries"] = {k: to_query(presets.apply_preset(k)) for k in res["presets"]}  # as links read today
        for runs in res["presets"].values():
            for r in runs:
                r["claim_holds"] = verdict(r)
        (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=1))
        (RESULTS / f"{name}.md").write_text(markdown(res))
        print(f"rewrote {RESULTS / name}.md")
        return
    torch.set_num_threads(1)
    keys = [k for k in args.only.split(",") if k] or list(presets.PRESETS)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else ([0] if args.quick else [0, 1, 2])
    env = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "torch": torch.__version__,
           "python": platform.python_version(), "machine_cores": os.cpu_count(), "loadavg_start": os.getloadavg()}
    res = {"quick": args.quick, "seeds": seeds, "environment": env, "references": references(),
           "queries": {k: to_query(presets.apply_preset(k)) for k in keys}, "presets": {}}
    for key in keys:
        full, quick = BUDGET[key]
        steps = quick if args.quick else full
        for seed in seeds:
            run = measure(key, seed=seed, steps=steps, eval_every=250 if steps > 250 else 5)
            res["presets"].setdefault(key, []).append(run)
            last = next((p for p in reversed(run["curve"]) if "kl" in p), {})
            print(f"{key} seed {seed}: {run['steps']} updates, {run['curve'][-1]['t_cpu']:.0f} CPU s, "
                  f"KL {_f(last.get('kl'))}, sample TV {_f(last.get('sample_tv'))}, bias {_f(last.get('bias'))}, "
                  f"guard {run['guard_step']}, claim {'holds' if run['claim_holds'] else 'FAILS'}", flush=True)
    for name_v, (key, extra, steps) in VARIANTS.items():
        if key in keys:
            for seed in seeds:
                run = measure(key, seed=seed, steps=steps // (2 if args.quick else 1), eval_every=steps // 4,
                              extra=extra)
                res.setdefault("variants", {}).setdefault(name_v, []).append(run)
                print(f"{name_v} seed {seed}: KL {_f(run['curve'][-1].get('kl'))}, guard {run['guard_step']}",
                      flush=True)
    env["loadavg_end"] = os.getloadavg()
    res["median_updates_per_cpu_s"] = {k: statistics.median(r["updates_per_cpu_s"] for r in runs)
                                       for k, runs in res["presets"].items()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=1))
    (RESULTS / f"{name}.md").write_text(markdown(res))
    print(f"wrote {RESULTS / name}.md")


if __name__ == "__main__":
    main()
