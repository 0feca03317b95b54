"""The Langevin Lab's computations, each in a process of its own (ebm_core/jobs.py), remembered by the
settings that define them: the web server only waits, and a page that goes away (the tab closed, a
click that reruns it) stops its job.

A target travels as a `lab.TargetSource` (a name, or a trained network's config and weights) and is
built in the job; the page itself holds only `lab.target_view`s (the exact density, no energy).
Keys name the target by `target_key` (the energy's name, or "playground:<digest of the weights>").
"""

from ebm_core import jobs
from ebm_core.lessons import lab, step_sizes
from ui import job_progress

JOB_TIMEOUT_S = 120.0  # one computation's limit: past it, the page says what to lower
_targets, _runs, _floors, _steps, _tunes = jobs.Memo(8), jobs.Memo(48), jobs.Memo(16), jobs.Memo(8), jobs.Memo(16)


def _get(memo: jobs.Memo, key: tuple, text: str, fn, *args):
    return job_progress.run(text, fn, *args, timeout_s=JOB_TIMEOUT_S, memo=memo, key=key)


def target(target_key: str, source: lab.TargetSource) -> lab.Target:
    """The target's view: its exact density on the grid (ValueError if the energy is not finite there)."""
    try:
        return _get(_targets, (target_key,), "Computing the exact density…", lab.target_view, source)
    except jobs.JobFailed as e:
        raise ValueError(str(e).removeprefix("ValueError: ")) from None


def chain_run(target_key: str, source: lab.TargetSource, settings: lab.ChainSettings, start: tuple, seed: int,
              text: str) -> lab.ChainRun:
    key = (target_key, settings, start, seed)
    return _get(_runs, key, text, lab.run_chains_from, source, lab.Start(start[0], tuple(start[1:])), settings, seed)


def kl_floor(target_key: str, source: lab.TargetSource, n_chains: int) -> float:
    return _get(_floors, (target_key, n_chains), "Scoring exact samples…", lab.kl_floor_from, source, n_chains)


def default_steps(target_key: str, source: lab.TargetSource) -> list[float]:
    if source.name in step_sizes.STEP_PRESETS:
        return list(step_sizes.STEP_PRESETS[source.name])  # no job for a table look-up
    return _get(_steps, (target_key,), "Measuring the curvature…", step_sizes.default_step_sizes_from, source)


def autotune(target_key: str, source: lab.TargetSource, n_chains: int, start: tuple, seed: int,
             accept: float) -> tuple[float, float]:
    key = (target_key, n_chains, start, seed, accept)
    return _get(_tunes, key, "Adapting the step size (300 warm-up steps, then a 100-step check)…",
                step_sizes.autotune_from, source, lab.Start(start[0], tuple(start[1:])), n_chains, seed, accept)
