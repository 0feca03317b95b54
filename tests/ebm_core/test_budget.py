"""The cost budget: the defaults and presets fit, a link that would pin the worker is refused with a
message that names the limit and changes that fit, and the estimate grows with every costly setting.
No timing here: bench/budget.py measures the model against real updates."""

import pytest

from ebm_core import budget, budget_advice, config
from ebm_core.config import ImageRunConfig, RunConfig
from ebm_core.lessons.presets import PRESETS, apply_preset

EXTREME_LINK = {"width": "1024", "depth": "8", "batch_size": "8192", "n_steps": "1000", "sampler": "mala"}
REFUSED = [
    config.from_query(EXTREME_LINK),
    RunConfig().replace(batch_size=8192, n_steps=1000),
    RunConfig().replace(width=1024, depth=8),
    RunConfig().replace(width=1024, n_steps=1000),
    ImageRunConfig().replace(dataset="mnist", net="conv", width=256),
    ImageRunConfig().replace(batch_size=8192, n_steps=1000, sampler="mala"),
]


@pytest.fixture(autouse=True)
def default_limit(monkeypatch):
    monkeypatch.delenv(budget.LIMIT_ENV, raising=False)


@pytest.mark.parametrize("cfg", [RunConfig(), ImageRunConfig()] + [apply_preset(k) for k in PRESETS],
                         ids=["defaults", "image defaults"] + list(PRESETS))
def test_defaults_and_presets_pass_with_headroom(cfg):
    assert budget_advice.check(cfg) is None
    assert budget.estimate(cfg).worst_s < budget.DEFAULT_LIMIT_S / 4


def test_the_extreme_link_is_refused_naming_the_limit_and_changes_that_fit():
    cfg = config.from_query(EXTREME_LINK)
    est = budget.estimate(cfg)
    assert est.update_s > 600 and est.dominant == "the Langevin chains"
    message = budget_advice.check(cfg)
    assert message is not None
    assert "the limit on this server is 1 s" in message and "hours per training update" in message
    assert "width-1024, depth-8" in message and "MALA" in message and "8192" in message
    fixes = budget_advice.fixes(cfg)
    assert fixes
    for fix in fixes:
        for value in fix.values():
            assert f"at most {value}" in message or value == "ula"


@pytest.mark.parametrize("cfg", REFUSED, ids=range(len(REFUSED)))
def test_each_suggested_change_fits_and_stays_in_range(cfg):
    assert budget_advice.check(cfg) is not None
    fixes = budget_advice.fixes(cfg)
    assert fixes, budget_advice.check(cfg)
    for fix in fixes:
        for name, value in fix.items():
            info = config.field_info(name, type(cfg))
            if "range" in info:
                lo, hi = info["range"]
                assert lo <= value <= hi and value < config.flat(cfg)[name]
            else:
                assert value in info["choices"]
        assert budget_advice.check(cfg.replace(**fix)) is None, fix


def test_single_changes_are_the_largest_that_fit_to_two_digits():
    cfg = RunConfig().replace(batch_size=8192, n_steps=1000)
    fixes = budget_advice.fixes(cfg)
    assert all(len(f) == 1 for f in fixes)
    for fix in fixes:
        ((name, value),) = fix.items()
        step = 10 ** max(0, len(str(value)) - 2)  # the rounding of _round_down
        hi = config.field_info(name)["range"][1]
        if value + step <= hi:
            assert not budget.fits(cfg.replace(**{name: value + step}))
    message = budget_advice.check(cfg)
    assert message.count("at most") == len(fixes)


@pytest.mark.parametrize("name, values", [("width", (16, 64, 256, 1024)), ("depth", (1, 2, 4, 8)),
                                          ("batch_size", (8, 256, 2048, 8192)), ("n_steps", (1, 10, 100, 1000))])
def test_the_estimate_grows_with_each_costly_setting(name, values):
    for root in (RunConfig, ImageRunConfig):
        if name not in config.field_names(root):
            continue
        lo, hi = config.field_info(name, root)["range"]
        ests = [budget.estimate(root().replace(**{name: v})) for v in values if lo <= v <= hi]
        assert all(a.update_s < b.update_s for a, b in zip(ests, ests[1:]))
        if name in ("width", "depth"):
            assert all(a.diagnostics_s < b.diagnostics_s for a, b in zip(ests, ests[1:]))


def test_mala_costs_more_than_ula_and_mnist_more_than_digits():
    for cfg in (RunConfig(), RunConfig().replace(n_steps=100), ImageRunConfig()):
        mala, ula = budget.estimate(cfg.replace(sampler="mala")), budget.estimate(cfg.replace(sampler="ula"))
        assert mala.update_s > ula.update_s
    digits, mnist = budget.estimate(ImageRunConfig()), budget.estimate(ImageRunConfig().replace(dataset="mnist"))
    assert mnist.update_s > digits.update_s and mnist.diagnostics_s > digits.diagnostics_s


def test_the_environment_variable_sets_the_limit(monkeypatch):
    cfg = config.from_query(EXTREME_LINK)
    monkeypatch.setenv(budget.LIMIT_ENV, "0.0001")
    assert budget.default_limit_s() == 0.0001
    assert "the limit on this server is 0.0001 s" in budget_advice.check(RunConfig())
    monkeypatch.setenv(budget.LIMIT_ENV, "1e9")
    assert budget_advice.check(cfg) is None
    assert budget_advice.check(cfg, limit_s=1.0) is not None  # an explicit limit wins
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv(budget.LIMIT_ENV, bad)
        with pytest.raises(ValueError, match=budget.LIMIT_ENV):
            budget.default_limit_s()


def test_the_net_is_counted_from_nets_py():
    net = budget.net_2d(128, 2)
    assert net.params == 2 * 128 + 128 + 128 * 128 + 128 + 128 + 1
    assert net.macs == 2 * 128 + 128 * 128 + 128 and net.dim == 2
    assert net.sizes[:5] == (128, 128, 128, 128, 1)  # each Linear's and each activation's output
    image = budget.net_image(16, 8)
    assert image.dim == 64 and image.macs > image.params  # a conv reuses its weights over positions
    with pytest.raises(TypeError):
        budget.estimate(config.LabConfig())
