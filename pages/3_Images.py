"""Images: train a small energy net on digits live; watch samples form from noise; generate,
inpaint and denoise with the trained energy."""

import streamlit as st

from ui import presentation  # Streamlit only: the sidebar starts closed in presentation mode

st.set_page_config(page_title="Images · Energy Landscape Explorer", page_icon="⛰️", layout="wide",
                   initial_sidebar_state="collapsed" if presentation.asked_by_link() else "auto")
head = st.empty()  # the title and the introduction; presentation mode hides them
with head.container():
    st.title("Images: an energy model learns to dream digits")
    st.markdown(
        "The same recipe as the 2D Playground, on pictures: a small network gives every image an energy; "
        "**Train** lowers it on real digits and raises it on *negatives*, images that Langevin chains carve out "
        "of noise by sliding downhill on the current energy. As training goes on, the negatives turn into digits."
    )

with st.spinner("Loading PyTorch…"):
    import numpy as np  # noqa: E402
    import torch  # noqa: E402

    from ebm_core import checkpoint, image_sampling, images, jobs, live, quality  # noqa: E402
    from ebm_core.config import ImageRunConfig, SamplerConfig  # noqa: E402
    from ebm_core.figures import images as figs  # noqa: E402
    from ebm_core.live.images import IMAGE_SIZES, recorded_rows  # noqa: E402
    from ui import (  # noqa: E402
        awaiting,
        frame_route,
        image_controls,
        job_progress,
        live_numbers,
        movie_export,
        rewind,
        run_controls,
        run_files,
        session,
    )
    from ui.components import live_panel  # noqa: E402

P = session.IMAGES
ss = st.session_state
JOB_TIMEOUT_S = 120.0  # a Generate or Fill-in past this is stopped, with a message
session.init_from_url(P)
PRESENT = P.key("present")
if presentation.on(PRESENT):
    head.empty()
presentation.style(PRESENT, element="img_live_panel")
session.show_link_warnings(ss[P.key("_url_warnings")])
presentation.toggle(PRESENT, "the live digits as tall as the screen")

image_controls.sidebar()
cfg = session.current_config(P)


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def dataset_problem(name: str) -> str | None:
    """None when the dataset loads (downloading it once if needed), else the reason it cannot."""
    try:
        images.load_images(name, split="train")
        images.load_images(name, split="test")
    except images.DatasetUnavailable as e:
        return str(e)
    return None


if cfg.data.dataset != "digits":
    with st.spinner(f"Looking for {image_controls.DATASET_LABELS[cfg.data.dataset]} (downloaded once, then cached)…"):
        problem = dataset_problem(cfg.data.dataset)
    if problem:
        st.error(f"{problem} Until then this page trains on the bundled 8×8 digits.", icon=":material/cloud_off:")
        cfg = cfg.replace(dataset="digits")

cfg = session.affordable(cfg, P)
query = session.write_url(cfg, P)
run = session.live_run(cfg, P)
session.resume_note(P)
size = IMAGE_SIZES[cfg.data.dataset]


@st.cache_resource(max_entries=2, show_spinner=False)
def ready_run(name: str) -> ImageRunConfig | None:
    """The settings of the ready model of a dataset, or None when its run folder is missing or damaged."""
    try:
        return checkpoint.load_run(checkpoint.READY[name])[1]
    except checkpoint.NotARunError:
        return None


@st.cache_resource(max_entries=3, show_spinner=False)
def test_images(name: str) -> images.ImageDataset:
    return images.load_images(name, split="test")


@st.cache_resource(max_entries=3, show_spinner="Fitting the reference digit classifier…")
def reference_classifier(name: str) -> quality.Classifier:
    return quality.get_classifier(name)


playing = run.running  # what the worker does, or will once it has read the last click (LiveRun.running)
state = frame_route.state_key(run)  # what this run of the page shows
top = [st.container(horizontal=True)] * 6  # one row that wraps on a narrow screen (1280 px with the sidebar)
with top[0]:
    run_controls.train_button(run, "img_train")
