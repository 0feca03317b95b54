"""Playground widgets and panels. Widget keys are the config field names, so the session state holds
the run settings directly (see ui/session.py)."""

import math

import streamlit as st

from ebm_core import config, presets, samplers, toy2d, views
from ebm_core.live import LiveRun
from ebm_core.live_toy2d import Snapshot
from ebm_core.nets import ACTIVATIONS
from ui import run_controls, session

LAYERS = {**views.LAYERS, "inspect": "Hover (paused)"}  # the layers, and reading values under the pointer
METHODS = {"pcd": "Persistent CD (replay buffer)", "cd": "CD-k from data (textbook)",
           "short_run": "Short-run from noise"}


# What the user reads for each setting and control: the sidebar's labels, the classroom-link builder's
# choices. A group reads as "All <group>".
LABELS = {
    "dataset": "Dataset", "sampler": "Langevin: ULA or MALA", "step_size": "Step size η", "noise_scale": "Noise scale",
    "n_steps": "Langevin steps K", "grad_clip": "Gradient clip (0 = off)", "method": "Negatives start",
    "lr": "Learning rate", "alpha": "Alpha (energy L2)", "batch_size": "Batch size",
    "reinit_frac": "Buffer reinit fraction", "width": "Width", "depth": "Depth", "activation": "Activation",
    "spectral_norm": "Spectral norm", "confine": "Wall width", "buffer_size": "Replay buffer size", "beta1": "Adam β1",
    "ema": "EMA of weights (0 = off)", "seed": "Seed", "step": "Step button", "phase": "Step by phase button",
    "reset": "Reset button", "share": "Share button", "view": "View choice", "layers": "Layer boxes",
    "numbers": "Live numbers", "curves": "Curves", "preset": "Lesson picker",
    "intro": "Title and introduction", "explainer": "“What am I looking at?”",
}
GROUP_LABELS = {"data": "All data settings", "sampler": "All sampler settings", "training": "All training settings",
                "network": "All network and run settings", "buttons": "All buttons but Train",
                "views": "View and layers", "panels": "Numbers and curves", "lesson": "Lesson picker and its banner",
                "text": "Title, introduction and explainer"}


def hidden(name: str) -> bool:
    """Classroom mode: the link hid this control (or its group)."""
    return name in st.session_state.get("_hidden", ())


def locked(name: str) -> bool:
    """Classroom mode: the link locked this control (shown, not editable)."""
    return name in st.session_state.get("_locked", ())


def _number(name: str, step, fmt: str, help: str) -> None:
    if not hidden(name):
        run_controls.number_setting(session.PLAYGROUND, name, LABELS[name], step, fmt, help, disabled=locked(name))


def sampler_label(name: str) -> str:
    """"ULA", "MALA (exact)": a sampler's name as the radio buttons show it."""
    s = samplers.get_sampler(name)
    return s.label + (" (exact)" if s.metropolis else "")


