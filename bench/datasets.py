"""Every 2D dataset learns in a demo: KL(data || model) after 60 s of training, three seeds.

    python bench/datasets.py                 # all datasets, seeds 0 1 2, 60 s each: about 13 minutes
    python bench/datasets.py --datasets rings two_spirals --seeds 0 --seconds 30

Each run trains with the settings the app picks when the dataset is chosen (config.for_dataset: the
Playground's picker, a link's `dataset=`, the CLI's --dataset) and evaluates the EMA weights every
5 s of training, off the clock, by exact quadrature (density.grid_density on make_grid(extent, 128),
normalised over the whole plane, mass outside the box counted). The clock is the training thread's
CPU time, so two runs side by side on the two cores, one per core, are timed as if alone; wall time
is recorded too. Targets (issue 16): KL < 0.1 at 60 s on every seed, eight_gaussians < 0.05.

Writes bench/results/datasets.{json,md}.
"""

import argparse
import json
import multiprocessing
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from train import environment, first_below, train_with_kl_curve  # noqa: E402

from ebm_core import config, toy2d  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 0.1
TARGETS = {"eight_gaussians": 0.05}  # tighter where the issue asks for it


def mode_weight_error(model) -> float:
    """Eight Gaussians: the largest relative error of the model's mass per mode (each cell of the grid
    counted for its nearest centre; the data puts 1/8 on each)."""
    from ebm_core import density

    grid = density.make_grid(3.0, 128)
    prob = density.grid_density(model, grid).log_density.flatten().exp() * grid.cell_area  # (n*n,)
    nearest = torch.cdist(grid.points.double(), toy2d._eight_centres()).argmin(1)  # (n*n,)
    w = torch.zeros(8, dtype=torch.float64).index_add_(0, nearest, prob)
    return float((w / w.sum() * 8 - 1).abs().max())


def one_run(job: tuple[str, int, float, str]) -> dict:
    from ebm_core import heap

    name, seed, seconds, restart = job
    torch.set_num_threads(1)
    heap.keep_freed_memory()
    cfg = config.for_dataset(name).replace(seed=seed, restart=restart or config.for_dataset(name).train.restart)
    r = train_with_kl_curve(cfg, seconds=seconds, eval_every=5.0, clock="cpu", keep_trainer=True)
    target = TARGETS.get(name, TARGET)
    hit = first_below(r["curve"], target)
    out = {"dataset": name, "seed": seed, "restart": cfg.train.restart, "kl_final": r["curve"][-1]["kl"],
           "steps": r["steps"], "updates_per_cpu_s": r["updates_per_cpu_s"],
           "train_seconds_cpu": r["train_seconds_cpu"], "train_seconds_wall": r["train_seconds_wall"],
           "target": target, "first_below_s": hit["t_cpu"] if hit else None, "curve": r["curve"]}
    if name == "eight_gaussians":
        out["mode_weight_error"] = mode_weight_error(r["trainer"].eval_model)
    print(f"{name} seed {seed} ({cfg.train.restart}): KL {out['kl_final']:.3f} after {seconds:.0f} s "
          f"({r['steps']} updates)", flush=True)
    return out


