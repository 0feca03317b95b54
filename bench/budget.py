"""The cost model of ebm_core.budget against the real thing: CPU time of one training update and of one
diagnostics refresh of a live run, predicted and measured, on one thread.

    python bench/budget.py                  # about 15 minutes; writes bench/results/budget.md
    python bench/budget.py --fit            # also fits the constants (budget.COSTS) to the measurements
    python bench/budget.py --only toy2d     # one task's rows only (toy2d or images)
    python bench/budget.py --save m.json    # keep the measurements; --load m.json prices them again

What one measurement is, as the worker runs it (live/worker.py):
    update: one turn of the loop that trains and publishes a frame: Trainer.step(record_every=1), the
        task's divergence check and Trainer.state() (the rollback copy, taken every good_every updates);
    refresh: task.diagnostics() and one task.snapshot with the gradient field and a fresh display grid.
Each is this thread's CPU time (time.thread_time, so other jobs on the machine do not count), the median
of 5 after one warm-up. The very expensive settings (minutes to hours per update) are not run: they are
measured at small batch sizes and step counts, and the bench shows how well a plane in the batch size
and batch x steps through those reduced measurements carries to the full setting, next to the model.
MNIST-sized runs use random 28x28 images (the cost does not depend on the pixels, and the download may
be unavailable).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from ebm_core import budget, budget_advice, density, images
from ebm_core.config import ImageRunConfig, RunConfig, from_query, to_query
from ebm_core.image_train import energy_of
from ebm_core.lessons.presets import PRESETS, apply_preset
from ebm_core.live.images import IMAGE_SIZES, ImagesTask
from ebm_core.live.toy2d import Toy2DTask

RESULTS = Path(__file__).resolve().parent / "results"
CPU = torch.device("cpu")
REPS = 5


def _fake_images(name: str, split: str = "train") -> images.ImageDataset:
    """Random 28x28 images in place of a download: the cost does not depend on the pixels."""
    if name == "digits":
        return _real_load_images(name, split=split)
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    n = 4096 if split == "train" else 1024
    return images.ImageDataset(2 * torch.rand(n, 1, 28, 28, generator=g) - 1, torch.zeros(n, dtype=torch.long),
                               name, images.CLASSES[name])


_real_load_images = images.load_images
images.load_images = _fake_images  # live/images.py calls images.load_images


def _task(cfg):
    if isinstance(cfg, RunConfig):
        task = Toy2DTask(cfg, CPU, {"display_n": 64, "n_trails": 8})
    else:
        task = ImagesTask(cfg, CPU, {})
    task.setup()
    return task


def _cpu(fn) -> float:
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0


def measure_update(task, reps: int = REPS) -> float:
    tr = task.trainer

    def turn():
        log = tr.step(record_every=1)
        task.explain_divergence(log)
        tr.state()

    turn()
    return statistics.median(_cpu(turn) for _ in range(reps))


def measure_refresh(task, reps: int = REPS) -> float:
    common = dict(seq=0, ack=0, config=task.cfg, status="paused", message="", step=task.trainer.step_count,
                  steps_per_s=0.0, device="cpu", history={}, history_start=0, diag_history={},
                  can_rollback=False, rollback_step=0)

    def refresh():
        if hasattr(task, "_grid"):
            task._grid = None  # the display grid is rebuilt, as on the first frame after an update
        task.diagnostics()
        task.snapshot(("field",), **common)

    refresh()
    return statistics.median(_cpu(refresh) for _ in range(reps))


# ----------------------------------------------------------------------------------------------
# The settings


def full_rows(only: str | None) -> list[tuple[str, object]]:
    """Settings measured in full: defaults, presets, and a spread along each costly setting."""
    d, i = RunConfig(), ImageRunConfig()
    rows = [("2D defaults", d)] + [(f"preset {k}", apply_preset(k)) for k in PRESETS]
    rows += [(label, d.replace(**kw)) for label, kw in [
        ("smallest net, batch 8, K=1", dict(width=4, depth=1, batch_size=8, n_steps=1)),
        ("width 32", dict(width=32)),
        ("width 512", dict(width=512)),
        ("width 1024", dict(width=1024)),
        ("depth 8", dict(depth=8)),
        ("width 256, depth 8", dict(width=256, depth=8)),
        ("spectral norm", dict(spectral_norm=True)),
        ("batch 2048", dict(batch_size=2048)),
        ("batch 8192, width 32", dict(batch_size=8192, width=32)),
        ("K=100", dict(n_steps=100)),
        ("K=1000, width 32, batch 64", dict(n_steps=1000, width=32, batch_size=64)),
        ("MALA", dict(sampler="mala")),
        ("MALA, K=100", dict(sampler="mala", n_steps=100)),
        ("CD-k", dict(method="cd", n_steps=20)),
        ("short-run", dict(method="short_run", n_steps=20)),
        ("buffer 200000", dict(buffer_size=200_000)),
        ("width 1024, depth 8, batch 8, K=1", dict(width=1024, depth=8, batch_size=8, n_steps=1)),
        ("width 1024, depth 1, batch 8192, K=5", dict(width=1024, depth=1, batch_size=8192, n_steps=5)),
        ("width 1024, depth 1, batch 2048, K=20, MALA", dict(width=1024, depth=1, batch_size=2048, n_steps=20,
                                                             sampler="mala")),
        ("width 512, batch 1024", dict(width=512, batch_size=1024)),
        ("width 64, depth 4, batch 4096, K=20", dict(width=64, depth=4, batch_size=4096, n_steps=20)),
    ]]
    rows += [("images defaults (digits)", i)] + [(label, i.replace(**kw)) for label, kw in [
        ("images MNIST", dict(dataset="mnist")),
        ("images width 64", dict(width=64)),
        ("images width 128, K=5", dict(width=128, n_steps=5)),
        ("images batch 512", dict(batch_size=512)),
        ("images K=100", dict(n_steps=100)),
        ("images MALA", dict(sampler="mala")),
        ("images MNIST width 4, batch 256", dict(dataset="mnist", width=4, batch_size=256)),
        ("images MNIST width 64, batch 8, K=5", dict(dataset="mnist", width=64, batch_size=8, n_steps=5)),
        ("images MNIST buffer 20000", dict(dataset="mnist", buffer_size=20_000)),
    ]]
    return [r for r in rows if only is None or _task_name(r[1]) == only]


EXPENSIVE = [  # (label, the full setting, the reduced batch sizes and step counts measured)
    ("tracker link: width 1024, depth 8, batch 8192, K=1000, MALA",
     RunConfig().replace(width=1024, depth=8, batch_size=8192, n_steps=1000, sampler="mala"), (32, 128), (1, 4)),
    ("width 1024, depth 8, batch 8192, K=1, MALA",
     RunConfig().replace(width=1024, depth=8, batch_size=8192, n_steps=1, sampler="mala"), (32, 128), (1, 4)),
    ("width 512, depth 4, batch 4096, K=200",
     RunConfig().replace(width=512, depth=4, batch_size=4096, n_steps=200), (64, 256), (1, 8)),
    ("images MNIST width 256, batch 8192, K=1000",
     ImageRunConfig().replace(dataset="mnist", width=256, batch_size=8192, n_steps=1000), (8, 24), (1, 4)),
    ("images digits width 256, batch 4096, K=100",
     ImageRunConfig().replace(width=256, batch_size=4096, n_steps=100), (16, 64), (1, 4)),
]


def _task_name(cfg) -> str:
    return "toy2d" if isinstance(cfg, RunConfig) else "images"


def at_limit_rows(only: str | None) -> list[tuple[str, object]]:
    """The check's own suggestions for refused settings, measured: they should come in under the limit."""
    out = []
    for label, cfg, _, _ in EXPENSIVE[:1] + EXPENSIVE[2:]:
        for fix in budget_advice.fixes(cfg):
            fixed = cfg.replace(**fix)
            if budget.estimate(fixed).update_s > 3 * budget.default_limit_s():
                continue
            out.append((f"{label.split(':')[0]} with {', '.join(f'{k}={v}' for k, v in fix.items())}", fixed))
    return [r for r in out if only is None or _task_name(r[1]) == only]


