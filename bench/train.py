"""Training benchmarks for ebm_core.training.Trainer on the 2D toys, CPU, one thread.

    python bench/train.py            # full run, about 8-10 minutes; writes bench/results/train.{json,md}
    python bench/train.py --rounds 40   # fewer interleaved rounds in (a): faster, a wider interval
    python bench/train.py --quick    # smoke test, under a minute; writes bench/results/train_quick.{json,md}

Two measurements:
    (a) a lean hot loop: Trainer.step() against a bare hand-written PCD loop doing the same work, and
        samplers.langevin against a bare ULA loop (same net and init, batches, random draws: the
        negatives are checked bit-identical first). K=20, batch 256, buffer 10000, EMA off. Each pair
        runs in short interleaved blocks (ABBA order) after a warm-up, so load from other processes
        hits both alike; we report the median over rounds of bare time / ours time on the thread's
        CPU time (the target is >= 0.97), with a distribution-free 95% interval for that median (per
        round the ratio scatters by +-10-30% on this machine: 200 rounds put the median within about
        +-1%). MLP 2-128-128-1, batch 256, K=20 is also the design's peer
        configuration.
    (b) time to fit: training-clock seconds until KL(data || model) < 0.1 nats for the default
        RunConfig, the model's density normalised over the whole plane by quadrature
        (density.grid_density on density.make_grid(extent, 128)). The EMA weights are evaluated every
        ~2 s of training; evaluation time is kept off the clock, so a crossing is known to within 2 s.

sweep_preset.py imports `train_with_kl_curve` from here.
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
from ebm_core import density, heap, samplers, toy2d
from ebm_core.config import RunConfig, to_dict
from ebm_core.nets import init_weights
from ebm_core.train2d import build_model_2d, make_trainer_2d

RESULTS = Path(__file__).resolve().parent / "results"
PEERS_UPS = {"TorchEBM": 35.0, "ebmkit": 45.0}  # peers' updates/s on one thread, peer configuration
CPU = torch.device("cpu")

# ----------------------------------------------------------------------------------------------
# (a) throughput


def bench_config() -> RunConfig:
    """The throughput configuration: K=20 ULA, batch 256, buffer 10000, EMA off, eight Gaussians
    (the defaults otherwise; MLP 2-128-128-1 = the design's peer configuration)."""
    return RunConfig().replace(n_steps=20, dataset="eight_gaussians", batch_size=256, buffer_size=10_000,
                               ema=0.0, width=128, depth=2)


def make_bare_step(cfg: RunConfig):
    """A plain torch PCD loop doing exactly the Trainer's work (same net and init, same random draws
    in the same order, so the same negatives bit for bit) and nothing else: no statistics, no
    finite check, no buffer ages. Returns (step, state) where state() gives (negatives, net)."""
    ds, s, t = toy2d.get(cfg.data.dataset), cfg.sampler, cfg.train
    box, B, N = ds.extent, t.batch_size, t.buffer_size
    net = init_weights(build_model_2d(cfg), torch.Generator().manual_seed(t.seed))
    opt = torch.optim.Adam(net.parameters(), lr=t.lr, betas=(t.beta1, 0.999))
    g, g_data = torch.Generator().manual_seed(t.seed), torch.Generator().manual_seed(t.seed + 1)
    buf = (2 * torch.rand(N, 2, generator=g) - 1) * box  # (N, 2) persistent chains
    eta, sigma = s.step_size, s.noise_scale * math.sqrt(2 * s.step_size)
    last = {}

    def step() -> None:
        x_pos = ds.sample(B, generator=g_data)  # (B, 2)
        idx = torch.randint(0, N, (B,), generator=g)
        fresh = torch.rand(B, generator=g) < t.reinit_frac
        x = torch.where(fresh[:, None], (2 * torch.rand(B, 2, generator=g) - 1) * box, buf[idx])  # (B, 2)
        net.requires_grad_(False)
        for _ in range(s.n_steps):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(net(x).sum(), x)
            x = (x - eta * grad + sigma * torch.randn(x.shape, generator=g)).detach()
        net.requires_grad_(True)
        buf[idx] = x
        e = net(torch.cat([x_pos, x]))  # (2B,)
        e_pos, e_neg = e[:B], e[B:]
        loss = e_pos.mean() - e_neg.mean() + t.alpha * (e_pos.square().mean() + e_neg.square().mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last["x"] = x

    return step, lambda: (last["x"], net)


def make_ours_step(cfg: RunConfig):
    trainer = make_trainer_2d(cfg, device=CPU)
    return trainer.step, lambda: (trainer.last_x_neg, trainer.model)


def make_langevin_pair(cfg: RunConfig):
    """samplers.langevin and a bare ULA loop on the same frozen net (the bench config's, initialised
    from its seed), each from the same chain starts with its own generator of the same seed.
    Returns ({"bare": run, "ours": run, "ours_stats": run}, check): "ours" is langevin as the trainer
    calls it (stats=False), "ours_stats" with its per-step statistics on; check() runs one chain of
    each from fresh generators and says whether all are bit-identical."""
    s, B, seed = cfg.sampler, cfg.train.batch_size, cfg.train.seed
    box = toy2d.extent(cfg.data.dataset)
    net = init_weights(build_model_2d(cfg), torch.Generator().manual_seed(seed)).requires_grad_(False)
    x0 = (2 * torch.rand(B, 2, generator=torch.Generator().manual_seed(seed + 7)) - 1) * box  # (B, 2)
    eta, sigma, K = s.step_size, s.noise_scale * math.sqrt(2 * s.step_size), s.n_steps

    def bare(g: torch.Generator) -> torch.Tensor:
        x = x0
        for _ in range(K):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(net(x).sum(), x)
            x = (x - eta * grad + sigma * torch.randn(x.shape, generator=g)).detach()
        return x

    def ours(g: torch.Generator, stats: bool = False) -> torch.Tensor:  # as Trainer.step calls it
        return samplers.langevin(net, x0, step_size=eta, n_steps=K, noise_scale=s.noise_scale, generator=g,
                                 stats=stats).x

    def ours_stats(g: torch.Generator) -> torch.Tensor:  # as the Langevin Lab calls it: per-step statistics
        return ours(g, stats=True)

    contenders = (("bare", bare), ("ours", ours), ("ours_stats", ours_stats))
    gens = {name: torch.Generator().manual_seed(seed) for name, _ in contenders}
    runs = {name: (lambda f=f, g=gens[name]: f(g)) for name, f in contenders}

    def check() -> bool:
        x = bare(torch.Generator().manual_seed(seed))
        return all(torch.equal(x, f(torch.Generator().manual_seed(seed))) for _, f in contenders[1:])

    return runs, check


def time_block(step, n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this thread) for n calls of step()."""
    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        step()
    return time.perf_counter() - w0, time.thread_time() - c0


def interleave(contenders: dict, *, rounds: int, block: int, warmup: int) -> dict:
    """Time `block` calls of each contender per round, alternating the order (ABBA...).

    Returns per contender its block times and per-round speed ratios to the first contender (the
    baseline): baseline time / contender time, so 0.97 means 97% of the baseline's updates/s. The
    thread's CPU time is the headline, since it leaves out the time this process was descheduled by
    other jobs on the machine; wall time is kept as a check.
    """
    names = list(contenders)
    for name in names:
        time_block(contenders[name], warmup)
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            w, c = time_block(contenders[name], block)
            wall[name].append(w)
            cpu[name].append(c)
    base = names[0]
    out = {}
    for name in names:
        cpu_speed = [b / a for a, b in zip(cpu[name], cpu[base])]
        wall_speed = [b / a for a, b in zip(wall[name], wall[base])]
        out[name] = {
            "block_seconds": wall[name],
            "block_cpu_seconds": cpu[name],
            "per_cpu_s_median": statistics.median(block / x for x in cpu[name]),
            "per_s_median": statistics.median(block / x for x in wall[name]),
            f"speed_vs_{base}_cpu": cpu_speed,
            f"speed_vs_{base}_cpu_median": statistics.median(cpu_speed),
            f"speed_vs_{base}_cpu_ci95": median_interval(cpu_speed),
            f"speed_vs_{base}_wall_median": statistics.median(wall_speed),
            f"speed_vs_{base}_best_cpu_blocks": min(cpu[base]) / min(cpu[name]),
        }
    return out


def median_interval(xs: list[float]) -> tuple[float, float]:
    """A distribution-free 95% interval for the median of xs (independent rounds): the order statistics
    n/2 -+ 0.98 sqrt(n) (the binomial's normal approximation); the whole range for 6 or fewer."""
    xs, n = sorted(xs), len(xs)
    half = 0.98 * math.sqrt(n)
    lo, hi = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half))
    return xs[lo], xs[hi]


def _compare(contenders: dict, identical: bool, **timing) -> dict:
    res = interleave(contenders, **timing)
    out = {**timing, "identical": identical, "bare_per_cpu_s": res["bare"]["per_cpu_s_median"], "detail": res}
    for name in list(contenders)[1:]:
        prefix = "" if name == "ours" else f"{name}_"
        d = res[name]
        out |= {
            f"{prefix}speed_cpu_median": d["speed_vs_bare_cpu_median"],
            f"{prefix}speed_cpu_ci95": d["speed_vs_bare_cpu_ci95"],
            f"{prefix}speed_cpu_rounds": d["speed_vs_bare_cpu"],
            f"{prefix}speed_wall_median": d["speed_vs_bare_wall_median"],
            f"{prefix}speed_best_cpu_blocks": d["speed_vs_bare_best_cpu_blocks"],
            f"{name}_per_cpu_s": d["per_cpu_s_median"],
        }
    return out


def run_throughput(*, rounds: int, block: int, warmup: int) -> dict:
    """Trainer.step against the bare loop, and samplers.langevin against bare ULA; both pairs are
    first checked to produce bit-identical results."""
    cfg = bench_config()
    (bare, bare_state), (ours, ours_state) = make_bare_step(cfg), make_ours_step(cfg)
    for _ in range(3):
        bare(), ours()
    (xb, nb), (xo, no) = bare_state(), ours_state()
    same = torch.equal(xb, xo) and all(torch.equal(a, b) for a, b in zip(nb.state_dict().values(),
                                                                           no.state_dict().values()))
    step = _compare({"bare": bare, "ours": ours}, same, rounds=rounds, block=block, warmup=warmup)
    runs, check = make_langevin_pair(cfg)
    chain = _compare(runs, check(), rounds=rounds, block=block, warmup=warmup)
    # A/A controls: each bare loop against a second copy of itself, interleaved the same way. Their
    # distance from 1 is what this bench reads for two contenders that do the very same work.
    again, _ = make_bare_step(cfg)
    step_aa = _compare({"bare": bare, "again": again}, True, rounds=rounds, block=block, warmup=warmup)
    chain_aa = _compare({"bare": runs["bare"], "again": make_langevin_pair(cfg)[0]["bare"]}, True, rounds=rounds,
                        block=block, warmup=warmup)
    return {"config": to_dict(cfg), "trainer": step, "langevin": chain, "trainer_aa": step_aa,
            "langevin_aa": chain_aa, "peers_updates_per_s": PEERS_UPS}


# ----------------------------------------------------------------------------------------------
# (b) time to KL(data || model) < target


def train_with_kl_curve(cfg: RunConfig, *, seconds: float, eval_every: float = 2.0, clock: str = "wall",
                        stop_below: float | None = None, grid_n: int = 128, keep_trainer: bool = False) -> dict:
    """Train cfg for `seconds` of training clock, evaluating KL(data || model) of the eval weights
    every `eval_every` s of it (evaluation off the clock). Stops at the first KL < stop_below if given.

    clock: "wall" counts wall time spent in Trainer.step(); "cpu" counts this thread's CPU time in
    it, which on a shared machine leaves out the time other jobs took the core (with one torch
    thread all the work runs on this thread). Both clocks are recorded at every evaluation.

    Returns the curve, a list of {"t", "t_wall", "t_cpu", "step", "kl"} (t on the chosen clock;
    the first point is the untrained model), and step rates; with keep_trainer, the Trainer too.
    """
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    trainer = make_trainer_2d(cfg, device=CPU)
    ds = toy2d.get(cfg.data.dataset)
    grid = density.make_grid(ds.extent, grid_n)
    data = density.data_density(ds.log_density, grid)

    def point() -> dict:
        kl = density.kl_data_model(data, density.grid_density(trainer.eval_model, grid))
        t = t_wall if clock == "wall" else t_cpu
        return {"t": t, "t_wall": t_wall, "t_cpu": t_cpu, "step": trainer.step_count, "kl": kl}

    t_wall = t_cpu = 0.0
    curve = [point()]
    next_eval, wall0 = eval_every, time.perf_counter()
    while True:
        w0, c0 = time.perf_counter(), time.thread_time()
        trainer.step()
        t_wall += time.perf_counter() - w0
        t_cpu += time.thread_time() - c0
        t = t_wall if clock == "wall" else t_cpu
        if t >= next_eval or t >= seconds:
            curve.append(point())
            next_eval += eval_every
            if t >= seconds or (stop_below is not None and curve[-1]["kl"] < stop_below):
                break
    return {
        "clock": clock,
        "curve": curve,
        "train_seconds_wall": t_wall,
        "train_seconds_cpu": t_cpu,
        "steps": trainer.step_count,
        "updates_per_s": trainer.step_count / t_wall,
        "updates_per_cpu_s": trainer.step_count / t_cpu,
        "wall_seconds": time.perf_counter() - wall0,
        **({"trainer": trainer} if keep_trainer else {}),
    }


def first_below(curve: list[dict], level: float) -> dict | None:
    """The first curve point with KL < level, or None."""
    return next((p for p in curve if p["kl"] < level), None)  # NaN compares False: never counts


def run_time_to_kl(*, seeds: list[int], cap: float, target: float = 0.1, eval_every: float = 2.0) -> dict:
    per_seed = []
    for seed in seeds:
        cfg = RunConfig().replace(seed=seed)
        r = train_with_kl_curve(cfg, seconds=cap, eval_every=eval_every, clock="wall", stop_below=target)
        curve, hit = r["curve"], first_below(r["curve"], target)
        kls = [p["kl"] for p in curve if not math.isnan(p["kl"])]
        per_seed.append({
            "seed": seed,
            "seconds_to_target": hit["t_wall"] if hit else None,
            "cpu_seconds_to_target": hit["t_cpu"] if hit else None,
            "steps_to_target": hit["step"] if hit else None,
            "first_below": {str(level): first_below(curve, level) for level in (1.0, 0.5, 0.2, target)},
            "kl_initial": curve[0]["kl"],
            "kl_final": curve[-1]["kl"],
            "kl_min": min(kls) if kls else math.nan,
            "updates_per_s": r["updates_per_s"],
            "updates_per_cpu_s": r["updates_per_cpu_s"],
            "curve": curve,
        })
        print(f"  seed {seed}: {_fmt_s(hit and hit['t_wall'])} to KL < {target} "
              f"({r['steps']} steps, {r['updates_per_s']:.1f} updates/s, final KL {curve[-1]['kl']:.3f})", flush=True)
    times = [p["seconds_to_target"] for p in per_seed]
    return {
        "config": to_dict(RunConfig()),
        "target_kl": target,
        "cap_seconds": cap,
        "eval_every_seconds": eval_every,
        "grid_n": 128,
        "seeds": per_seed,
        "all_reached": all(x is not None for x in times),
        "median_seconds": statistics.median([x if x is not None else math.inf for x in times]),
    }


# ----------------------------------------------------------------------------------------------
# report


def _interval(ci: tuple[float, float]) -> str:
    return f"{ci[0]:.3f}-{ci[1]:.3f}"


def _fmt_s(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.1f} s"


def environment() -> dict:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "machine_cores": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }


