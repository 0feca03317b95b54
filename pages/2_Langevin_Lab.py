"""Langevin Lab: tune a Langevin sampler on a 2D target and watch its chains mix.

The page reads top to bottom as the UI: sidebar widgets -> plain settings -> cached `ebm_core.lessons.lab`
runs (one per step size, same start and seed) -> `ebm_core.figures.lab` figures. The chains
animate in the browser from frames stored in the figure, so playing and scrubbing cost the server
nothing. Results are cached by their plain settings, so only a changed setting computes anything.

The sidebar settings live in the query string (a `config.LabConfig` plus ?eta= for the compared step
sizes), read once per session, so the address bar is always a link to the same setup; their values
outlive visits to other pages (`session.keep`).
"""

import math

import streamlit as st
from streamlit.errors import StreamlitAPIException

st.set_page_config(page_title="Langevin Lab · Energy Landscape Explorer", page_icon="⛰️", layout="wide")
st.title("Langevin Lab · tune step sizes and watch chains mix")
st.markdown(
    "Langevin dynamics samples p(x) = exp(−E(x)) / Z by rolling downhill on the energy with a little noise: "
    "**x ← x − η ∇E(x) + noise · √(2η) · ξ**. Pick a target whose exact density we know, run the same chains "
    "with up to four step sizes η, and watch which ones mix, which crawl and which settle on the wrong "
    "distribution. The KL curves measure how far the chains are from the exact density at every step."
)

with st.spinner("Loading PyTorch…"):
    import plotly.graph_objects as go  # noqa: E402

    from ebm_core import config, jobs, movie2d, nets, samplers, toy2d  # noqa: E402
    from ebm_core.config import LabConfig  # noqa: E402
    from ebm_core.figures import lab as lab_figures  # noqa: E402
    from ebm_core.lessons import lab  # noqa: E402
    from ui import awaiting, lab_compute, lab_link, movie_export, session  # noqa: E402
    from ui.lab_link import MAX_COMPARE, SLOTS, STEP_KEYS, choices, limits  # noqa: E402

TARGET_LABELS = config.choice_labels("target", LabConfig)
SAMPLER_LABELS = config.choice_labels("sampler", LabConfig)
START_LABELS = config.choice_labels("start", LabConfig)
CHAIN_OPTIONS = [16, 32, 64, 128, 256, 512, 1024]
ss = st.session_state


# Streamlit forgets a widget's value when a run does not draw it (a run of another page, a hidden
# input); restore() gives back the ones that were dropped, and reads the link once per session.
lab_link.restore()


# ----------------------------------------------------------------------------------------------
# Computations run in job processes (ui/lab_compute.py); only figures are built here

# Figures are shared read-only objects (st.plotly_chart copies them), so a rerun that changed nothing
# they show reuses them: building the animated one validates ~1500 arrays and takes most of a second.
@st.cache_resource(max_entries=8, show_spinner=False)
def chains_figure_cached(target_key: str, run_keys: tuple, _target: lab.Target, _runs: list) -> go.Figure:
    return lab_figures.chains_figure(_target, _runs)


@st.cache_resource(max_entries=8, show_spinner=False)
def marginals_figure_cached(target_key: str, run_keys: tuple, _target: lab.Target, _runs: list,
                            colours: tuple, dashed: tuple) -> go.Figure:
    return lab_figures.marginals_figure(_target, _runs, colours=list(colours), dashed=list(dashed))


def run_key(run: lab.ChainRun, start: tuple, seed: int) -> tuple:
    s = run.settings
    return (s.sampler, s.step_size, s.noise_scale, s.n_steps, s.n_chains, start, seed)


# ----------------------------------------------------------------------------------------------
# Widgets


