"""Command line: train an energy model without the UI and write a run folder; draw samples from one.

    python -m ebm_core train --dataset eight_gaussians --steps 2000 --seed 0 --out runs/demo
    python -m ebm_core train --dataset rings --seconds 60 --step_size 0.02 --out runs/rings
    python -m ebm_core train --dataset digits --seconds 120 --out runs/digits    # the Images recipe
    python -m ebm_core sample runs/digits --n 256 --steps 200 --out digits.npy
    python -m ebm_core export runs/demo --format gif --view density --out demo.gif   # the recorded training
    python -m ebm_core export runs/digits --format mp4 --out digits.mp4
"""

import argparse
import dataclasses
import math
import sys
import time

import torch
from tqdm import tqdm

from . import config as config_mod
from . import density, export, heap, movie2d, render2d, toy2d
from .checkpoint import NotARunError, load_run, read_recording, save_run
from .images import DatasetUnavailable
from .live.toy2d import frame_of
from .train2d import make_trainer_2d
from .training import default_device
from .views import LAYERS

IMAGES = config_mod.ImageRunConfig


def _allowed(info: dict) -> str:
    return (f"one of {', '.join(info['choices'])}" if "choices" in info
            else f"range [{info['range'][0]}, {info['range'][1]}]" if "range" in info
            else "true or false" if isinstance(info["default"], bool) else "")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per setting of a 2D run or an image run (their names are shared where they mean
    the same thing; an image run has its own defaults)."""
    image_names = set(config_mod.field_names(IMAGES))
    for name in config_mod.field_names():
        info = config_mod.field_info(name)
        default = info["default"]
        picked = " unless the dataset picks its own" if name in config_mod.dataset_settings(toy2d.CUSTOM) else ""
        if name == "dataset":
            choices = ", ".join(config_mod.field_info(name, IMAGES)["choices"])
            help_text = (f"{info['label']}: a 2D toy ({_allowed(info)}) or an image dataset ({choices}), which "
                         f"trains the Images page's recipe instead (default {default})")
        else:
            image = (f"; images: default {config_mod.field_info(name, IMAGES)['default']}" if name in image_names
                     else "; 2D only")
            help_text = f"{info['label']}: {info['help']} (default {default}{picked}{image}; {_allowed(info)})"
        p.add_argument(f"--{name}", default=None, metavar=type(default).__name__.upper(), help=help_text)
    for name in config_mod.field_names(IMAGES):
        if name not in config_mod.field_names():
            info = config_mod.field_info(name, IMAGES)
            p.add_argument(f"--{name}", default=None, metavar=type(info["default"]).__name__.upper(),
                           help=f"{info['label']}: {info['help']} (images only; default {info['default']}; "
                                f"{_allowed(info)})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebm_core", description="Energy Landscape Explorer, headless.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an energy model (2D or images) and write a run folder",
                       description="Train an energy model with contrastive divergence and write a run folder "
                                   "(model.safetensors, config.json, metrics.csv). On a 2D toy dataset it prints "
                                   "the exact KL(data || model) and test NLL computed on a grid; each dataset "
                                   "picks a few settings of its own, as the Playground does (ebm_core/config.py, "
                                   "DATASET_SETTINGS). On an image dataset (digits, mnist, fashion_mnist) it "
                                   "trains the Images page's recipe and prints how often a reference classifier "
                                   "recognises fresh chains from noise. Flags given here override the defaults.")
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
    t.add_argument("--no_score", action="store_true", help="images: skip the final score of fresh chains by the "
                   "reference classifier (fitting it takes about 10 s on digits)")
    _add_config_flags(t)
    s = sub.add_parser("sample", help="draw fresh Langevin chains from noise with a run folder's model",
                       description="Start N chains from uniform noise (over the 2D run's box, or image pixels in "
                                   "[-1, 1]) and run the run's own sampler on its model for K steps; save the end "
                                   "points as a .npy array: (N, 2) for a 2D run, (N, 1, H, W) for an image run.")
    s.add_argument("run_dir", help="a run folder written by `train`")
    s.add_argument("--n", type=int, default=256, help="number of chains (default 256)")
    s.add_argument("--steps", type=int, default=None, help="Langevin steps per chain (default: the Images page's "
                   "Generate length for an image run, max(200, 4 K); the run's K x 10 for a 2D run)")
    s.add_argument("--seed", type=int, default=0, help="seed of the starting noise and the Langevin noise")
    s.add_argument("--out", required=True, help="the .npy file to write")
    s.add_argument("--device", default=None, choices=["cpu", "cuda", "mps"],
                   help="sampling device (default: cuda, then mps, then cpu)")
    e = sub.add_parser("export", help="a run's recorded training as a GIF, MP4, HTML player or PNG",
                       description="Draw the training that `train` recorded into a run folder (2D: the landscape, "
                                   "the data, the negatives and chain trails every few updates, as the Playground "
                                   "draws them; images: the negatives), each frame labelled with its step, and "
                                   "write it as an animated GIF, an MP4, a standalone HTML page that replays it "
                                   "with a slider (no network needed), or a PNG of the last frame. --view and "
                                   "--layers apply to 2D runs.")
    e.add_argument("run_dir", help="a run folder written by `train` (or downloaded from a page)")
    e.add_argument("--format", required=True, choices=list(export.FORMATS), help="the file to write")
    e.add_argument("--out", required=True, help="the file to write")
    e.add_argument("--view", default="energy", choices=list(render2d.VIEWS),
                   help="energy (colours and iso-lines) or density exp(-E)/Z (default energy)")
    e.add_argument("--layers", default="data,negatives,trails",
                   help=f"comma-separated layers to draw, of {', '.join(LAYERS)} (default data,negatives,trails)")
    e.add_argument("--fps", type=float, default=10, help="frames a second of the GIF, MP4 or HTML (default 10)")
    e.add_argument("--frames", type=int, default=movie2d.MAX_FRAMES,
                   help=f"at most this many frames, spread over the recording (default {movie2d.MAX_FRAMES})")
    e.add_argument("--size", type=int, default=movie2d.SIZE, help=f"pixels a side of the plot (default {movie2d.SIZE})")
    return p


def _evaluate(model, grid, data, x_test) -> dict:
    gd = density.grid_density(model, grid)
    return {"kl": density.kl_data_model(data, gd),
            "nll": density.nll(model, x_test, gd.log_z) if gd.finite else math.nan,
            "log_z": gd.log_z, "mass_outside": gd.mass_outside}


MAX_POINTS_FILE_BYTES = 10_000_000  # as the page's CSV upload


class _Refused(ValueError):
    """A bad argument: its message goes to stderr and the CLI exits with status 2."""


def _flags_given(args: argparse.Namespace) -> dict:
    names = dict.fromkeys(config_mod.field_names() + config_mod.field_names(IMAGES))
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def _is_images(args: argparse.Namespace) -> bool:
    return args.dataset in config_mod.IMAGE_DATASETS


def _check_budget(args: argparse.Namespace) -> None:
    if args.steps is not None and args.steps < 1:
        raise _Refused(f"--steps must be >= 1, got {args.steps}")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise _Refused(f"--seconds must be a positive number of seconds, got {args.seconds}")
    if args.eval_every < 1:
        raise _Refused(f"--eval_every must be >= 1 (updates between evaluations), got {args.eval_every}")


def _image_settings(args: argparse.Namespace) -> config_mod.ImageRunConfig:
    """An image run's config from the arguments (the Images recipe for the dataset, then the flags given)."""
    flat = _flags_given(args)
    only_2d = sorted(set(flat) - set(config_mod.field_names(IMAGES)))
    if only_2d:
        raise _Refused(f"{', '.join('--' + k for k in only_2d)}: not a setting of an image run (2D runs only)")
    if args.points is not None:
        raise _Refused("--points FILE.csv goes with --dataset custom (and only with it)")
    try:  # the dataset's own settings (config.IMAGE_DATASET_SETTINGS), then the flags given
        cfg = config_mod.for_dataset(flat.get("dataset", IMAGES().data.dataset), root=IMAGES).replace(**flat)
    except ValueError as e:
        raise _Refused(str(e)) from None
    _check_budget(args)
    return cfg