# ----------------------------------------------------------------------------------------------
# Measuring (plain numbers, so a run can be saved and priced again: --save, --load)


def _reps(cfg) -> int:
    return 2 if budget.estimate(cfg).worst_s > 2 else REPS  # the few slow refreshes: fewer repeats


def measure_rows(rows) -> list[dict]:
    out = []
    for label, cfg in rows:
        task, reps = _task(cfg), _reps(cfg)
        out.append(dict(label=label, task=_task_name(cfg), query=to_query(cfg), update_meas=measure_update(task, reps),
                        refresh_meas=measure_refresh(task, reps)))
        print(f"{label:60s} update {out[-1]['update_meas']:8.4f}  refresh {out[-1]['refresh_meas']:8.4f}", flush=True)
    return out


def measure_expensive(entry) -> dict:
    """The update at the corners of (batch sizes) x (steps) and once in between; the refresh's forward
    passes over fewer points."""
    label, cfg, (b1, b2), (k1, k2) = entry
    reduced = []
    for b, k in [(b1, k1), (b2, k1), (b1, k2), (b2, k2), ((b1 + b2) // 2, (k1 + k2 + 1) // 2)]:
        small = cfg.replace(batch_size=b, n_steps=k, buffer_size=max(64, min(cfg.train.buffer_size, 4 * b)))
        reduced.append(dict(b=b, k=k, task=_task_name(cfg), query=to_query(small), label=f"{label} at batch {b}, K={k}",
                            update_meas=measure_update(_task(small))))
        print(f"  {reduced[-1]['label']:70s} {reduced[-1]['update_meas']:8.4f}", flush=True)
    if isinstance(cfg, RunConfig):
        model = Toy2DTask.build_model(cfg).requires_grad_(False)
        ns = (1024, 2048, 4096)
        make = lambda n: torch.randn(n, 2)  # noqa: E731
        evaluate = lambda x: density.evaluate(model, x)  # noqa: E731
    else:
        size = IMAGE_SIZES[cfg.data.dataset]
        model = ImagesTask.build_model(cfg).requires_grad_(False)
        ns = (8, 16, 32)
        make = lambda n: 2 * torch.rand(n, 1, size, size) - 1  # noqa: E731
        evaluate = lambda x: energy_of(model, x)  # noqa: E731
    small = []
    for n in ns:
        x = make(n)
        evaluate(x)
        small.append(statistics.median(_cpu(lambda x=x: evaluate(x)) for _ in range(REPS)))
    return dict(label=label, task=_task_name(cfg), query=to_query(cfg), reduced=reduced, refresh_ns=ns,
                refresh_meas_small=small)


def measure(only: str | None) -> dict:
    return dict(environment=environment(), full=measure_rows(full_rows(only)), limit=measure_rows(at_limit_rows(only)),
                expensive=[measure_expensive(e) for e in EXPENSIVE if only is None or _task_name(e[1]) == only])


# ----------------------------------------------------------------------------------------------
# Pricing, fitting and writing


def _cfg(row: dict):
    return from_query(row["query"], root=RunConfig if row["task"] == "toy2d" else ImageRunConfig)


def _net(cfg) -> budget.Net:
    if isinstance(cfg, RunConfig):
        return budget.net_2d(cfg.model.width, cfg.model.depth, cfg.model.spectral_norm)
    return budget.net_image(cfg.model.width, IMAGE_SIZES[cfg.data.dataset], cfg.model.spectral_norm, cfg.model.net)


def price(data: dict) -> None:
    """Add the model's predictions (with the current budget.COSTS) and the planes through the reduced
    measurements."""
    from scipy.optimize import nnls

    for r in data["full"] + data["limit"] + [r for e in data["expensive"] for r in e["reduced"]]:
        est = budget.estimate(_cfg(r))
        r["update_pred"], r["refresh_pred"] = est.update_s, est.diagnostics_s
    for e in data["expensive"]:
        cfg = _cfg(e)
        corners, inner = e["reduced"][:4], e["reduced"][4]
        design = np.array([[1, r["b"], r["b"] * r["k"]] for r in corners], dtype=float)
        coef, _ = nnls(design, np.array([r["update_meas"] for r in corners]))  # no negative costs
        e["inner_line"] = float(coef @ [1, inner["b"], inner["b"] * inner["k"]])
        e["update_line"] = float(coef @ [1, cfg.train.batch_size, cfg.train.batch_size * cfg.sampler.n_steps])
        est, net = budget.estimate(cfg), _net(cfg)
        e["update_pred"], e["refresh_pred"] = est.update_s, est.diagnostics_s
        e["refresh_pred_small"] = [budget.passes(net, n, budget.FORWARD).seconds(budget.COSTS[e["task"]])
                                   for n in e["refresh_ns"]]
        _, _, diag = budget.work(cfg)
        e["refresh_points"] = sum(w.macs for w in diag.values()) / net.macs  # forward-equivalent points
        slope, icept = np.polyfit(e["refresh_ns"], e["refresh_meas_small"], 1)
        e["refresh_line"] = float(icept + slope * e["refresh_points"])
        e["verdict"] = _verdict(cfg)
    for r in data["full"] + data["limit"]:
        r["verdict"] = _verdict(_cfg(r))


FEATURES = ("macs", "unfolded", "elems", "huge_elems", "ops")
COEFS = ("seconds_per_unit", "unfold", "elem", "huge_elem", "op")


def fit(data: dict, share: float = 0.9) -> dict[str, budget.Costs]:
    """Quantile regression of the measured times on the model's work, in relative terms, with
    non-negative constants: `share` of the measurements come in at or under the estimate and the
    estimate is otherwise as low as it can be (a linear program)."""
    from scipy.optimize import linprog

    rows = data["full"] + data["limit"] + [r for e in data["expensive"] for r in e["reduced"]]
    out = {}
    for task in ("toy2d", "images"):
        feats, meas = [], []
        for r in rows:
            if r["task"] != task:
                continue
            _, upd, diag = budget.work(_cfg(r))
            for parts, key in ((upd, "update_meas"), (diag, "refresh_meas")):
                if key in r:
                    w = sum(parts.values(), budget.Work())
                    feats.append([getattr(w, f) for f in FEATURES])
                    meas.append(r[key])
        if not feats:
            continue
        a = np.array(feats) / np.array(meas)[:, None]  # predicted / measured = a @ c
        scale = np.where(a.max(axis=0) > 0, a.max(axis=0), 1.0)
        n, p = a.shape  # unknowns: c (p), over (n), under (n); a c - over + under = 1
        cost = np.concatenate([np.zeros(p), (1 - share) * np.ones(n), share * np.ones(n)])
        res = linprog(cost, A_eq=np.hstack([a / scale, -np.eye(n), np.eye(n)]), b_eq=np.ones(n),
                      bounds=[(0, None)] * (p + 2 * n), method="highs")
        c = res.x[:p] / scale
        out[task] = budget.Costs(*(float(c[0]),), *(float(v / c[0]) for v in c[1:]))
    return out


def environment() -> str:
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return (f"{stamp} | torch {torch.__version__} | {torch.get_num_threads()} thread(s) | {os.cpu_count()} cores "
            f"({platform.machine()}) | load avg {os.getloadavg()[0]:.2f}")


def _s(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def _verdict(cfg) -> str:
    return "refused" if budget_advice.check(cfg) else "passes"


def _costs_line() -> str:
    return "; ".join(f"{t}: " + ", ".join(f"{k} {getattr(c, k):.3g}" for k in COEFS) for t, c in budget.COSTS.items())


def write(data: dict, path: Path) -> None:
    lines = ["# Cost budget: predicted vs measured", "", data["environment"], "",
             f"Limit: {budget.default_limit_s():g} s of one core per update and per diagnostics refresh "
             f"(${budget.LIMIT_ENV}). Constants (ebm_core/budget.py COSTS): {_costs_line()}.", "",
             "Ratio = measured / predicted. Update: one turn of the worker's loop that trains, "
             "Trainer.step(record_every=1) + the divergence check + Trainer.state(); refresh: diagnostics() + "
             "snapshot with the gradient field and a fresh display grid. CPU time of this thread, median of 5 "
             "(2 for the few refreshes over 2 s).", ""]
    for title, rows in (("Settings measured in full", data["full"]),
                        ("The check's suggestions for refused settings, measured", data["limit"])):
        lines += [f"## {title}", "", "| setting | check | update predicted | measured | ratio | refresh predicted "
                  "| measured | ratio |", "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['label']} | {r['verdict']} | {_s(r['update_pred'])} | {_s(r['update_meas'])} | "
                         f"{r['update_meas'] / r['update_pred']:.2f} | {_s(r['refresh_pred'])} | "
                         f"{_s(r['refresh_meas'])} | {r['refresh_meas'] / r['refresh_pred']:.2f} |")
        ratios = [r[k + "_meas"] / r[k + "_pred"] for r in rows for k in ("update", "refresh")]
        if ratios:
            lines += ["", f"Ratios: median {statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f} "
                      f"over {len(ratios)} measurements; {sum(x <= 1 for x in ratios)} at or under the estimate.", ""]
    lines += ["## Very expensive settings, from reduced measurements", "",
              "Each update is measured at two batch sizes x two step counts (the corners) and once in between. A "
              "plane t = a + bB + cBK (fixed costs, the loss per point, each chain's step) fitted to the corners "
              "(least squares, no negative coefficient; a step's own fixed cost is too small to show here) is "
              "checked on the inner point, then carried to the full setting ('plane'). The refresh is measured as "
              "forward passes over fewer points, a line in the number of points carried to the refresh's "
              "forward-equivalent points.", ""]
    for e in data["expensive"]:
        lines += [f"### {e['label']} ({e['verdict']})", "", "| reduced setting | predicted | measured | ratio |",
                  "|---|---|---|---|"]
        for r in e["reduced"]:
            lines.append(f"| batch {r['b']}, K={r['k']} | {_s(r['update_pred'])} | {_s(r['update_meas'])} | "
                         f"{r['update_meas'] / r['update_pred']:.2f} |")
        small = ", ".join(f"{n} points: {_s(m)} measured / {_s(p)} predicted" for n, m, p in
                          zip(e["refresh_ns"], e["refresh_meas_small"], e["refresh_pred_small"]))
        lines += ["", f"Inner point: the plane says {_s(e['inner_line'])}, measured {_s(e['inner_meas'])} "
                  f"(ratio {e['inner_meas'] / e['inner_line']:.2f}).",
                  f"Full update: the plane says **{_s(e['update_line'])}**, the model **{_s(e['update_pred'])}** "
                  f"(ratio {e['update_line'] / e['update_pred']:.2f}).",
                  f"Refresh: forward passes over {small}; the line carried to {e['refresh_points']:.0f} points "
                  f"says **{_s(e['refresh_line'])}**, the model **{_s(e['refresh_pred'])}** "
                  f"(ratio {e['refresh_line'] / e['refresh_pred']:.2f}).", ""]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit", action="store_true", help="fit budget.COSTS to the measurements and print them")
    ap.add_argument("--only", choices=("toy2d", "images"), help="one task's rows only")
    ap.add_argument("--save", type=Path, help="also save the measurements (JSON) here")
    ap.add_argument("--load", type=Path, help="price saved measurements instead of measuring")
    ap.add_argument("--out", type=Path, default=RESULTS / "budget.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = json.loads(args.load.read_text()) if args.load else measure(args.only)
    for e in data["expensive"]:
        e["inner_meas"] = e["reduced"][4]["update_meas"]
    if args.save:
        args.save.write_text(json.dumps(data))
    if args.fit:
        for task, costs in fit(data).items():
            print(f"fitted {task}: {costs}")
    price(data)
    write(data, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