with top[1]:
    run_controls.step_button(run, "img_step")
with top[2]:
    run_controls.reset_button(P, "img_reset")
with top[3].popover("Share", icon=":material/link:", width="stretch", key="img_share"):
    st.caption("This link opens the Images page with exactly these settings and seed:")
    st.code(session.share_url(query), language=None)
if cfg.data.dataset in checkpoint.READY:
    ready = ready_run(cfg.data.dataset)
    top[4].button("Ready model", key="img_ready", icon=":material/bolt:", width="stretch", disabled=ready is None,
                  on_click=session.start_from_folder,
                  args=(P, str(checkpoint.READY[cfg.data.dataset]), "the ready digits model", ready),
                  help="Load a digits model trained ahead of time (about two minutes on one CPU core, made with "
                       "the project's own command line; see the README): Generate, the chain from noise, inpaint "
                       "and denoise work with it at once, and Train goes on training it. Reset starts again from "
                       "scratch." if ready is not None else "The ready model's files are missing on this server.")
with top[5].popover("Save / load", icon=":material/save:", width="stretch", key="img_files"):
    run_files.save_and_load(run, P, cfg.data.dataset, "img_files")
run_controls.queue_notice(run)

SECTIONS = {"train": "Live training", "chain": "One chain from noise", "generate": "Generate",
            "inpaint": "Inpaint & denoise"}
section = st.segmented_control("Section", list(SECTIONS), key=P.key("tab"), format_func=SECTIONS.get,
                               label_visibility="collapsed") or "train"
_load = max(1.0, live.active_runs() / 3)
MEDIUM, SLOW = (0.5 * _load, 2.0 * _load) if playing else (1.0 * _load, None)


def recognised(x: torch.Tensor | np.ndarray, what: str) -> None:
    """The reference classifier's verdict on images (a tensor (N, 1, H, W) in [-1, 1] or uint8 pixels
    (N, H, W)): a number a user can read."""
    clf = reference_classifier(cfg.data.dataset)
    q = quality.score_pixels(clf, x) if isinstance(x, np.ndarray) else quality.score_samples(clf, x)
    st.metric(f"Recognised ({what})", f"{q.confident_share:.0%}", border=True,
              help=f"Share of these {q.n} images that a digit classifier (fitted on the real training images) "
                   f"labels with more than {quality.CONFIDENT:.0%} confidence. Real test digits score about 90-100%; "
                   "noise about 0%.")
    st.caption(f"Classes covered: spread **{q.spread:.2f}** (1 = all ten equally often, 0 = one class only).")


def streamed_panels() -> None:
    """Served by serve.py, nothing on this page reruns by itself: the live panel and the curves fetch
    their content over HTTP (ui/frame_route.py, ui/components/live_panel.py), so every script run is a click. The
    live panel also watches the run's state and reruns the page when it no longer matches what was
    drawn (the run paused itself, diverged, or the worker answered a click)."""
    snap = run.latest()
    if snap is not None:
        run_controls.status_messages(snap, run, "img_rollback")
    if not recorded_negatives(snap):
        live_panel.live_panel(frame_route.panel_source(run, "images"), kind="html", every_s=MEDIUM, rendered=state,
                              key="img_live_panel", placeholder="Building the network and loading the images…",
                              resume=run.save_name)
    rewind.controls(run, playing, what="the negatives", key="img_rewind")
    left, right = st.columns([2.2, 1])
    with left:
        live_panel.live_panel(frame_route.panel_source(run, "image_curves"), kind="plotly", every_s=SLOW or 2.0,
                              rendered=state, key="img_curves_panel", height=380)
    with right:
        live_panel.live_panel(frame_route.panel_source(run, "image_hist"), kind="plotly", every_s=SLOW or 2.0,
                              rendered=state, key="img_hist_panel", height=260)


