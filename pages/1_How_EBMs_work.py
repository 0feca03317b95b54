"""How EBMs work: energy -> probability through exp(-E/T) / Z, in 1D, in 2D, and why Z is out of
reach for images.

The page reads top to bottom as the UI: a temperature in the sidebar; a 1D energy (a preset, or a
curve the user drags in `ui.curve_editor`) drawn next to exp(-E/T) and p; a 2D energy's density;
then live timings of an energy net on this machine, turned into the time an exact Z would take.
All numbers come from `ebm_core.lessons.theory`; results are cached by their plain settings.
"""

import dataclasses
import datetime

import streamlit as st
from streamlit.errors import StreamlitAPIException

st.set_page_config(page_title="How EBMs work · Energy Landscape Explorer", page_icon="⛰️", layout="wide")
st.title("How EBMs work · energy, probability and Z")
st.markdown(
    "An energy-based model gives every possible input x one number, its **energy E(x)**. Energies become "
    "probabilities through the Gibbs-Boltzmann distribution **p(x) = exp(−E(x)/T) / Z**: the lower the energy, the "
    "more likely x. The **partition function Z** is the sum (or integral) of exp(−E(x)/T) over *every* possible x; "
    "dividing by it makes the probabilities add up to 1. Below, Z is computed exactly, then we time why that stops "
    "being possible for images."
)

with st.spinner("Loading PyTorch…"):
    import numpy as np  # noqa: E402
    import torch  # noqa: E402

    from ebm_core.figures import theory as theory_figures  # noqa: E402
    from ebm_core.lessons import counting, theory  # noqa: E402
    from ui.components.curve_editor import curve_editor  # noqa: E402

LABELS_1D = {"double_well": "Double well", "mixture": "Gaussian mixture", "quadratic": "Quadratic",
             "drawn": "Draw your own"}
FORMULAS_1D = {
    "double_well": "E(x) = 2 (x² − 1)² + x/2: two valleys, the left one 1 unit deeper.",
    "mixture": "E(x) = −log(0.35 N(x; −1.8, 0.45²) + 0.65 N(x; 1.2, 0.8²)): minus the log of a normalised density, "
               "so Z = 1 exactly at T = 1.",
    "quadratic": "E(x) = x²/2: p is a Gaussian with variance T, and Z = √(2πT) in closed form.",
    "drawn": "A smooth curve through the seven dots; beyond x = ±3 it rises like a wall, so Z stays finite.",
}
LABELS_2D = {"double_well": "Double well", "ring": "Ring", "mixture": "Mixture of 4 Gaussians"}
FORMULAS_2D = {
    "double_well": "E(x) = 4 (x₁² − 1)² + x₂²/2",
    "ring": "E(x) = (|x| − 2)² / (2 · 0.2²)",
    "mixture": "E(x) = −log of four equal Gaussians (std 0.5) on a circle of radius 2.5",
}
TEMPERATURES = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0]
IMAGE_SIDES = (4, 5, 6, 8, 28)
TIMED_SIDES = (8, 28)  # nets we time; smaller images use the 8 x 8 rate (the 128 x 128 layer dominates)
EXACT_SIDE = 4
ss = st.session_state
for key, value in {"th_T": 1.0, "th_energy": "double_well", "th_energy_2d": "double_well",
                   "th_heights": list(theory.CURVE_DEFAULT)}.items():
    ss.setdefault(key, value)


# ----------------------------------------------------------------------------------------------
# Cached computations, keyed by plain settings


@st.cache_data(max_entries=64, show_spinner=False)
def profile_1d(name: str, heights: tuple, temperature: float) -> theory.Profile1D:
    energy = theory.curve_energy(heights) if name == "drawn" else theory.energy_1d(name)
    return theory.boltzmann_1d(energy, temperature)


@st.cache_data(max_entries=32, show_spinner=False)
def profile_2d(name: str, temperature: float) -> theory.Profile2D:
    energy = theory.energy_2d(name)
    return theory.boltzmann_2d(energy, temperature, view=energy.extent)


@st.cache_data(ttl=3600, max_entries=1, show_spinner=False)
def machine_speed() -> dict:
    """Energy evaluations per second of side²-128-128-1 MLPs on 8 x 8 and 28 x 28 images, timed now
    on this machine; shared by every session for an hour."""
    g = torch.Generator().manual_seed(0)
    rates = {side: counting.measure_evals_per_second(counting.make_image_energy(side, generator=g), (side, side),
                                                   min_seconds=0.3, generator=g)
             for side in TIMED_SIDES}
    return dict(rates=rates, threads=torch.get_num_threads(), at=datetime.datetime.now().strftime("%H:%M"))


