"""The headless CLI trains, writes a loadable run folder and reports exact KL and NLL."""

import subprocess
import sys

import torch
from conftest import ROOT

from ebm_core import checkpoint


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ebm_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_train_writes_run_folder_and_prints_kl(tmp_path):
    out = tmp_path / "run"
    r = run_cli("train", "--dataset", "eight_gaussians", "--steps", "60", "--seed", "3", "--out", str(out),
                "--width", "32", "--no_progress", "--eval_every", "30")
    assert r.returncode == 0, r.stderr
    assert "KL(data || model)" in r.stdout and "test NLL" in r.stdout
    model, cfg = checkpoint.load_run(out)
    assert cfg.train.seed == 3 and cfg.model.width == 32
    rows = checkpoint.read_metrics(out)
    assert len(rows) == 60 and rows[29]["kl"] != ""


def test_help_documents_every_flag_and_bad_values_fail_cleanly(tmp_path):
    h = run_cli("train", "--help")
    for flag in ("--dataset", "--steps", "--seconds", "--seed", "--out", "--step_size", "--method", "--ema"):
        assert flag in h.stdout
    bad = run_cli("train", "--out", str(tmp_path / "x"), "--step_size", "-3")
    assert bad.returncode == 2 and "step_size" in bad.stderr and "Traceback" not in bad.stderr


def test_seconds_budget(tmp_path):
    r = run_cli("train", "--seconds", "2", "--out", str(tmp_path / "s"), "--no_progress", "--width", "16")
    assert r.returncode == 0, r.stderr
    assert len(checkpoint.read_metrics(tmp_path / "s")) > 5


def test_train_on_your_own_points_from_a_csv(tmp_path):
    import numpy as np

    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    csv = tmp_path / "ring.csv"
    csv.write_text("x,y\n" + "\n".join(f"{np.cos(a):.4f},{np.sin(a):.4f}" for a in t))
    r = run_cli("train", "--dataset", "custom", "--points", str(csv), "--steps", "30", "--out", str(tmp_path / "c"),
                "--width", "16", "--no_progress", "--eval_every", "30")
    assert r.returncode == 0, r.stderr
    assert "KL(data || model)" in r.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,oops\n")
    r = run_cli("train", "--dataset", "custom", "--points", str(bad), "--out", str(tmp_path / "b"))
    assert r.returncode == 2 and "oops" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("train", "--dataset", "custom", "--out", str(tmp_path / "n"))
    assert r.returncode == 2 and "--points" in r.stderr


def test_odd_budgets_and_an_endless_points_file_are_refused_with_a_message(tmp_path):
    for flags, word in ((("--eval_every", "0"), "--eval_every"), (("--eval_every", "-1"), "--eval_every"),
                        (("--seconds", "nan"), "--seconds"), (("--seconds", "-2"), "--seconds"),
                        (("--steps", "0"), "--steps")):
        r = run_cli("train", "--out", str(tmp_path / "x"), "--no_progress", *flags)
        assert r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr, (flags, r.stderr)
    r = run_cli("train", "--dataset", "custom", "--points", "/dev/zero", "--out", str(tmp_path / "z"))
    assert r.returncode == 2 and "larger than 10 MB" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()  # nothing written


def test_an_outlier_row_is_dropped_and_counted_and_the_ring_is_learned(tmp_path):
    import json

    import numpy as np

    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    csv = tmp_path / "ring_and_one.csv"
    csv.write_text("x,y\n" + "\n".join(f"{np.cos(a):.4f},{np.sin(a):.4f}" for a in t) + "\n1e30,1e30\n")
    r = run_cli("train", "--dataset", "custom", "--points", str(csv), "--steps", "5", "--out", str(tmp_path / "o"),
                "--width", "16", "--no_progress")
    assert r.returncode == 0, r.stderr
    assert "dropped 1 outlier point(s)" in r.stderr
    final = json.loads((tmp_path / "o" / "config.json").read_text())["final"]
    assert final["data_entropy"] > 1.5  # a ring filling the box, not the two dots that one far row made


