"""Playground widgets and panels. Widget keys are the config field names, so the session state holds
the run settings directly (see ui/session.py)."""

import functools

import streamlit as st

from ebm_core import config, samplers, toy2d, views
from ebm_core.lessons import presets
from ebm_core.live import LiveRun
from ebm_core.live.toy2d import Snapshot
from ebm_core.nets import ACTIVATIONS
from ui import run_controls, session
from ui.classroom import hidden, locked

LAYERS = {**views.LAYERS, "inspect": "Hover (paused)"}  # the layers, and reading values under the pointer
METHODS = config.choice_labels("method")
RESTARTS = config.choice_labels("restart")




def _words(name: str) -> dict[str, str]:
    return run_controls.words(session.PLAYGROUND, name)


def _number(name: str, step, fmt: str) -> None:
    if not hidden(name):
        run_controls.number_setting(session.PLAYGROUND, name, step, fmt, disabled=locked(name))


def sampler_label(name: str) -> str:
    """"ULA", "MALA (exact)": a sampler's name as the radio buttons show it."""
    s = samplers.get_sampler(name)
    return s.label + (" (exact)" if s.metropolis else "")


def dataset_label(name: str) -> str:
    return "Your own data: draw or upload" if name == toy2d.CUSTOM else toy2d.get(name).label


@functools.lru_cache(maxsize=16)  # drawn on every run of the page
def picked_caption(dataset: str) -> str:
    """What choosing this dataset set, in words (config.DATASET_SETTINGS)."""
    default = config.flat(config.RunConfig())
    picks = {k: v for k, v in config.dataset_settings(dataset).items() if v != default[k]}
    if not picks:
        return "This dataset learns with the standard settings."
    words = []
    for k, v in picks.items():
        meta = config.field_info(k)
        value = config.choice_labels(k)[v].lower() if "choices" in meta else f"{v:g}"
        words.append(f"{meta['label'][0].lower()}{meta['label'][1:]} {value}")
    return f"Picked for this dataset, so that it learns quickly: {', '.join(words)}."


def _header(group: str, label: str, help: str | None = None) -> bool:
    """A sidebar section header, unless classroom mode hides every control of the group."""
    if all(hidden(n) for n in session.CONTROL_GROUPS[group]):
        return False
    st.header(label, help=help)
    return True


def sidebar() -> None:
    """All run settings. Data, network and chain-start settings start a new run; sampler settings,
    lr, alpha, batch size and reinit fraction apply to the running one. Classroom links can hide or
    lock any of them (ui/session.py)."""
    ss = st.session_state
    with st.sidebar:
        if not hidden("preset"):
            st.selectbox("Lesson preset", list(presets.PRESETS), key="preset_pick", on_change=session.choose_preset,
                         format_func=lambda k: presets.PRESETS[k].label, placeholder="Choose a lesson…",
                         disabled=locked("preset"),
                         help="One click sets up a classic experiment; the box above the plot says what it shows.")
        if _header("data", "Data") and not hidden("dataset"):
            st.selectbox(options=[*toy2d.DATASETS, toy2d.CUSTOM], key="dataset", format_func=dataset_label,
                         disabled=locked("dataset"), on_change=session.choose_dataset, **_words("dataset"))
            st.caption(picked_caption(ss["dataset"]))
        if _header("sampler", "Sampler", "Applies immediately, even while training."):
            if not hidden("sampler"):
                st.radio(options=list(samplers.SAMPLERS), key="sampler", horizontal=True,
                         disabled=locked("sampler"), format_func=sampler_label, **_words("sampler"))
            _number("step_size", 0.001, "%.4f")
            _number("noise_scale", 0.05, "%.3f")
            if not hidden("noise_scale"):
                t = samplers.temperature(ss.sampler, ss.noise_scale)
                st.caption(f"Effective temperature T = noise² = **{t:.3g}**"
                           if samplers.get_sampler(ss.sampler).tempered
                           else f"{sampler_label(ss.sampler)} always samples at temperature 1.")
            _number("n_steps", 1, "%d")
            _number("grad_clip", 0.1, "%.2f")
        if _header("training", "Training"):
            if not hidden("method"):
                st.selectbox(options=list(METHODS), key="method", format_func=METHODS.get, disabled=locked("method"),
                             **_words("method"))
            _number("lr", 0.0005, "%.4f")
            _number("alpha", 0.01, "%.3f")
            _number("batch_size", 32, "%d")
            _number("reinit_frac", 0.01, "%.2f")
            _number("burn_in", 1, "%d")
            if not hidden("restart"):
                st.selectbox(options=list(RESTARTS), key="restart", format_func=RESTARTS.get,
                             disabled=locked("restart"), **_words("restart"))
        if not all(hidden(n) for n in session.CONTROL_GROUPS["network"]):
            with st.expander("Network and run"):
                _number("width", 16, "%d")
                _number("depth", 1, "%d")
                if not hidden("activation"):
                    st.selectbox(options=list(ACTIVATIONS), key="activation", disabled=locked("activation"),
                                 **_words("activation"))
                if not hidden("spectral_norm"):
                    st.checkbox(key="spectral_norm", disabled=locked("spectral_norm"), **_words("spectral_norm"))
                _number("confine", 0.05, "%.2f")
                _number("buffer_size", 1024, "%d")
                _number("beta1", 0.1, "%.2f")
                _number("ema", 0.001, "%.4f")
                _number("seed", 1, "%d")
            st.caption("Changing data, network or chain-start settings starts a new run.")
        if ss.get("_hidden") or ss.get("_locked"):
            st.caption(":material/school: Classroom link: some controls are hidden or locked for this lesson.")