def _settings(args: argparse.Namespace) -> tuple[config_mod.RunConfig, toy2d.Dataset]:
    """The run's config and dataset from the arguments, or _Refused saying what is wrong."""
    flat = _flags_given(args)
    image_only = sorted(set(flat) - set(config_mod.field_names()))
    if image_only:
        raise _Refused(f"{', '.join('--' + k for k in image_only)}: a setting of image runs only (--dataset digits, "
                       "mnist or fashion_mnist)")
    try:  # the dataset's own settings (config.DATASET_SETTINGS), then the flags given
        cfg = config_mod.for_dataset(flat.get("dataset", config_mod.RunConfig().data.dataset)).replace(**flat)
    except ValueError as e:
        raise _Refused(str(e)) from None
    _check_budget(args)
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
    if _is_images(args):
        return train_images(args)
    try:
        cfg, ds = _settings(args)
    except _Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    steps, device = _prepare(args)
    trainer = make_trainer_2d(cfg, device=device, dataset=ds)
    grid = density.make_grid(ds.extent, 128)
    data = density.data_density(ds.log_density, grid)
    x_test = ds.sample(4000, generator=torch.Generator().manual_seed(cfg.train.seed + 12345)).float()
    rec, display = _recorder(ds, x_test, float(data.prob.max() / grid.cell_area))
    rec.add(0, frame_of(trainer, display))
    rows = []
    bar = _progress(args, steps)
    start = time.perf_counter()
    for log in trainer.run(steps, args.seconds, record=rec.due):
        if log.finite and rec.due(log.step):
            rec.add(log.step, frame_of(trainer, display))
        row = {**_log_row(log, start), "kl": "", "nll": ""}
        if not log.finite:
            bar.close()
            print(f"training diverged at step {log.step}: the loss or its gradient is not finite. Try a smaller "
                  f"step size (now {cfg.sampler.step_size}) or learning rate (now {cfg.train.lr}).", file=sys.stderr)
            save_run(args.out, trainer.eval_model, cfg, rows, recording=rec.stacked())
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
    if trainer.step_count not in rec.frames:
        rec.add(trainer.step_count, frame_of(trainer, display))  # the last frame is always the end
    out = save_run(args.out, trainer.eval_model, cfg, rows, trainer=trainer, recording=rec.stacked(),
                   extra={"final": {**ev, "steps": trainer.step_count, "data_entropy": data.entropy,
                                    "device": str(device)}})
    print(f"steps {trainer.step_count} in {time.perf_counter() - start:.1f} s on {device}")
    print(f"final KL(data || model) = {ev['kl']:.4f} nats")
    print(f"final test NLL = {ev['nll']:.4f} nats (data entropy {data.entropy:.4f}; log Z {ev['log_z']:.4f}; "
          f"mass outside the box {ev['mass_outside']:.2%})")
    print(f"run folder: {out}")
    return 0


