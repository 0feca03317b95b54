"""The recording of a live run stays within its budget however long the run, keeps frames spread
over the whole run and states where training can roll back to, and a live run rewinds through it."""

import numpy as np
import torch

from ebm_core import config
from ebm_core.live import LiveRun
from ebm_core.live.recording import Recording, _nbytes
from ebm_core.train2d import make_trainer_2d


def test_a_20_minute_run_stays_within_its_memory_budget_and_spans_the_whole_run():
    trainer = make_trainer_2d(config.RunConfig(), device=torch.device("cpu"))
    list(trainer.run(2))
    state = trainer.state()  # the default 2D run's: weights, EMA, Adam's moments, an 8192-chain buffer
    frame = {"energy": np.zeros((64, 64), np.float16), "log_z_display": 0.0, "x_neg": np.zeros((256, 2), np.float16)}
    rec = Recording()
    last = 20 * 60 * 100  # 20 minutes at 100 updates a second
    for step in range(last + 1):
        if rec.due(step):
            rec.add(step, dict(frame), state if rec.keeps_state(step) else None)
    assert len(rec.frames) <= rec.max_frames and rec.steps[0] == 0 and rec.steps[-1] > last - rec.spacing
    gaps = np.diff(rec.steps)
    assert gaps.max() == gaps.min() == rec.spacing  # evenly spread over the run
    assert set(rec.kept) <= set(rec.steps) and 5 <= len(rec.kept) <= rec.max_frames // rec.state_every + 1
    assert rec.nbytes < 6 * 2**20, rec.nbytes  # the budget the module states
    assert rec.nbytes == len(rec.frames) * _nbytes(frame) + len(rec.kept) * _nbytes(state)
    rec.truncate(rec.kept[2])
    assert rec.steps[-1] == rec.kept[-1] == rec.kept[2]


def test_a_paused_run_shows_a_recorded_step_and_rolls_back_to_a_kept_one():
    cfg = config.RunConfig().replace(width=32, n_steps=5, batch_size=64, buffer_size=512)
    run = LiveRun(cfg, max_fps=50, diag_every_s=0.2).start()
    try:
        first = run.wait_for(lambda s: s.status == "paused" and s.recorded == (0,))
        run.step_once(420)
        s = run.wait_for(lambda s: s.step == 420 and s.status == "paused")
        assert s.recorded[:3] == (0, 10, 20) and s.recorded[-1] == 420 and s.kept == (0, 200, 400)
        step, frame = run.request_frame(0).wait()
        assert step == 0 and frame["energy"].shape == first.energy.shape
        shown = frame["energy"].astype(np.float32)
        np.testing.assert_allclose(shown, first.energy, rtol=2e-3, atol=2e-3)  # the landscape as shown then
        assert run.request_frame(15).wait() is None  # not a recorded step
        run.rewind_to(200)
        s = run.wait_for(lambda s: s.step == 200 and "Rolled back to step 200" in s.message)
        assert s.recorded[-1] == 200 and s.kept == (0, 200) and s.history["step"][-1] == 200
        run.step_once(5)
        assert run.wait_for(lambda s: s.step == 205).status == "paused"  # and training goes on from there
    finally:
        run.request_stop()
        run.thread.join(10)


def test_frames_with_other_sizes_travel_as_padded_arrays_and_come_back_whole():
    rec = Recording()
    rec.meta = {"extent": np.float64(4.0), "x_data": np.ones((3, 2), np.float16)}
    for step, n, k in ((0, 256, 21), (10, 64, 21), (20, 128, 6)):  # batch size and chain length changed live
        rec.add(step, {"energy": np.full((4, 4), step, np.float16), "log_z_display": np.float64(step / 10),
                       "x_neg": np.arange(2 * n, dtype=np.float16).reshape(n, 2),
                       "trails": np.ones((8, k, 2), np.float16)})
    arrays = rec.stacked()
    assert arrays["step"].tolist() == [0, 10, 20] and arrays["x_neg"].shape == (3, 256, 2)
    assert np.isnan(arrays["x_neg"][1, 64:]).all() and arrays["trails"].shape == (3, 8, 21, 2)
    back = Recording()
    back.add_stacked(arrays)
    assert back.steps == rec.steps and back.meta["extent"] == 4.0
    for step in rec.steps:
        for key in ("energy", "x_neg"):
            assert np.array_equal(back.frames[step][key], rec.frames[step][key])
    assert back.frames[20]["trails"].shape == (8, 21, 2)  # chains keep their padding: drawing skips NaN points
    assert np.isfinite(back.frames[20]["trails"][:, :6]).all() and np.isnan(back.frames[20]["trails"][:, 6:]).all()
    one = Recording()  # a run saved at step 0: no negatives yet
    one.add(0, {"energy": np.zeros((4, 4), np.float16), "x_neg": np.zeros((0, 2), np.float16),
                "trails": np.zeros((0, 0, 2), np.float16)})
    again = Recording()
    again.add_stacked(one.stacked())
    assert again.steps == (0,) and again.frames[0]["x_neg"].shape == (0, 2)
    sparse = Recording()
    sparse.add_stacked({"step": np.arange(0, 4000, 40), "energy": np.zeros((100, 4, 4), np.float16)})
    assert sparse.spacing == 40 and not sparse.due(50) and sparse.due(4000)  # goes on at the spacing it had