def markdown(res: dict) -> str:
    env, tp, kl = res["environment"], res["throughput"], res["time_to_kl"]
    lines = [
        f"# Training benchmark{' (quick)' if res['quick'] else ''}",
        "",
        (f"{env['date']} | torch {env['torch']} | {env['torch_threads']} thread(s) | "
        f"{env['machine_cores']} cores ({env['processor']}) | load avg start "
        f"{env['loadavg_start'][0]:.2f}, end {env['loadavg_end'][0]:.2f}"),
        "",
        "## (a) A lean hot loop: Trainer.step() vs a bare torch loop, samplers.langevin vs bare ULA",
        "",
        ("MLP 2-128-128-1 SiLU (box 3, wall 0.5), batch 256, K=20 ULA (step 0.01, noise 1), PCD buffer 10000 "
        "(5% reinit), Adam 3e-3 betas (0, 0.999), alpha 0.1, EMA off, eight_gaussians; one torch thread, glibc "
        "heap thresholds fixed (ebm_core.heap) for both contenders. The bare loops do the same work with the "
        "same weights, batches and random draws and nothing else; both pairs were first checked to give "
        "bit-identical negatives (and weights). "
        f"{tp['trainer']['rounds']} interleaved rounds (ABBA) of {tp['trainer']['block']} calls each after "
        f"{tp['trainer']['warmup']} warm-up calls. Speed = bare time / ours time per round, on the thread's CPU time "
        "(target: median >= 0.97), with a distribution-free 95% interval for the median."),
        "",
        ("| pair | bit-identical | ours / CPU s | bare / CPU s | speed (median, CPU time) | 95% interval "
         "| speed (wall) | best blocks | verdict |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, label, unit in (("trainer", "Trainer.step vs bare loop", "updates"),
                              ("langevin", "samplers.langevin vs bare ULA", "chains")):
        d = tp[name]
        verdict = "meets" if d["identical"] and d["speed_cpu_median"] >= 0.97 else "misses"
        lines.append(f"| {label} | {'yes' if d['identical'] else '**no**'} | {d['ours_per_cpu_s']:.1f} {unit} | "
                     f"{d['bare_per_cpu_s']:.1f} {unit} | **{d['speed_cpu_median']:.3f}** | "
                     f"{_interval(d['speed_cpu_ci95'])} | {d['speed_wall_median']:.3f} | "
                     f"{d['speed_best_cpu_blocks']:.3f} | {verdict} |")
    d = tp["langevin"]
    lines.append(f"| samplers.langevin with its per-step statistics (stats=True, as the Langevin Lab calls it) | "
                 f"{'yes' if d['identical'] else '**no**'} | {d['ours_stats_per_cpu_s']:.1f} chains | "
                 f"{d['bare_per_cpu_s']:.1f} chains | {d['ours_stats_speed_cpu_median']:.3f} | "
                 f"{_interval(d['ours_stats_speed_cpu_ci95'])} | "
                 f"{d['ours_stats_speed_wall_median']:.3f} | {d['ours_stats_speed_best_cpu_blocks']:.3f} "
                 "| (no target) |")
    if "trainer_aa" in tp:  # results written before the A/A controls have none
        aa = [f"{label} {tp[k]['again_speed_cpu_median']:.3f} ({_interval(tp[k]['again_speed_cpu_ci95'])})"
              for k, label in (("trainer_aa", "the bare PCD loop"), ("langevin_aa", "bare ULA"))]
        lines += ["", ("**A/A control**: each bare loop against a second copy of itself, the same rounds the same way, "
                       "reads " + " and ".join(aa) + " (median, 95% interval): how far from 1 this bench puts two "
                       "contenders that do the very same work.")]
    lines += ["", ("Trainer.step runs its chains with stats=False: the page shows no per-step chain statistics, and "
                   "MALA's acceptance is kept either way. The update's own statistics (loss, mean energies, weight "
                   "gradient norm, acceptance) and the finite check are read with one host sync.")]
    for name in ("trainer", "langevin"):
        xs = sorted(tp[name]["speed_cpu_rounds"])
        deciles = ", ".join(f"{xs[min(len(xs) - 1, round(q * (len(xs) - 1) / 10))]:.2f}" for q in range(11))
        lines += ["", f"Per round ({name}, {len(xs)} rounds), from the lowest to the highest by tenths: {deciles}."]
    lines += [
        "",
        (f"Peer configuration: ours **{tp['trainer']['ours_per_cpu_s']:.1f} updates per CPU second** on one thread "
        "(with buffer 10000, EMA off); "
        + ", ".join(f"{k} {v:.0f}" for k, v in tp["peers_updates_per_s"].items())
        + " (peers' figures as quoted in the design, not measured on this machine)."),
        "",
        "## (b) Time to KL(data || model) < 0.1 nats, default RunConfig",
        "",
        ("Time is the wall time spent in Trainer.step() (evaluation excluded); the CPU-time column is this "
        "thread's CPU time in it, which leaves out time other jobs on the machine took the core. "
        f"EMA weights evaluated every {kl['eval_every_seconds']:.0f} s, "
        f"cap {kl['cap_seconds']:.0f} s, density on make_grid(extent, {kl['grid_n']}) normalised over the plane."),
        "",
        "| seed | time to KL < 0.1 | (CPU time) | steps | KL < 1 | KL < 0.5 | KL < 0.2 | KL start | KL min | KL final "
        "| updates/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in kl["seeds"]:
        marks = [p["first_below"][k] for k in ("1.0", "0.5", "0.2")]
        lines.append(
            f"| {p['seed']} | **{_fmt_s(p['seconds_to_target'])}** | {_fmt_s(p['cpu_seconds_to_target'])} | "
            f"{p['steps_to_target'] or '-'} | "
            + " | ".join(_fmt_s(m["t_wall"] if m else None) for m in marks)
            + f" | {p['kl_initial']:.2f} | {p['kl_min']:.3f} | {p['kl_final']:.3f} | {p['updates_per_s']:.1f} |")
    lines += [
        "",
        (f"Median time to target: {_fmt_s(kl['median_seconds'] if math.isfinite(kl['median_seconds']) else None)} "
        f"(target: under 60 s). Crossing times are known to within one evaluation interval."),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: fewer rounds, 1 seed, 30 s cap")
    ap.add_argument("--out", type=Path, default=None,
                    help="output path without suffix (default bench/results/train, or train_quick with --quick)")
    ap.add_argument("--rounds", type=int, default=200, help="interleaved rounds in (a) (default 200; --quick: 8)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    heap.keep_freed_memory()  # as in every training process: the same for both contenders
    out = args.out or RESULTS / ("train_quick" if args.quick else "train")
    env = environment()

    print("(a) throughput, ours vs bare ...", flush=True)
    if args.quick:
        tp = run_throughput(rounds=8, block=10, warmup=10)
    else:
        tp = run_throughput(rounds=args.rounds, block=25, warmup=50)
    for name in ("trainer", "langevin"):
        d = tp[name]
        print(f"  {name}: identical {d['identical']}, speed vs bare {d['speed_cpu_median']:.3f} (CPU time), "
              f"ours {d['ours_per_cpu_s']:.1f}/CPU s, bare {d['bare_per_cpu_s']:.1f}/CPU s", flush=True)

    print("(b) time to KL < 0.1 ...", flush=True)
    if args.quick:
        kl = run_time_to_kl(seeds=[0], cap=30.0)
    else:
        kl = run_time_to_kl(seeds=[0, 1, 2], cap=120.0)

    env["loadavg_end"] = os.getloadavg()
    res = {"quick": args.quick, "environment": env, "throughput": tp, "time_to_kl": kl, "argv": sys.argv[1:]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