@st.cache_data(max_entries=1, show_spinner=False)
def exact_small_images() -> dict:
    """Exact Z of a random 16-128-128-1 net by summing over all 2^16 binary 4 x 4 images, with its
    3 most and 3 least likely images."""
    model = counting.make_image_energy(EXACT_SIDE, gain=10.0, generator=torch.Generator().manual_seed(1))
    return dataclasses.asdict(counting.enumerate_z(model, EXACT_SIDE, n_shown=3))


# ----------------------------------------------------------------------------------------------
# Widgets


def temperature_ui() -> float:
    with st.sidebar:
        st.header("Temperature")
        T = st.select_slider("T", TEMPERATURES, key="th_T",
                             help="p(x) = exp(−E(x)/T) / Z. T = 1 is the model itself.")
        st.caption("T divides every energy. **T < 1** exaggerates energy differences: p piles into the deepest "
                   "valley. **T > 1** shrinks them: p spreads out. Both the 1D and the 2D section use this T.")
    return float(T)


def _set_heights_from_editor(heights: list[float]) -> None:
    if len(heights) == len(theory.CURVE_X):
        ss.th_heights = [float(np.clip(v, *theory.CURVE_RANGE)) for v in heights]


def _set_heights_from_slider(i: int) -> None:
    ss.th_heights = [ss[f"th_h{i}"] if k == i else h for k, h in enumerate(ss.th_heights)]


def _reset_heights() -> None:
    ss.th_heights = list(theory.CURVE_DEFAULT)


def _reshape_preset() -> None:
    """Start the hand-made curve from the chosen preset: its energy at the dots, clipped to their range."""
    e = theory.energy_1d(ss.th_energy)(np.array(theory.CURVE_X))
    ss.th_heights = [float(np.clip(round(v * 4) / 4, *theory.CURVE_RANGE)) for v in e]
    ss.th_energy = "drawn"


def heights_sliders_ui() -> None:
    """The keyboard fallback of the editor: one slider per dot, kept in step with the drag."""
    with st.expander("Set the dots with sliders"):
        cols = st.columns(len(theory.CURVE_X))
        for i, (col, x) in enumerate(zip(cols, theory.CURVE_X, strict=True)):
            ss[f"th_h{i}"] = float(ss.th_heights[i])  # the dots may have moved by drag since the last run
            col.slider(f"E({x:g})", *theory.CURVE_RANGE, step=0.25, key=f"th_h{i}", on_change=_set_heights_from_slider,
                       args=(i,))
        st.button("Reset the curve", key="th_reset", on_click=_reset_heights, icon=":material/restart_alt:")


def page_link(page: str, label: str, icon: str) -> None:
    try:
        st.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:  # this page is its own entrypoint (AppTest): nothing to link to
        pass


# ----------------------------------------------------------------------------------------------
# The page


T = temperature_ui()

st.header("1 · From energy to probability, in 1D")
name = st.radio("Energy", list(LABELS_1D), key="th_energy", horizontal=True, format_func=LABELS_1D.get)
left, right = st.columns(2, gap="medium")
with left:
    st.markdown("**The energy E(x)**")
    if name == "drawn":
        curve_editor(ss.th_heights, xs=theory.CURVE_X, value_range=theory.CURVE_RANGE, view=theory.VIEW_1D,
                     energy_axis=theory_figures.ENERGY_AXIS, wall=theory.WALL_WIDTH, key="th_curve",
                     on_change=_set_heights_from_editor)
profile = profile_1d(name, tuple(ss.th_heights), T)
reference = profile_1d(name, tuple(ss.th_heights), 1.0) if T != 1 else None
with left:
    if name != "drawn":
        st.plotly_chart(theory_figures.energy_figure(profile), key="th_energy_fig", theme=None,
                        config={"displayModeBar": False}, width="stretch")
    st.caption(FORMULAS_1D[name])
with right:
    st.markdown(f"**The probability it implies at T = {T:g}**")
    st.plotly_chart(theory_figures.boltzmann_figure(profile, reference=reference), key="th_boltzmann_fig",
                    theme=None, config={"displayModeBar": False}, width="stretch")

