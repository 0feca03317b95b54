"""2D Playground: train an energy-based model live and watch its landscape move."""

import streamlit as st

from ui import presentation  # Streamlit only: the sidebar starts closed in presentation mode

st.set_page_config(page_title="Energy Landscape Explorer", page_icon="⛰️", layout="wide",
                   initial_sidebar_state="collapsed" if presentation.asked_by_link() else "auto")
head = st.empty()  # the title and the introduction; a classroom link may hide them (hide=intro)
with head.container():
    st.title("Energy Landscape Explorer · 2D Playground")
    st.markdown(
        "An energy network E(x) gives every point a number; low energy means likely, via "
        "p(x) = exp(−E(x)) / Z. Press **Train**: each update pushes the energy **down on the data** (white dots) "
        "and **up on negatives** (orange) that Langevin chains sample from the model itself. In 2D we can "
        "compute Z exactly, so the numbers on the right are the model's true density, NLL and KL to the data."
    )

# Torch loads after the page has something to show (its cold start takes seconds).
with st.spinner("Loading PyTorch…"):
    from ebm_core import live, toy2d  # noqa: E402
    from ebm_core.figures import playground as figures  # noqa: E402
    from ui import (  # noqa: E402
        awaiting,
        classroom,
        controls,
        frame_route,
        live_numbers,
        live_view,
        movie_export,
        own_data,
        rewind,
        run_controls,
        run_files,
        session,
    )
    from ui.components import canvas, live_panel  # noqa: E402

session.init_from_url()
if classroom.hidden("intro") or presentation.on():
    head.empty()
presentation.style()
session.show_link_warnings(st.session_state["_url_warnings"])
if st.session_state.get("_preset_note"):
    st.warning(st.session_state["_preset_note"], icon=":material/school:")

presentation.toggle()
controls.sidebar()
cfg = session.affordable(session.current_config())
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
session.resume_note()
playing = run.running  # what the worker does, or will once it has read the last click (LiveRun.running)


def _phase_step() -> None:
    """Ask the worker for one update recorded phase by phase (the page does not wait for it: see
    _phase_answer); the panel below walks through it."""
    ss.phase_request, ss.phase_record, ss.phase_error = run.request_call("phase_step"), None, None
    ss.phase_run = id(run)


def _phase_answer() -> None:
    """The recorded update once the worker has answered; until then a note, and a rerun when it has."""
    request = ss.get("phase_request")
    if request is None or ss.get("phase_run") != id(run):
        return
    if not request.done:
        awaiting.note_until_done(request, "Step by phase: the worker makes one update and records each phase…")
        return
    ss.phase_request = None
    try:
        ss.phase_record, ss.phase_idx = request.result(), 0
    except (TimeoutError, RuntimeError) as e:
        ss.phase_error = str(e)


top = [st.container(horizontal=True)] * 6  # one row that wraps on a narrow screen (1280 px with the sidebar)
with top[0]:
    run_controls.train_button(run, "train", before=lambda: ss.update(phase_record=None, phase_request=None))
if not classroom.hidden("step"):
    with top[1]:
        run_controls.step_button(run, "step", disabled=classroom.locked("step"))
if not classroom.hidden("phase"):
    top[2].button("Step by phase", key="phase", on_click=_phase_step, icon=":material/school:",
                  width="stretch", disabled=classroom.locked("phase"),
                  help="One update taken apart: the data, the push down, the Langevin negatives, the push up, "
                       "and how the surface changed")
if not classroom.hidden("reset"):
    with top[3]:
        run_controls.reset_button(session.PLAYGROUND, "reset", disabled=classroom.locked("reset"))
if not classroom.hidden("share"):
    with top[4].popover("Share", icon=":material/link:", width="stretch", key="share",
                        disabled=classroom.locked("share")):
        st.caption("This link opens the Playground with exactly these settings and seed:")
        st.code(session.share_url(query), language=None)
        classroom.classroom_link_builder(query)
        classroom.preset_links(cfg)
if not classroom.hidden("files"):
    with top[5].popover("Save / load", icon=":material/save:", key="files", disabled=classroom.locked("files")):
        run_files.save_and_load(run, session.PLAYGROUND, cfg.data.dataset, "pg_files")
run_controls.queue_notice(run)
preset = session.active_preset(cfg)
if preset is not None and not classroom.hidden("preset"):
    controls.preset_banner(preset)
_phase_answer()
if ss.get("phase_error"):
    st.error(f"Step by phase did not finish: {ss.phase_error}", icon=":material/error:")
if ss.get("phase_record") is not None and ss.get("phase_run") == id(run) and not playing:
    controls.phase_panel(ss.phase_record)
view, layers = controls.view_options()
run.need(*(["field"] if layers.get("field") else []))

