"""Training processes that step many runs in turn: runs spread over them and all advance, a run that
fails leaves without harming the others, a killed process is replaced, an idle one exits, and a run
counts only its own CPU time and never blocks on a page that does not read."""

import multiprocessing
import os
import signal
import time

import pytest

from ebm_core import config, live
from ebm_core.live import LiveRun
from ebm_core.live.pool import Pool, default_size

SMALL = dict(width=32, n_steps=5, batch_size=64, buffer_size=512)


@pytest.fixture
def pool(monkeypatch):
    """A pool of two training processes that exit 0.5 s after their last run left."""
    p = Pool(2, live._context(), live._start_without_main, idle_exit_s=0.5)
    monkeypatch.setattr(live, "_POOL", p)
    return p


def wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stop(runs) -> None:
    for r in runs:
        r.request_stop()
    for r in runs:
        r.thread.join(10)


def test_runs_spread_over_the_processes_train_in_turn_and_idle_processes_exit(pool):
    runs = [LiveRun(config.RunConfig().replace(**SMALL, seed=i), max_fps=20).start() for i in range(5)]
    try:
        pids = {r.process.pid for r in runs}
        assert len(pids) == 2 and sorted(len(p.runs) for p in pool.processes()) == [2, 3]
        for r in runs:
            r.wait_for(lambda s: s.status == "paused")
            r.play()
        for r in runs:
            r.wait_for(lambda s: s.step >= 30 and s.status == "running", timeout=60)
        steps = [r.latest().step for r in runs]
        assert min(steps) > 0.3 * max(steps), steps  # every run of a process gets its turn
    finally:
        stop(runs)
    procs = [r.process for r in runs]
    wait(lambda: not any(p.is_alive() for p in procs), timeout=15)  # no run left: they exit
    assert pool.processes() == []
    again = LiveRun(config.RunConfig().replace(**SMALL)).start()  # a new run starts a new process
    try:
        again.step_once(3)
        assert again.wait_for(lambda s: s.step == 3).status == "paused" and again.process.pid not in pids
    finally:
        stop([again])


def test_a_run_that_fails_leaves_with_its_reason_and_the_others_in_its_process_go_on(pool):
    a, b, c = (LiveRun(config.RunConfig().replace(**SMALL, seed=i)).start() for i in range(3))
    bad, good = (a, c) if a.process.pid == c.process.pid else (a, b) if a.process.pid == b.process.pid else (b, c)
    assert bad.process.pid == good.process.pid
    try:
        for r in (bad, good):
            r.wait_for(lambda s: s.status == "paused")
        good.play()
        good.wait_for(lambda s: s.step > 5)
        bad.update("not a config")  # its task fails on it, inside the training process
        bad.thread.join(15)
        assert bad.dead and "Training stopped with an error" in bad.latest().message
        before = good.latest().step
        good.wait_for(lambda s: s.step > before + 20)
        assert good.process.is_alive() and not good.ended
        broken = LiveRun("not a config").start()  # cannot even be set up; it lands beside `good`
        broken.thread.join(15)
        assert broken.dead and broken.process.pid == good.process.pid
        before = good.latest().step
        good.wait_for(lambda s: s.step > before + 20)
    finally:
        stop([a, b, c])


def test_a_killed_training_process_ends_its_runs_and_the_next_run_gets_a_new_one(pool):
    runs = [LiveRun(config.RunConfig().replace(**SMALL, seed=i)).start() for i in range(3)]
    try:
        for r in runs:
            r.wait_for(lambda s: s.status == "paused")
        victim = runs[0].process
        os.kill(victim.pid, signal.SIGKILL)
        for r in runs:
            if r.process is victim:
                r.thread.join(10)
                assert r.dead
            else:
                r.step_once(2)
                assert r.wait_for(lambda s: s.step == 2).status == "paused"  # the other process goes on
        fresh = LiveRun(config.RunConfig().replace(**SMALL)).start()
        runs.append(fresh)
        fresh.step_once(2)
        fresh.wait_for(lambda s: s.step == 2)
        assert fresh.process is not victim and len(pool.processes()) == 2
    finally:
        stop(runs)


def test_the_number_of_training_processes_is_one_per_core_or_as_configured(monkeypatch):
    monkeypatch.delenv("EBM_TRAINING_PROCESSES", raising=False)
    assert default_size(cores=2) == 2 and default_size(cores=16) == 16
    monkeypatch.setenv("EBM_TRAINING_PROCESSES", "3")
    assert default_size(cores=2) == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("EBM_TRAINING_PROCESSES", bad)
        with pytest.raises(ValueError, match="EBM_TRAINING_PROCESSES"):
            default_size()


def _worker(**opts):
    """A run's worker in this process, its page's end of the pipe, set up."""
    from ebm_core.live.worker import _Worker

    page, mine = multiprocessing.Pipe()
    kw = dict(device="cpu", display_n=64, max_fps=1000.0, diag_every_s=2.0, good_every=50, n_trails=8,
              max_train_seconds=600.0, **opts)
    w = _Worker(mine, "toy2d", config.RunConfig().replace(**SMALL), 0, kw)
    assert w.begin()
    return w, page


def read_all(page) -> list:
    """Every message waiting on the page's end of the pipe, oldest first."""
    got = []
    while page.poll():
        got.append(page.recv())
    return got