def pushed_panels() -> None:
    """The same content through fragment reruns (plain `streamlit run app.py`, AppTest)."""

    @st.fragment(run_every=MEDIUM)
    def live() -> None:
        snap = run.latest()
        if snap is None:
            st.info("Building the network and loading the images…")
            return
        if frame_route.state_key(run) != state:
            st.rerun()  # the run paused itself, diverged or answered a click: redraw the buttons
        run_controls.status_messages(snap, run, "img_rollback")
        (neg, neg_cap), (other, other_cap), (scored, what) = image_controls.shown_chains(snap)
        cols = st.columns([1, 1, 0.8])
        nrow = 8
        scale = figs.scale_for(snap.image_size, nrow)
        cols[0].image(images.tile(neg, nrow, scale=scale), caption=neg_cap)
        cols[1].image(images.tile(other, nrow, scale=scale), caption=other_cap)
        with cols[2]:
            a, b = st.columns(2)
            a.metric("Step", f"{snap.step:,}", border=True)
            b.metric("Steps/s", live_numbers.rate_text(snap, 1), border=True)
            d = snap.diagnostics
            if d is not None:
                st.metric("E(held-out digits) − E(noise)", f"{d.e_test - d.e_noise:.3g}", border=True,
                          help="Negative means the model finds real digits more likely than noise, as it should.")
            recognised(scored, what)
            st.caption(f"Device: {snap.device} · status: {snap.status}")

    @st.fragment(run_every=SLOW)
    def curves() -> None:
        snap = run.latest()
        if snap is None:
            return
        left, right = st.columns([2.2, 1])
        left.plotly_chart(figs.curves_figure(snap), key="img_curves", width="stretch")
        right.plotly_chart(figs.histogram_figure(snap), key="img_hist", width="stretch")

    if not recorded_negatives(run.latest()):
        live()
    rewind.controls(run, playing, what="the negatives", key="img_rewind")
    curves()


def recorded_negatives(snap) -> bool:
    """While paused on a recorded step (the rewind slider): that step's negatives in place of the live
    grids; False when the live grids show."""
    held = rewind.recorded(run, playing, key="img_rewind")
    if held is None or snap is None:
        return False
    step, frame = held
    neg = frame["negatives"]
    nrow = recorded_rows(len(neg))
    st.image(images.tile(neg, nrow, scale=figs.scale_for(snap.image_size, nrow, 320)),
             caption=f"Negatives of step {step:,}, as recorded then (now: step {snap.step:,}). Drag the slider to "
                     "“now” for the live grids.")
    return True


def sampler_ui(key: str, default_steps: int) -> tuple[int, float, float]:
    c = st.columns(3)
    s = cfg.sampler
    for name, value in (("k", default_steps), ("eta", float(s.step_size)), ("noise", float(s.noise_scale))):
        ss.setdefault(f"img_{key}_{name}", value)  # widget values live in the session state (session.keep)
    k = c[0].number_input("Langevin steps K", 1, 2000, step=10, key=f"img_{key}_k")
    eta = c[1].number_input("Step size η", 1e-4, 100.0, format="%.3f", key=f"img_{key}_eta")
    noise = c[2].number_input("Noise scale", 0.0, 10.0, format="%.4f", key=f"img_{key}_noise")
    return int(k), float(eta), float(noise)


def on_trained_model(text: str, fn, *args, store, **kwargs) -> None:
    """On a click: ask the worker for the current weights and remember to compute fn(model, *args,
    **kwargs) with them; finish_pending does that once they came (the page never waits for the worker)
    and hands the result and the weights' step to store."""
    ss["img_pending"] = dict(request=run.request_weights(), run=id(run), text=text, fn=fn, args=args,
                             kwargs=kwargs, store=store)