def _recorder(ds: toy2d.Dataset, x_data: torch.Tensor, density_max: float):
    """A recording of the training as the live Playground keeps it (live/recording.py), and its display grid."""
    from .live.recording import Recording
    from .live.toy2d import recording_meta

    rec = Recording()
    rec.meta = recording_meta(ds.extent, x_data[:256].numpy(), density_max)
    return rec, density.make_grid(ds.extent, 64)


def _prepare(args: argparse.Namespace) -> tuple[int | None, torch.device]:
    """The update budget (2000 unless --steps or --seconds says), and this process set up to train:
    one thread, the heap's thresholds (heap.py), the device."""
    steps = args.steps if args.steps is not None or args.seconds is not None else 2000
    torch.set_num_threads(1)
    heap.keep_freed_memory()
    return steps, default_device(args.device)


def _progress(args: argparse.Namespace, steps: int | None) -> tqdm:
    return tqdm(total=steps, unit="step", disable=args.no_progress, dynamic_ncols=True,
                bar_format=None if steps else "{desc} {n_fmt} steps [{elapsed}, {rate_fmt}]{postfix}")


def _log_row(log, start: float) -> dict:
    return {"step": log.step, "time": round(time.perf_counter() - start, 3), "loss": log.loss, "e_pos": log.e_pos,
            "e_neg": log.e_neg, "gap": log.gap, "grad_norm": log.grad_norm, "acceptance": log.acceptance}


def train_images(args: argparse.Namespace) -> int:
    """Train the Images page's recipe headless and write a run folder (kind "images")."""
    from . import image_sampling, quality
    from .image_train import make_trainer_images
    from .images import load_images
    from .live.images import recorded_frame
    from .live.recording import Recording

    try:
        cfg = _image_settings(args)
        ds = load_images(cfg.data.dataset, split="train")
    except _Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DatasetUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    steps, device = _prepare(args)
    trainer = make_trainer_images(cfg, device=device, dataset=ds)
    rec = Recording(state_every=0)
    rows = []
    bar = _progress(args, steps)
    start = time.perf_counter()
    for log in trainer.run(steps, args.seconds):
        if log.finite and rec.due(log.step):  # the negatives as the Images page records them
            rec.add(log.step, recorded_frame(trainer.last_x_neg, ds.images.shape[-1]))
        if not log.finite:
            bar.close()
            print(f"training diverged at step {log.step}: the loss or its gradient is not finite. Try a smaller "
                  f"learning rate (now {cfg.train.lr}) or gradient clip (now {cfg.sampler.grad_clip}).",
                  file=sys.stderr)
            save_run(args.out, trainer.eval_model, cfg, rows)
            return 1
        rows.append(_log_row(log, start))
        if log.step % args.eval_every == 0:
            bar.set_postfix(gap=f"{log.gap:+.4f}")
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - start
    final: dict = {"steps": trainer.step_count, "seconds": round(seconds, 1), "device": str(device)}
    if not args.no_score:
        k = image_sampling.generate_steps(cfg)
        sampler = dataclasses.replace(cfg.sampler, n_steps=k)
        shape = tuple(ds.images.shape[1:])
        fresh = image_sampling.generate(trainer.eval_model, 256, sampler, shape=shape,
                                        generator=torch.Generator(device).manual_seed(cfg.train.seed + 1)).x
        q = quality.score_samples(quality.get_classifier(cfg.data.dataset), fresh)
        final.update(fresh_steps=k, fresh_recognised=q.confident_share, fresh_spread=q.spread)
    out = save_run(args.out, trainer.eval_model, cfg, rows, extra={"final": final}, trainer=trainer,
                   recording=rec.stacked())
    print(f"steps {trainer.step_count} in {seconds:.1f} s on {device}")
    if "fresh_recognised" in final:
        print(f"fresh chains from noise ({final['fresh_steps']} Langevin steps): {final['fresh_recognised']:.0%} "
              f"recognised by the reference classifier, class spread {final['fresh_spread']:.2f}")
    print(f"run folder: {out}")
    return 0