def test_digits_train_then_sample_from_noise(tmp_path):
    import json

    import numpy as np

    from ebm_core.image_train import energy_of

    out = tmp_path / "digits"
    r = run_cli("train", "--dataset", "digits", "--steps", "150", "--seed", "2", "--out", str(out), "--no_progress",
                "--eval_every", "50")
    assert r.returncode == 0, r.stderr
    assert "recognised by the reference classifier" in r.stdout
    model, cfg = checkpoint.load_run(out)
    assert cfg.data.dataset == "digits" and cfg.train.seed == 2 and cfg.sampler.step_size == 10.0  # the Images recipe
    final = json.loads((out / "config.json").read_text())["final"]
    assert final["steps"] == 150 and final["fresh_steps"] == 200 and 0 <= final["fresh_recognised"] <= 1
    assert len(checkpoint.read_metrics(out)) == 150
    rec = checkpoint.read_recording(out)  # the negatives every 10 updates, as the Images page records them
    assert rec["step"].tolist() == list(range(10, 151, 10)) and rec["negatives"].shape[1:] == (64, 8, 8)
    r = run_cli("export", str(out), "--format", "gif", "--out", str(tmp_path / "d.gif"))
    assert r.returncode == 0, r.stderr
    from PIL import Image

    with Image.open(tmp_path / "d.gif") as im:
        assert im.n_frames == 15 and im.size[0] >= 400  # one frame per recorded step, the grid enlarged
    npy = tmp_path / "s.npy"
    r = run_cli("sample", str(out), "--n", "64", "--steps", "60", "--seed", "1", "--out", str(npy))
    assert r.returncode == 0, r.stderr
    x = np.load(npy)
    assert x.shape == (64, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    again = tmp_path / "again.npy"
    assert run_cli("sample", str(out), "--n", "64", "--steps", "60", "--seed", "1", "--out", str(again)).returncode == 0
    assert np.array_equal(np.load(again), x)  # the seed fixes the chains
    noise = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    # the chains went downhill from the noise they started at, to energies near the data's
    e_chains, e_noise = energy_of(model, torch.from_numpy(x)).mean(), energy_of(model, noise).mean()
    assert e_chains < e_noise


def test_2d_sample_draws_from_the_trained_model_and_bad_runs_are_refused(tmp_path):
    import numpy as np

    from ebm_core import toy2d

    out = tmp_path / "g"
    r = run_cli("train", "--dataset", "eight_gaussians", "--steps", "400", "--out", str(out), "--no_progress",
                "--eval_every", "400")
    assert r.returncode == 0, r.stderr
    npy = tmp_path / "p.npy"
    r = run_cli("sample", str(out), "--n", "2000", "--out", str(npy))
    assert r.returncode == 0, r.stderr
    x = torch.from_numpy(np.load(npy))
    assert x.shape == (2000, 2)
    u = (torch.rand(2000, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1) * toy2d.extent("eight_gaussians")
    # the chains sit where the data is: far more log-density than uniform starts
    assert toy2d.log_density("eight_gaussians", x).mean() > toy2d.log_density("eight_gaussians", u).mean() + 3
    (out / "model.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    r = run_cli("sample", str(out), "--out", str(tmp_path / "x.npy"))
    assert r.returncode == 2 and "safetensors" in r.stderr and "Traceback" not in r.stderr
    for flags in (("--n", "0"), ("--steps", "0")):
        r = run_cli("sample", str(out), *flags, "--out", str(tmp_path / "x.npy"))
        assert r.returncode == 2 and flags[0] in r.stderr
    assert not (tmp_path / "x.npy").exists()


def test_train_records_its_history_and_export_draws_it_in_every_format(tmp_path, capsys):
    """A run of 1000 updates records 101 frames; its GIF (10 s at 10 frames a second, the Playground's
    size and layers) stays under 5 MB, the HTML player loads nothing, and odd requests get a message."""
    import io
    import re

    import numpy as np
    from PIL import Image

    out = tmp_path / "run"
    r = run_cli("train", "--dataset", "eight_gaussians", "--steps", "1000", "--out", str(out), "--no_progress",
                "--eval_every", "1000", "--width", "64")
    assert r.returncode == 0, r.stderr
    rec = checkpoint.read_recording(out)
    assert rec["step"].tolist() == list(range(0, 1001, 10)) and rec["energy"].shape == (101, 64, 64)
    assert np.isfinite(rec["trails"][1:].astype(np.float32)).all()  # each recorded update kept its chains
    # the landscape learnt: the last frame's energy is lower at the data than around it
    assert rec["energy"][-1][32, 32] > rec["energy"][-1].min() + 2  # the empty centre of the eight modes
    from ebm_core.__main__ import main  # the exports in this process: no interpreter to start each time

    def export(*flags):
        return main(["export", str(out), *flags])

    files = {}
    for fmt, flags in (("gif", ("--layers", "data,negatives,trails,field")), ("mp4", ("--frames", "20")),
                       ("html", ("--frames", "20", "--view", "density")), ("png", ("--layers", "data"))):
        files[fmt] = tmp_path / f"train.{fmt}"
        assert export("--format", fmt, "--out", str(files[fmt]), *flags) == 0
        assert "written to" in capsys.readouterr().out
    with Image.open(files["gif"]) as im:
        assert im.n_frames == 100 and im.info["duration"] == 100
    assert files["gif"].stat().st_size < 5 * 2**20, files["gif"].stat().st_size
    assert files["mp4"].read_bytes()[4:8] == b"ftyp"
    page = files["html"].read_text()
    assert page.count("data:image/png;base64,") == 20 and "step 1,000" in page
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:)?//", page)
    with Image.open(io.BytesIO(files["png"].read_bytes())) as im:
        assert im.size[0] == 480
    for flags, code, words in ((("--layers", "data,bogus"), 2, "unknown layer"), (("--fps", "0"), 2, "--fps")):
        assert export("--format", "gif", "--out", str(tmp_path / "x.gif"), *flags) == code
        assert words in capsys.readouterr().err
    (out / checkpoint.RECORDING_FILE).unlink()
    assert export("--format", "gif", "--out", str(tmp_path / "x.gif")) == 1
    assert "no recorded training" in capsys.readouterr().err
    assert not (tmp_path / "x.gif").exists()