def finish_pending() -> None:
    """The computation asked for by the last click, once the weights came: in a job process
    (ebm_core/jobs.py) that the server only waits for, at most JOB_TIMEOUT_S, and that a page going
    away stops. Until the weights came, a note (and a rerun when they have)."""
    todo = ss.get("img_pending")
    if todo is None or todo["run"] != id(run):
        ss.pop("img_pending", None)
        return
    if not todo["request"].done:
        awaiting.note_until_done(todo["request"], "Fetching the current weights from the training worker…")
        return
    ss.pop("img_pending")
    try:
        step, state = todo["request"].result()
    except (TimeoutError, RuntimeError) as err:
        st.error(f"The training worker did not hand over its weights ({err}); press Reset to start a new run.")
        return
    try:
        result = job_progress.run(todo["text"], image_sampling.with_weights, todo["fn"], cfg, (1, size, size), state,
                                  *todo["args"], timeout_s=JOB_TIMEOUT_S, **todo["kwargs"])
    except jobs.JobTimeout:
        st.error(f"This took more than {JOB_TIMEOUT_S:.0f} s on this server and was stopped: use fewer Langevin "
                 "steps or chains.", icon=":material/timer:")
        return
    except jobs.JobFailed as err:
        st.error(f"It could not be computed: {err}", icon=":material/error:")
        return
    if result is not None:
        todo["store"](result, step)


def user_sampler(k: int, eta: float, noise: float) -> SamplerConfig:
    """The sampler the user set up in a section, with the run's gradient clip."""
    return SamplerConfig(sampler="ula", step_size=eta, noise_scale=noise, n_steps=k, grad_clip=cfg.sampler.grad_clip)


def chains_from_noise(key: str, n: int, k: int, eta: float, noise: float) -> None:
    """Run n chains from noise on the current model and keep the movie for the animation."""
    seed = ss.setdefault("img_clicks", 0) + 17  # each click new chains
    ss.img_clicks += 1
    on_trained_model(f"Running {n} chain{'s' if n > 1 else ''} for {k} steps…",
                     image_sampling.chains_from_noise, n, user_sampler(k, eta, noise), shape=(1, size, size),
                     seed=seed, store=lambda movie, step: ss.update({f"img_{key}_result": dict(movie=movie,
                                                                                               at_step=step)}))


def tiled(movie: image_sampling.ChainMovie, nrow: int) -> np.ndarray:
    """The movie's frames as pictures (T, H, W) uint8, its chains tiled nrow to a row."""
    return np.stack([images.tile(f, nrow, scale=1 if nrow > 1 else 4) for f in movie.frames])


def animation(movie: image_sampling.ChainMovie, nrow: int, key: str, height: int) -> None:
    st.plotly_chart(figs.animation_figure(tiled(movie, nrow), labels=[f"step {s}" for s in movie.steps],
                                          energies=movie.energies, height=height),
                    key=key, width="stretch" if nrow > 1 else "content")


if section == "train":
    (streamed_panels if frame_route.served() else pushed_panels)()
    if not presentation.on(PRESENT):
        with st.expander("Export the training for slides", icon=":material/movie:"):
            st.caption("The training is recorded as it goes (the negatives every few updates). Export shows how "
                       "they turned from noise into digits, each frame labelled with its step.")
            movie_export.training_export(run, "energy", {}, key="img_train_export", name=f"ebm-{cfg.data.dataset}")
elif section == "chain":
    st.markdown("One Langevin chain on the **current** model, started from uniform noise. Press ▶ or drag the "
                "slider to watch noise become a digit (once the model has trained for a while).")
    k, eta, noise = sampler_ui("chain", image_sampling.generate_steps(cfg))
    if st.button("Run a chain from noise", key="img_chain_run", type="primary", icon=":material/play_circle:"):
        chains_from_noise("chain", 1, k, eta, noise)
    finish_pending()
    r = ss.get("img_chain_result")
    if r:
        left, right = st.columns([1, 1])
        with left:
            animation(r["movie"], 1, "img_chain_anim", 460)
        right.plotly_chart(figs.energy_trace_figure(r["movie"].steps, r["movie"].energies), key="img_chain_energy",
                           width="stretch")
        st.caption(f"Model of training step {r['at_step']:,}.")
        movie_export.export_row(r["movie"], tiled(r["movie"], 1), r["movie"].steps, key="img_chain_export",
                                name="chain-from-noise", scale=6, title="One Langevin chain from noise")