def test_a_run_records_its_chains_and_a_resumed_run_keeps_its_recording(tmp_path):
    cfg = config.RunConfig().replace(width=32, n_steps=5, batch_size=64, buffer_size=512)
    path = tmp_path / "run.pt"
    run = LiveRun(cfg, max_fps=50, diag_every_s=0.2, save_path=str(path)).start()
    try:
        run.wait_for(lambda s: s.status == "paused")
        run.step_once(50)
        run.wait_for(lambda s: s.step == 50 and s.status == "paused")
        arrays = run.request_recording().wait()
    finally:
        run.request_stop()
        run.thread.join(10)
    assert arrays["step"].tolist() == [0, 10, 20, 30, 40, 50]
    assert arrays["trails"].shape[1:] == (8, 6, 2)  # every recorded update kept 8 chains' 5 steps and start
    assert np.isfinite(arrays["trails"][1:]).all() and float(arrays["meta_extent"]) > 0
    # each trail ends where one of that update's negatives is
    ends, x_neg = arrays["trails"][3][:, -1].astype(np.float32), arrays["x_neg"][3].astype(np.float32)
    assert all(np.abs(x_neg - e).sum(axis=1).min() < 1e-2 for e in ends)
    again = LiveRun(cfg, max_fps=50, diag_every_s=0.2, save_path=str(path), resume_from=str(path)).start()
    try:
        s = again.wait_for(lambda s: s.step == 50 and s.status == "paused")
        assert s.recorded == (0, 10, 20, 30, 40, 50)  # rewinding reaches back before the restart
        step, frame = again.request_frame(20).wait()
        assert np.array_equal(frame["energy"], arrays["energy"][2])
    finally:
        again.request_stop()
        again.thread.join(10)


def test_kept_states_stay_within_their_budget_whatever_their_size():
    from ebm_core.live.recording import STATE_BUDGET, state_every_for

    frame = {"negatives": np.zeros((64, 8, 8), np.uint8)}
    for state_bytes in (340_000, 828_208, 3_000_000, 8_436_800):  # 2D, digits, larger, MNIST's image run
        state = {"buffer": torch.zeros(state_bytes // 4)}
        rec = Recording(state_every=state_every_for(state_bytes))
        for step in range(0, 120_001):
            if rec.due(step):
                rec.add(step, frame, state if rec.keeps_state(step) else None)
        kept = sum(_nbytes(s) for s in rec.states.values())
        assert kept <= STATE_BUDGET, (state_bytes, len(rec.states))
        assert len(rec.states) >= 2 or state_bytes * 3 > STATE_BUDGET  # roll back is offered wherever it fits


def test_the_recording_is_saved_seldom_while_training_and_whole_once_paused(tmp_path):
    """A class of 30 saving 2 MB of recording every 3 s would write 20 MB a second: while training the
    state is saved every few seconds and the recording beside it only every 30 s; a pause saves both."""
    import time

    from ebm_core.live import saved

    cfg = config.RunConfig().replace(width=32, n_steps=5, batch_size=64, buffer_size=512)
    path = tmp_path / "run.pt"
    run = LiveRun(cfg, max_fps=50, diag_every_s=0.2, save_path=str(path)).start()
    try:
        run.wait_for(lambda s: s.status == "paused")
        deadline = time.time() + 30
        while not (saved.recording_path(path).exists() and path.exists()) and time.time() < deadline:
            time.sleep(0.1)  # the first save (the recording's file is written just before the state's)
        first = saved.recording_path(path).stat().st_mtime_ns
        state_first = path.stat().st_mtime_ns
        run.start_training()
        deadline = time.time() + 60
        while path.stat().st_mtime_ns == state_first and time.time() < deadline:  # a save while training
            time.sleep(0.2)
        assert path.stat().st_mtime_ns != state_first
        assert saved.recording_path(path).stat().st_mtime_ns == first  # not the recording yet
        run.pause()
        s = run.wait_for(lambda s: s.status == "paused" and s.step > 20)
        deadline = time.time() + 30
        def saved_steps() -> list[int]:
            data = saved.read(path, "toy2d")
            return [] if data is None or not data["recording"] else data["recording"]["step"].tolist()

        while saved_steps() != list(s.recorded):  # every frame recorded until the pause
            assert time.time() < deadline, f"the paused run's recording was not saved whole: {saved_steps()}"
            time.sleep(0.2)
        assert len(s.recorded) >= 3
    finally:
        run.request_stop()
        run.thread.join(10)
