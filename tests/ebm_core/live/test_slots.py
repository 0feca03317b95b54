"""The limit of runs training at once and its queue (ebm_core/live/slots.py)."""

import pytest

from ebm_core.live.slots import PER_CORE, RUN_MEMORY_MB, Slots, default_limit


class FakeRun:
    def __init__(self, name: str):
        self.name, self.running, self.ended, self.starts = name, False, False, 0

    def start_training(self) -> None:
        self.running, self.starts = True, self.starts + 1


def make(limit: int, n: int) -> tuple[Slots, list[FakeRun]]:
    runs = [FakeRun(f"r{i}") for i in range(n)]
    return Slots(limit, lambda: [r for r in runs if not r.ended]), runs


def test_runs_past_the_limit_wait_in_order_and_start_when_a_slot_frees():
    slots, runs = make(2, 5)
    assert [slots.request(r) for r in runs] == [0, 0, 1, 2, 3]
    assert [r.running for r in runs] == [True, True, False, False, False]
    assert slots.training() == 2 and slots.waiting() == 3
    runs[0].running = False  # its page paused it
    slots.leave(runs[0])
    assert runs[2].running and not runs[3].running
    assert [slots.place(r) for r in runs] == [0, 0, 0, 1, 2]


def test_a_run_that_paused_itself_frees_its_slot_on_admit():
    slots, runs = make(1, 2)
    slots.request(runs[0])
    assert slots.request(runs[1]) == 1
    runs[0].running = False  # diverged, or its time limit: the worker paused it
    assert slots.admit() == [runs[1]]
    assert runs[1].running and slots.waiting() == 0


def test_leaving_the_queue_moves_the_others_up_and_starts_nothing_while_full():
    slots, runs = make(1, 4)
    for r in runs:
        slots.request(r)
    slots.leave(runs[2])  # Leave queue
    assert [slots.place(r) for r in runs] == [0, 1, 0, 2]
    assert sum(r.starts for r in runs) == 1


def test_asking_again_while_waiting_keeps_the_place_and_an_ended_run_gives_it_up():
    slots, runs = make(1, 3)
    for r in runs:
        slots.request(r)
    assert slots.request(runs[2]) == 2  # a second click does not queue it twice
    runs[1].ended = True  # its tab closed
    assert slots.place(runs[2]) == 2 and slots.waiting() == 1
    runs[0].running = False
    assert slots.admit() == [runs[2]] and runs[1].starts == 0


def test_nobody_jumps_the_queue_when_a_slot_frees():
    slots, runs = make(1, 3)
    slots.request(runs[0])
    slots.request(runs[1])
    runs[0].running = False  # a slot is free, but runs[1] came first
    assert slots.request(runs[2]) == 2
    slots.admit()
    assert runs[1].running and not runs[2].running


def test_default_limit_follows_cores_and_memory_and_the_environment(monkeypatch):
    monkeypatch.delenv("EBM_MAX_TRAINING", raising=False)
    assert default_limit(cores=2, available_mb=24_000) == 2 * PER_CORE
    assert default_limit(cores=2, available_mb=5 * RUN_MEMORY_MB) == 5
    assert default_limit(cores=2, available_mb=10) == 1
    monkeypatch.setenv("EBM_MAX_TRAINING", "7")
    assert default_limit(cores=2, available_mb=10) == 7
    for bad in ("0", "many"):
        monkeypatch.setenv("EBM_MAX_TRAINING", bad)
        with pytest.raises(ValueError, match="EBM_MAX_TRAINING"):
            default_limit()


def test_the_usable_cores_are_counted_where_there_is_no_affinity(monkeypatch):
    import os

    from ebm_core.live.pool import default_size
    from ebm_core.live.slots import PER_CORE, default_limit, usable_cores

    assert usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")  # as on macOS
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("EBM_TRAINING_PROCESSES", raising=False)
    monkeypatch.delenv("EBM_MAX_TRAINING", raising=False)
    assert usable_cores() == 8 and default_size() == 8
    assert default_limit(available_mb=1e9) == PER_CORE * 8