def target_ui() -> tuple[str, lab.TargetSource | None, lab.Target | None, str]:
    """The target chosen in the sidebar: (cache key, what it is made from, its view (None when
    unavailable), description)."""
    with st.sidebar:
        st.header("Target")
        name = st.selectbox("Energy E(x)", choices("target", TARGET_LABELS), key="lab_target",
                            format_func=TARGET_LABELS.get,
                            help="Every target has an exact density on a grid, so we can measure the chains.")
    if name != "playground":
        source = lab.TargetSource(name)
        return name, source, lab_compute.target(name, source), TARGET_LABELS[name]
    return playground_target()


def playground_target() -> tuple[str, lab.TargetSource | None, lab.Target | None, str]:
    """The energy net this session trains on the Playground page. Its weights are copied once and held
    until the user asks for newer ones, so a lesson's numbers do not shift under every click."""
    run = session.current_run()
    snap = run.latest() if run is not None else None
    if snap is None or not hasattr(run, "request_weights"):
        ss.pop("_lab_model", None)
        st.info("**Train a model in the Playground first.** This target is the energy network your session trains "
                "on the **2D Playground** page (see the sidebar); start training there, then come back.",
                icon=":material/school:")
        try:
            st.page_link("pages/0_Playground.py", label="Open the 2D Playground", icon=":material/arrow_back:")
        except StreamlitAPIException:  # this page is its own entrypoint (AppTest): no Playground to link to
            pass
        return "playground", None, None, ""
    held = ss.get("_lab_model")
    with st.sidebar:
        reload = st.button("Use the latest Playground weights", key="lab_reload_model", icon=":material/refresh:",
                           width="stretch")
    asked_of, request = ss.get("_lab_weights", (None, None))
    if asked_of != id(run):  # asked of a run that is gone (a Reset there while this page waited)
        request = None
    if reload or (request is None and (held is None or held["run"] != id(run))):
        request = run.request_weights()  # the page does not wait: it reruns once they came
        ss["_lab_weights"] = (id(run), request)
        ss.pop("_lab_model", None)
    if request is not None and not request.done:
        awaiting.note_until_done(request, "Fetching the weights of the Playground's network…")
        return "playground", None, None, ""
    if request is not None:
        ss.pop("_lab_weights", None)
        try:
            step, state = request.result()
        except (TimeoutError, RuntimeError) as err:
            st.warning(f"The Playground run did not hand over its weights ({err}); press **Use the latest "
                       "Playground weights** to try again.", icon=":material/warning:")
            return "playground", None, None, ""
        model = run.model_from(state)
        dataset = snap.config.data.dataset
        extent = float(getattr(snap, "extent", None) or toy2d.extent(dataset))
        label = toy2d.DATASETS[dataset].label if dataset in toy2d.DATASETS else dataset
        source = lab.TargetSource("playground", extent, config.flat(snap.config), model.state_dict())
        held = dict(run=id(run), source=source, digest=nets.weights_digest(model), step=step, label=label)
        ss["_lab_model"] = held
    with st.sidebar:
        st.caption(f"Weights from training step {held['step']:,} of the Playground ({held['label']}).")
    try:
        key = f"playground:{held['digest']}"
        target = lab_compute.target(key, held["source"])
    except ValueError as err:
        st.error(f"The Playground model cannot be used as a target: {err}. Reset or roll back the run there.")
        return "playground", None, None, ""
    return key, held["source"], target, f"the Playground model ({held['label']}, step {held['step']:,})"


