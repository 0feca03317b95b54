"""2D Playground: train an energy-based model live and watch its landscape move."""

import streamlit as st

st.set_page_config(page_title="Energy Landscape Explorer", page_icon="⛰️", layout="wide")
st.title("Energy Landscape Explorer · 2D Playground")
st.markdown(
    "An energy network E(x) gives every point a number; low energy means likely, via "
    "p(x) = exp(−E(x)) / Z. Press **Train**: each update pushes the energy **down on the data** (white dots) "
    "and **up on negatives** (orange) that Langevin chains sample from the model itself. In 2D we can "
    "compute Z exactly, so the numbers on the right are the model's true density, NLL and KL to the data."
)

# Torch loads after the page has something to show (its cold start takes seconds).
with st.spinner("Loading PyTorch…"):
    from ebm_core import figures, live, toy2d  # noqa: E402
    from ui import controls, frame_route, live_view, own_data, session  # noqa: E402

session.init_from_url()
for w in st.session_state["_url_warnings"]:
    st.warning(f"Link parameter ignored: {w}.", icon=":material/warning:")

controls.sidebar()
cfg = session.current_config()
query = session.write_url(cfg)
ss = st.session_state
points = None
if cfg.data.dataset == toy2d.CUSTOM:
    with st.expander("Your own data", expanded=True, icon=":material/draw:"):
        points = own_data.own_data_panel()
    if points is None:
        st.info("Draw a few strokes, or upload a CSV or an image. As soon as there are enough points, the "
                "landscape and the Train button appear, and the model learns the density of your points.",
                icon=":material/draw:")
        st.stop()
run = session.live_run(cfg, points=points)


def _toggle_play() -> None:
    ss.playing = not ss.playing
    ss.phase_record = None
    if ss.playing:
        run.play()
    else:
        run.pause()


def _step() -> None:
    ss.playing = False
    run.step_once(1)


def _phase_step() -> None:
    """One update, recorded phase by phase; the panel below walks through it."""
    ss.playing = False
    try:
        ss.phase_record, ss.phase_idx, ss.phase_error = run.call("phase_step", timeout=60), 0, None
        ss.phase_run = id(run)
    except (TimeoutError, RuntimeError) as e:
        ss.phase_record, ss.phase_error = None, str(e)


top = st.columns([1, 1, 1.45, 1, 1.3, 2.6])
top[0].button("Pause" if ss.playing else "Train", key="train", on_click=_toggle_play, type="primary",
              icon=":material/pause:" if ss.playing else ":material/play_arrow:", width="stretch",
              help="Start or pause training in the background")
if not controls.hidden("step"):
    top[1].button("Step", key="step", on_click=_step, icon=":material/skip_next:", width="stretch",
                  help="One training update, then pause", disabled=controls.locked("step"))
if not controls.hidden("phase"):
    top[2].button("Step by phase", key="phase", on_click=_phase_step, icon=":material/school:",
                  width="stretch", disabled=controls.locked("phase"),
                  help="One update taken apart: the data, the push down, the Langevin negatives, the push up, "
                       "and how the surface changed")
if not controls.hidden("reset"):
    top[3].button("Reset", key="reset", on_click=session.reset_run, icon=":material/restart_alt:",
                  width="stretch", help="New network with the current settings and seed",
                  disabled=controls.locked("reset"))
if not controls.hidden("share"):
    with top[4].popover("Share", icon=":material/link:", width="stretch", key="share",
                        disabled=controls.locked("share")):
        st.caption("This link opens the Playground with exactly these settings and seed:")
        st.code(session.share_url(query), language=None)
        controls.classroom_link_builder(query)
        controls.preset_links(cfg)
preset = session.active_preset(cfg)
if preset is not None:
    controls.preset_banner(preset)
if ss.get("phase_error"):
    st.error(f"Step by phase did not finish: {ss.phase_error}", icon=":material/error:")
if ss.get("phase_record") is not None and ss.get("phase_run") == id(run) and not ss.playing:
    controls.phase_panel(ss.phase_record)
view, layers = controls.view_options()
run.need(*(["field"] if layers.get("field") else []))


# Fragments refresh at their own pace: the canvas often (it updates in place), the numbers a few
# times a second, the plotly figures slowly (they remount on every change: STREAMLIT_NOTES §3).
# Every refresh is a script run in this server process, so with many sessions training at once each
# page polls less often and the server keeps answering clicks. Served by serve.py, the canvas
# fetches its frames itself (ui/frame_route.py) and needs no refresh while training. Under load
# Streamlit can lose a fragment's timer (its auto_rerun message is dropped when a newer script run
# has started: bench/st_client.py); the fragments report each run to the frame route, which tells
# the canvas when one went quiet, and the canvas then reruns the page, which restarts the timers.
# While the canvas streams, the numbers (1 s) and the plotly curves (4 s) are most of the browser's
# work: measured in headless Chromium, 0.2 cores each at 0.5 s and 2 s (bench/ui_profile.py).
STREAM = frame_route.served()
INSPECT = not ss.playing and layers.get("inspect")
_load = max(1.0, live.active_runs() / 3)
if not ss.playing:
    FAST, MEDIUM, SLOW = 0.5 * _load, 0.5 * _load, None
elif STREAM:
    FAST, MEDIUM, SLOW = 0.1 * _load, 1.0 * _load, 4.0 * _load
else:
    FAST, MEDIUM, SLOW = 0.1 * _load, 0.5 * _load, 2.0 * _load
SURFACE = 2.0 * _load if ss.playing else None


def picture() -> None:
    """The canvas; with serve.py's route it fetches its own frames and lives outside any fragment, so
    its "refresh" signal (a fragment timer went quiet: frame_route.beat) reruns the whole page."""
    live_view.stream(run, view, layers)


@st.fragment(run_every=FAST)
def picture_pushed() -> None:
    snap = run.latest()
    if snap is None:
        st.info("Building the model and the exact density grid…")
    elif INSPECT:
        st.plotly_chart(figures.inspect_figure(snap, view), key="inspect")
    else:
        live_view.show_snapshot(snap, view, layers)


@st.fragment(run_every=SURFACE)
def surface() -> None:
    snap = run.latest()
    if snap is not None:
        st.plotly_chart(figures.surface_figure(snap), key="surface", width="stretch")
        st.caption("Drag to turn the surface; it refreshes every two seconds while training.")


@st.fragment(run_every=MEDIUM)
def numbers() -> None:
    frame_route.beat(run, "numbers")
    snap = run.latest()
    if snap is None:
        return
    if ss.playing and snap.status in ("diverged", "paused", "stopped") and snap.step > 0 and snap.message:
        ss.playing = False  # the run paused itself: redraw the Train button
        st.rerun()
    controls.status_panel(snap, run)  # shown even with the numbers hidden: it holds the divergence guard
    if not controls.hidden("numbers"):
        controls.metrics_panel(snap)


@st.fragment(run_every=SLOW)
def curves() -> None:
    frame_route.beat(run, "curves")
    snap = run.latest()
    if snap is not None:
        st.plotly_chart(figures.curves_figure(snap), key="curves", width="stretch")


left, right = st.columns([1.25, 1])
with left:
    if view == "surface":
        surface()
    elif STREAM and not INSPECT:
        frame_route.expect(run, numbers=MEDIUM, curves=None if controls.hidden("curves") else SLOW)
        picture()
    else:
        picture_pushed()
with right:
    numbers()
if not controls.hidden("curves"):
    curves()
controls.explainer(controls.dataset_label(cfg.data.dataset), toy2d.extent(cfg.data.dataset))
