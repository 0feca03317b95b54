"""Run folders: written, read back identically, and foreign files refused without unpickling."""

import json
import pickle

import pytest
import torch

from ebm_core import checkpoint, config, train2d


def trained(tmp_path):
    cfg = config.RunConfig().replace(width=16, n_steps=3, batch_size=32, buffer_size=128, dataset="rings")
    tr = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    logs = list(tr.run(3))
    return checkpoint.save_run(tmp_path / "run", tr.eval_model, cfg, logs), tr, cfg


def test_round_trip(tmp_path):
    path, tr, cfg = trained(tmp_path)
    model, cfg2 = checkpoint.load_run(path)
    x = torch.randn(32, 2)
    assert cfg2 == cfg
    assert torch.allclose(model(x), tr.eval_model(x))
    assert len(checkpoint.read_metrics(path)) == 3


class Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_rejects_a_pickle_without_running_it(tmp_path, monkeypatch):
    path, _, _ = trained(tmp_path)
    monkeypatch.chdir(tmp_path)
    (path / "model.safetensors").write_bytes(pickle.dumps({"w": Boom()}))
    with pytest.raises(checkpoint.NotARunError, match="safetensors"):
        checkpoint.load_run(path)
    assert not (tmp_path / "PWNED").exists()
    torch.save({"x": torch.zeros(2)}, path / "model.safetensors")  # a torch pickle checkpoint
    with pytest.raises(checkpoint.NotARunError, match="pickled checkpoints are never loaded"):
        checkpoint.load_run(path)


def test_rejects_foreign_or_broken_folders(tmp_path):
    with pytest.raises(checkpoint.NotARunError, match="not a folder"):
        checkpoint.load_run(tmp_path / "missing")
    path, _, _ = trained(tmp_path)
    doc = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**doc, "format": "other"}))
    with pytest.raises(checkpoint.NotARunError, match="not written by this tool"):
        checkpoint.load_run(path)
    doc["config"]["model"]["width"] = 32  # weights no longer match
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(checkpoint.NotARunError, match="architecture"):
        checkpoint.load_run(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(checkpoint.NotARunError, match="JSON"):
        checkpoint.load_run(path)


def test_a_deeply_nested_config_or_weights_that_are_not_numbers_are_not_a_run(tmp_path):
    path, tr, cfg = trained(tmp_path)
    good = (path / checkpoint.CONFIG_FILE).read_text()
    (path / checkpoint.CONFIG_FILE).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(checkpoint.NotARunError, match="nested too deeply"):
        checkpoint.load_run(path)
    (path / checkpoint.CONFIG_FILE).write_text(good)
    nan = {k: torch.full_like(v, float("nan")) for k, v in tr.eval_model.state_dict().items()}
    with torch.no_grad():
        tr.eval_model.load_state_dict(nan)
    checkpoint.save_run(path, tr.eval_model, cfg, [])
    with pytest.raises(checkpoint.NotARunError, match="not finite"):
        checkpoint.load_run(path)


def test_an_image_run_round_trips_and_its_kind_is_checked(tmp_path):
    from ebm_core import image_train, images

    cfg = config.ImageRunConfig().replace(n_steps=3, batch_size=16, buffer_size=64, seed=5)
    ds = images.load_images("digits", split="train")
    tr = image_train.make_trainer_images(cfg, device=torch.device("cpu"), dataset=ds)
    logs = list(tr.run(2))
    path = checkpoint.save_run(tmp_path / "img", tr.eval_model, cfg, logs)
    model, cfg2 = checkpoint.load_run(path)
    assert isinstance(cfg2, config.ImageRunConfig) and cfg2 == cfg
    x = ds.images[:8]
    assert torch.equal(model(x), tr.eval_model(x).detach())
    doc = json.loads((path / "config.json").read_text())
    assert doc["kind"] == "images"
    for kind, word in (("toy2d", "unknown config section|unknown setting"), ("video", "unknown kind")):
        (path / "config.json").write_text(json.dumps({**doc, "kind": kind}))
        with pytest.raises(checkpoint.NotARunError, match=word):
            checkpoint.load_run(path)
    doc["config"]["sampler"]["step_size"] = 1e9  # out of range
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(checkpoint.NotARunError, match="step_size"):
        checkpoint.load_run(path)
