"""Animations for slides: every format holds every frame with its label, and the HTML player loads
nothing from anywhere."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from ebm_core import export

T = 12


def movie() -> tuple[np.ndarray, list[str]]:
    """A dot walking across a dark 8x8 picture, one frame per step."""
    frames = np.zeros((T, 8, 8), dtype=np.uint8)
    for t in range(T):
        frames[t, 4, t % 8] = 255
    return frames, [f"step {5 * t}" for t in range(T)]


def test_labelled_frames_keep_the_picture_and_write_the_label_above_it():
    frames, labels = movie()
    out = export.labelled(frames, labels, scale=6)
    assert out.shape == (T, 48 + export.BAND, 48, 3) and out.dtype == np.uint8
    assert np.array_equal(out[3, export.BAND + 24, 18:24], np.full((6, 3), 255))  # the dot of frame 3, 6x larger
    assert out[3, export.BAND:].sum() == 255 * 3 * 36  # and nothing else in the picture
    assert (out[:, : export.BAND] < 128).any(axis=(1, 2, 3)).all()  # every band has dark text
    assert not np.array_equal(out[1, : export.BAND], out[2, : export.BAND])  # its own label
    with pytest.raises(ValueError, match="one label per frame"):
        export.labelled(frames, labels[:-1])


def test_gif_mp4_png_hold_every_frame():
    import imageio.v3 as iio

    frames, labels = movie()
    g = export.encode(frames, labels, "gif", scale=6)
    with Image.open(io.BytesIO(g)) as im:
        assert im.format == "GIF" and im.n_frames == T and im.info.get("loop") == 0
    m = export.encode(frames, labels, "mp4", scale=6)
    assert m[4:8] == b"ftyp"
    decoded = iio.imread(m, extension=".mp4")
    assert decoded.shape[0] == T and decoded.shape[1:3] == (48 + export.BAND, 48)
    # the dot moves as it should (H.264 is lossy: the brightest column of the picture row)
    assert [int(np.argmax(f[export.BAND + 26, :, 0])) // 6 for f in decoded] == [t % 8 for t in range(T)]
    p = export.encode(frames, labels, "png", scale=6)
    with Image.open(io.BytesIO(p)) as im:
        assert im.format == "PNG" and im.size == (48, 48 + export.BAND)
        assert np.asarray(im.convert("RGB"))[export.BAND + 24, ((T - 1) % 8) * 6].tolist() == [255, 255, 255]
    with pytest.raises(ValueError, match="format"):
        export.encode(frames, labels, "avi")


def test_the_html_player_is_self_contained():
    frames, labels = movie()
    page = export.encode(frames, labels, "html", scale=6, title="A <chain>").decode()
    assert page.count("data:image/png;base64,") == T
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:)?//", page) and "http" not in page.replace("http-equiv", "")
    assert "A &lt;chain&gt;" in page and all(label in page for label in labels)
