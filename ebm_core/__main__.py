"""Command line: train a 2D energy model without the UI and write a run folder.

    python -m ebm_core train --dataset eight_gaussians --steps 2000 --seed 0 --out runs/demo
    python -m ebm_core train --dataset rings --seconds 60 --step_size 0.02 --out runs/rings
"""

import argparse
import math
import sys
import time

import torch
from tqdm import tqdm

from . import config as config_mod
from . import density, heap, toy2d
from .checkpoint import save_run
from .train2d import make_trainer_2d
from .training import default_device


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    for name in config_mod.field_names():
        info = config_mod.field_info(name)
        default = info["default"]
        allowed = (f"one of {', '.join(info['choices'])}" if "choices" in info
                   else f"range [{info['range'][0]}, {info['range'][1]}]" if "range" in info
                   else "true or false" if isinstance(default, bool) else "")
        picked = " unless the dataset picks its own" if name in config_mod.dataset_settings(toy2d.CUSTOM) else ""
        help_text = f"{info['label']}: {info['help']} (default {default}{picked}; {allowed})"
        p.add_argument(f"--{name}", default=None, metavar=type(default).__name__.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebm_core", description="Energy Landscape Explorer, headless.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a 2D energy model and write a run folder",
                       description="Train an energy model on a 2D toy dataset with contrastive divergence and "
                                   "write a run folder (model.safetensors, config.json, metrics.csv). Prints the "
                                   "exact KL(data || model) and test NLL computed on a grid. Each dataset picks "
                                   "a few settings of its own, as the Playground does (ebm_core/config.py, "
                                   "DATASET_SETTINGS); flags given here override them.")
    t.add_argument("--out", required=True, help="run folder to write (created if missing)")
    t.add_argument("--steps", type=int, default=None, help="number of training updates (default 2000 "
                   "unless --seconds is given)")
    t.add_argument("--seconds", type=float, default=None, help="train for this wall-clock budget instead of a "
                   "step count (with --steps: whichever ends first)")
    t.add_argument("--eval_every", type=int, default=250, help="updates between exact KL/NLL evaluations "
                   "written to metrics.csv (default 250)")
    t.add_argument("--device", default=None, choices=["cpu", "cuda", "mps"],
                   help="training device (default: cuda, then mps, then cpu)")
    t.add_argument("--no_progress", action="store_true", help="do not draw a progress bar")
    t.add_argument("--points", default=None, help="CSV of x,y points to learn (with --dataset custom); each point "
                   "is blurred by a small Gaussian so the exact KL still works")
    _add_config_flags(t)
    return p


def _evaluate(model, grid, data, x_test) -> dict:
    gd = density.grid_density(model, grid)
    return {"kl": density.kl_data_model(data, gd),
            "nll": density.nll(model, x_test, gd.log_z) if gd.finite else math.nan,
            "log_z": gd.log_z, "mass_outside": gd.mass_outside}


MAX_POINTS_FILE_BYTES = 10_000_000  # as the page's CSV upload


class _Refused(ValueError):
    """A bad argument: its message goes to stderr and the CLI exits with status 2."""


def _settings(args: argparse.Namespace) -> tuple[config_mod.RunConfig, toy2d.Dataset]:
    """The run's config and dataset from the arguments, or _Refused saying what is wrong."""
    flat = {k: getattr(args, k) for k in config_mod.field_names() if getattr(args, k) is not None}
    try:  # the dataset's own settings (config.DATASET_SETTINGS), then the flags given
        cfg = config_mod.for_dataset(flat.get("dataset", config_mod.RunConfig().data.dataset)).replace(**flat)
    except ValueError as e:
        raise _Refused(str(e)) from None
    if args.steps is not None and args.steps < 1:
        raise _Refused(f"--steps must be >= 1, got {args.steps}")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise _Refused(f"--seconds must be a positive number of seconds, got {args.seconds}")
    if args.eval_every < 1:
        raise _Refused(f"--eval_every must be >= 1 (updates between evaluations), got {args.eval_every}")
    if (cfg.data.dataset == toy2d.CUSTOM) != (args.points is not None):
        raise _Refused("--points FILE.csv goes with --dataset custom (and only with it)")
    return cfg, (toy2d.get(cfg.data.dataset) if args.points is None else _points(args.points))


