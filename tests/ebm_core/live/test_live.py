"""The live run: commands reach the thread, snapshots are consistent, the divergence guard pauses,
explains and rolls back, and stopping frees the thread."""

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from ebm_core import config, density
from ebm_core.figures import playground as figures
from ebm_core.live import LiveRun

SMALL = dict(width=32, n_steps=5, batch_size=64, buffer_size=512)


@pytest.fixture
def run():
    r = LiveRun(config.RunConfig().replace(**SMALL), max_fps=50, diag_every_s=0.2).start()
    yield r
    r.request_stop()
    r.thread.join(10)
    assert left(r)


def left(r) -> bool:
    """The run's worker has left its training process (which may go on with other runs)."""
    return not r.thread.is_alive() and r not in r._in.runs


def test_starts_paused_with_an_untrained_landscape_and_exact_numbers(run):
    s = run.wait_for(lambda s: s.status == "paused" and s.diagnostics is not None)  # the landscape comes first
    assert s.step == 0 and s.energy.shape == (64, 64) and s.energy.dtype == np.float32
    assert s.diagnostics is not None and s.diagnostics.kl > 0.5
    grid, vmin, vmax = figures.view_grid(s, "density")
    mass = grid.sum() * (2 * s.extent / 64) ** 2
    assert abs(mass - (1 - s.diagnostics.mass_outside)) < 0.01  # normalised over the plane, box shown


def test_step_play_pause(run):
    run.wait_for(lambda s: s.status == "paused")
    run.step_once(3)
    s = run.wait_for(lambda s: s.step == 3)
    assert s.trails.shape == (8, 6, 2)  # the last update's chains: start + 5 Langevin steps
    run.play()
    s = run.wait_for(lambda s: s.step > 20 and s.status == "running")
    run.pause()
    s = run.wait_for(lambda s: s.status == "paused")
    time.sleep(0.5)
    frozen = run.wait_for(lambda x: x.seq > s.seq)
    time.sleep(0.5)
    assert run.wait_for(lambda x: x.seq > frozen.seq).step == frozen.step
    s = frozen
    assert len(s.history["step"]) == s.step and s.history["step"][-1] == s.step


def test_live_settings_reach_the_thread_without_reset(run):
    run.wait_for(lambda s: s.status == "paused")
    run.step_once(2)
    run.wait_for(lambda s: s.step == 2)
    run.update(config.RunConfig().replace(**SMALL, step_size=0.0234, sampler="mala", lr=1e-4))
    run.step_once(1)
    s = run.wait_for(lambda s: s.step == 3)
    assert s.config.sampler.step_size == 0.0234 and s.config.sampler.sampler == "mala"
    assert s.config.train.lr == 1e-4
    assert 0 < s.history["acceptance"][-1] <= 1


def test_divergence_pauses_explains_and_rolls_back(run):
    run.wait_for(lambda s: s.status == "paused")
    run.play()
    assert run.running  # the click counts at once, before the worker has read it
    run.wait_for(lambda s: s.step >= 60)
    run.update(config.RunConfig().replace(**SMALL, step_size=3.0))  # far beyond the wall's stable step
    s = run.wait_for(lambda s: s.status == "diverged")
    assert "step size" in s.message and "exploded" in s.message
    assert not run.running  # the worker paused itself, after the last click: the page shows Train
    good = s.rollback_step
    assert good >= 50 and s.can_rollback
    run.update(config.RunConfig().replace(**SMALL))
    run.rollback()
    assert run.unanswered() in ("rollback", None)  # None once the worker has answered
    s = run.wait_for(lambda s: "Rolled back" in s.message)
    run.wait_for(lambda s: s.ack >= run._intent_seq)
    assert run.unanswered() is None
    assert s.step == good and s.status == "paused" and s.history["step"][-1] == good and not run.running
    run.play()
    assert run.running  # the snapshot still says "paused" (it came before the click); the click wins
    run.wait_for(lambda s: s.step > good + 5 and s.status == "running")
    assert run.running
    run.pause()
    assert not run.running
    run.wait_for(lambda s: s.status == "paused" and s.ack >= run._intent_seq)
    assert not run.running


def test_copy_model_returns_the_evaluated_weights(run):
    s = run.wait_for(lambda s: s.status == "paused")
    model = run.copy_model()

    e = density.evaluate(model, density.make_grid(s.extent, 64).points).view(64, 64).float().numpy()
    assert np.allclose(e, s.energy, atol=1e-4)


