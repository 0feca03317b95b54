"""Image benchmark: how fast does the default digits recipe make recognisable digits? CPU, one thread
per run, one run per core.

    python bench/images.py                 # 2 minutes of training on seeds 0, 1 and 2, two runs at a time;
                                           # writes bench/results/images.{json,md,_samples.png}
    python bench/images.py --minutes 1 --seeds 0
    python bench/images.py --seeds 0 --parallel 1 --set width=32 --out bench/_scratch/w32   # a sweep's point

Trains ImageRunConfig() (the Images page's defaults) on the bundled 8x8 digits and, every ~20 s of
training clock (evaluation is kept off the clock), records:
    (a) the replay buffer: 256 of its chains, scored by the reference classifier (ebm_core.quality):
        confident share (top class probability > 0.9) and class spread (normalised entropy of the
        predicted-class histogram, 1 = all ten digits equally often);
    (b) fresh chains: 256 chains run from uniform noise on the EMA weights (image_sampling.generate)
        for as many steps as the Images page's Generate button runs them (max(200, 4 K)), scored the
        same way; also the replay buffer's chains by age (updates since their restart from noise);
    (c) the mean energy of the held-out test digits and of uniform noise, and the share of
        (test, noise) pairs that the model orders correctly.
For scale, real test digits and uniform noise are scored by the same classifier. The time column is
the wall time spent in Trainer.step(); the CPU-time column is this thread's CPU time in it, which
leaves out time other jobs on a shared machine took the core.
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from ebm_core import quality

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import environment  # noqa: E402  (the same machine description as bench/train.py)

from ebm_core import heap
from ebm_core.config import ImageRunConfig, to_dict
from ebm_core.image_sampling import generate, generate_steps
from ebm_core.image_train import energy_of, make_trainer_images
from ebm_core.images import load_images, tile, to_pixels

RESULTS = Path(__file__).resolve().parent / "results"
CPU = torch.device("cpu")
N_EVAL = 256
NETS = {"mlp": "EnergyImageMLP", "conv": "EnergyConvNet"}  # results written before the MLP name no net: conv
AGES = (("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6+", 6, 10**9))  # buffer chains by updates since a restart


def _quality_dict(q: quality.Quality) -> dict:
    return {"confident_share": q.confident_share, "spread": q.spread, "mean_confidence": q.mean_confidence,
            "class_counts": list(q.class_counts)}


def train_with_quality_curve(cfg: ImageRunConfig, *, seconds: float, eval_every: float) -> dict:
    """Train cfg for `seconds` of training clock, scoring buffer and fresh chains every `eval_every` s."""
    t0 = time.perf_counter()
    clf = quality.get_classifier(cfg.data.dataset)
    fit_seconds = time.perf_counter() - t0
    train, test = load_images(cfg.data.dataset, split="train"), load_images(cfg.data.dataset, split="test")
    shape = tuple(train.images.shape[1:])
    trainer = make_trainer_images(cfg, device=CPU, dataset=train)
    noise = 2 * torch.rand((len(test), *shape), generator=torch.Generator().manual_seed(12345)) - 1
    reference = {"test_digits": _quality_dict(quality.score_samples(clf, test.images)),
                 "uniform_noise": _quality_dict(quality.score_samples(clf, noise))}

    gen = dataclasses.replace(cfg.sampler, n_steps=generate_steps(cfg))

    def point() -> tuple[dict, torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(1)
        buffer = trainer.buffer.x[torch.randperm(len(trainer.buffer.x), generator=g)[:N_EVAL]]
        fresh = generate(trainer.eval_model, N_EVAL, gen, shape=shape, generator=g).x
        by_age = {}
        for name, lo, hi in AGES:
            picked = (trainer.buffer.age >= lo) & (trainer.buffer.age <= hi)
            if int(picked.sum()) >= 20:
                q = quality.score_samples(clf, trainer.buffer.x[picked][:N_EVAL])
                by_age[name] = {"share": picked.float().mean().item(), "confident_share": q.confident_share}
        e_test, e_noise = energy_of(trainer.eval_model, test.images), energy_of(trainer.eval_model, noise)
        return {
            "t": t_wall, "t_cpu": t_cpu, "step": trainer.step_count,
            "buffer": _quality_dict(quality.score_samples(clf, buffer)),
            "fresh": _quality_dict(quality.score_samples(clf, fresh)),
            "energy_test": e_test.mean().item(), "energy_noise": e_noise.mean().item(),
            "pairwise_test_below_noise": (e_test[:, None] < e_noise[None, :]).float().mean().item(),
            "buffer_by_age": by_age,
        }, buffer, fresh

    t_wall = t_cpu = 0.0
    curve = [point()[0]]
    next_eval, wall0, finite = eval_every, time.perf_counter(), True
    while True:
        w0, c0 = time.perf_counter(), time.thread_time()
        log = trainer.step()
        t_wall += time.perf_counter() - w0
        t_cpu += time.thread_time() - c0
        finite &= log.finite
        if t_wall >= next_eval or t_wall >= seconds:
            p, buffer, fresh = point()
            curve.append(p)
            print(f"  {t_wall:5.0f} s  step {p['step']:5d}  buffer {p['buffer']['confident_share']:.2f} "
                  f"(spread {p['buffer']['spread']:.2f})  fresh {p['fresh']['confident_share']:.2f} "
                  f"(spread {p['fresh']['spread']:.2f})  E test {p['energy_test']:+.3f} noise {p['energy_noise']:+.3f}",
                  flush=True)
            next_eval += eval_every
            if t_wall >= seconds:
                break
    return {
        "config": to_dict(cfg),
        "classifier": {"test_accuracy": clf.test_accuracy, "fit_seconds": fit_seconds},
        "reference": reference,
        "curve": curve,
        "steps": trainer.step_count,
        "all_steps_finite": bool(finite),
        "updates_per_s": trainer.step_count / t_wall,
        "updates_per_cpu_s": trainer.step_count / t_cpu,
        "wall_seconds": time.perf_counter() - wall0,
        "samples": {"buffer": buffer, "fresh": fresh},
    }


def save_samples(buffer: torch.Tensor, fresh: torch.Tensor, path: Path, n: int = 64, scale: int = 6) -> None:
    """Two 8x8 grids side by side, replay buffer on the left and fresh chains on the right."""
    left, right = (tile(to_pixels(x[:n]), nrow=8, border=128) for x in (buffer, fresh))
    gap = np.full((left.shape[0], 6), 255, dtype=np.uint8)
    picture = Image.fromarray(np.concatenate([left, gap, right], axis=1))
    picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST).save(path)


def _first(curve: list[dict], key: str, level: float) -> str:
    p = next((p for p in curve if p[key]["confident_share"] >= level), None)
    return "not reached" if p is None else f"{p['t']:.0f} s (step {p['step']})"


TARGETS = {"fresh": 0.6, "buffer": 0.8, "spread": 0.9}  # issue 16: after 120 s of training


def markdown(res: dict) -> str:
    env, runs = res["environment"], res["runs"]
    r0 = runs[0]
    s, t, m = r0["config"]["sampler"], r0["config"]["train"], r0["config"]["model"]
    ref = r0["reference"]
    overrides = f" with {res['overrides']}" if res.get("overrides") else ""  # a sweep's point (--set)
    lines = [
        f"# Image benchmark: {'the digits recipe' + overrides if overrides else 'default digits recipe'}",
        "",
        (f"{env['date']} | torch {env['torch']} | {env['torch_threads']} thread(s) per run | "
         f"{env['machine_cores']} cores ({env['processor']}), {res['parallel']} run(s) at a time | "
         f"load avg start {env['loadavg_start'][0]:.2f}, "
         f"end {env['loadavg_end'][0]:.2f}"),
        "",
        (f"ImageRunConfig(){overrides} on digits: {NETS[m.get('net', 'conv')]} width {m['width']} {m['activation']}; "
         f"ULA step {s['step_size']}, "
         f"noise_scale {s['noise_scale']}, K={s['n_steps']}, grad clip {s['grad_clip']}; PCD batch {t['batch_size']}, "
         f"buffer {t['buffer_size']} ({t['reinit_frac']:.0%} reinit), Adam {t['lr']} beta1 {t['beta1']}, "
         f"alpha {t['alpha']}, EMA {t['ema']}, data noise {r0['config']['data']['data_noise']}. Fresh chains run "
         f"{res['fresh_steps']} steps from uniform noise, as the page's Generate button does."),
        "",
        (f"Reference classifier: held-out accuracy {r0['classifier']['test_accuracy']:.3f}. For scale, it gives real "
         f"test digits a confident share of {ref['test_digits']['confident_share']:.2f} (spread "
         f"{ref['test_digits']['spread']:.2f}) and uniform noise {ref['uniform_noise']['confident_share']:.2f}."),
        "",
        (f"## At the end ({res['seconds']:.0f} s of training per run); targets: fresh >= {TARGETS['fresh']}, "
         f"buffer >= {TARGETS['buffer']}, spread >= {TARGETS['spread']}"),
        "",
        ("| seed | updates | buffer: confident | buffer: spread | fresh: confident | fresh: spread | "
         "buffer chains by age (share: confident) |"),
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        p = r["curve"][-1]
        ages = ", ".join(f"{k}: {v['share']:.0%}: {v['confident_share']:.2f}" for k, v in p["buffer_by_age"].items())
        lines.append(f"| {r['config']['train']['seed']} | {p['step']} | {p['buffer']['confident_share']:.2f} | "
                     f"{p['buffer']['spread']:.2f} | {p['fresh']['confident_share']:.2f} | "
                     f"{p['fresh']['spread']:.2f} | {ages} |")
    for r in runs:
        lines += [
            "",
            f"## Seed {r['config']['train']['seed']} over time",
            "",
            (f"{r['steps']} updates in {r['curve'][-1]['t']:.0f} s of training ({r['updates_per_s']:.1f} updates/s "
             f"wall, {r['updates_per_cpu_s']:.1f} per CPU second); all finite: {r['all_steps_finite']}. "
             f"Buffer confident share >= 0.5 first at {_first(r['curve'], 'buffer', 0.5)}; "
             f"fresh chains >= 0.5 first at {_first(r['curve'], 'fresh', 0.5)}."),
            "",
            ("| time (s) | CPU (s) | steps | buffer: confident | buffer: spread | fresh: confident | fresh: spread | "
             "E test digits | E noise | P(E test < E noise) |"),
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in r["curve"]:
            lines.append(
                f"| {p['t']:.0f} | {p['t_cpu']:.0f} | {p['step']} | {p['buffer']['confident_share']:.2f} | "
                f"{p['buffer']['spread']:.2f} | {p['fresh']['confident_share']:.2f} | {p['fresh']['spread']:.2f} | "
                f"{p['energy_test']:+.3f} | {p['energy_noise']:+.3f} | {p['pairwise_test_below_noise']:.3f} |")
    lines += ["", "Samples at the end of the first seed: `images_samples.png` (left: replay buffer; right: fresh "
              "chains from noise).", ""]
    return "\n".join(lines)


def _run_seed(args: tuple[int, float, float, dict]) -> dict:
    seed, seconds, every, overrides = args
    torch.set_num_threads(1)
    heap.keep_freed_memory()
    cfg = ImageRunConfig().replace(seed=seed, **overrides)
    what = f"the recipe with {overrides}" if overrides else "the default digits recipe"
    print(f"seed {seed}: training {what} for {seconds:g} s ...", flush=True)
    run = train_with_quality_curve(cfg, seconds=seconds, eval_every=every)
    run["samples"] = {k: v.numpy() for k, v in run["samples"].items()}
    return run


def main(argv: list[str] | None = None) -> None:
    import multiprocessing

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="training clock in minutes per run (default 2)")
    ap.add_argument("--every", type=float, default=20.0, help="seconds of training between evaluations")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--parallel", type=int, default=2, help="runs at a time, each on one thread (default 2)")
    ap.add_argument("--out", type=Path, default=RESULTS / "images", help="output path without suffix")
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                    help="settings other than the recipe's, by their flat names (a sweep): --set grad_clip=0.06")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            overrides[name] = json.loads(value)  # numbers, true / false
        except ValueError:
            overrides[name] = value  # a word: an activation, a dataset
    env = environment()
    env["torch_threads"] = 1
    ImageRunConfig().replace(**overrides)  # a bad name or value fails here, before any training
    jobs = [(seed, 60 * args.minutes, args.every, overrides) for seed in args.seeds]
    with multiprocessing.get_context("spawn").Pool(min(args.parallel, len(jobs))) as pool:
        runs = pool.map(_run_seed, jobs)
    env["loadavg_end"] = os.getloadavg()
    samples = runs[0]["samples"]
    for r in runs:
        r.pop("samples")
    res = {"environment": env, "runs": runs, "seconds": 60 * args.minutes, "parallel": min(args.parallel, len(jobs)),
           "fresh_steps": generate_steps(ImageRunConfig().replace(**overrides)), "argv": sys.argv[1:],
           "overrides": overrides}
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))
    png = out.with_name(out.name + "_samples.png")
    save_samples(torch.from_numpy(samples["buffer"]), torch.from_numpy(samples["fresh"]), png)
    print(f"wrote {out.with_suffix('.json')}, {out.with_suffix('.md')} and {png}")


if __name__ == "__main__":
    main()
