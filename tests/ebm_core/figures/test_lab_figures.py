"""The Langevin Lab's figures: compact animated chains, curves and marginals for every run."""

import json

import pytest
import torch

from ebm_core.figures import lab as lab_figures
from ebm_core.lessons import lab


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def gaussian() -> lab.Target:
    return lab.analytic_target("gaussian")


def test_the_chains_figure_is_compact_and_its_frames_move_only_what_moves(gaussian):
    runs = [lab.run_chains(gaussian, lab.Start(), lab.ChainSettings("ula", h, 1.0, 200, 256), generator=gen())
            for h in (0.05, 0.3, 1.0)]
    fig = lab_figures.chains_figure(gaussian, runs)
    spec = json.loads(fig.to_json())
    assert len(spec["frames"]) == 101  # every 2nd of 200 steps, plus step 0
    frame = spec["frames"][50]
    assert frame["name"] == "100" and len(frame["data"]) == 9 and len(frame["traces"]) == 9
    chains = frame["data"][2]
    assert chains["x"]["dtype"] == "f4" and "marker" not in chains  # float32 positions only
    assert len(spec["layout"]["sliders"][0]["steps"]) == 101
    assert [b["label"] for b in spec["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert len(spec["layout"]["images"]) == 3  # the exact density, once per panel
    assert len(fig.to_json()) < 1_700_000
    with pytest.raises(ValueError, match="runs"):
        lab_figures.chains_figure(gaussian, runs * 2)


def test_curves_and_marginals_figures_show_every_run_and_the_references(gaussian):
    runs = [lab.run_chains(gaussian, lab.Start(), lab.ChainSettings(s, 0.3, 1.0, 40, 128), generator=gen())
            for s in ("ula", "mala")]
    curves = lab_figures.curves_figure(runs, dashed=[False, True], kl_floor=0.2, exact_energy=1.0,
                                       target_acceptance=0.574)
    names = [t.name for t in curves.data]
    assert "exact samples (KL floor)" in names and "exact E_p[E]" in names
    assert sum(t.name == "MALA η=0.3" for t in curves.data) == 3  # KL, energy and acceptance
    marg = lab_figures.marginals_figure(gaussian, runs)
    assert len(marg.data) == 2 * (1 + len(runs))