def test_a_run_counts_only_the_cpu_time_of_its_own_turns():
    w, page = _worker()
    try:
        page.send((1, ("step", 5)))
        before = w.cpu_time()
        t0 = time.process_time()
        while time.process_time() - t0 < 0.2:  # another run's work, in the same process
            pass
        assert w.cpu_time() == before
        for _ in range(5):
            w.turn()
        assert w.cpu_time() > before and w.trainer.step_count == 5
    finally:
        w.close(save=False)
        page.close()


def test_a_page_that_does_not_read_never_blocks_its_process_and_gets_the_newest_snapshot_later():
    w, page = _worker()
    try:
        page.send((1, ("play",)))
        while w._writable():  # the page reads nothing: its pipe fills up with snapshots
            page.send((1, ("want",)))
            w.turn()
        t0 = time.monotonic()
        for _ in range(20):
            page.send((1, ("want",)))
            w.turn()  # would block on a full pipe
        assert time.monotonic() - t0 < 5 and w._owed
        stepped = w.trainer.step_count
        snap, _ = read_all(page)[-1][1]  # the page catches up (a snapshot, what it left out)
        assert snap.step < stepped
        w.turn()
        assert not w._owed and page.recv()[1][0].step == stepped + 1  # the owed snapshot, current
    finally:
        w.close(save=False)
        page.close()


def test_a_watched_run_publishes_at_its_frame_rate_on_average_however_its_updates_fall():
    """A crowded process lowers its runs' frame rate (CROWD_FPS); frames are counted out on average,
    so a run whose updates do not divide the interval still gets its rate, not every other update."""
    w, page = _worker()
    try:
        page.send((1, ("play",)))
        w.turn()
        read_all(page)
        step = w.trainer.step

        def slow_step(**kw):  # 0.21 s an update: a least interval of 1/3 s would show every other one
            time.sleep(0.21)
            return step(**kw)

        w.trainer.step, w.crowded = slow_step, True  # CROWD_FPS: 3 a second
        frames, updates, t0 = 0, w.trainer.step_count, time.monotonic()
        while time.monotonic() - t0 < 3.0:
            page.send((1, ("want",)))
            w.turn()
            frames += sum(kind == "snap" for kind, _ in read_all(page))
        updates, elapsed = w.trainer.step_count - updates, time.monotonic() - t0
        assert frames <= 3 * elapsed + 1.5, (frames, elapsed)  # at most 3 a second
        assert frames > updates / 2 + 1, (frames, updates)  # more than every other update (about 9 of 14)
    finally:
        w.close(save=False)
        page.close()


def test_runs_of_one_process_share_its_cpu_time_not_its_updates():
    """A run whose update costs several of another's (an image run beside 2D runs) makes fewer
    updates instead of taking the others' time; a run that starts training later joins at par."""
    from ebm_core.live.worker import Rounds

    light, lp = _worker()
    heavy, hp = _worker()
    late, tp = _worker()
    pages = (lp, hp, tp)
    try:
        step = heavy.trainer.step

        def heavy_step(**kw):  # its update costs about 40 ms more CPU
            t0 = time.process_time()
            while time.process_time() - t0 < 0.04:
                pass
            return step(**kw)

        heavy.trainer.step = heavy_step
        lp.send((1, ("play",)))
        hp.send((1, ("play",)))
        workers, rounds = [light, heavy, late], Rounds()
        cpu0 = {id(w): w.cpu_time() for w in workers}
        steps0 = {id(w): w.trainer.step_count for w in workers}
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            rounds.play(workers)
            for p in pages:
                read_all(p)
        cpu = {id(w): w.cpu_time() - cpu0[id(w)] for w in workers}
        assert 0.7 < cpu[id(light)] / cpu[id(heavy)] < 1.4, cpu  # the same CPU time
        assert light.trainer.step_count - steps0[id(light)] > 3 * (heavy.trainer.step_count - steps0[id(heavy)])
        tp.send((1, ("play",)))  # starts training now, with no CPU time to catch up on
        t0, before = time.monotonic(), {id(w): w.trainer.step_count for w in workers}
        while time.monotonic() - t0 < 1.0:
            rounds.play(workers)
            for p in pages:
                read_all(p)
        made = {id(w): w.trainer.step_count - before[id(w)] for w in workers}
        assert made[id(heavy)] > 0 and made[id(light)] > 0.5 * made[id(late)], made  # nobody starves
    finally:
        for w, p in zip((light, heavy, late), pages):
            w.close(save=False)
            p.close()


def test_runs_that_start_training_together_start_equal_whatever_they_had_before():
    """A run that trained for ten minutes an hour ago and a new one, both pressing Train in the same
    round: neither waits for the other to catch up."""
    from ebm_core.live.worker import Rounds

    class Run:
        def __init__(self, vtime: float):
            self.vtime, self.busy, self.may_update, self.crowded, self.updates = vtime, False, True, False, 0

        def turn(self) -> bool:
            self.busy = True  # Train was pressed
            if self.may_update:
                self.vtime += 0.01  # one update
                self.updates += 1
            return True

    old, new, rounds = Run(600.0), Run(0.1), Rounds()
    for _ in range(100):
        rounds.play([old, new])
    assert old.updates > 40 and new.updates > 40, (old.updates, new.updates)