elif section == "generate":
    st.markdown("Fresh chains from noise with the K and step size you choose: short chains give rough "
                "sketches, longer ones sharper digits. The replay buffer cheats by starting from earlier chains.")
    ss.setdefault("img_gen_n", 36)
    n = st.select_slider("Chains", [16, 36, 64], key="img_gen_n")
    k, eta, noise = sampler_ui("gen", image_sampling.generate_steps(cfg))
    if st.button("Generate", key="img_gen_run", type="primary", icon=":material/auto_awesome:"):
        chains_from_noise("gen", n, k, eta, noise)
    finish_pending()
    r = ss.get("img_gen_result")
    if r:
        left, right = st.columns([1.4, 1])
        with left:
            animation(r["movie"], int(np.ceil(np.sqrt(len(r["movie"].final)))), "img_gen_anim", 520)
        with right:
            recognised(r["movie"].final, "generated")
            st.caption(f"Model of training step {r['at_step']:,}.")
        nrow = int(np.ceil(np.sqrt(len(r["movie"].final))))
        movie_export.export_row(r["movie"], tiled(r["movie"], nrow), r["movie"].steps,
                                key="img_gen_export", name="generated-digits", scale=4,
                                title="Fresh chains from noise")
else:
    st.markdown("Hide part of some held-out digits (or bury them in noise) and let Langevin on the **current** "
                "model fill them in. For inpainting the known pixels are clamped: after every step they are put "
                "back, so only the hidden ones move, towards images the model finds likely.")
    c = st.columns(3)
    mode = c[0].radio("Corruption", ["mask", "noise"], key="img_inp_mode", horizontal=True,
                      format_func={"mask": "Hide pixels", "noise": "Add noise"}.get)
    test = test_images(cfg.data.dataset)
    if mode == "mask":
        kind = c[1].selectbox("Hidden region", list(image_sampling.MASKS), key="img_inp_mask")
    else:
        ss.setdefault("img_inp_std", 0.5)
        std = c[1].slider("Noise std", 0.1, 1.0, step=0.05, key="img_inp_std")
    ss.setdefault("img_inp_first", 0)
    first = c[2].number_input(f"First test image (of {len(test):,})", 0, len(test) - 8, step=8, key="img_inp_first")
    k, eta, noise = sampler_ui("inp", max(100, 2 * cfg.sampler.n_steps))
    if st.button("Fill in", key="img_inp_run", type="primary", icon=":material/healing:"):
        x = test.images[int(first): int(first) + 8]
        on_trained_model(f"Running {'clamped ' if mode == 'mask' else ''}Langevin for {k} steps…",
                         image_sampling.fill_in, x, user_sampler(k, eta, noise), seed=int(first) + 5,
                         store=lambda result, step, mode=mode: ss.update(
                             img_inp_result=dict(result=result, mode=mode, at_step=step)),
                         **({"mask": kind} if mode == "mask" else {"noise_std": std}))
    finish_pending()
    r = ss.get("img_inp_result")
    if r:
        f = r["result"]
        left, right = st.columns([1, 1.2])
        scale = figs.scale_for(size, 8, 420)
        left.image(images.tile(f.rows, 8, scale=scale),
                   caption="Top: held-out originals · middle: what the model sees · bottom: filled in")
        with right:
            animation(f.movie, 8, "img_inp_anim", 300)
        msg = (f"Squared error to the originals: {f.mse_before:.3f} before, **{f.mse_after:.3f}** after "
               f"(model of training step {r['at_step']:,}).")
        if f.kept is not None:
            msg += " Known pixels kept exactly: **" + ("yes" if f.kept else "NO") + "**."
        st.caption(msg)
