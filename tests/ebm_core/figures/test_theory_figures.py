"""The How-EBMs-work figures: labelled axes, Z shown, the 2D density on its view grid."""

import numpy as np

from ebm_core.figures import theory as theory_figures
from ebm_core.lessons import theory


def test_figures_label_their_axes_and_show_z():
    profile = theory.boltzmann_1d(theory.double_well, 0.5)
    fig = theory_figures.boltzmann_figure(profile, reference=theory.boltzmann_1d(theory.double_well, 1.0))
    assert len(fig.data) == 3 and fig.layout.xaxis2.title.text == "x"
    assert f"Z = {profile.z:.4g}" in fig.layout.annotations[0].text
    assert theory_figures.energy_figure(profile).layout.yaxis.title.text == "energy E(x)"
    fig2 = theory_figures.density_figure_2d(theory.boltzmann_2d(theory.energy_2d("ring"), 1.0, view=3.0))
    assert np.asarray(fig2.data[0].z).shape == (161, 161) and fig2.layout.xaxis.title.text == "x₁"