# Served by serve.py, nothing on this page reruns by itself: the canvas fetches its frames and the live
# panels (numbers, curves, 3D surface) their content over HTTP (ui/frame_route.py, ui/components/live_panel.py),
# so every script run is a click and no click competes with a timer. The numbers panel also watches
# the run's state and reruns the page when it no longer matches what was drawn (the run diverged or
# paused itself, or the worker answered a click). Under plain `streamlit run app.py` (and AppTest) the
# same content comes through fragments. Either way, with many sessions training at once each page
# refreshes less often and the server keeps answering clicks.
STREAM = frame_route.served()
INSPECT = not playing and layers.get("inspect")
_load = max(1.0, live.active_runs() / 3)
NUMBERS_S, CURVES_S, SURFACE_S = 1.0 * _load, 4.0 * _load, 2.0 * _load
SURFACE_NOTE = ("Drag to turn the surface; it stays turned while it refreshes. Data, negatives and chain trails "
                "are drawn at their energy on it.")


def streamed_panels(left, right) -> None:
    state = frame_route.state_key(run)  # what this run of the page shows
    with left:
        if view == "surface":
            live_panel.live_panel(frame_route.panel_source(run, "surface", layers), kind="plotly",
                                  every_s=SURFACE_S, rendered=state, key="surface_panel", height=520)
            st.caption(SURFACE_NOTE)
        elif INSPECT:
            snap = run.latest()
            if snap is not None:
                st.plotly_chart(figures.inspect_figure(snap, view), key="inspect")
        else:
            then = rewind.shown_frame(run, playing, view, layers)  # a recorded step, while paused
            if then is None:
                canvas.live_canvas_stream(frame_route.source(run, view, layers), key="live_canvas",  # it fetches
                                          height=presentation.canvas_height())
            else:
                canvas.live_canvas(then, key="live_canvas", height=presentation.canvas_height())
            rewind.controls(run, playing)
    with right:
        snap = run.latest()
        if snap is not None:
            controls.status_panel(snap, run)  # shown even with the numbers hidden: it holds the divergence guard
        live_panel.live_panel(frame_route.panel_source(run, "numbers", empty=classroom.hidden("numbers")),
                              kind="html", every_s=NUMBERS_S, rendered=state, key="numbers_panel",
                              placeholder="" if classroom.hidden("numbers") else "Building the model and its density…",
                              resume=run.save_name)
    if not classroom.hidden("curves"):
        live_panel.live_panel(frame_route.panel_source(run, "curves"), kind="plotly", every_s=CURVES_S,
                              rendered=state, key="curves_panel", height=300)


def pushed_panels(left, right) -> None:
    """The same content through fragment reruns (no frame route)."""
    state = frame_route.state_key(run)
    fast, medium, slow = (0.1 * _load, 0.5 * _load, 2.0 * _load) if playing else (0.5 * _load, 0.5 * _load, None)

    @st.fragment(run_every=fast)
    def picture() -> None:
        snap = run.latest()
        if snap is None:
            st.info("Building the model and the exact density grid…")
        elif INSPECT:
            st.plotly_chart(figures.inspect_figure(snap, view), key="inspect")
        else:
            live_view.show_snapshot(snap, view, layers)

    @st.fragment(run_every=SURFACE_S if playing else None)
    def surface() -> None:
        snap = run.latest()
        if snap is not None:
            st.plotly_chart(figures.surface_figure(snap, {k for k, v in layers.items() if v}), key="surface",
                            width="stretch")
            st.caption(SURFACE_NOTE)

    @st.fragment(run_every=medium)
    def numbers() -> None:
        snap = run.latest()
        if snap is None:
            return
        if frame_route.state_key(run) != state:
            st.rerun()  # the run paused itself, diverged or answered a click: redraw the buttons
        controls.status_panel(snap, run)
        if not classroom.hidden("numbers"):
            live_numbers.metrics_panel(snap)

    @st.fragment(run_every=slow)
    def curves() -> None:
        snap = run.latest()
        if snap is not None:
            st.plotly_chart(figures.curves_figure(snap), key="curves", width="stretch")

    with left:  # a statement, not a bare `a() if c else b()`: Streamlit's magic would write its None
        if view == "surface":
            surface()
        else:
            picture()
    with right:
        numbers()
    if not classroom.hidden("curves"):
        curves()


(streamed_panels if STREAM else pushed_panels)(*st.columns([1.9, 1] if presentation.on() else [1.25, 1]))
if not classroom.hidden("files") and not presentation.on():
    with st.expander("Export the training for slides", icon=":material/movie:"):
        st.caption("The training is recorded as it goes (the landscape, the negatives and chain trails every few "
                   "updates). Export draws it in the view and layers shown above, each frame labelled with its "
                   "step. The ⤓ PNG button on the picture saves the picture as it is now.")
        movie_export.training_export(run, view, layers)
controls.explainer(controls.dataset_label(cfg.data.dataset), toy2d.extent(cfg.data.dataset))