def dataset_label(name: str) -> str:
    return "Your own data: draw or upload" if name == toy2d.CUSTOM else toy2d.get(name).label


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
            st.selectbox("Dataset", [*toy2d.DATASETS, toy2d.CUSTOM], key="dataset", format_func=dataset_label,
                         disabled=locked("dataset"))
        if _header("sampler", "Sampler", "Applies immediately, even while training."):
            if not hidden("sampler"):
                st.radio("Langevin", list(samplers.SAMPLERS), key="sampler", horizontal=True,
                         disabled=locked("sampler"), format_func=sampler_label,
                         help="ULA: x ← x − η∇E + noise·√(2η)·ξ. MALA adds an accept/reject test that removes "
                              "ULA's bias.")
            _number("step_size", 0.001, "%.4f", "Size of each Langevin move.")
            _number("noise_scale", 0.05, "%.3f",
                    "Multiplies the Langevin noise (ULA). 1 samples exp(−E); below 1 is 'cold' Langevin.")
            if not hidden("noise_scale"):
                t = samplers.temperature(ss.sampler, ss.noise_scale)
                st.caption(f"Effective temperature T = noise² = **{t:.3g}**"
                           if samplers.get_sampler(ss.sampler).tempered
                           else f"{sampler_label(ss.sampler)} always samples at temperature 1.")
            _number("n_steps", 1, "%d", "Langevin steps per training update.")
            _number("grad_clip", 0.1, "%.2f", "Clamp each component of ∇E to [−c, c].")
        if _header("training", "Training"):
            if not hidden("method"):
                st.selectbox("Negatives start", list(METHODS), key="method", format_func=METHODS.get,
                             disabled=locked("method"),
                             help="Where the Langevin chains start each update. Changing it starts a new run.")
            _number("lr", 0.0005, "%.4f", "Adam learning rate (applies immediately).")
            _number("alpha", 0.01, "%.3f",
                    "Penalty α·(E(data)² + E(neg)²) keeps energies bounded.")
            _number("batch_size", 32, "%d", "Data points and chains per update.")
            _number("reinit_frac", 0.01, "%.2f",
                    "Share of persistent chains restarted from noise.")
        if not all(hidden(n) for n in session.CONTROL_GROUPS["network"]):
            with st.expander("Network and run"):
                _number("width", 16, "%d", "Hidden units per layer.")
                _number("depth", 1, "%d", "Hidden layers.")
                if not hidden("activation"):
                    st.selectbox("Activation", list(ACTIVATIONS), key="activation", disabled=locked("activation"))
                if not hidden("spectral_norm"):
                    st.checkbox("Spectral norm", key="spectral_norm", disabled=locked("spectral_norm"))
                _number("confine", 0.05, "%.2f",
                        "Width of the energy wall outside the box; keeps Z finite.")
                _number("buffer_size", 1024, "%d", "Persistent chains kept (persistent CD).")
                _number("beta1", 0.1, "%.2f", "0 is common for EBMs.")
                _number("ema", 0.001, "%.4f",
                        "The displayed model averages recent weights.")
                _number("seed", 1, "%d", "Same seed, same run.")
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
    with cols[1]:
        boxes = st.columns(len(LAYERS))
        for k, v in defaults.items():
            ss.setdefault(f"layer_{k}", v)  # the value lives in the session state (see session.keep)
        layers = {k: boxes[i].checkbox(label, key=f"layer_{k}", disabled=locked("layers"))
                  for i, (k, label) in enumerate(LAYERS.items())}
    return view, layers


def preset_links(cfg) -> None:
    """One link per lesson preset (this seed), to hand out."""
    st.caption("**Lesson links**: each opens the Playground on one classic experiment.")
    for key, p in presets.PRESETS.items():
        q = {**config.to_query(presets.apply_preset(key, cfg)), session.PRESET_PARAM: key}
        st.markdown(f"[{p.label}]({session.share_url(q)})")


def classroom_link_builder(query: dict[str, str]) -> None:
    """Pick controls to hide or lock; get a link that opens this setup in classroom mode."""
    st.caption("**Classroom link**: the same setup with chosen controls hidden or locked, so the class sees only "
               "what the lesson needs.")
    names = session.classroom_names()
    label = {**LABELS, **GROUP_LABELS}.get
    hide = st.multiselect("Hide", names, key="cls_hide", format_func=label)
    lock = st.multiselect("Lock (visible, not editable)", names, key="cls_lock", format_func=label)
    q = {k: v for k, v in query.items() if k not in session.CLASSROOM_PARAMS}
    if hide:
        q["hide"] = ",".join(hide)
    if lock:
        q["lock"] = ",".join(lock)
    st.code(session.share_url(q), language=None)


def fmt_number(v: float | None, digits: int = 3) -> str:
    """A number in a few characters whatever its size: 0.123, −4.560, 1.23e+31, 4.00e−05, inf, nan;
    "—" when there is none. A diverging run's loss must not push the table off the screen."""
    if v is None:
        return "—"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "−inf"
    text = f"{v:.{digits - 1}e}" if v != 0 and not 1e-3 <= abs(v) < 1e5 else f"{v:.{digits}f}"
    return text.replace("-", "−")


def status_panel(snap: Snapshot, run: LiveRun) -> None:
    run_controls.status_messages(snap, run, "rollback")


# The live numbers are one HTML block, drawn the same way by the fragment (plain `streamlit run`) and by
# the live panel that fetches it (ui/components/live_panel.py). Fixed column widths and cells that cut long text
# keep the layout when a value is odd.
_NUMBERS_CSS = """<style>
.ebm-numbers { font-size: 0.95rem; }
.ebm-numbers .cards { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0.75rem;
  margin-bottom: 0.75rem; }
.ebm-numbers .card { border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.55rem 0.8rem;
  min-width: 0; }
.ebm-numbers .card .label { font-size: 0.85rem; color: #4b5563; }
.ebm-numbers .card .value { font-size: 1.9rem; line-height: 1.25; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.ebm-numbers table { border-collapse: collapse; width: 100%; table-layout: fixed; }
.ebm-numbers td, .ebm-numbers th { padding: 0.3rem 0.5rem; border-bottom: 1px solid #e5e7eb; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.ebm-numbers td { color: #4b5563; width: 31%; } .ebm-numbers th { text-align: right; font-weight: 600; width: 19%; }
.ebm-numbers .note { font-size: 0.85rem; color: #6b7280; margin-top: 0.5rem; }
</style>"""