def sample(args: argparse.Namespace) -> int:
    """Fresh chains from noise with a run folder's model and sampler, saved as a .npy array."""
    import numpy as np

    from .samplers import uniform
    from .training import sample_chains

    if args.n < 1 or args.n > 100_000:
        print(f"error: --n must be between 1 and 100000, got {args.n}", file=sys.stderr)
        return 2
    if args.steps is not None and not 1 <= args.steps <= 100_000:
        print(f"error: --steps must be between 1 and 100000, got {args.steps}", file=sys.stderr)
        return 2
    try:
        model, cfg = load_run(args.run_dir)
    except NotARunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    device = default_device(args.device)
    model = model.to(device)
    g = torch.Generator(device).manual_seed(args.seed)
    if isinstance(cfg, IMAGES):
        from .image_sampling import generate_steps
        from .image_train import BOUNDS

        steps = args.steps or generate_steps(cfg)
        shape, bounds = (args.n, model.channels, model.image_size, model.image_size), BOUNDS
        x0 = uniform(shape, generator=g, device=device)
    else:
        steps = args.steps or 10 * cfg.sampler.n_steps
        x0, bounds = uniform((args.n, 2), toy2d.extent(cfg.data.dataset), generator=g, device=device), None
    res = sample_chains(model, x0, dataclasses.replace(cfg.sampler, n_steps=steps), bounds=bounds, generator=g,
                        stats=False)
    x = res.x.detach().cpu().numpy()
    if not np.isfinite(x).all():
        print("error: the chains left the numbers (not finite); the run's step size is too large for this model",
              file=sys.stderr)
        return 1
    np.save(args.out, x)
    print(f"{args.n} chains, {steps} {cfg.sampler.sampler.upper()} steps each, from noise: saved {x.shape} to "
          f"{args.out}")
    return 0


def export_run(args: argparse.Namespace) -> int:
    """A run folder's recorded training as a GIF, MP4, HTML player, or a PNG of its last frame."""
    layers = tuple(x.strip() for x in args.layers.split(",") if x.strip())
    bad = [x for x in layers if x not in LAYERS]
    if bad:
        print(f"error: unknown layer {bad[0]!r}; valid: {', '.join(LAYERS)}", file=sys.stderr)
        return 2
    if not 0.5 <= args.fps <= 60 or not 1 <= args.frames <= 1000 or not 64 <= args.size <= 2048:
        print("error: --fps must be in [0.5, 60], --frames in [1, 1000] and --size in [64, 2048]", file=sys.stderr)
        return 2
    try:
        load_run(args.run_dir)  # one of our run folders, or a message
        rec = read_recording(args.run_dir)
    except NotARunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if rec is None:
        print(f"error: {args.run_dir} holds no recorded training (recording.safetensors): it was written before "
              "runs were recorded. Train it again with `python -m ebm_core train` to record one.", file=sys.stderr)
        return 1
    start = time.perf_counter()
    data = movie2d.encode_recording(rec, args.format, view=args.view, layers=layers, size=args.size, fps=args.fps,
                                    max_frames=args.frames)
    with open(args.out, "wb") as f:
        f.write(data)
    shown = 1 if args.format == "png" else len(movie2d.chosen(rec["step"], args.frames))
    print(f"{shown} frame(s) of steps {int(rec['step'][0]):,} to {int(rec['step'][-1]):,}: {len(data) / 1024:,.0f} kB "
          f"written to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    if args.command == "sample":
        return sample(args)
    if args.command == "export":
        return export_run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