def view_options() -> tuple[str, dict[str, bool]]:
    ss = st.session_state
    cols = st.columns([2.2, 3])
    if hidden("view"):
        view = ss.view
    else:
        view = cols[0].radio("View", list(views.VIEWS), key="view", format_func=views.VIEWS.get, horizontal=True,
                             label_visibility="collapsed", disabled=locked("view"))
    defaults = {"data": True, "negatives": True, "trails": True, "field": False, "inspect": False}
    if hidden("layers"):
        return view, {k: ss.get(f"layer_{k}", v) for k, v in defaults.items()}
    # one row that wraps: in equal columns the labels were cut ("Negati…") on a 1280 px screen
    with cols[1], st.container(horizontal=True, gap="medium"):
        for k, v in defaults.items():
            ss.setdefault(f"layer_{k}", v)  # the value lives in the session state (see session.keep)
        layers = {k: st.checkbox(label, key=f"layer_{k}", disabled=locked("layers")) for k, label in LAYERS.items()}
    return view, layers


def status_panel(snap: Snapshot, run: LiveRun) -> None:
    run_controls.status_messages(snap, run, "rollback")


def explainer(label: str, extent: float) -> None:
    if hidden("explainer"):
        return
    with st.expander("What am I looking at?"):
        st.markdown(
            f"**{label}** is drawn in the box [−{extent:g}, {extent:g}]². The colours show the energy "
            "(dark = low = likely) or the normalised density exp(−E)/Z. **Data** are white dots, **negatives** "
            "orange: the samples Langevin dynamics draws from the current model. Training lowers the energy under "
            "the white dots and raises it under the orange ones, until they are spread alike. **Chain trails** (blue) "
            "follow a few chains through the K Langevin steps of the last update; the **gradient field** shows "
            "−∇E, the way each chain is pulled.\n\n"
            "Why can we show Z? It is the integral of exp(−E) over the whole plane. In 2D that is a sum over a "
            "grid; for an image with 784 pixels the same grid would need more points than atoms in the universe, "
            "which is why EBMs are trained by contrast instead. Here we compute it, including the mass beyond the "
            "box, so KL and NLL are exact up to the grid.")


def phase_panel(rec) -> None:
    """Walk through one recorded CD update, one phase at a time (ebm_core.lessons.phases)."""
    from ebm_core.figures.phases import phase_figure
    from ebm_core.lessons.phases import PHASES

    ss = st.session_state
    i = min(ss.get("phase_idx", 0), len(PHASES) - 1)
    key, title, sentence = PHASES[i]

    def go(to: int | None) -> None:
        if to is None:
            ss.phase_record = None
        else:
            ss.phase_idx = to

    with st.container(border=True, key="phase_panel"):
        head = st.columns([5, 1, 1, 1])
        head[0].markdown(f"#### CD, one step at a time · {i + 1}/{len(PHASES)}: {title}")
        head[1].button("Back", key="phase_back", on_click=go, args=(i - 1,), disabled=i == 0,
                       icon=":material/arrow_back:", width="stretch")
        head[2].button("Next", key="phase_next", on_click=go, args=(i + 1,), disabled=i == len(PHASES) - 1,
                       icon=":material/arrow_forward:", width="stretch", type="primary")
        head[3].button("Close", key="phase_close", on_click=go, args=(None,), icon=":material/close:",
                       width="stretch")
        st.markdown(sentence)
        st.plotly_chart(phase_figure(rec, key), key=f"phase_fig_{key}", width="stretch")
        st.caption(f"Update {rec.step} of this run. The live view below already shows the weights after it.")


def preset_banner(preset) -> None:
    """What the active lesson preset demonstrates and what to watch."""
    st.info(f"**Lesson: {preset.label}.** {preset.claim}\n\n**Watch:** {preset.watch}", icon=":material/school:")
