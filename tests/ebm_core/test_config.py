"""Config round-trips through dicts and URL query strings, and refuses garbage by name."""

import json

import pytest

from ebm_core import config


def test_dict_round_trip_is_identity():
    cfg = config.RunConfig().replace(dataset="rings", step_size=0.02, spectral_norm=True, n_steps=30, method="cd")
    assert config.from_dict(json.loads(json.dumps(config.to_dict(cfg)))) == cfg


def test_query_round_trip_all_and_changed_only():
    cfg = config.for_dataset("pinwheel").replace(lr=1e-3, sampler="mala", seed=42, ema=0.0)
    q = config.to_query(cfg)
    assert q == {"dataset": "pinwheel", "lr": "0.001", "sampler": "mala", "seed": "42", "ema": "0.0"}
    assert config.from_query(q) == cfg
    assert config.from_query(config.to_query(cfg, only_changed=False)) == cfg
    assert config.to_query(config.for_dataset(config.RunConfig().data.dataset)) == {}
    assert config.from_query({}) == config.for_dataset(config.RunConfig().data.dataset)


@pytest.mark.parametrize("name", [*config.DATASET_SETTINGS])
def test_a_dataset_brings_its_settings_and_a_link_lists_only_what_differs_from_them(name):
    picked = config.for_dataset(name)
    assert {k: v for k, v in config.flat(picked).items() if k in config.dataset_settings(name)} == \
        config.dataset_settings(name)
    assert config.to_query(picked) == ({} if name == config.RunConfig().data.dataset else {"dataset": name})
    assert config.from_query({"dataset": name}) == picked
    # the textbook set-up (RunConfig(), where the lessons start) differs from it, and says so in its link
    textbook = config.RunConfig().replace(dataset=name)
    differs = {k: v for k, v in config.flat(textbook).items() if config.flat(picked)[k] != v}
    assert config.from_query(config.to_query(textbook)) == textbook
    assert set(differs) <= set(config.to_query(textbook))
    # another dataset's settings are replaced, the rest stays: what the Playground's picker does
    mine = config.for_dataset("rings").replace(width=64, seed=3)
    moved = config.for_dataset(name, mine)
    assert moved.model.width == 64 and moved.train.seed == 3 and moved == picked.replace(width=64, seed=3)


@pytest.mark.parametrize("name", [*config.IMAGE_DATASET_SETTINGS])
def test_an_image_dataset_brings_its_net_and_a_link_lists_only_what_differs(name):
    img = config.ImageRunConfig
    picked = config.for_dataset(name, root=img)
    assert picked.model.net == ("mlp" if name == "digits" else "conv")  # the 28x28 images keep the conv net
    assert config.to_query(picked) == ({} if name == img().data.dataset else {"dataset": name})
    assert config.from_query({"dataset": name}, root=img) == picked
    assert config.from_query(config.to_query(picked.replace(width=32)), root=img) == picked.replace(width=32)
    # from MNIST to the digits: the digits' net, lr and width come back; the seed stays
    moved = config.for_dataset(name, config.for_dataset("mnist", root=img).replace(seed=5))
    assert moved == picked.replace(seed=5)


def test_every_dataset_restarts_its_chains_from_the_model_and_the_lessons_from_noise():
    assert all(config.for_dataset(n).train.restart == "model" for n in config.DATASET_SETTINGS)
    assert config.RunConfig().train.restart == "noise"
    with pytest.raises(ValueError, match="unknown dataset"):
        config.dataset_settings("mnist")
    with pytest.raises(ValueError, match="restart"):  # the image runs have no model density to restart from
        config.ImageRunConfig().replace(restart="model")


@pytest.mark.parametrize("params, field", [
    ({"step_size": "abc"}, "step_size"),
    ({"step_size": "-1"}, "step_size"),
    ({"step_size": "nan"}, "step_size"),
    ({"n_steps": "2.5"}, "n_steps"),
    ({"n_steps": "100000"}, "n_steps"),
    ({"dataset": "mnist"}, "dataset"),
    ({"spectral_norm": "maybe"}, "spectral_norm"),
    ({"colour": "red"}, "colour"),
])
def test_garbage_raises_naming_the_field(params, field):
    with pytest.raises(ValueError, match=field):
        config.from_query(params)