x_min, valley_lo, valley_hi = theory.valley_of_minimum(profile)
valley_share = theory.mass_between(profile, valley_lo, valley_hi)
m = st.columns(4)
lo, hi = theory.SUPPORT_1D
m[0].metric("Z = area under exp(−E/T)", f"{profile.z:.4g}",
            help=f"Trapezoid rule on {theory.N_SUPPORT_1D:,} points over {lo:g} ≤ x ≤ {hi:g}.")
m[1].metric("log Z", f"{profile.log_z:.3f}")
m[2].metric("Probability in the deepest valley", f"{valley_share:.0%}",
            help=f"Integral of p from x = {valley_lo:.2f} to {valley_hi:.2f}, the valley around the lowest energy.")
m[3].metric("Entropy of p", f"{profile.entropy:.2f} nats", help="−∫ p log p dx: higher means flatter, more spread out.")
if T < 1:
    t_text = (f"**T = {T:g} sharpens:** dividing the energy by a small T exaggerates every difference, so p piles "
              "into the deepest valley (compare the dashed T = 1 curve).")
elif T > 1:
    t_text = (f"**T = {T:g} flattens:** dividing the energy by a large T shrinks every difference, so p spreads "
              "towards uniform (compare the dashed T = 1 curve).")
else:
    t_text = ("**T = 1** is the model itself; move the temperature in the sidebar to sharpen (T < 1) or flatten "
              "(T > 1) p.")
st.markdown(
    f"**Low energy = likely:** the lowest point of E, at x ≈ {x_min:.1f}, is where p peaks, and its valley holds "
    f"{valley_share:.0%} of the probability. {t_text} **Z = {profile.z:.4g} is the normaliser:** the shaded area "
    "under exp(−E/T); dividing by it makes the area under p exactly 1."
)
if name == "quadratic":
    st.caption(f"Check: the closed form √(2πT) = {np.sqrt(2 * np.pi * T):.6g}; the quadrature gives {profile.z:.6g}.")
if profile.mass_in_view < 0.995:
    st.caption(f"{1 - profile.mass_in_view:.1%} of p lies outside the plotted x range; Z counts it.")
if name == "drawn":
    heights_sliders_ui()
else:
    st.button("Reshape this energy by hand", key="th_reshape", on_click=_reshape_preset, icon=":material/draw:",
              help="Copies this energy into seven draggable dots.")

st.header("2 · The same in 2D")
name_2d = st.radio("2D energy", list(LABELS_2D), key="th_energy_2d", horizontal=True, format_func=LABELS_2D.get)
profile2 = profile_2d(name_2d, T)
left, right = st.columns([3, 2], gap="medium")
with left:
    st.plotly_chart(theory_figures.density_figure_2d(profile2), key="th_density_2d", theme=None,
                    config={"displayModeBar": False}, width="stretch")
with right:
    st.markdown(f"**{LABELS_2D[name_2d]}**, {FORMULAS_2D[name_2d]}, at T = {T:g}")
    a, b = st.columns(2)
    a.metric("Z = volume under exp(−E/T)", f"{profile2.z:.4g}")
    b.metric("Probability in the picture", f"{profile2.mass_in_view:.1%}")
    n, box = theory.N_SUPPORT_2D, theory.SUPPORT_2D
    st.markdown(
        f"In 2D, Z is a volume: the integral of exp(−E/T) over the plane. We computed it from {n * n:,} energies on a "
        f"{n} × {n} grid over [−{box:g}, {box:g}]², a fraction of a second of work. Darker means more likely: the "
        "density sits in the low-energy valleys and spreads out as T grows."
    )
    st.info(f"A grid with {n} points per axis needs {n}ᵈ energies in d dimensions: {n**3:,} in 3D, and about "
            f"{counting.format_power_of_ten(64 * np.log10(n))} for an 8 × 8 image (64 dimensions).",
            icon=":material/grid_on:")

st.header("3 · Why Z is intractable")
st.markdown(
    "Take the simplest images there are: black-and-white, side × side pixels. Each pixel is 0 or 1, so there are "
    "2^(side²) images, and an exact Z needs the energy of **every one**. We timed a small energy network "
    "(a side²-128-128-1 MLP) on this server just now and turned its speed into the time the sum would take."
)
with st.spinner("Timing the energy network on this machine…"):
    speed = machine_speed()
    exact = exact_small_images()
