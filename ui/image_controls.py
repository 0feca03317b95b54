"""Images page widgets. Widget keys are "img_" + the ImageRunConfig field name, so the session state
holds the run settings directly (see ui/session.py) without colliding with the Playground's."""

import math

import streamlit as st

from ebm_core import config
from ebm_core.nets import ACTIVATIONS
from ui.session import IMAGES

DATASET_LABELS = {"digits": "8×8 digits (bundled)", "mnist": "MNIST 28×28 (download)",
                  "fashion_mnist": "Fashion-MNIST 28×28 (download)"}
METHODS = {"pcd": "Persistent CD (replay buffer)", "short_run": "Short-run from noise", "cd": "CD-k from data"}


def _number(label: str, name: str, step, fmt: str, help: str) -> None:
    lo, hi = config.field_info(name, config.ImageRunConfig)["range"]
    st.number_input(label, min_value=lo, max_value=hi, step=step, format=fmt, key=IMAGES.key(name), help=help)


def sidebar() -> None:
    """All run settings. Data, network and chain-start settings start a new run; the sampler,
    lr, alpha, batch size and reinit fraction apply to the running one."""
    ss = st.session_state
    with st.sidebar:
        st.header("Data")
        st.selectbox("Dataset", list(DATASET_LABELS), key=IMAGES.key("dataset"), format_func=DATASET_LABELS.get)
        st.header("Langevin sampler", help="Applies immediately, even while training.")
        _number("Steps K", "n_steps", 5, "%d", "Langevin steps per training update.")
        _number("Step size η", "step_size", 0.5, "%.3f",
                "Size of each gradient move. Image recipes use large steps with a gradient clip.")
        _number("Noise scale", "noise_scale", 0.001, "%.4f",
                "Multiplies the Langevin noise √(2η)·ξ. Image recipes run 'cold': far below 1.")
        noise_std = ss[IMAGES.key("noise_scale")] * math.sqrt(2 * ss[IMAGES.key("step_size")])
        st.caption(f"Noise per step: std **{noise_std:.3g}** per pixel; effective temperature "
                   f"T = noise² = **{ss[IMAGES.key('noise_scale')] ** 2:.2g}** (1 would sample exp(−E) exactly).")
        _number("Gradient clip", "grad_clip", 0.01, "%.3f",
                "Clamp each pixel's gradient to [−c, c]; what makes large steps safe (0 = off).")
        st.header("Training")
        _number("Learning rate", "lr", 1e-4, "%.5f", "Adam learning rate (applies immediately).")
        _number("Alpha (energy L2)", "alpha", 0.01, "%.3f", "Penalty α·(E(data)² + E(neg)²) keeps energies bounded.")
        _number("Batch size", "batch_size", 16, "%d", "Images and chains per update.")
        _number("Buffer reinit fraction", "reinit_frac", 0.01, "%.2f",
                "Share of persistent chains restarted from noise at each update.")
        with st.expander("Network and run"):
            st.selectbox("Negatives start", list(METHODS), key=IMAGES.key("method"), format_func=METHODS.get)
            _number("Replay buffer size", "buffer_size", 1024, "%d", "Persistent chains kept.")
            _number("Data noise", "data_noise", 0.01, "%.3f", "Gaussian noise added to each data batch.")
            _number("Width", "width", 8, "%d", "Channels of the first conv layer (doubled at each downsampling).")
            st.selectbox("Activation", list(ACTIVATIONS), key=IMAGES.key("activation"))
            st.checkbox("Spectral norm", key=IMAGES.key("spectral_norm"))
            _number("Adam β1", "beta1", 0.1, "%.2f", "0 is common for EBMs.")
            _number("EMA of weights (0 = off)", "ema", 0.001, "%.4f", "The shown model averages recent weights.")
            _number("Seed", "seed", 1, "%d", "Same seed, same run.")
        st.caption("Changing the data, network or chain start starts a new run.")