def sampler_ui() -> None:
    with st.sidebar:
        st.header("Sampler")
        st.radio("Langevin", choices("sampler", SAMPLER_LABELS), key="lab_sampler", horizontal=True,
                 format_func=SAMPLER_LABELS.get,
                 help="ULA moves every time. MALA proposes the same move and accepts it with the Metropolis-Hastings "
                      "probability, which removes ULA's step-size bias.")
        tempered = samplers.get_sampler(ss.lab_sampler).tempered
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        left.number_input("Noise scale", **limits("noise"), step=0.05, format="%.2f", key="lab_noise",
                          disabled=not tempered,
                          help="Multiplies the Langevin noise. 1 samples exp(−E). MALA always uses 1.")
        right.metric("T = noise²", f"{samplers.temperature(ss.lab_sampler, ss.lab_noise):.3g}",
                     help="T = noise scale²: ULA samples exp(−E / T).")
        st.caption("“Cold” Langevin (noise < 1, T < 1) rolls chains into low energy fast, but it samples "
                   "exp(−E / T), not exp(−E): the chains huddle in the valleys.")
        if not samplers.get_sampler(ss.lab_sampler).metropolis:  # an exact reference for a biased sampler
            st.checkbox("Also run MALA at the same step sizes", key="lab_mala_ref",
                        help="Dashed curves: the gap between ULA and MALA at one step size is ULA's bias.")
        st.slider("Langevin steps", **limits("steps"), step=10, key="lab_steps")
        # a link may ask for any count in range: it joins the usual stops
        st.select_slider("Chains", sorted({*CHAIN_OPTIONS, ss.lab_chains}), key="lab_chains",
                         help="All chains count in the KL; at most 256 per panel are drawn.")


def start_ui() -> tuple:
    """(kind, x, y) of the chain start."""
    with st.sidebar:
        st.header("Start")
        kind = st.radio("Chains start", choices("start", START_LABELS), key="lab_start", format_func=START_LABELS.get,
                        help="Exact samples start at the target: a correct sampler keeps them there.")
        if kind == "point":
            a, b = st.columns(2)
            a.number_input("x", **limits("start_x"), step=0.5, format="%.2f", key="lab_start_x")
            b.number_input("y", **limits("start_y"), step=0.5, format="%.2f", key="lab_start_y")
        st.number_input("Seed", **limits("seed"), step=1, key="lab_seed",
                        help="Same seed: same start points and same noise for every step size.")
    return (kind, float(ss.lab_start_x), float(ss.lab_start_y)) if kind == "point" else (kind, 0.0, 0.0)


def steps_ui(target_key: str, own_steps: list[float]) -> list[float]:
    """The step sizes to compare; each target starts with its own worthwhile set (own_steps). A slot
    is reset only for a new target or when it was never set: keep() gives back the user's values."""
    family = target_key.split(":")[0]
    fresh = ss.get("_lab_steps_for") != family
    for key, step in zip(STEP_KEYS, own_steps):
        if fresh or key not in ss:
            ss[key] = step
    ss["_lab_steps_for"] = family
    lo, hi = LabConfig.STEP_SIZE_RANGE
    with st.sidebar:
        st.header("Compare step sizes")
        n = st.slider("Runs side by side", **limits("n_compare"), key="lab_n_compare")
        cols = st.columns(2)
        for i in range(n):
            cols[i % 2].number_input(f"η {SLOTS[i]}", min_value=lo, max_value=hi, step=0.001, format="%.4f",
                                     key=STEP_KEYS[i])
    return [float(ss[key]) for key in STEP_KEYS[:n]]


def autotune_ui(target_key: str, source: lab.TargetSource, start: tuple, *, disabled: bool = False) -> None:
    """Tune the MALA step to a target acceptance; the step found becomes a run (and the sampler MALA)."""
    with st.sidebar:
        st.header("Auto-tune MALA")
        st.number_input("Target acceptance", **limits("accept"), step=0.01, format="%.3f", key="lab_accept",
                        help="0.574 is optimal for MALA in high dimension (Roberts & Rosenthal, 1998).")
        if st.button("Auto-tune step size", key="lab_autotune", icon=":material/tune:", width="stretch",
                     disabled=disabled):
            step, acc = lab_compute.autotune(target_key, source, ss.lab_chains, start, ss.lab_seed, ss.lab_accept)
            slot = min(ss.lab_n_compare, MAX_COMPARE - 1)
            ss["_lab_apply"] = (slot, round(step, 4))
            ss["_lab_tuned"] = dict(slot=slot, step=round(step, 4), acceptance=acc, target=ss.lab_accept)
            st.rerun()
        tuned = ss.get("_lab_tuned")
        if tuned and math.isclose(ss.get(f"lab_step_{tuned['slot']}", -1), tuned["step"]):
            st.success(f"Found η = {tuned['step']:g}: acceptance {tuned['acceptance']:.3f} in a 100-step check "
                       f"(target {tuned['target']:.3g}). It is run {SLOTS[tuned['slot']]}.", icon=":material/check:")


