"""The How-EBMs-work page in AppTest: every section renders with measured numbers, and its controls move them."""

import math

import pytest
import torch
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ebm_core import energies
from ebm_core.lessons import counting, theory

PAGE = str(ROOT / "pages" / "1_How_EBMs_work.py")



def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


Z1, Z2 = "Z = area under exp(−E/T)", "Z = volume under exp(−E/T)"


def test_defaults_render_every_section_with_measured_numbers():
    at = open_page()
    assert [h.value for h in at.header][:4] == ["1 · From energy to probability, in 1D", "2 · The same in 2D",
                                                "3 · Why Z is intractable", "4 · So how do we train an EBM without Z?"]
    assert float(metric(at, Z1)) == pytest.approx(theory.boltzmann_1d(theory.double_well, 1.0).z, rel=1e-3)
    assert float(metric(at, Z2)) == pytest.approx(math.exp(energies.make_energy("double_well").log_z), rel=1e-3)
    rate = float(metric(at, "Energies per second, 8 × 8 net (measured)").replace(",", ""))
    assert rate > 1000
    assert metric(at, "Time to enumerate all 2⁶⁴ 8 × 8 images").endswith("years")
    assert len(at.dataframe) == 1 and len(at.get("image")) == 2
    assert not at.warning and not at.error


@pytest.mark.parametrize("name", ["double_well", "mixture", "quadratic", "drawn"])
def test_each_1d_energy_renders(name):
    at = open_page()
    at.radio(key="th_energy").set_value(name).run()
    assert not at.exception, at.exception
    heights = tuple(theory.CURVE_DEFAULT)
    energy = theory.curve_energy(heights) if name == "drawn" else theory.energy_1d(name)
    assert float(metric(at, Z1)) == pytest.approx(theory.boltzmann_1d(energy, 1.0).z, rel=1e-3)
    assert (len(at.slider) == len(theory.CURVE_X)) == (name == "drawn")


@pytest.mark.parametrize("name", ["double_well", "ring", "mixture"])
def test_each_2d_energy_renders(name):
    at = open_page()
    at.radio(key="th_energy_2d").set_value(name).run()
    assert not at.exception, at.exception
    assert float(metric(at, Z2)) == pytest.approx(math.exp(theory.energy_2d(name).log_z), rel=1e-3)


def test_changing_t_changes_the_displayed_z_in_1d_and_2d():
    at = open_page()
    before = metric(at, Z1), metric(at, Z2)
    at.select_slider(key="th_T").set_value(3.0).run()
    assert not at.exception
    after = metric(at, Z1), metric(at, Z2)
    assert after[0] != before[0] and after[1] != before[1]
    assert float(after[0]) == pytest.approx(theory.boltzmann_1d(theory.double_well, 3.0).z, rel=1e-3)
    assert any("T = 3 flattens" in m.value for m in at.markdown)


def test_moving_a_dot_with_its_slider_changes_z_and_reset_restores_it():
    at = open_page()
    at.radio(key="th_energy").set_value("drawn").run()
    before = metric(at, Z1)
    at.slider(key="th_h3").set_value(0.0).run()
    assert not at.exception
    heights = list(theory.CURVE_DEFAULT)
    heights[3] = 0.0
    assert at.session_state["th_heights"] == heights
    assert float(metric(at, Z1)) == pytest.approx(theory.boltzmann_1d(theory.curve_energy(heights), 1.0).z, rel=1e-3)
    at.button(key="th_reset").click().run()
    assert metric(at, Z1) == before and at.slider(key="th_h3").value == theory.CURVE_DEFAULT[3]


def test_reshaping_a_preset_copies_it_into_the_dots():
    at = open_page()
    at.radio(key="th_energy").set_value("quadratic").run()
    at.button(key="th_reshape").click().run()
    assert not at.exception
    assert at.radio(key="th_energy").value == "drawn"
    assert at.session_state["th_heights"] == [4.5, 2.0, 0.5, 0.0, 0.5, 2.0, 4.5]  # x^2 / 2 at the dots


def test_measure_again_times_the_network_anew():
    at = open_page()
    at.button(key="th_remeasure").click().run()
    assert not at.exception, at.exception
    assert float(metric(at, "Energies per second, 8 × 8 net (measured)").replace(",", "")) > 1000
    rows = at.dataframe[0].value
    assert list(rows["image"]) == ["4 × 4", "5 × 5", "6 × 6", "8 × 8", "28 × 28 (MNIST size)"]
    assert rows["time to sum over all of them"].iloc[0].endswith("s (done below)")
    assert rows["time to sum over all of them"].iloc[-1].endswith("years")


def test_the_enumerated_z_names_the_most_and_least_likely_images_with_their_exact_probabilities():
    model = counting.make_image_energy(3, width=16, gain=5.0, generator=torch.Generator().manual_seed(2))
    r = counting.enumerate_z(model, 3, temperature=0.5, n_shown=2)
    e = counting.enumerate_energies(model, 3)
    p = torch.exp(-e / 0.5 - r.log_z)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-9) and r.n == 2**9
    assert r.shown[:2] == tuple(int(i) for i in torch.argsort(p, descending=True)[:2])
    assert set(r.shown[2:]) == {int(i) for i in torch.argsort(p)[:2]}
    assert r.shown_p == pytest.approx([float(p[i]) for i in r.shown], rel=1e-9)
    assert (r.e_min, r.e_max) == pytest.approx((float(e.min()), float(e.max())))
