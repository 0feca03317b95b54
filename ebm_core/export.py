"""Animations for slides: a sequence of pictures (a chain from noise, the recorded training) as an
animated GIF, an MP4, a PNG of one frame, or a standalone HTML page that replays them offline.

Every frame gets its label (e.g. "step 40") drawn in a band above the picture. Encoding is left to
well-kept libraries: Pillow writes the GIF and the PNGs, imageio with its bundled ffmpeg the MP4
(H.264). The HTML holds its frames as PNG data URLs and a few lines of script: opened from disk it
makes no network request.

    pictures = labelled(frames, [f"step {s}" for s in steps], scale=6)  # (T, H', W', 3) uint8
    gif(pictures, fps=10), mp4(pictures, fps=10), png(pictures[-1]), html(pictures, labels, fps=10)
    encode(frames, labels, "gif", scale=6)  # both in one call (what a page sends to a job process)
"""

import base64
import html as html_lib
import io
import json
import os
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BAND = 28  # height of the label band above each frame, in pixels
FORMATS = {"gif": "image/gif", "mp4": "video/mp4", "html": "text/html", "png": "image/png"}


def labelled(frames: np.ndarray, labels: list[str], *, scale: int = 1) -> np.ndarray:
    """RGB frames (T, H*scale + BAND, W*scale, 3) uint8: each picture (grey (H, W) or RGB (H, W, 3),
    uint8) enlarged by `scale` with square pixels, its label written in a white band above it."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty uint8 array (T, H, W) or (T, H, W, 3), got "
                         f"{frames.dtype} {frames.shape}")
    if len(labels) != len(frames):
        raise ValueError(f"need one label per frame: {len(labels)} labels for {len(frames)} frames")
    if not 1 <= scale <= 64:
        raise ValueError(f"scale must be in [1, 64], got {scale}")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=3)
    big = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    t, h, w, _ = big.shape
    out = np.full((t, h + BAND, w, 3), 255, dtype=np.uint8)
    out[:, BAND:] = big
    font = ImageFont.load_default(size=16)
    for i, label in enumerate(labels):
        im = Image.fromarray(out[i])
        ImageDraw.Draw(im).text((6, 5), label, fill=(30, 30, 30), font=font)
        out[i] = np.asarray(im)
    return out


def _check(frames: np.ndarray, fps: float) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty uint8 array (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if not 0.5 <= fps <= 60:
        raise ValueError(f"fps must be in [0.5, 60], got {fps}")
    return frames


COLOURS = 64  # of a GIF's (and the HTML player's) one palette: 10 s of the Playground at 10 fps is ~4 MB


def paletted(frames: np.ndarray, colors: int = COLOURS) -> list[Image.Image]:
    """The frames on one palette of `colors` colours (median cut over five frames spread over the
    movie), without dithering: smooth colour fields become flat bands that compress several times
    better than a palette per frame with 256 colours (9 MB against 4 MB for 100 Playground frames)."""
    pick = np.unique(np.linspace(0, len(frames) - 1, min(5, len(frames))).round().astype(int))
    palette = Image.fromarray(np.concatenate([frames[i] for i in pick], 0)).quantize(
        colors=colors, method=Image.Quantize.MEDIANCUT)
    return [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]


def gif(frames: np.ndarray, *, fps: float = 10, colors: int = COLOURS) -> bytes:
    """An animated GIF that loops, `fps` frames a second (the last frame held a second longer)."""
    frames = _check(frames, fps)
    ims = paletted(frames, colors)
    ms = round(1000 / fps)
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], loop=0, optimize=True,
                duration=[ms] * (len(ims) - 1) + [ms + 1000])
    return buf.getvalue()


def png(frame: np.ndarray | Image.Image) -> bytes:
    """One RGB frame (H, W, 3) uint8 (or a Pillow image) as a PNG."""
    buf = io.BytesIO()
    im = frame if isinstance(frame, Image.Image) else Image.fromarray(_check(np.asarray(frame)[None], 10)[0])
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def mp4(frames: np.ndarray, *, fps: float = 10) -> bytes:
    """An H.264 MP4 (yuv420p, which slides and browsers play), `fps` frames a second; frames are padded
    with white to even sides, as the codec needs."""
    import imageio.v3 as iio

    frames = _check(frames, fps)
    t, h, w, _ = frames.shape
    even = np.full((t, h + h % 2, w + w % 2, 3), 255, dtype=np.uint8)
    even[:, :h, :w] = frames
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        iio.imwrite(path, even, extension=".mp4", fps=fps, codec="libx264", macro_block_size=1,
                    pixelformat="yuv420p")
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
img {{ image-rendering: pixelated; border: 1px solid #ccc; max-width: 100%; }}
.bar {{ display: flex; gap: 12px; align-items: center; margin-top: 10px; }}
input[type=range] {{ flex: 1; max-width: 600px; }}
button {{ font-size: 16px; padding: 4px 14px; }}
</style></head><body>
<h2>{title}</h2>
<img id="frame" alt="frame">
<div class="bar"><button id="play">Play</button><input id="slider" type="range" min="0" value="0">
<span id="label"></span></div>
<script>
const FRAMES = {frames}, LABELS = {labels}, MS = {ms};
const img = document.getElementById('frame'), slider = document.getElementById('slider');
const label = document.getElementById('label'), play = document.getElementById('play');
slider.max = FRAMES.length - 1;
let timer = null;
function show(i) {{ img.src = FRAMES[i]; slider.value = i; label.textContent = LABELS[i]; }}
function stop() {{ clearInterval(timer); timer = null; play.textContent = 'Play'; }}
play.onclick = () => {{
  if (timer) return stop();
  if (+slider.value >= FRAMES.length - 1) show(0);
  play.textContent = 'Pause';
  timer = setInterval(() => {{ const i = +slider.value + 1; if (i >= FRAMES.length) stop(); else show(i); }}, MS);
}};
slider.oninput = () => {{ stop(); show(+slider.value); }};
show(0);
</script></body></html>
"""


