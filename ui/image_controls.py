"""Images page widgets. Widget keys are "img_" + the ImageRunConfig field name, so the session state
holds the run settings directly (see ui/session.py) without colliding with the Playground's."""

import math
import threading

import streamlit as st

from ebm_core import config, quality, samplers
from ebm_core.config import ImageRunConfig
from ebm_core.nets import ACTIVATIONS
from ui import live_numbers, run_controls, session
from ui.session import IMAGES

DATASET_LABELS = config.choice_labels("dataset", ImageRunConfig)
METHODS = config.choice_labels("method", ImageRunConfig)
NETS = config.choice_labels("net", ImageRunConfig)


def _number(name: str, step, fmt: str, help: str | None = None) -> None:
    run_controls.number_setting(IMAGES, name, step, fmt, help=help)


def sidebar() -> None:
    """All run settings. Data, network and chain-start settings start a new run; the sampler,
    lr, alpha, batch size, reinit fraction and burn-in apply to the running one."""
    ss = st.session_state
    with st.sidebar:
        st.header("Data")
        st.selectbox(options=list(DATASET_LABELS), key=IMAGES.key("dataset"), format_func=DATASET_LABELS.get,
                     on_change=session.choose_dataset, args=(IMAGES,), **run_controls.words(IMAGES, "dataset"))
        st.header("Langevin sampler", help="Applies immediately, even while training.")
        _number("n_steps", 5, "%d")
        _number("step_size", 0.5, "%.3f",
                "Size of each gradient move. Image recipes use large steps with a gradient clip.")
        _number("noise_scale", 0.001, "%.4f",
                "Multiplies the Langevin noise √(2η)·ξ. Image recipes run 'cold': far below 1.")
        noise_std = ss[IMAGES.key("noise_scale")] * math.sqrt(2 * ss[IMAGES.key("step_size")])
        t = samplers.temperature(ss[IMAGES.key("sampler")], ss[IMAGES.key("noise_scale")])
        st.caption(f"Noise per step: std **{noise_std:.3g}** per pixel; effective temperature "
                   f"T = noise² = **{t:.2g}** (1 would sample exp(−E) exactly).")
        _number("grad_clip", 0.01, "%.3f",
                "Clamp each pixel's gradient to [−c, c]; what makes large steps safe (0 = off).")
        st.header("Training")
        _number("lr", 1e-4, "%.5f")
        _number("alpha", 0.01, "%.3f")
        _number("batch_size", 16, "%d", "Images and chains per update.")
        _number("reinit_frac", 0.01, "%.2f")
        _number("burn_in", 1, "%d")
        with st.expander("Network and run"):
            st.selectbox(options=list(METHODS), key=IMAGES.key("method"), format_func=METHODS.get,
                         **run_controls.words(IMAGES, "method"))
            st.selectbox(options=list(NETS), key=IMAGES.key("net"), format_func=NETS.get,
                         **run_controls.words(IMAGES, "net"))
            for name, step, fmt in (("width", 8, "%d"), ("buffer_size", 1024, "%d"), ("data_noise", 0.01, "%.3f")):
                _number(name, step, fmt)
            st.selectbox(options=list(ACTIVATIONS), key=IMAGES.key("activation"),
                         **run_controls.words(IMAGES, "activation"))
            st.checkbox(key=IMAGES.key("spectral_norm"), **run_controls.words(IMAGES, "spectral_norm"))
            for name, step, fmt in (("beta1", 0.1, "%.2f"), ("ema", 0.001, "%.4f"), ("seed", 1, "%d")):
                _number(name, step, fmt)
        st.caption("Changing the data, network or chain start starts a new run.")


# The live part of the Images page as one HTML block (served by the panel route under serve.py, so the
# page has no timer of its own; see ui/frame_route.py). Pictures are PNGs in the page, their pixels
# drawn as blocks (images.tile) and kept crisp when the browser scales them.
_LIVE_CSS = """<style>
.ebm-images { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr) minmax(12rem, 0.8fr); gap: 1rem;
  font-size: calc(0.95rem * (1 + 0.35 * var(--ebm-present, 0))); }
.ebm-images figure { margin: 0; }
/* presentation mode (--ebm-present: 1, ui/presentation.py): the grids as tall as the screen allows */
.ebm-images img { width: 100%; height: auto; image-rendering: pixelated; display: block;
  max-width: calc(420px * (1 - var(--ebm-present, 0)) + (100vh - 15rem) * var(--ebm-present, 0)); }
.ebm-images figcaption { font-size: 0.9em; color: #6b7280; margin-top: 0.3rem; }
.ebm-images .cards { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0.6rem; }
.ebm-images .card { border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.5rem 0.75rem;
  min-width: 0; }
.ebm-images .card.wide { grid-column: span 2; }
.ebm-images .card .label { font-size: 0.9em; color: #4b5563; }
.ebm-images .card .value { font-size: 1.8em; line-height: 1.25; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.ebm-images .note { font-size: 0.9em; color: #6b7280; margin-top: 0.5rem; }
</style>"""


