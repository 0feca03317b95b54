"""Image benchmark: how fast does the default digits recipe make recognisable digits? CPU, one thread.

    python bench/images.py                 # 4 minutes of training; writes bench/results/images.{json,md,_samples.png}
    python bench/images.py --minutes 1     # shorter

Trains ImageRunConfig() (the Images page's defaults) on the bundled 8x8 digits and, every ~20 s of
training clock (evaluation is kept off the clock), records:
    (a) the replay buffer: 256 of its chains, scored by the reference classifier (ebm_core.quality):
        confident share (top class probability > 0.9) and class spread (normalised entropy of the
        predicted-class histogram, 1 = all ten digits equally often);
    (b) fresh chains: 256 chains run from uniform noise with the configured sampler on the EMA
        weights (image_sampling.generate), scored the same way;
    (c) the mean energy of the held-out test digits and of uniform noise, and the share of
        (test, noise) pairs that the model orders correctly.
For scale, real test digits and uniform noise are scored by the same classifier. The time column is
the wall time spent in Trainer.step(); the CPU-time column is this thread's CPU time in it, which
leaves out time other jobs on a shared machine took the core.
"""

import argparse
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

from ebm_core.config import ImageRunConfig, to_dict
from ebm_core.image_sampling import generate
from ebm_core.image_train import energy_of, make_trainer_images
from ebm_core.images import load_images, tile, to_pixels

RESULTS = Path(__file__).resolve().parent / "results"
CPU = torch.device("cpu")
N_EVAL = 256


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

    def point() -> tuple[dict, torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(1)
        buffer = trainer.buffer.x[torch.randperm(len(trainer.buffer.x), generator=g)[:N_EVAL]]
        fresh = generate(trainer.eval_model, N_EVAL, cfg.sampler, shape=shape, generator=g).x
        e_test, e_noise = energy_of(trainer.eval_model, test.images), energy_of(trainer.eval_model, noise)
        return {
            "t": t_wall, "t_cpu": t_cpu, "step": trainer.step_count,
            "buffer": _quality_dict(quality.score_samples(clf, buffer)),
            "fresh": _quality_dict(quality.score_samples(clf, fresh)),
            "energy_test": e_test.mean().item(), "energy_noise": e_noise.mean().item(),
            "pairwise_test_below_noise": (e_test[:, None] < e_noise[None, :]).float().mean().item(),
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


def markdown(res: dict) -> str:
    env, r = res["environment"], res["run"]
    s, t, m = r["config"]["sampler"], r["config"]["train"], r["config"]["model"]
    ref = r["reference"]
    lines = [
        "# Image benchmark: default digits recipe",
        "",
        (f"{env['date']} | torch {env['torch']} | {env['torch_threads']} thread(s) | {env['machine_cores']} cores "
         f"({env['processor']}) | load avg start {env['loadavg_start'][0]:.2f}, end {env['loadavg_end'][0]:.2f}"),
        "",
        (f"ImageRunConfig() on digits: EnergyConvNet width {m['width']} {m['activation']}; ULA step {s['step_size']}, "
         f"noise_scale {s['noise_scale']}, K={s['n_steps']}, grad clip {s['grad_clip']}; PCD batch {t['batch_size']}, "
         f"buffer {t['buffer_size']} ({t['reinit_frac']:.0%} reinit), Adam {t['lr']} beta1 {t['beta1']}, "
         f"alpha {t['alpha']}, EMA {t['ema']}, data noise {r['config']['data']['data_noise']}."),
        "",
        (f"Reference classifier: held-out accuracy {r['classifier']['test_accuracy']:.3f} (fitted in "
         f"{r['classifier']['fit_seconds']:.1f} s). For scale, it gives real test digits a confident share of "
         f"{ref['test_digits']['confident_share']:.2f} (spread {ref['test_digits']['spread']:.2f}) and uniform noise "
         f"{ref['uniform_noise']['confident_share']:.2f}."),
        "",
        (f"{r['steps']} updates in {r['curve'][-1]['t']:.0f} s of training ({r['updates_per_s']:.1f} updates/s wall, "
         f"{r['updates_per_cpu_s']:.1f} per CPU second); all finite: {r['all_steps_finite']}. "
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
    lines += ["", "Samples at the end: `images_samples.png` (left: replay buffer; right: fresh chains from noise).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0, help="training clock in minutes (default 4)")
    ap.add_argument("--every", type=float, default=20.0, help="seconds of training between evaluations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "images", help="output path without suffix")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    env = environment()
    cfg = ImageRunConfig().replace(seed=args.seed)
    print(f"training the default digits recipe for {args.minutes:g} min ...", flush=True)
    run = train_with_quality_curve(cfg, seconds=60 * args.minutes, eval_every=args.every)
    env["loadavg_end"] = os.getloadavg()
    samples = run.pop("samples")
    res = {"environment": env, "run": run, "argv": sys.argv[1:]}
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))
    png = out.with_name(out.name + "_samples.png")
    save_samples(samples["buffer"], samples["fresh"], png)
    print(f"wrote {out.with_suffix('.json')}, {out.with_suffix('.md')} and {png}")


if __name__ == "__main__":
    main()
