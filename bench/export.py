"""Sizes and times of the exports for slides (issue 15, part 2); results in export.json and export.md.

    python bench/export.py [--steps 1000] [--datasets eight_gaussians,two_spirals,checkerboard] [--results DIR]

For each dataset: `python -m ebm_core train --steps N` with the Playground's defaults (which records the
training into the run folder, a frame every 10 updates at the start), then `movie2d.encode_recording` of
that recording in every format, in both picture views, with every layer on (the heaviest picture): the
file's size, and the wall-clock and CPU seconds of drawing plus encoding, in this process (one thread).
The GIF, MP4 and HTML hold at most 100 frames: 10 s at 10 frames a second. Also the Langevin Lab's
chains (three step sizes, 200 steps, 500 chains on the banana) as a GIF.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from ebm_core import checkpoint, export, movie2d  # noqa: E402

LAYERS = ("data", "negatives", "trails", "field")


def timed(fn, *args, **kwargs):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def lab_gif() -> dict:
    from ebm_core.figures.lab import run_label
    from ebm_core.lessons import lab

    target = lab.analytic_target("banana")
    settings, _ = lab.comparison("ula", [0.01, 0.1, 0.5], 1.0, 200, 500)
    runs = [lab.run_chains(target, lab.Start("uniform"), s, generator=torch.Generator().manual_seed(0))
            for s in settings]
    data, wall, cpu = timed(movie2d.encode_chains, target.exact.log_density.numpy(), target.extent,
                            [r.trajectory for r in runs], [run_label(r) for r in runs], "gif")
    return {"what": "Lab chains, 3 step sizes, 201 steps, 500 chains (banana)", "format": "gif", "bytes": len(data),
            "wall_s": wall, "cpu_s": cpu}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--datasets", default="eight_gaussians,two_spirals,checkerboard")
    p.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            out = Path(tmp) / name
            subprocess.run([sys.executable, "-m", "ebm_core", "train", "--dataset", name, "--steps", str(args.steps),
                            "--out", str(out), "--no_progress", "--eval_every", str(args.steps)], cwd=ROOT, check=True,
                           capture_output=True)
            rec = checkpoint.read_recording(out)
            for view in ("energy", "density"):
                for fmt in export.FORMATS:
                    data, wall, cpu = timed(movie2d.encode_recording, rec, fmt, view=view, layers=LAYERS)
                    frames = 1 if fmt == "png" else len(movie2d.chosen(rec["step"]))
                    rows.append({"what": f"{name}, {view}", "format": fmt, "frames": frames, "bytes": len(data),
                                 "wall_s": wall, "cpu_s": cpu})
                    print(rows[-1], flush=True)
            rows.append({"what": f"{name}: recording.safetensors ({len(rec['step'])} frames)", "format": "file",
                         "bytes": (out / checkpoint.RECORDING_FILE).stat().st_size})
    rows.append(lab_gif())
    print(rows[-1], flush=True)
    env = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "torch": torch.__version__,
           "python": platform.python_version(), "machine_cores": os.cpu_count(), "steps": args.steps}
    res = Path(args.results)
    (res / "export.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=1))
    gifs = [r for r in rows if r["format"] == "gif" and "frames" in r]
    lines = [f"# Exports for slides ({env['date']}, {env['machine_cores']} CPUs, torch {env['torch']})", "",
             f"`python bench/export.py --steps {args.steps}`: each dataset trained {args.steps} updates with the "
             "Playground's defaults by `python -m ebm_core train` (which records the training), then each file made "
             "by `movie2d.encode_recording` with every layer on (data, negatives, chain trails, arrows), in this "
             "process on one thread. GIF, MP4 and HTML hold at most 100 frames (10 s at 10 frames a second) of "
             "480 x 508 pixels.", "",
             f"**Largest GIF: {max(r['bytes'] for r in gifs) / 2**20:.2f} MB** (target: under 5 MB).", "",
             "| what | format | frames | size | wall s | CPU s |", "|---|---|---|---|---|---|"]
    for r in rows:
        size = f"{r['bytes'] / 2**20:.2f} MB" if r["bytes"] >= 2**20 else f"{r['bytes'] / 1024:.0f} kB"
        wall, cpu = (f"{r[k]:.1f}" if k in r else "" for k in ("wall_s", "cpu_s"))
        lines.append(f"| {r['what']} | {r['format']} | {r.get('frames', '')} | {size} | {wall} | {cpu} |")
    (res / "export.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