def markdown(res: dict) -> str:
    env = res["environment"]
    lines = [
        "# Every dataset learns in a minute",
        "",
        f"{env['date']} | torch {env['torch']} | 1 thread per run, {res['workers']} runs side by side | "
        f"{env['machine_cores']} cores | {res['seconds']:.0f} s of training per run (the thread's CPU time; "
        "evaluation off the clock)",
        "",
        "Settings: those the app picks when the dataset is chosen (`config.for_dataset`), listed per row; the rest "
        "are RunConfig()'s. KL(data || model) in nats of the EMA weights, exact by quadrature on a 128 x 128 grid "
        "over the box, mass beyond it counted. Target: KL < 0.1 at the end of every run (eight_gaussians < 0.05).",
        "",
        "| dataset | settings picked | KL seed " + " | KL seed ".join(str(s) for s in res["seeds"])
        + " | worst | first below target (s, per seed) | updates/s | verdict |",
        "|---|---|" + "---|" * len(res["seeds"]) + "---|---|---|---|",
    ]
    if res.get("rerun"):
        lines[3:3] = ["", "Rerun after a change of their settings (the table shows the last run): " + "; ".join(
            f"{', '.join(r['datasets'])} on {r['date']}" for r in res["rerun"]) + "."]
    default = config.flat(config.RunConfig())
    for name in res["datasets"]:
        runs = sorted((r for r in res["runs"] if r["dataset"] == name and r["restart"] == "model"),
                      key=lambda r: r["seed"])
        picks = {k: v for k, v in config.dataset_settings(name).items() if v != default[k]}
        worst = max(r["kl_final"] for r in runs)
        target = runs[0]["target"]
        firsts = ", ".join("-" if r["first_below_s"] is None else f"{r['first_below_s']:.0f}" for r in runs)
        ups = statistics.median(r["updates_per_cpu_s"] for r in runs)
        lines.append(
            f"| {name} | {', '.join(f'{k}={v}' for k, v in picks.items()) or '-'} | "
            + " | ".join(f"{r['kl_final']:.3f}" for r in runs)
            + f" | **{worst:.3f}** | {firsts} | {ups:.0f} | {'meets' if worst < target else 'misses'} (< {target:g}) |")
    eight = [r for r in res["runs"] if r["dataset"] == "eight_gaussians"]
    if eight:
        lines += ["", "## Eight Gaussians: restarts from noise against restarts from the model", "",
                  "Mode weight error: the largest relative error of the model's mass per mode (the data puts 1/8 on "
                  "each). From noise, a restarted chain falls into a mode by the size of its basin and never leaves, "
                  "so the buffer's share per mode is frozen and the model's weights between modes are never "
                  "corrected; from the model, restarts follow its mass.", "",
                  "| restarts from | seed | KL after 60 s | mode weight error |", "|---|---|---|---|"]
        for r in sorted(eight, key=lambda r: (r["restart"], r["seed"])):
            lines.append(f"| {r['restart']} | {r['seed']} | {r['kl_final']:.3f} | {r['mode_weight_error']:.1%} |")
    lines += [
        "",
        "Before (issue 16, at cffbc1b: `--steps 3000`, RunConfig() defaults for every dataset): eight_gaussians "
        "0.098, two_moons 0.121, swiss_roll 0.096, rings 0.573, two_spirals 0.197, checkerboard 0.207, pinwheel "
        "0.117, gaussian 0.015.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(toy2d.DATASETS), choices=list(toy2d.DATASETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2, help="runs side by side (one per core)")
    ap.add_argument("--out", type=Path, default=RESULTS / "datasets")
    ap.add_argument("--merge", action="store_true",
                    help="replace only these datasets' runs in the existing results (after changing their settings)")
    args = ap.parse_args(argv)
    env = environment()
    jobs = [(name, seed, args.seconds, "") for name in args.datasets for seed in args.seeds]
    if "eight_gaussians" in args.datasets:  # the textbook restarts, for the mode weights' sake
        jobs += [("eight_gaussians", seed, args.seconds, "noise") for seed in args.seeds]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        runs = pool.map(one_run, jobs, chunksize=1)
    res = {"environment": env, "seconds": args.seconds, "seeds": args.seeds, "datasets": args.datasets,
           "workers": args.workers, "settings": {n: config.dataset_settings(n) for n in args.datasets}, "runs": runs}
    if args.merge and args.out.with_suffix(".json").exists():
        old = json.loads(args.out.with_suffix(".json").read_text())
        kept = [r for r in old["runs"] if r["dataset"] not in args.datasets]
        res = {**old, "runs": kept + runs, "settings": {**old["settings"], **res["settings"]},
               "rerun": old.get("rerun", []) + [{"date": env["date"], "datasets": args.datasets}]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    args.out.with_suffix(".md").write_text(markdown(res))
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