# ----------------------------------------------------------------------------------------------
# The page


def compute(target_key: str, source: lab.TargetSource, steps: list[float], start: tuple) -> tuple[list, list]:
    """Runs for the chosen sampler, plus MALA references for ULA runs when asked; a progress bar
    shows while anything new is computed."""
    mine, refs = lab.comparison(ss.lab_sampler, steps, float(ss.lab_noise), ss.lab_steps, ss.lab_chains,
                                exact_reference=ss.lab_mala_ref)
    todo = mine + refs
    runs = [lab_compute.chain_run(target_key, source, s, start, ss.lab_seed,
                                  f"Running {SAMPLER_LABELS[s.sampler]} η={s.step_size:g} ({i + 1} of {len(todo)})…")
            for i, s in enumerate(todo)]
    return runs[: len(mine)], runs[len(mine):]


def summary_rows(runs: list, refs: list, exact_energy: float) -> list[dict]:
    """One row per run: where its KL ends, its stationary bias, acceptance and energy."""
    def num(v: float, digits: int = 3) -> str:
        return f"{v:.{digits}f}" if math.isfinite(v) else ("—" if math.isnan(v) else "∞")

    rows = []
    for i, run in enumerate(runs + refs):
        blew = run.blew_up_at
        rows.append({
            "run": SLOTS[i % len(runs)] + (" · MALA reference" if i >= len(runs) else ""),
            "sampler": lab_figures.run_label(run),
            "KL at the last step": num(float(run.kl[-1])),
            "bias: KL of the 2nd half": num(run.stationary_kl),
            "acceptance": (num(run.acceptance_rate, 2) if samplers.get_sampler(run.settings.sampler).metropolis
                           else f"— ({SAMPLER_LABELS[run.settings.sampler]})"),
            f"mean E (exact {exact_energy:.2f})": num(run.late_mean_energy, 2),
            "chains outside the box": f"{run.outside[-1]:.0%}" + ("" if blew is None else f", blew up at step {blew}"),
        })
    return rows


target_key, source, target, description = target_ui()
if target is None:
    lab_link.write_url(None, None)
    st.stop()
sampler_ui()
start = start_ui()
try:  # the library knows the box; a bad start point is an error message, not an exception
    lab.start_points(target, lab.Start(start[0], start[1:]), 1)
    start_error = None
except ValueError as err:
    start_error = str(err)
own_steps = lab_compute.default_steps(target_key, source)[:MAX_COMPARE]
steps = steps_ui(target_key, own_steps)
autotune_ui(target_key, source, start, disabled=start_error is not None)
lab_link.write_url(steps, own_steps)
if start_error:
    st.error(f"The chains cannot start there: {start_error}.", icon=":material/error:")
    st.stop()

try:
    runs, refs = compute(target_key, source, steps, start)
    floor = lab_compute.kl_floor(target_key, source, ss.lab_chains)
except jobs.JobTimeout:
    st.error(f"These chains take more than {lab_compute.JOB_TIMEOUT_S:.0f} s to compute on this server, so they were "
             "stopped. Use fewer chains or Langevin steps, or compare fewer step sizes.", icon=":material/timer:")
    st.stop()
except jobs.JobFailed as err:
    st.error(f"The chains could not be computed: {err}", icon=":material/error:")
    st.stop()
for run in runs + refs:
    if run.blew_up_at is not None:
        st.warning(f"{lab_figures.run_label(run)} blew up: chains became infinite at step {run.blew_up_at}. Each move "
                   "overshot the valley it aimed for; lower the step size.", icon=":material/warning:")

