"""The GPU path in one short script (a few minutes): what a machine with CUDA must show.

    python bench/gpu_check.py [--seconds 20] [--device cuda] [--results DIR]

1. Throughput: the Playground task (default RunConfig) and the Images task (default ImageRunConfig,
   scikit-learn's bundled digits) train for --seconds each on the CPU and on --device; updates/s of
   each and the ratio. The device's clock is synchronised before each reading.
2. Host syncs: on CUDA, torch's sync debug mode ("warn") turns every synchronisation with the host
   into a warning; counted over 20 Langevin steps (`samplers.langevin` on the trained net) and over 5
   `Trainer.step` calls. A Langevin loop that waits for the device on every step shows >= 20.
3. A live run on the device: `LiveRun(..., device=...)` starts, trains, publishes a snapshot whose
   device is the asked one and whose landscape and numbers are finite, and stops.
4. A checkpoint round trip: the trained device net saved as a run folder (checkpoint.save_run) and
   loaded back (load_run, on the CPU) gives the same energies.
Results go to gpu_check.json and gpu_check.md in --results (default bench/results). On a machine without
the device, parts 1-4 run on the CPU only and the report says so; part 2 needs CUDA.
"""

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ebm_core import checkpoint, config, samplers  # noqa: E402
from ebm_core.image_train import make_trainer_images  # noqa: E402
from ebm_core.live import LiveRun  # noqa: E402
from ebm_core.train2d import make_trainer_2d  # noqa: E402

TASKS = {"playground": lambda dev: make_trainer_2d(config.RunConfig(), device=dev),
         "images": lambda dev: make_trainer_images(config.ImageRunConfig(), device=dev)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(task: str, device: torch.device, seconds: float) -> dict:
    """Updates/s of a fresh trainer on `device` over `seconds` (after 5 warm-up updates)."""
    trainer = TASKS[task](device)
    for _ in range(5):
        trainer.step()
    sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        trainer.step()
        n += 1
    sync(device)
    return {"updates": n, "updates_per_s": n / (time.perf_counter() - t0), "trainer": trainer}


def count_syncs(fn) -> int:
    """Host synchronisations fn() makes on CUDA (torch's sync debug mode warns once per sync)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def host_syncs(trainer, device: torch.device) -> dict:
    model, s = trainer.eval_model, trainer.sampler
    x0 = torch.rand(256, 2, device=device) * 4 - 2
    langevin = count_syncs(lambda: samplers.langevin(model, x0, step_size=s.step_size, n_steps=20,
                                                     noise_scale=s.noise_scale))
    steps = count_syncs(lambda: [trainer.step() for _ in range(5)])
    return {"langevin_20_steps": langevin, "trainer_5_steps": steps,
            "langevin_syncs_every_step": langevin >= 20}


def live_run(device: torch.device) -> dict:
    run = LiveRun(config.RunConfig(), device=str(device)).start()
    try:
        run.wait_for(lambda s: s.status == "paused", 180)
        run.play()
        snap = run.wait_for(lambda s: s.step >= 30 and s.diagnostics is not None, 180)
        run.pause()
        return {"device": snap.device, "step": snap.step, "energy_finite": bool(torch.isfinite(
            torch.as_tensor(snap.energy)).all()), "kl": snap.diagnostics.kl,
            "ok": snap.device.startswith(device.type) and bool(torch.isfinite(torch.as_tensor(snap.energy)).all())}
    finally:
        run.request_stop()


def round_trip(trainer, device: torch.device) -> dict:
    model = trainer.eval_model
    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as d:
        checkpoint.save_run(Path(d) / "run", model, config.RunConfig())
        loaded, _ = checkpoint.load_run(Path(d) / "run")
    with torch.no_grad():
        here, there = loaded(x), model(x.to(device)).cpu()
    diff = float((here - there).abs().max())
    return {"max_abs_energy_difference": diff, "ok": diff < 1e-4}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    want = torch.device(args.device)
    have = want.type == "cpu" or (want.type == "cuda" and torch.cuda.is_available())
    device = want if have else torch.device("cpu")
    res = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
           "torch": torch.__version__, "asked_device": str(want), "device": str(device),
           "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "tasks": {}}
    for task in TASKS:
        cpu = rate(task, torch.device("cpu"), args.seconds)
        dev = cpu if device.type == "cpu" else rate(task, device, args.seconds)
        res["tasks"][task] = {"cpu_updates_per_s": cpu["updates_per_s"], "device_updates_per_s": dev["updates_per_s"],
                              "device_over_cpu": dev["updates_per_s"] / cpu["updates_per_s"]}
        print(f"{task}: cpu {cpu['updates_per_s']:.1f}/s, {device} {dev['updates_per_s']:.1f}/s", flush=True)
        if task == "playground":
            trainer = dev["trainer"]
    res["host_syncs"] = host_syncs(trainer, device) if device.type == "cuda" else None
    res["live_run"] = live_run(device)
    res["checkpoint"] = round_trip(trainer, device)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "gpu_check.json").write_text(json.dumps(res, indent=1))
    lines = [f"# GPU check ({res['date']}, {res['machine']}, torch {res['torch']})", "",
             f"Asked for {want}; ran on **{device}** ({res['device_name']})"
             + ("" if have else f": no {want.type} on this machine, so everything below ran on the CPU") + ".", "",
             "| task | CPU updates/s | device updates/s | device / CPU |", "|---|---|---|---|"]
    lines += [f"| {t} | {r['cpu_updates_per_s']:.1f} | {r['device_updates_per_s']:.1f} | {r['device_over_cpu']:.2f} |"
              for t, r in res["tasks"].items()]
    hs = res["host_syncs"]
    lines += ["", "Host syncs (CUDA's sync debug mode): " + (
        f"{hs['langevin_20_steps']} in 20 Langevin steps, {hs['trainer_5_steps']} in 5 training updates"
        + (" (**the Langevin loop waits for the device every step**)" if hs["langevin_syncs_every_step"] else "")
        if hs else "not measured (needs CUDA)."),
              f"Live run on {device}: snapshot device {res['live_run']['device']}, step {res['live_run']['step']}, "
              f"landscape finite {res['live_run']['energy_finite']}, KL {res['live_run']['kl']:.3f}: "
              + ("ok" if res["live_run"]["ok"] else "**FAILED**"),
              f"Checkpoint round trip: largest energy difference {res['checkpoint']['max_abs_energy_difference']:.2e}: "
              + ("ok" if res["checkpoint"]["ok"] else "**FAILED**"), ""]
    (args.results / "gpu_check.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