def _png(pixels) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def shown_chains(snap) -> tuple:
    """The pictures the live panel shows: (negatives, caption), (buffer or data, caption), and the
    images the classifier scores with what they are (the buffer when there is one, else the negatives)."""
    import numpy as np

    neg = (snap.negatives, f"Negatives of the last update (K = {snap.config.sampler.n_steps} Langevin steps)")
    if len(snap.buffer):
        other = (snap.buffer, f"Replay buffer: 64 of {snap.config.train.buffer_size:,} persistent chains "
                              f"(median age {int(np.median(snap.buffer_age))} updates)")
        return neg, other, (snap.buffer, "buffer")
    return neg, (snap.data, "The last batch of real images"), (snap.negatives, "negatives")


_classifiers: dict = {}  # dataset -> its reference classifier; None while it is fitted, an exception if it failed
_classifiers_lock = threading.Lock()


def classifier_if_ready(dataset: str):
    """The reference classifier of `dataset` (quality.get_classifier, a few seconds to fit once per
    process), or None while a background thread fits it: a panel request never waits for it."""
    with _classifiers_lock:
        if dataset in _classifiers:
            c = _classifiers[dataset]
            return None if isinstance(c, BaseException) else c
        _classifiers[dataset] = None

    def fit() -> None:
        try:
            c = quality.get_classifier(dataset)
        except Exception as e:  # noqa: BLE001  (shown as "unavailable", never retried in a loop)
            c = e
        with _classifiers_lock:
            _classifiers[dataset] = c

    threading.Thread(target=fit, name=f"ebm-classifier-{dataset}", daemon=True).start()
    return None


def live_html(snap) -> str:
    """The Images page's live panel for one snapshot: the negatives, the buffer (or the data), the
    step, the rate, the energy gap and how many of the shown chains the reference classifier
    recognises (once it is fitted)."""
    from html import escape

    from ebm_core import images
    from ebm_core.figures import images as figs

    nrow = 8
    scale = figs.scale_for(snap.image_size, nrow)
    (neg, neg_cap), (other, other_cap), (scored, what) = shown_chains(snap)
    tiles = [(images.tile(p, nrow, scale=scale), cap) for p, cap in ((neg, neg_cap), (other, other_cap))]
    # The picture's size in the tag: the box keeps its height while a new picture decodes, so the panel
    # neither jumps nor blinks at each refresh (with `width: 100%` alone it is 0 px tall for that moment).
    pictures = "".join(f"<figure><img alt='{escape(cap)}' width='{t.shape[1]}' height='{t.shape[0]}' "
                       f"src='{_png(t)}'><figcaption>{escape(cap)}</figcaption></figure>" for t, cap in tiles)
    d = snap.diagnostics
    cards = [("Step", f"{snap.step:,}", "data-ebm-step"), ("Steps/s", live_numbers.rate_text(snap, 1), "")]
    if d is not None:
        cards.append(("E(held-out digits) − E(noise)", f"{d.e_test - d.e_noise:.3g}",
                      "class='card wide' title='Negative means the model finds real digits more likely than noise, "
                      "as it should.'"))
    classifier = classifier_if_ready(snap.config.data.dataset)
    q = quality.score_pixels(classifier, scored) if classifier is not None and len(scored) else None
    if q is None:
        cards.append((f"Recognised ({what})", "…", "class='card wide' title='Fitting the reference digit classifier…'"))
        spread = "The reference classifier is being fitted…"
    else:
        cards.append((f"Recognised ({what})", f"{q.confident_share:.0%}",
                      f"class='card wide' title='Share of these {q.n} images that a digit classifier (fitted on the "
                      f"real training images) labels with more than {quality.CONFIDENT:.0%} confidence. Real test "
                      "digits score about 90-100%; noise about 0%.'"))
        spread = f"Classes covered: spread <b>{q.spread:.2f}</b> (1 = all ten equally often, 0 = one class only)."
    card_html = "".join(f"<div {attr if 'class=' in attr else 'class=card ' + attr}><div class='label'>{label}</div>"
                        f"<div class='value'>{value}</div></div>" for label, value, attr in cards)
    return (f"<div class='ebm-images' data-step='{snap.step}'>{pictures}<div><div class='cards'>{card_html}</div>"
            f"<div class='note'>{spread}</div><div class='note'>Device: {escape(snap.device)} · status: "
            f"{escape(snap.status)}</div></div></div>{_LIVE_CSS}")
