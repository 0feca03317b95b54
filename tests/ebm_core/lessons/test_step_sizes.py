"""Langevin Lab step sizes: presets, suggestions from the curvature, MALA tuning to a target acceptance."""

import pytest
import torch

from ebm_core.lessons import lab, step_sizes


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def gaussian() -> lab.Target:
    return lab.analytic_target("gaussian")


@pytest.mark.parametrize("name, target", [("gaussian", 0.574), ("banana", 0.574), ("ring", 0.574), ("mixture", 0.8)])
def test_autotune_lands_within_005_of_the_target_acceptance(name, target):
    t = lab.analytic_target(name)
    x0 = lab.start_points(t, lab.Start(), 256, generator=gen())
    result = step_sizes.autotune_mala(t.energy, x0, target=target, generator=gen(1))
    assert abs(result.acceptance - target) < 0.05, (result.step_size, result.acceptance)
    assert result.step_history.shape == (300,) and result.x.shape == (256, 2)
    # the step it reports really gives that acceptance in a fresh run from exact samples
    check = lab.run_chains(t, lab.Start("data"), lab.ChainSettings("mala", result.step_size, 1.0, 100, 512),
                           generator=gen(2))
    assert abs(check.acceptance.mean() - target) < 0.05


def test_suggested_step_sizes_scale_with_the_curvature():
    assert step_sizes.suggest_step_sizes(lab.analytic_target("gaussian"), generator=gen()) == [0.05, 0.3, 1.0, 1.5]
    steep = lab.make_target(lambda x: 12.5 * x.square().sum(dim=1), 1.0)  # curvature 25
    assert step_sizes.suggest_step_sizes(steep, generator=gen()) == [0.002, 0.012, 0.04, 0.06]


def test_bad_tuning_arguments_raise_value_errors_that_name_them(gaussian):
    with pytest.raises(ValueError, match="target"):
        step_sizes.autotune_mala(gaussian.energy, torch.zeros(4, 2), target=1.5)
    with pytest.raises(ValueError, match="n_adapt"):
        step_sizes.autotune_mala(gaussian.energy, torch.zeros(4, 2), n_adapt=0)


def test_every_analytic_target_has_four_increasing_preset_step_sizes():
    for name in lab.TARGET_NAMES:
        presets = step_sizes.default_step_sizes(lab.analytic_target(name))
        assert len(presets) == 4 and presets == sorted(presets) and presets[0] > 0, name
