"""Run folders: written, read back identically, and foreign files refused without unpickling."""

import json
import pickle

import numpy as np
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


def test_an_image_run_saved_before_the_mlp_named_no_net_and_loads_as_the_conv_net_it_was(tmp_path):
    from ebm_core import image_train, images

    cfg = config.ImageRunConfig().replace(net="conv", width=8, n_steps=3, batch_size=16, buffer_size=64)
    ds = images.load_images("digits", split="train")
    tr = image_train.make_trainer_images(cfg, device=torch.device("cpu"), dataset=ds)
    path = checkpoint.save_run(tmp_path / "old", tr.eval_model, cfg, list(tr.run(2)))
    doc = json.loads((path / "config.json").read_text())
    del doc["config"]["model"]["net"]  # as every image run's config.json was written before
    (path / "config.json").write_text(json.dumps(doc))
    model, loaded = checkpoint.load_run(path)
    assert loaded == cfg and isinstance(model, type(tr.eval_model))
    assert torch.equal(model(ds.images[:8]), tr.eval_model(ds.images[:8]).detach())
    assert config.ImageRunConfig().model.net == "mlp"  # what a config without the setting means elsewhere


def test_a_trainer_saved_with_its_run_goes_on_bit_for_bit_and_foreign_states_are_refused(tmp_path):
    from ebm_core import image_train, images, nets

    cfg = config.ImageRunConfig().replace(n_steps=3, batch_size=16, buffer_size=64, seed=5)
    ds = images.load_images("digits", split="train")

    def make(c=cfg):
        return image_train.make_trainer_images(c, device=torch.device("cpu"), dataset=ds)

    a = make()
    list(a.run(7))
    assert cfg.train.burn_in > 1 and len(a.buffer.flight) == cfg.train.burn_in - 1  # chains in their burn-in
    path = checkpoint.save_run(tmp_path / "img", a.eval_model, cfg, [], trainer=a)
    list(a.run(5))
    b = make(cfg.replace(seed=9))  # other weights, buffer and random draws: all of it comes from the file
    checkpoint.load_trainer(path, b, cfg)
    assert b.step_count == 7
    list(b.run(5))
    assert nets.weights_digest(b.model) == nets.weights_digest(a.model)
    assert nets.weights_digest(b.ema) == nets.weights_digest(a.ema)
    assert torch.equal(b.buffer.x, a.buffer.x) and torch.equal(b.buffer.age, a.buffer.age)
    narrower = cfg.replace(width=8)
    wider = make(narrower)
    before = nets.weights_digest(wider.model)
    with pytest.raises(checkpoint.NotARunError, match="shapes"):
        checkpoint.load_trainer(path, wider, narrower)
    assert nets.weights_digest(wider.model) == before and wider.step_count == 0  # nothing changed
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path / checkpoint.TRAINER_FILE))
    tensors["buffer.flight"][0] = cfg.train.buffer_size  # a chain the buffer does not have
    save_file(tensors, str(path / checkpoint.TRAINER_FILE))
    with pytest.raises(checkpoint.NotARunError, match="burn-in"):
        checkpoint.load_trainer(path, make(), cfg)
    (path / checkpoint.TRAINER_FILE).write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(checkpoint.NotARunError, match="not a safetensors"):
        checkpoint.load_trainer(path, make(), cfg)


def recorded() -> dict:
    """A small recording's arrays (live/recording.py's Recording.stacked())."""
    return {"step": np.array([0, 10, 20]), "energy": np.random.default_rng(0).random((3, 8, 8)).astype(np.float16),
            "log_z_display": np.zeros(3), "x_neg": np.full((3, 5, 2), np.nan, np.float16),
            "trails": np.zeros((3, 2, 4, 2), np.float16), "meta_extent": np.float64(4.0),
            "meta_x_data": np.zeros((7, 2), np.float16), "meta_density_max": np.float64(0.3)}


