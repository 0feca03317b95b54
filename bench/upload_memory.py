"""What one image upload costs the server: peak memory and time of `userdata.load_image`.

    python bench/upload_memory.py                       # this checkout only
    python bench/upload_memory.py --before d67fda9      # and a git revision, for a before/after table
    python bench/upload_memory.py --code DIR --code-label TEXT   # another checkout instead of this one

Makes three 7000 x 7000 test images (49 megapixels, just under MAX_IMAGE_PIXELS), each a dark disc
and a bar on white: an RGB PNG (about 180 kB, like the 208 kB file of the bug report), an RGBA PNG
(4 bytes a pixel once decoded: the costliest common PNG) and a quality-90 JPEG. Each measurement runs
in a fresh Python process that first imports numpy, torch, Pillow and ebm_core.userdata and reads
the file, then calls load_image(data, 1000) once; it reports
    peak MB    the process's peak RSS during the call (VmHWM of /proc/self/status, the high-water
               mark reset through /proc/self/clear_refs just before it) minus the RSS just before
               it: the memory the call needed at its worst moment. (Not getrusage's ru_maxrss: after
               fork and exec it starts from the parent's high-water mark, so a large parent hides
               a smaller child's peak.)
    decode s   wall time of that call, and its CPU time (the steadier number on a shared machine);
    redraw s   the time for a second draw of 1000 points from the same upload, as the "Points to
               draw" slider does: the old code decodes the file again; the new one samples the
               grayscale array kept from the first decode (load_image(image_darkness(data), n)).
Each cell is the median of --repeats processes. A --before revision is unpacked with `git archive`
into a temporary folder, so this checkout is not touched. Writes bench/results/upload_memory.md.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.memory import PEAK_PRELUDE  # noqa: E402

CHILD = PEAK_PRELUDE + r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, torch, PIL.Image
from ebm_core import userdata

data = open(sys.argv[2], "rb").read()
reset_peak()
rss0 = status_mb("VmRSS")
t0, c0 = time.perf_counter(), time.process_time()
pts = userdata.load_image(data, 1000, generator=torch.Generator().manual_seed(0))
decode_s, decode_cpu_s = time.perf_counter() - t0, time.process_time() - c0
peak = status_mb("VmHWM") - rss0
assert pts.shape == (1000, 2)
if hasattr(userdata, "image_darkness"):  # the new code: decode once, resample from the kept array
    kept = userdata.image_darkness(data)
    t0 = time.perf_counter()
    userdata.load_image(kept, 1000, generator=torch.Generator().manual_seed(1))
else:
    t0 = time.perf_counter()
    userdata.load_image(data, 1000, generator=torch.Generator().manual_seed(1))
redraw_s = time.perf_counter() - t0
print(json.dumps(dict(peak=peak, decode_s=decode_s, decode_cpu_s=decode_cpu_s, redraw_s=redraw_s)))
"""


def make_images(folder: Path) -> dict[str, Path]:
    """The three test images (see the module docstring), written to `folder`."""
    from PIL import Image, ImageDraw

    out = {}
    for name, mode, white, dark, bar in [("PNG, RGB", "RGB", "white", "black", (90, 40, 40)),
                                         ("PNG, RGBA", "RGBA", (255, 255, 255, 0), (0, 0, 0, 255), (90, 40, 40, 200))]:
        img = Image.new(mode, (7000, 7000), white)
        d = ImageDraw.Draw(img)
        d.ellipse((1000, 1000, 6000, 6000), fill=dark)
        d.rectangle((200, 200, 900, 6800), fill=bar)
        out[name] = folder / f"big_{mode}.png"
        img.save(out[name])
        if mode == "RGB":
            out["JPEG, RGB"] = folder / "big.jpg"
            img.save(out["JPEG, RGB"], quality=90)
        del img, d
    return out


def measure(code: Path, image: Path, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, "-c", CHILD, str(code), str(image)], capture_output=True, text=True,
                           check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if r.returncode:
            raise SystemExit(f"the measuring process failed ({code}, {image.name}):\n{r.stderr}")
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(run[k] for run in runs) for k in runs[0]}


def snapshot(rev: str, folder: Path) -> Path:
    """ebm_core as it was at git revision `rev`, unpacked under `folder`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "ebm_core"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None, help="a git revision to measure as well (the code before a change)")
    ap.add_argument("--code", default=str(ROOT), help="the checkout to measure as 'after' (default: this one)")
    ap.add_argument("--code-label", default=None, help="how to name --code in the table")
    ap.add_argument("--repeats", type=int, default=3, help="processes per cell; the table shows medians")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    from PIL import __version__ as pillow

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = make_images(tmp)
        sizes = {name: path.stat().st_size for name, path in images.items()}
        codes = []
        if args.before:
            (tmp / "before").mkdir()
            codes.append((f"before ({args.before})", snapshot(args.before, tmp / "before")))
        codes.append((args.code_label or ("after (this checkout)" if args.before else "this checkout"),
                      Path(args.code)))
        load0 = os.getloadavg()
        rows = [(label, name, measure(code, images[name], args.repeats)) for label, code in codes for name in images]
        load1 = os.getloadavg()

    lines = ["# Memory and time of one image upload (bench/upload_memory.py)", "",
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores (1-min load "
             f"{load0[0]:.2f} at start, {load1[0]:.2f} at end), Python {platform.python_version()}, Pillow {pillow}, "
             f"median of {args.repeats} fresh processes per row.", "",
             "7000 x 7000 images (49 megapixels): "
             + ", ".join(f"{name} {sizes[name] / 1000:.0f} kB" for name in images)
             + ". load_image(data, 1000) in a fresh process: peak = the peak RSS during the call minus the RSS "
             "before it (MB = 2^20 bytes); decode = its wall and CPU time; redraw = the wall time of a second draw "
             "of 1000 points from the same upload (what a move of the points slider costs).", "",
             "| code | image | peak MB | decode s | decode CPU s | redraw s |", "|---|---|---:|---:|---:|---:|"]
    for label, name, m in rows:
        lines.append(f"| {label} | {name} | {m['peak']:.0f} | {m['decode_s']:.2f} | {m['decode_cpu_s']:.2f} | "
                     f"{m['redraw_s']:.3f} |")
    lines += ["", "Pillow holds a decoded RGB or RGBA image at 4 bytes a pixel, 187 MB for these 49 megapixels; Pillow "
              "cannot decode a PNG in parts, so that is the floor for the PNG rows. A JPEG is decoded at 1/8 size "
              "(Pillow's draft) by both versions."]
    text = "\n".join(lines) + "\n"
    Path(args.results).mkdir(parents=True, exist_ok=True)
    (Path(args.results) / "upload_memory.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