def test_the_worker_trains_at_the_lowest_priority_so_the_server_answers_clicks_first(run):
    import os

    run.wait_for(lambda s: s.status == "paused")
    assert os.getpriority(os.PRIO_PROCESS, run.process.pid) == 19
    assert os.getpriority(os.PRIO_PROCESS, 0) < 19  # the server's own process is not lowered


def test_stop_takes_the_run_out_of_its_training_process(run):
    run.wait_for(lambda s: s.status == "paused")
    run.play()
    run.wait_for(lambda s: s.step > 5)
    run.request_stop()
    run.thread.join(10)
    assert left(run) and not run.dead


def test_gradient_field_is_built_only_when_asked_and_a_paused_grid_is_current(run):
    s = run.wait_for(lambda s: s.status == "paused")
    assert s.field.shape == (0, 4)  # nobody asked: the worker skips it
    run.need("field")
    s = run.wait_for(lambda s: len(s.field) > 0)
    assert s.field.shape == (225, 4) and np.isfinite(s.field).all()
    before = s.energy
    run.step_once(5)
    s = run.wait_for(lambda s: s.step == 5 and s.status == "paused")
    s = run.wait_for(lambda x: x.seq > s.seq)
    assert not np.array_equal(s.energy, before)  # a paused run shows the landscape of its last step
    model = run.copy_model()
    grid = density.make_grid(s.extent, 64)
    e = density.evaluate(model, grid.points).view(64, 64).numpy()
    np.testing.assert_allclose(s.energy, e, rtol=1e-4, atol=1e-4)


def test_a_run_on_your_own_points_has_an_exact_data_density():
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    points = np.stack([np.cos(t), np.sin(t)], 1) * 2.0  # a circle
    r = LiveRun(config.RunConfig().replace(dataset="custom", **SMALL), points=points, diag_every_s=0.2).start()
    try:
        s = r.wait_for(lambda s: s.status == "paused" and s.diagnostics is not None)
        assert s.extent == 4.0
        radius = np.linalg.norm(s.x_data, axis=1)
        assert abs(np.median(radius) - 2.0) < 0.15  # the points stay where they were drawn
        assert s.diagnostics.kl > 0.5 and np.isfinite(s.data_entropy)
        r.step_once(20)
        s = r.wait_for(lambda s: s.step == 20)
        assert np.isfinite(s.energy).all()
    finally:
        r.request_stop()
        r.thread.join(10)
    with pytest.raises(ValueError, match="points"):
        from ebm_core.live.toy2d import dataset_for
        dataset_for(config.RunConfig().replace(dataset="custom"), None)


def test_guard_blames_the_step_size_when_some_chains_fly_off_and_energies_blow_up():
    import torch

    from ebm_core.live.toy2d import explain_divergence
    from ebm_core.training import StepLog

    cfg = config.RunConfig().replace(step_size=1.0)
    runaway = StepLog(3, 0.0, -2e4, 5e4, 7e4, 1.0, 1.0, 0.1, True)
    x = torch.zeros(100, 2)
    assert "alpha" in explain_divergence(runaway, x, 3.0, cfg)  # chains in the box: the energies are to blame
    x[:10] = 1e3  # a tenth of the chains far out
    reason = explain_divergence(runaway, x, 3.0, cfg)
    assert "step size" in reason and "10%" in reason
    healthy = StepLog(3, 0.0, -1.0, 1.0, 2.0, 1.0, 1.0, 0.1, True)
    assert explain_divergence(healthy, torch.zeros(100, 2), 3.0, cfg) is None
    for bad in (float("nan"), float("inf")):  # one coordinate that is not a number: the chains exploded
        x = torch.zeros(100, 2)
        x[5, 1] = bad
        assert "100%" in explain_divergence(healthy, x, 3.0, cfg)


def test_every_frame_of_a_running_run_shows_its_chains(run):
    # A page that asks again as soon as it got a frame (the canvas's frame route does) must still get
    # the trails: each running snapshot comes from an update that recorded its chains.
    run.wait_for(lambda s: s.status == "paused")
    run.play()
    seen, deadline = {}, time.monotonic() + 2.0
    while time.monotonic() < deadline:
        s = run.latest()
        if s is not None and s.status == "running" and s.step > 0:
            seen[s.seq] = s.trails.size
        time.sleep(0.002)
    run.pause()
    assert len(seen) >= 10 and all(seen.values()), seen