def _points(path: str) -> toy2d.Dataset:
    """The dataset of a CSV of x,y points, read at most MAX_POINTS_FILE_BYTES (/dev/zero is a file too)."""
    from .userdata import load_csv, points_dataset

    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_POINTS_FILE_BYTES + 1)
        if len(raw) > MAX_POINTS_FILE_BYTES:
            raise ValueError(f"the file is larger than {MAX_POINTS_FILE_BYTES // 1_000_000} MB; "
                             "a points file holds at most a few hundred thousand x,y rows")
        points, dropped = load_csv(raw)
        if dropped:
            print(f"note: {path}: dropped {dropped} outlier point(s) far from the rest", file=sys.stderr)
        return points_dataset(points)
    except (OSError, ValueError) as e:
        raise _Refused(f"{path}: {e}") from None


def train(args: argparse.Namespace) -> int:
    try:
        cfg, ds = _settings(args)
    except _Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    steps = args.steps if args.steps is not None or args.seconds is not None else 2000
    torch.set_num_threads(1)
    heap.keep_freed_memory()
    device = default_device(args.device)
    trainer = make_trainer_2d(cfg, device=device, dataset=ds)
    grid = density.make_grid(ds.extent, 128)
    data = density.data_density(ds.log_density, grid)
    x_test = ds.sample(4000, generator=torch.Generator().manual_seed(cfg.train.seed + 12345)).float()
    rows = []
    bar = tqdm(total=steps, unit="step", disable=args.no_progress, dynamic_ncols=True,
               bar_format=None if steps else "{desc} {n_fmt} steps [{elapsed}, {rate_fmt}]{postfix}")
    start = time.perf_counter()
    for log in trainer.run(steps, args.seconds):
        row = {"step": log.step, "time": round(time.perf_counter() - start, 3), "loss": log.loss, "e_pos": log.e_pos,
               "e_neg": log.e_neg, "gap": log.gap, "grad_norm": log.grad_norm, "acceptance": log.acceptance,
               "kl": "", "nll": ""}
        if not log.finite:
            bar.close()
            print(f"training diverged at step {log.step}: the loss or its gradient is not finite. Try a smaller "
                  f"step size (now {cfg.sampler.step_size}) or learning rate (now {cfg.train.lr}).", file=sys.stderr)
            save_run(args.out, trainer.eval_model, cfg, rows)
            return 1
        if log.step % args.eval_every == 0:
            ev = _evaluate(trainer.eval_model, grid, data, x_test)
            row.update(kl=ev["kl"], nll=ev["nll"])
            bar.set_postfix(kl=f"{ev['kl']:.3f}", nll=f"{ev['nll']:.3f}")
        rows.append(row)
        bar.update(1)
    bar.close()
    ev = _evaluate(trainer.eval_model, grid, data, x_test)
    if rows:
        rows[-1].update(kl=ev["kl"], nll=ev["nll"])
    out = save_run(args.out, trainer.eval_model, cfg, rows,
                   extra={"final": {**ev, "steps": trainer.step_count, "data_entropy": data.entropy,
                                    "device": str(device)}})
    print(f"steps {trainer.step_count} in {time.perf_counter() - start:.1f} s on {device}")
    print(f"final KL(data || model) = {ev['kl']:.4f} nats")
    print(f"final test NLL = {ev['nll']:.4f} nats (data entropy {data.entropy:.4f}; log Z {ev['log_z']:.4f}; "
          f"mass outside the box {ev['mass_outside']:.2%})")
    print(f"run folder: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