def test_lenient_query_keeps_good_values_and_reports_bad_ones():
    cfg, errors = config.from_query_lenient({"dataset": "rings", "step_size": "huge", "zzz": "1", "page": "x"},
                                            ignore=("page",))
    assert cfg == config.for_dataset("rings")  # the bad step size falls back to the one rings picks
    assert len(errors) == 2 and any("step_size" in e for e in errors) and any("zzz" in e for e in errors)
    assert any(f"using the default {config.for_dataset('rings').sampler.step_size!r}" in e for e in errors)


def test_from_dict_rejects_unknown_sections_and_fields():
    with pytest.raises(ValueError, match="section"):
        config.from_dict({"optim": {}})
    with pytest.raises(ValueError, match="width2"):
        config.from_dict({"model": {"width2": 3}})
    with pytest.raises(ValueError, match="unknown setting"):
        config.RunConfig().replace(nope=1)


def test_temperature_follows_noise_scale():
    assert config.SamplerConfig(noise_scale=0.1).temperature == pytest.approx(0.01)
    assert config.SamplerConfig(sampler="mala", noise_scale=0.1).temperature == 1.0


def test_image_config_has_its_own_defaults_and_round_trips():
    img = config.ImageRunConfig()
    assert img.sampler.step_size != config.RunConfig().sampler.step_size  # the image recipe's defaults
    cfg = img.replace(dataset="mnist", step_size=5.0, width=64)
    assert config.from_query(config.to_query(cfg), root=config.ImageRunConfig) == cfg
    assert config.from_dict(config.to_dict(cfg), config.ImageRunConfig) == cfg
    assert config.field_info("step_size", config.ImageRunConfig)["default"] == img.sampler.step_size
    with pytest.raises(ValueError, match="dataset"):
        img.replace(dataset="eight_gaussians")
    _, errors = config.from_query_lenient({"depth": "3"}, root=config.ImageRunConfig)
    assert errors and "depth" in errors[0]  # 2D-only settings are unknown to image runs


def test_which_settings_a_running_model_takes_is_said_once_by_the_fields():
    restart = {"dataset", "width", "depth", "activation", "spectral_norm", "confine", "method", "buffer_size",
               "beta1", "ema", "seed"}
    assert set(config.restart_settings(config.RunConfig)) == restart
    assert set(config.live_settings(config.RunConfig)) == set(config.field_names()) - restart
    assert set(config.restart_settings(config.ImageRunConfig)) == {"dataset", "data_noise", "net", "width",
                                                                   "activation", "spectral_norm", "method",
                                                                   "buffer_size", "beta1", "ema", "seed"}
    current = config.RunConfig()
    new = current.replace(step_size=0.2, lr=0.01, width=64, seed=3, sampler="mala")
    merged = config.with_live_settings(current, new)
    assert (merged.sampler.step_size, merged.sampler.sampler, merged.train.lr) == (0.2, "mala", 0.01)
    assert (merged.model.width, merged.train.seed) == (current.model.width, current.train.seed)


def test_every_run_setting_says_its_label_and_help_once_for_the_cli_and_the_sidebars():
    for root in (config.RunConfig, config.ImageRunConfig):
        for name in config.field_names(root):
            info = config.field_info(name, root)
            assert info["label"] and info["help"].endswith("."), (root.__name__, name)
    from ui import classroom

    assert classroom.LABELS["step_size"] == config.field_info("step_size")["label"] == "Step size η"


def test_every_choice_has_a_label_and_the_lab_offers_every_energy():
    from ebm_core.energies import ENERGIES

    for root in (config.RunConfig, config.ImageRunConfig, config.LabConfig):
        for name in config.field_names(root):
            info = config.field_info(name, root)
            if "choices" in info and info["choice_labels"]:
                assert list(info["choice_labels"]) == list(info["choices"]), name
                assert all(config.choice_labels(name, root).values()), name
    assert set(config.choice_labels("target", config.LabConfig)) == {*ENERGIES, "playground"}
    assert config.choice_labels("method")["pcd"] == "Persistent CD (replay buffer)"