rates = speed["rates"]
rows = []
for side in IMAGE_SIDES:
    n = 2 ** (side * side)
    rate = rates[min(s for s in TIMED_SIDES if s >= side)]
    duration = counting.enumeration_time(n, rate)
    rows.append({
        "image": f"{side} × {side}" + (" (MNIST size)" if side == 28 else ""),
        "images 2^(side²)": counting.format_count(n),
        "energy evaluations / s": f"{rate:,.0f}" + ("" if side in TIMED_SIDES else " (8 × 8 net)"),
        "time to sum over all of them": (f"{exact['seconds']:.2f} s (done below)" if side == EXACT_SIDE
                                         else str(duration)),
        "× age of the universe": ("—" if duration.log10_universe_ages < -3
                                  else counting.format_power_of_ten(duration.log10_universe_ages)),
    })
st.dataframe(rows, hide_index=True, width="stretch")
eight = counting.enumeration_time(2**64, rates[8])
m = st.columns(3)
m[0].metric("Energies per second, 8 × 8 net (measured)", f"{rates[8]:,.0f}")
m[1].metric("Time to enumerate all 2⁶⁴ 8 × 8 images", str(eight))
m[2].metric(f"Exact Z of a {EXACT_SIDE} × {EXACT_SIDE} net: log Z", f"{exact['log_z']:.3f}",
            help=f"Summed over all {exact['n']:,} images in {exact['seconds']:.2f} s.")
st.caption(f"Measured at {speed['at']} with {speed['threads']} CPU thread(s) on batches of 4,096 random images; "
           "the fastest batch counts, since slower ones measure whoever else shares the server. Cached for an hour "
           "and shared by everyone on this server. A computer a million times faster would still need "
           f"{counting.Duration(eight.log10_seconds - 6)} for 8 × 8.")
if st.button("Measure again", key="th_remeasure", icon=":material/timer:"):
    machine_speed.clear()
    st.rerun()

st.subheader(f"We can still do it for {EXACT_SIDE} × {EXACT_SIDE}")
st.markdown(
    f"Here is a randomly initialised {EXACT_SIDE * EXACT_SIDE}-128-128-1 network, its output scaled by 10 so its "
    f"energies spread from {exact['e_min']:.1f} to {exact['e_max']:.1f}. Summing exp(−E) over all {exact['n']:,} "
    f"binary {EXACT_SIDE} × {EXACT_SIDE} images took **{exact['seconds']:.2f} s** and gives **log Z = "
    f"{exact['log_z']:.3f}** (Z ≈ {np.exp(exact['log_z']):,.0f}). With Z known, every image has an exact probability: "
    f"below, its three most likely and its three least likely images (uniform would be 1/{exact['n']:,} = "
    f"{1 / exact['n']:.1e})."
)
tiles = []
for index in exact["shown"]:
    img = counting.binary_images(EXACT_SIDE, index, index + 1)[0].numpy()  # (4, 4), 1 = ink
    tile = np.kron(1 - img, np.ones((20, 20)))  # white paper, black ink, 80 x 80
    tiles.append((np.pad(tile, 2, constant_values=0.6) * 255).astype(np.uint8))
captions = [f"p = {p:.1e}" for p in exact["shown_p"]]
most, least = st.columns(2)
most.markdown("**Three most likely**")
most.image(tiles[:3], caption=captions[:3], width=110)
least.markdown("**Three least likely**")
least.image(tiles[3:], caption=captions[3:], width=110)

st.header("4 · So how do we train an EBM without Z?")
st.markdown(
    "Maximum likelihood wants to lower the energy of the data *and* lower log Z. The gradient of log Z is "
    "−E_p[∇E]: an average over samples **from the model itself**, which Langevin dynamics can draw without ever "
    "knowing Z. That is the training rule the Playground runs: **push the energy down on data, push it up on the "
    "model's own samples (the negatives)**. In 2D the Playground still computes Z on a grid, exactly as in "
    "section 2, to show the model's true density and NLL; for images only the samples are left."
)
c1, c2 = st.columns(2)
with c1:
    page_link("pages/0_Playground.py", "Train an EBM in the 2D Playground", ":material/play_arrow:")
with c2:
    page_link("pages/2_Langevin_Lab.py", "Watch Langevin sample exp(−E/T) in the Langevin Lab", ":material/science:")