def html(frames: np.ndarray, labels: list[str], *, fps: float = 10, title: str = "Energy Landscape Explorer") -> str:
    """A standalone page that replays the frames: Play/Pause and a slider, each frame's label beside
    it. Everything is inside the file (frames as PNG data URLs, on one palette as the GIF's); it loads
    nothing from anywhere."""
    frames = _check(frames, fps)
    if len(labels) != len(frames):
        raise ValueError(f"need one label per frame: {len(labels)} labels for {len(frames)} frames")
    urls = ["data:image/png;base64," + base64.b64encode(png(f)).decode("ascii") for f in paletted(frames)]
    return _PAGE.format(title=html_lib.escape(title), frames=json.dumps(urls),
                        labels=json.dumps([str(x) for x in labels]).replace("</", "<\\/"), ms=round(1000 / fps))


def encode(frames: np.ndarray, labels: list[str], fmt: str, *, scale: int = 1, fps: float = 10,
           title: str = "Energy Landscape Explorer", gif_budget: int | None = None) -> bytes:
    """Labelled frames (`labelled`) as one file of format `fmt` (a key of FORMATS); "png" is the last
    frame. A GIF over gif_budget bytes is made again on a palette of a third as many colours."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    pictures = labelled(frames, labels, scale=scale)
    if fmt == "png":
        return png(pictures[-1])
    if fmt == "html":
        return html(pictures, labels, fps=fps, title=title).encode("utf-8")
    if fmt == "mp4":
        return mp4(pictures, fps=fps)
    data = gif(pictures, fps=fps)
    if gif_budget is not None and len(data) > gif_budget:
        data = gif(pictures, fps=fps, colors=COLOURS // 3)
    return data