def _zip_of(files: dict[str, bytes], method=None) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method or zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def test_a_run_zip_unpacks_to_the_same_run_and_hostile_zips_are_refused(tmp_path):
    import zipfile

    path, tr, cfg = trained(tmp_path)
    recording = recorded()
    checkpoint.save_run(path, tr.eval_model, cfg, [], trainer=tr, recording=recording)
    data = checkpoint.zip_run(path)
    folder, cfg2 = checkpoint.unzip_run(data, tmp_path / "in")
    assert cfg2 == cfg and checkpoint.has_trainer(folder)
    back = checkpoint.read_recording(folder)
    assert back.keys() == recording.keys() and all(np.array_equal(back[k], v, equal_nan=True)
                                                   for k, v in recording.items())
    b = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    checkpoint.load_trainer(folder, b, cfg)
    assert b.step_count == tr.step_count and torch.equal(b.buffer.x, tr.buffer.x)

    files = {f"run/{n}": (path / n).read_bytes() for n in checkpoint.RUN_FILES}
    config_json = json.loads(files["run/config.json"])
    config_json["config"]["train"]["lr"] = 50.0
    narrow = config.RunConfig().replace(width=8, n_steps=3, batch_size=32, buffer_size=128, dataset="rings")
    other = train2d.make_trainer_2d(narrow, device=torch.device("cpu"))
    other_path = checkpoint.save_run(tmp_path / "other", other.eval_model, narrow, [], trainer=other)
    other_trainer = (other_path / checkpoint.TRAINER_FILE).read_bytes()

    def bad_recording(**change) -> bytes:
        checkpoint.save_recording(tmp_path, {**recording, **change})
        return (tmp_path / checkpoint.RECORDING_FILE).read_bytes()

    hostile = {
        "not a zip": (pickle.dumps({"w": Boom()}), "not a zip"),
        "truncated": (data[: len(data) // 2], "not a zip|damaged"),
        "another file": (_zip_of({**files, "run/evil.py": b"print(1)"}), "evil.py"),
        "a path out": (_zip_of({"../../model.safetensors": files["run/model.safetensors"]}), "holds"),
        "no weights": (_zip_of({"run/config.json": files["run/config.json"]}), "no model.safetensors"),
        "bad setting": (_zip_of({**files, "run/config.json": json.dumps(config_json).encode()}), "lr"),
        "wrong shapes": (_zip_of({**files, "run/trainer.safetensors": other_trainer}), "does not fit|shapes"),
        "a pickled recording": (_zip_of({**files, "run/recording.safetensors": pickle.dumps({"w": Boom()})}),
                                "not a safetensors file of a recording"),
        "steps back": (_zip_of({**files, "run/recording.safetensors": bad_recording(step=np.array([0, 20, 10]))}),
                       "not increasing"),
        "an infinite landscape": (_zip_of({**files, "run/recording.safetensors": bad_recording(
            energy=np.full((3, 8, 8), np.inf, np.float16))}), "not finite"),
        "an odd entry": (_zip_of({**files, "run/recording.safetensors": bad_recording(script=np.zeros(3))}),
                         "unexpected: script"),
        "a zip bomb": (_zip_of({**files, "run/trainer.safetensors": bytes(300 * 2**20)}, zipfile.ZIP_DEFLATED),
                       "more than 128 MB"),
    }
    for name, (blob, words) in hostile.items():
        dest = tmp_path / name.replace(" ", "_")
        with pytest.raises(checkpoint.NotARunError, match=words):
            checkpoint.unzip_run(blob, dest)
        assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "model.safetensors").exists() and not tmp_path.parent.joinpath("model.safetensors").exists()
    assert len(hostile["a zip bomb"][0]) < 2 * 2**20  # small on the wire, huge unpacked


def test_a_live_runs_saved_state_becomes_a_run_folder_that_goes_on(tmp_path):
    from ebm_core.live import saved

    cfg = config.RunConfig().replace(width=16, n_steps=3, batch_size=32, buffer_size=128, dataset="rings")
    tr = train2d.make_trainer_2d(cfg, device=torch.device("cpu"))
    list(tr.run(6))
    history = {"step": [1.0, 2.0], "time": [0.1, 0.2], "loss": [0.5, 0.4], "e_pos": [0.0, 0.0], "e_neg": [0.0, 0.0],
               "gap": [0.0, 0.0], "grad_norm": [1.0, 1.0], "acceptance": [1.0, 1.0]}
    saved.write(tmp_path / "s.pt", "toy2d", config.flat(cfg), tr.state(), history, {}, 1.0, recording=recorded())
    folder = saved.to_run_folder(saved.read(tmp_path / "s.pt", "toy2d"), config.RunConfig, tmp_path / "f")
    assert checkpoint.read_recording(folder)["step"].tolist() == [0, 10, 20]  # the download carries the recording
    model, cfg2 = checkpoint.load_run(folder)
    assert cfg2 == cfg
    x = torch.randn(16, 2)
    assert torch.equal(model(x), tr.eval_model(x).detach())  # the evaluated (EMA) weights
    assert [r["loss"] for r in checkpoint.read_metrics(folder)] == ["0.5", "0.4"]
    b = train2d.make_trainer_2d(cfg.replace(seed=3), device=torch.device("cpu"))
    checkpoint.load_trainer(folder, b, cfg)
    assert b.step_count == 6 and torch.equal(b.buffer.x, tr.buffer.x)
    assert all(torch.equal(p, q) for p, q in zip(b.model.parameters(), tr.model.parameters()))
