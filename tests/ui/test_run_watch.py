"""The run watcher (ui/run_watch.reap): no run outlives its session, and runs nobody looks at are given back."""

from dataclasses import dataclass, field

from ui import run_watch


@dataclass
class FakeRun:
    owner: str | None
    running: bool = True
    watched_at: float = 0.0
    stops: list = field(default_factory=list)

    def request_stop(self):
        self.stops.append(True)


def test_a_run_whose_session_is_gone_is_stopped_after_the_grace_period_only():
    mine, orphan, ownerless = FakeRun("alive"), FakeRun("gone"), FakeRun(None)
    active = {"alive"}.__contains__
    since: dict = {}
    runs = [mine, orphan, ownerless]
    assert run_watch.reap(runs, active, since, now=100.0, grace=30, idle=1e9) == []  # just noticed
    assert run_watch.reap(runs, active, since, now=129.0, grace=30, idle=1e9) == []
    assert run_watch.reap(runs, active, since, now=130.5, grace=30, idle=1e9) == [orphan]
    assert orphan.stops and not mine.stops and not ownerless.stops


def test_a_session_that_comes_back_in_time_keeps_its_run():
    run = FakeRun("s")
    since: dict = {}
    run_watch.reap([run], lambda s: False, since, now=0.0, grace=30, idle=1e9)
    run_watch.reap([run], lambda s: True, since, now=20.0, grace=30, idle=1e9)  # reconnected
    assert run_watch.reap([run], lambda s: False, since, now=40.0, grace=30, idle=1e9) == []  # the clock restarted
    assert not run.stops


def test_a_paused_run_nobody_watches_is_given_back_but_a_training_one_is_not():
    paused = FakeRun("s", running=False, watched_at=0.0)
    training = FakeRun("s", running=True, watched_at=0.0)
    watched = FakeRun("s", running=False, watched_at=590.0)
    assert run_watch.reap([paused, training, watched], lambda s: True, {}, now=600.0, grace=30, idle=600) == [paused]