st.caption(f"Target: {description} · {ss.lab_chains} chains × {ss.lab_steps} steps · start: "
           f"{START_LABELS[start[0]].lower()} · seed {ss.lab_seed} · every run starts from the same points and "
           "sees the same noise.")
keys = tuple(run_key(r, start, ss.lab_seed) for r in runs)
st.plotly_chart(chains_figure_cached(target_key, keys, target, runs), key="lab_chains_figure", theme=None,
                config={"displayModeBar": False}, width="stretch")
st.caption("Press **▶ Play** (or a speed) and drag the slider to scrub. Grey shading: the exact density "
           "exp(−E)/Z (darker = more likely). Dark lines: a few chains' recent path. Strip under each panel: "
           "histogram of the chains' x₁ against the exact x₁ marginal (black).")
with st.expander("Export the chains for slides", icon=":material/movie:"):
    st.caption("The animation above as a file: one panel per step size over the exact density, the chains as "
               "orange dots and three of them with their recent path, each frame labelled with its step.")
    chains = ([r.trajectory for r in runs], [lab_figures.run_label(r) for r in runs])
    movie_export.job_export_row(
        keys, key="lab_export", name=f"langevin-chains-{target_key}",
        encode=lambda fmt: (movie2d.encode_chains, (target.exact.log_density.numpy(), target.extent, *chains, fmt), {}),
        help="Draw and encode the chains, each frame labelled with its Langevin step, for a slide")

st.subheader("Diagnostics per step")
colours = list(lab_figures.RUN_COLOURS[: len(runs)]) * (1 + bool(refs))
dashed = [False] * len(runs) + [True] * len(refs)
st.plotly_chart(lab_figures.curves_figure(runs + refs, colours=colours, dashed=dashed, kl_floor=floor,
                                          exact_energy=target.mean_energy, target_acceptance=ss.lab_accept),
                key="lab_curves", theme=None, config={"displayModeBar": False}, width="stretch")
st.caption(f"KL(chains ‖ exact) compares a histogram of the {ss.lab_chains} chain positions ({target.bins}×"
           f"{target.bins} cells plus one for outside the box) with the exact density. Even perfect samples score "
           f"about {floor:.2f} nats here (dotted line) because the histogram is finite. A curve that levels off "
           "above that line belongs to a biased sampler; compare ULA with MALA at the same step size.")

st.subheader("Summary")
st.dataframe(summary_rows(runs, refs, target.mean_energy), hide_index=True, width="stretch")
st.caption("“Bias” pools every position from the second half of the run: with that many points the histogram's "
           "own floor is near zero, so what remains is the sampler's stationary bias. Mean E is averaged over the "
           "second half too; a sampler of exp(−E) settles at the exact value.")
st.markdown("**Where each sampler settles:** histograms of the positions from the second half against the exact "
            "marginals")
all_keys = tuple(run_key(r, start, ss.lab_seed) for r in runs + refs)
st.plotly_chart(marginals_figure_cached(target_key, all_keys, target, runs + refs, tuple(colours), tuple(dashed)),
                key="lab_marginals", theme=None, config={"displayModeBar": False}, width="stretch")

with st.expander("How to read the Lab"):
    st.markdown(
        "- **Too small a step** (η ≪ 1/curvature): chains crawl; the KL falls slowly and the start shows for long.\n"
        "- **About right**: the KL drops to the dotted floor within a few dozen steps and stays there.\n"
        "- **Too large**: ULA overshoots every valley a little, so it settles on a *wider* distribution than "
        "exp(−E): its KL levels off above the floor and its mean energy above the exact E_p[E]. MALA at the same "
        "step rejects the overshooting moves instead (lower acceptance) and stays exact. Larger still, ULA blows up.\n"
        "- **Separate modes** (mixture, double well): chains rarely cross the low-density gap, so the share of "
        "chains per mode keeps whatever the start gave it. No step size fixes that; more chains or a better start do.\n"
        "- **Auto-tune** adapts the MALA step so that about 57% of proposals are accepted, the classic rule of thumb."
    )