# ----------------------------------------------------------------------------------------------
# Saved state: a killed worker is noticed, and a new one carries on from what was saved


def test_a_killed_worker_is_dead_and_its_successor_resumes_the_saved_weights_buffer_and_curves(tmp_path):
    import os
    import signal

    import torch

    from ebm_core.live import saved

    path = str(tmp_path / "run-abcdefgh.pt")
    cfg = config.RunConfig().replace(**SMALL)
    first = LiveRun(cfg, max_fps=50, diag_every_s=0.2, save_path=path).start()
    first.wait_for(lambda s: s.status == "paused")
    first.play()
    first.wait_for(lambda s: s.step > 30)
    first.pause()
    paused = first.wait_for(lambda s: s.status == "paused" and s.ack > 0)
    deadline = time.monotonic() + 10  # a pause saves at once
    while (saved.read(path, "toy2d") or {}).get("state", {}).get("step") != paused.step:
        assert time.monotonic() < deadline, "the paused run was not saved"
        time.sleep(0.05)
    data = saved.read(path, "toy2d")
    os.kill(first.process.pid, signal.SIGKILL)
    first.thread.join(5)
    assert first.dead and first.ended and not first.thread.is_alive()

    second = LiveRun(cfg, max_fps=50, diag_every_s=0.2, save_path=path, resume_from=path).start()
    try:
        s = second.wait_for(lambda s: s.step == paused.step and "Resumed at step" in s.message)
        assert s.history["step"][-1] == paused.step and len(s.history["loss"]) == len(paused.history["loss"])
        want = data["state"]["ema"] or data["state"]["model"]  # the evaluated weights: EMA when enabled
        got = second.copy_model().state_dict()
        assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
        second.step_once(2)
        assert second.wait_for(lambda s: s.step == paused.step + 2).status == "paused"
    finally:
        second.request_stop()
        second.thread.join(10)
    assert not second.dead  # asked to stop: not a death


def test_a_saved_trainer_comes_back_with_the_same_weights_optimiser_buffer_and_step(tmp_path):
    import torch

    from ebm_core.live import saved
    from ebm_core.train2d import make_trainer_2d

    cfg = config.RunConfig().replace(**SMALL)
    a = make_trainer_2d(cfg)
    list(a.run(12))
    saved.write(tmp_path / "x.pt", "toy2d", config.flat(cfg), a.state(), {"step": [1.0]}, {}, 1.5)
    data = saved.read(tmp_path / "x.pt", "toy2d")
    b = make_trainer_2d(cfg.replace(seed=99))
    b.restore(data["state"])
    assert b.step_count == 12 and torch.equal(a.buffer.x, b.buffer.x)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert config.RunConfig().replace(**data["config"]) == cfg and data["train_seconds"] == 1.5
    la, lb = a.step(), b.step()  # the same state and the same next batch size: the optimiser state came back
    assert a.opt.state_dict()["state"].keys() == b.opt.state_dict()["state"].keys() and lb.finite and la.finite


def test_a_file_that_is_not_a_saved_run_is_refused_without_unpickling(tmp_path):
    import os
    import pickle

    from ebm_core.live import saved

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"version": 1, "task": "toy2d", "x": Boom()}))
    assert saved.read(bad, "toy2d") is None and not (tmp_path / "pwned").exists()
    (tmp_path / "junk.pt").write_bytes(b"not a run at all")
    assert saved.read(tmp_path / "junk.pt", "toy2d") is None
    assert saved.read(tmp_path / "missing.pt", "toy2d") is None
    with pytest.raises(ValueError):
        saved.path_for("../../etc/passwd")


def test_a_diverged_run_keeps_its_last_healthy_state_on_disk(tmp_path):
    from ebm_core.lessons import presets
    from ebm_core.live import saved

    path = str(tmp_path / "run-diverged.pt")
    r = LiveRun(presets.apply_preset("step_too_large").replace(seed=0), max_fps=50, save_path=path).start()
    try:
        r.wait_for(lambda s: s.status == "paused")
        deadline = time.monotonic() + 10
        while saved.read(path, "toy2d") is None:  # a new run saves its step 0 once it is idle
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r.step_once(1)
        r.wait_for(lambda s: s.status == "diverged", timeout=60)
        time.sleep(0.5)  # the worker's idle loop turns a few times: it would have saved by now
        assert saved.read(path, "toy2d")["state"]["step"] == 0  # the state before the update that diverged
    finally:
        r.request_stop()
        r.thread.join(10)