def numbers_html(snap: Snapshot) -> str:
    """The live numbers of a snapshot: step, rate and KL as cards, the rest in a table."""
    h, d = snap.history, snap.diagnostics
    last = {k: float(v[-1]) for k, v in h.items()} if len(h["step"]) else {}
    ok = d is not None
    ce = d.kl + snap.data_entropy if ok else None  # exact cross-entropy: it minus the data entropy is the KL
    mala = samplers.get_sampler(snap.config.sampler.sampler).metropolis  # an acceptance rate to show
    cards = [("Step", f"{snap.step:,}", "data-ebm-step"), ("Steps/s", f"{snap.steps_per_s:.0f}", ""),
             ("KL to data", fmt_number(d.kl if ok else None), "title='Exact, on the grid: how many nats the model’s "
              "density is from the data’s. 0 is perfect.'")]
    rows = [
        ("Device", snap.device, "Status", snap.status),
        ("Loss", fmt_number(last.get("loss")), "Energy gap", fmt_number(last.get("gap"))),
        ("mean E(data)", fmt_number(last.get("e_pos")), "mean E(neg)", fmt_number(last.get("e_neg"))),
        ("log Z (exact)", fmt_number(d.log_z if ok else None), "Sampler bias", fmt_number(d.bias if ok else None)),
        ("Cross-entropy", fmt_number(ce), "Data entropy", fmt_number(snap.data_entropy)),
        ("Test NLL (sampled)", fmt_number(d.nll if ok else None), "Mass off screen",
         "—" if not ok or not math.isfinite(d.mass_outside) else f"{d.mass_outside:.1%}"),
        ("MALA acceptance" if mala else "Temperature",
         fmt_number(last.get("acceptance"), 2) if mala else fmt_number(snap.config.sampler.temperature), "", ""),
    ]
    s = snap.config.sampler
    card_html = "".join(f"<div class='card' {attr}><div class='label'>{label}</div><div class='value'>{value}</div>"
                        "</div>" for label, value, attr in cards)
    cells = "".join(f"<tr><td>{a}</td><th>{b}</th><td>{c}</td><th>{e}</th></tr>" for a, b, c, e in rows)
    return (f"<div class='ebm-numbers' data-step='{snap.step}'><div class='cards'>{card_html}</div>"
            f"<table>{cells}</table>"
            f"<div class='note'>In use: <b>{s.sampler.upper()}</b>, step size <b>{s.step_size:g}</b>, "
            f"K = <b>{s.n_steps}</b>, noise <b>{s.noise_scale:g}</b>, lr <b>{snap.config.train.lr:g}</b>.</div>"
            "<div class='note'>Cross-entropy − data entropy = KL, all three exact on the grid. The test NLL averages "
            "−log p over held-out data samples, so it differs from the cross-entropy by sampling noise. Sampler "
            "bias: KL between the replay buffer's histogram and the exact model density (how well the chains "
            f"sample the model).</div></div>{_NUMBERS_CSS}")


def metrics_panel(snap: Snapshot) -> None:
    st.html(numbers_html(snap))


def explainer(label: str, extent: float) -> None:
    if hidden("explainer"):
        return
    with st.expander("What am I looking at?"):
        st.markdown(
            f"**{label}** is drawn in the box [−{extent:g}, {extent:g}]². The colours show the energy "
            "(dark = low = likely) or the normalised density exp(−E)/Z. **Data** are white dots, **negatives** "
            "orange: the samples Langevin dynamics draws from the current model. Training lowers the energy under "
            "the white dots and raises it under the orange ones, until they are spread alike. **Chain trails** "
            "follow a few chains through the K Langevin steps of the last update; the **gradient field** shows "
            "−∇E, the way each chain is pulled.\n\n"
            "Why can we show Z? It is the integral of exp(−E) over the whole plane. In 2D that is a sum over a "
            "grid; for an image with 784 pixels the same grid would need more points than atoms in the universe, "
            "which is why EBMs are trained by contrast instead. Here we compute it, including the mass beyond the "
            "box, so KL and NLL are exact up to the grid.")


def phase_panel(rec) -> None:
    """Walk through one recorded CD update, one phase at a time (ebm_core.phases)."""
    from ebm_core.phase_figures import phase_figure
    from ebm_core.phases import PHASES

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