def test_a_worker_starved_of_cpu_spaces_out_its_extras(monkeypatch):
    """With 30 runs on 2 cores a worker gets ~50 ms of CPU a second: the diagnostics every 2 s of
    wall-clock time (35 ms each) would take a third of it; they wait until they are at most their share."""
    from ebm_core.live import share

    diag = share.CpuShare(every_s=2.0, share=0.1)
    clock = {"cpu": 10.0, "wall": 0.0}
    monkeypatch.setattr(share.time, "process_time", lambda: clock["cpu"])
    monkeypatch.setattr(share.time, "perf_counter", lambda: clock["wall"])
    assert diag.due(0.0)  # never ran
    cpu = diag.start()
    clock["cpu"] += 0.035  # it took 35 ms of CPU
    diag.done(cpu)
    clock["cpu"] += 0.1
    assert not diag.due(now=1.0)  # too soon
    assert not diag.due(now=5.0)  # long enough ago, but only 0.1 s of CPU since: it would be a quarter of it
    clock["cpu"] += 0.035 * 9 - 0.1 + 1e-6
    assert diag.due(now=5.0)
    clock["cpu"] += 10  # a worker with a core of its own runs it by the clock alone
    assert diag.due(now=2.0) and not diag.due(now=1.9)
    with pytest.raises(ValueError, match="share"):
        share.CpuShare(1.0, 0.0)


def test_a_run_started_from_a_run_folder_goes_on_bit_for_bit(tmp_path):
    """A run folder written with its trainer (the CLI's, a ready model) starts a live run at its step,
    with its weights and curves, and its next updates are the ones the original trainer makes."""
    import torch

    from ebm_core import checkpoint, nets
    from ebm_core.train2d import make_trainer_2d

    cfg = config.RunConfig().replace(**SMALL, seed=4)
    a = make_trainer_2d(cfg, device=torch.device("cpu"))
    rows = [{"step": log.step, "time": 0.01 * log.step, "loss": log.loss, "e_pos": log.e_pos, "e_neg": log.e_neg,
             "gap": log.gap, "grad_norm": log.grad_norm, "acceptance": log.acceptance} for log in a.run(15)]
    checkpoint.save_run(tmp_path / "r", a.eval_model, cfg, rows, trainer=a)
    run = LiveRun(cfg, max_fps=50, diag_every_s=0.2, start_from={"path": str(tmp_path / "r"), "name": "my run"}).start()
    try:
        s = run.wait_for(lambda s: s.status == "paused" and "Loaded my run at step 15" in s.message)
        assert s.step == 15 and list(s.history["step"]) == list(range(1, 16))
        digest = nets.weights_digest(a.eval_model)
        assert nets.weights_digest(run.copy_model()) == digest
        run.step_once(2)
        s = run.wait_for(lambda s: s.step == 17)
        list(a.run(2))
        assert nets.weights_digest(run.copy_model()) == nets.weights_digest(a.eval_model)  # the same two updates
    finally:
        run.request_stop()
        run.thread.join(10)
    (tmp_path / "r" / checkpoint.TRAINER_FILE).unlink()  # a folder of weights only: they are taken, at step 0
    weights_only = LiveRun(cfg, max_fps=50, diag_every_s=0.2, start_from={"path": str(tmp_path / "r")}).start()
    try:
        s = weights_only.wait_for(lambda s: s.status == "paused" and "Loaded the run folder" in s.message)
        assert s.step == 0 and nets.weights_digest(weights_only.copy_model()) == digest
    finally:
        weights_only.request_stop()
        weights_only.thread.join(10)
    other = LiveRun(cfg.replace(width=16), max_fps=50, diag_every_s=0.2,
                    start_from={"path": str(tmp_path / "r"), "name": "my run"}).start()
    try:  # a folder of another network: nothing loaded, and the message says why
        s = other.wait_for(lambda s: s.status == "paused" and "could not be loaded" in s.message)
        assert "width" in s.message and s.step == 0
    finally:
        other.request_stop()
        other.thread.join(10)


def test_the_history_stitched_from_snapshots_is_the_whole_curve_and_a_shown_one_never_changes():
    from ebm_core.live import History

    rng = np.random.default_rng(0)
    h, ref, shown = History(("step", "loss")), {"step": np.zeros(0), "loss": np.zeros(0)}, []
    for i in range(400):
        start = len(ref["step"]) if i % 37 else max(0, len(ref["step"]) - int(rng.integers(0, 30)))  # a rollback
        rows = {k: rng.normal(size=int(rng.integers(0, 12))) for k in ("step",)}
        rows["loss"] = rng.normal(size=len(rows["step"]))
        ref = {k: np.concatenate([ref[k][:start], rows[k]]) for k in ref}
        got = h.add(start, rows)
        assert all(np.array_equal(got[k], ref[k]) for k in ref)
        shown.append(({k: v.copy() for k, v in got.items()}, got))
    for copy, view in shown:  # what a page was given stayed as it was, through growth and cuts
        assert all(np.array_equal(copy[k], view[k]) for k in copy)


def test_a_snapshot_leaves_out_the_parts_the_page_already_has_and_the_page_fills_them_in(run):
    run.wait_for(lambda s: s.status == "paused" and s.diagnostics is not None)
    run.play()
    got, t0 = [], time.monotonic()
    while time.monotonic() - t0 < 3 and len({id(s.energy) for s in got}) < 3:
        run.need()
        s = run.wait_for(lambda x: not got or x.seq > got[-1].seq)
        got.append(s)
    run.pause()
    for s in got:  # every snapshot the page holds is whole
        assert s.energy.shape == (64, 64) and s.x_data.shape == (512, 2) and s.config == run.cfg
        assert len(s.diag_history["step"]) >= 1
    assert len({id(s.x_data) for s in got}) == 1  # sent once: the page keeps its copy
    assert len({id(s.energy) for s in got}) >= 3  # the landscape still follows training
    s = run.wait_for(lambda x: x.status == "paused")
    model = run.copy_model()
    e = density.evaluate(model, density.make_grid(s.extent, 64).points).view(64, 64).numpy()
    np.testing.assert_allclose(run.wait_for(lambda x: x.seq > s.seq).energy, e, rtol=1e-4, atol=1e-4)


@dataclass(frozen=True)
class _Snap:
    config: object
    diag_history: dict
    energy: np.ndarray
    x_neg: np.ndarray
    STEADY: ClassVar[tuple[str, ...]] = ("energy",)


def test_what_a_snapshot_leaves_out_is_exactly_what_is_the_same_object_as_last_sent():
    import pickle
    from types import SimpleNamespace

    from ebm_core.live.worker import _Worker

    worker, cfg = SimpleNamespace(_steady={}), config.RunConfig()
    diag, grid = {"step": np.arange(3.0)}, np.ones((64, 64))
    first, same = _Worker._unchanged(worker, _Snap(cfg, diag, grid, np.zeros((256, 2))))
    assert same == () and first.energy is grid  # nothing sent before: all of it
    sent, same = _Worker._unchanged(worker, _Snap(cfg, diag, grid, np.zeros((256, 2))))
    assert same == ("config", "diag_history", "energy") and sent.energy is None and sent.x_neg is not None
    assert len(pickle.dumps(sent)) < len(pickle.dumps(first)) - 30_000
    new_grid, new_cfg = grid.copy(), cfg.replace(lr=1e-3)  # a copy of equal values is a new grid: sent
    sent, same = _Worker._unchanged(worker, _Snap(new_cfg, diag, new_grid, np.zeros((256, 2))))
    assert same == ("diag_history",) and sent.energy is new_grid and sent.config is new_cfg


def test_the_rate_is_measured_from_the_moment_training_starts_and_shown_as_pending_until_then(run):
    from ui.live_numbers import rate_text

    run.wait_for(lambda s: s.status == "paused")
    time.sleep(0.6)  # paused time must not count in the first measure
    run.play()
    first = run.wait_for(lambda s: s.status == "running")
    assert first.steps_per_s == 0 and rate_text(first) == "…"  # not measured yet: neither 0 nor a guess
    t0, s0 = time.monotonic(), first.step
    s = run.wait_for(lambda x: x.steps_per_s > 0, timeout=10)
    per_s = (s.step - s0) / (time.monotonic() - t0)
    assert 0.5 < s.steps_per_s / per_s < 2.0 and rate_text(s) == f"{s.steps_per_s:.0f}"
    run.pause()
    assert rate_text(run.wait_for(lambda x: x.status == "paused")) == "0"
