"""Run folders: model.safetensors (weights), config.json (the resolved config) and metrics.csv.

A run folder holds a 2D run (kind "toy2d", a RunConfig) or an image run (kind "images", an
ImageRunConfig); config.json says which, and `load_run` builds the matching network. With a Trainer,
`save_run` also writes trainer.safetensors: everything training needs to go on exactly where it
stopped (live weights, EMA, Adam's moments, the replay buffer and its ages, the step, the random
generators' states), which `load_trainer` puts back into a Trainer of the same config. A run's
recorded training (live/recording.py: the landscape, negatives and chain trails every few updates, or
an image run's negatives) is recording.safetensors, which `python -m ebm_core export` turns into a GIF,
MP4 or HTML. `zip_run` and `unzip_run` carry a run folder to and from a page (ui/run_files.py),
checking an upload in full.

Weights are stored with safetensors, which holds raw tensors only: loading one never runs code,
unlike unpickling a torch checkpoint. Anything that is not one of our run folders is rejected with
a message saying what is wrong.
"""

import csv
import io
import json
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import config as config_mod
from .image_train import build_image_model
from .images import IMAGE_SIZES
from .train2d import build_model_2d

FORMAT = "ebm-explorer-run/1"
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.csv"
TRAINER_FILE = "trainer.safetensors"
RECORDING_FILE = "recording.safetensors"
# what a recording file may hold: frame arrays with a leading frame axis, and "meta_" entries
RECORDING_KEYS = {"step": 1, "energy": 3, "log_z_display": 1, "x_neg": 3, "trails": 4,
                  "negatives": 4}  # an image run records its negatives' pixels (uint8)
RECORDING_META = {"meta_extent": 0, "meta_x_data": 2, "meta_density_max": 0}
MAX_RECORDING_FRAMES = 1000
# Ready-made runs the Images page loads in one click, each made by the command the README gives
# (Images, "Ready model") and kept in the repository.
READY = {"digits": Path(__file__).resolve().parent / "assets" / "ready_digits"}


KINDS: dict[str, type] = {"toy2d": config_mod.RunConfig, "images": config_mod.ImageRunConfig}
AnyConfig = config_mod.RunConfig | config_mod.ImageRunConfig


class NotARunError(ValueError):
    """The path is not a run folder written by this project (or it is damaged)."""


def kind_of(cfg: AnyConfig) -> str:
    """"toy2d" or "images": the kind of run a config describes."""
    for kind, root in KINDS.items():
        if isinstance(cfg, root):
            return kind
    raise TypeError(f"not a run config: {type(cfg).__name__}")


def build_model(cfg: AnyConfig) -> nn.Module:
    """The network a config describes, with its seed's initial weights."""
    if isinstance(cfg, config_mod.ImageRunConfig):
        return build_image_model(cfg, 1, IMAGE_SIZES[cfg.data.dataset])
    return build_model_2d(cfg)


def save_run(path: str | Path, model: nn.Module, cfg: AnyConfig, metrics: Iterable[dict] = (),
             *, extra: dict | None = None, trainer=None, state: dict | None = None,
             recording: dict | None = None) -> Path:
    """Write a run folder; returns its path. `metrics` is a sequence of flat dicts (CSV rows). With
    `trainer` (a training.Trainer of cfg), also its full state (TRAINER_FILE); with `state` (a
    Trainer.state() dict, as a live run saves it) that state, without the generators' states; with
    `recording` (a Recording.stacked() dict) the recorded training (RECORDING_FILE)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(out / MODEL_FILE), metadata={"format": FORMAT})
    tensors = trainer_tensors(trainer) if trainer is not None else state_tensors(state) if state is not None else None
    if tensors is not None:
        save_file(tensors, str(out / TRAINER_FILE), metadata={"format": FORMAT})
    if recording:
        save_recording(out, recording)
    doc = {"format": FORMAT, "kind": kind_of(cfg), "config": config_mod.to_dict(cfg), **(extra or {})}
    (out / CONFIG_FILE).write_text(json.dumps(doc, indent=2))
    rows = [asdict(r) if hasattr(r, "__dataclass_fields__") else dict(r) for r in metrics]
    rows = [{k: f"{v:.7g}" if isinstance(v, float) else v for k, v in r.items()} for r in rows]  # 7 digits: a float32's
    with open(out / METRICS_FILE, "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return out


def load_run(path: str | Path) -> tuple[nn.Module, AnyConfig]:
    """Load a run folder's energy model (on the CPU, in eval mode) and its config (a RunConfig or an
    ImageRunConfig, as config.json's kind says).

    Raises NotARunError (a ValueError) when the folder is missing files, the config is not ours or
    invalid, or the weights file is not a safetensors file of finite weights matching the config's
    architecture.
    """
    p = Path(path)
    if not p.is_dir():
        raise NotARunError(f"{p} is not a folder; a run folder holds {MODEL_FILE}, {CONFIG_FILE} and {METRICS_FILE}")
    for name in (MODEL_FILE, CONFIG_FILE):
        if not (p / name).is_file():
            raise NotARunError(f"{p} has no {name}: it is not a run folder written by this tool")
    try:
        doc = json.loads((p / CONFIG_FILE).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotARunError(f"{p / CONFIG_FILE} is not valid JSON ({e})") from None
    except RecursionError:  # JSON nested deeper than Python's parser goes: not a file we wrote
        raise NotARunError(f"{p / CONFIG_FILE} is nested too deeply to be a run's config") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NotARunError(f"{p / CONFIG_FILE} was not written by this tool (expected format {FORMAT!r})")
    kind = doc.get("kind", "toy2d")
    if kind not in KINDS:
        raise NotARunError(f"{p / CONFIG_FILE} names an unknown kind of run {kind!r}; known: {', '.join(KINDS)}")
    saved = doc.get("config", {})
    model = saved.get("model") if isinstance(saved, dict) else None
    if kind == "images" and isinstance(model, dict) and "net" not in model:  # saved before the MLP: a conv net
        saved = {**saved, "model": {**model, "net": "conv"}}
    try:
        cfg = config_mod.from_dict(saved, KINDS[kind])
    except ValueError as e:
        raise NotARunError(f"{p / CONFIG_FILE} holds an invalid config: {e}") from None
    try:
        state = load_file(str(p / MODEL_FILE))
    except (SafetensorError, OSError, ValueError) as e:
        raise NotARunError(f"{p / MODEL_FILE} is not a safetensors weights file ({e}); pickled checkpoints "
                           "are never loaded, since unpickling can run arbitrary code") from None
    bad = sorted(name for name, t in state.items() if t.is_floating_point() and not bool(t.isfinite().all()))
    if bad:
        raise NotARunError(f"{p / MODEL_FILE} holds weights that are not finite numbers ({', '.join(bad[:3])}"
                           f"{' …' if len(bad) > 3 else ''}): a diverged or damaged model")
    model = build_model(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise NotARunError(f"{p / MODEL_FILE} does not match the architecture in {CONFIG_FILE}: {e}") from None
    return model.eval().requires_grad_(False), cfg


def read_metrics(path: str | Path) -> list[dict]:
    with open(Path(path) / METRICS_FILE, newline="") as f:
        return list(csv.DictReader(f))


def state_tensors(state: dict) -> dict[str, torch.Tensor]:
    """A Trainer.state() dict (weights, EMA, optimiser, buffer, step) as named CPU tensors."""
    out = {f"model.{k}": v for k, v in state["model"].items()}
    if state.get("ema") is not None:
        out.update({f"ema.{k}": v for k, v in state["ema"].items()})
    for i, slot in state["opt"]["state"].items():
        out.update({f"opt.{i}.{k}": torch.as_tensor(v) for k, v in slot.items()})
    if state.get("buffer") is not None:
        out["buffer.x"] = state["buffer"]
    out["step"] = torch.tensor(int(state["step"]))
    return {k: v.detach().cpu().contiguous().clone() for k, v in out.items()}


def trainer_tensors(trainer) -> dict[str, torch.Tensor]:
    """A Trainer's full state as named CPU tensors (what TRAINER_FILE holds): its state() plus the
    chains' ages and the random generators' states, so that training goes on bit for bit."""
    buffer = trainer.buffer
    out = state_tensors({"model": trainer.model.state_dict(),
                         "ema": trainer.ema.state_dict() if trainer.ema is not None else None,
                         "opt": trainer.opt.state_dict(), "buffer": buffer.x if buffer is not None else None,
                         "step": trainer.step_count})
    if buffer is not None:
        out["buffer.age"] = buffer.age.detach().cpu().clone()
        # the chains in their burn-in (newest first) and how many each draw restarted
        out["buffer.flight"] = torch.cat([torch.zeros(0, dtype=torch.long), *(f.cpu() for f in buffer.flight)])
        out["buffer.flight_sizes"] = torch.tensor([len(f) for f in buffer.flight], dtype=torch.long)
    out["rng"], out["data_rng"] = trainer.generator.get_state(), trainer.data_generator.get_state()
    return out


def save_recording(folder: str | Path, arrays: dict) -> None:
    """Write a recording's arrays (Recording.stacked()) as RECORDING_FILE in folder."""
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}  # np.array keeps 0-d arrays 0-d
    save_file(tensors, str(Path(folder) / RECORDING_FILE), metadata={"format": FORMAT})


def read_recording(path: str | Path) -> dict[str, np.ndarray] | None:
    """A run folder's recorded training as numpy arrays (Recording.stacked()'s keys), None when it has
    none; NotARunError when the file is not ours: other names, ranks or dtypes, frame counts that
    disagree, more than MAX_RECORDING_FRAMES frames, steps that are not increasing, or a landscape or
    box that is not finite."""
    f = Path(path) / RECORDING_FILE
    if not f.is_file():
        return None
    try:
        t = load_file(str(f))
    except (SafetensorError, OSError, ValueError) as e:
        raise NotARunError(f"{f.name} is not a safetensors file of a recording ({e})") from None
    ranks = {**RECORDING_KEYS, **RECORDING_META}
    odd = sorted(k for k in t if k not in ranks)
    if odd or "step" not in t or ("energy" in t) == ("negatives" in t):
        raise NotARunError(f"{f.name} is not a recording of this tool (unexpected: {', '.join(odd[:3]) or '-'}; "
                           "it needs step, and energy (2D) or negatives (images))")
    dtypes = {"step": torch.int64, "negatives": torch.uint8}
    for k, v in t.items():
        if v.dim() != ranks[k] or (v.dtype != dtypes[k] if k in dtypes else not v.is_floating_point()):
            raise NotARunError(f"{f.name}: {k} has the wrong rank or type ({v.dtype}, {tuple(v.shape)})")
    n = len(t["step"])
    if not 0 < n <= MAX_RECORDING_FRAMES or any(len(t[k]) != n for k in RECORDING_KEYS if k in t):
        raise NotARunError(f"{f.name}: its frames disagree in number, or are more than {MAX_RECORDING_FRAMES}")
    if bool((t["step"] < 0).any()) or bool((t["step"][1:] <= t["step"][:-1]).any()):
        raise NotARunError(f"{f.name}: its steps are not increasing")
    e = t.get("energy", t.get("negatives"))
    if "energy" in t and not bool(e.isfinite().all()) or e.shape[-1] != e.shape[-2] or not 2 <= e.shape[-1] <= 256:
        raise NotARunError(f"{f.name}: its pictures are not finite square grids of at most 256 x 256")
    extent = t.get("meta_extent")
    if extent is not None and not (bool(extent.isfinite()) and 0 < float(extent) <= 100):
        raise NotARunError(f"{f.name}: its box is not a finite size")
    return {k: v.numpy() for k, v in t.items()}


def has_trainer(path: str | Path) -> bool:
    return (Path(path) / TRAINER_FILE).is_file()


# without these training goes on, though not bit for bit
OPTIONAL = ("buffer.age", "buffer.flight", "buffer.flight_sizes", "rng", "data_rng")


def _template(cfg: AnyConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """{name: (shape, dtype)} of the tensors a trainer of cfg saves, Adam's moments included."""
    model = build_model(cfg)
    want = {f"model.{k}": (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
    if cfg.train.ema > 0:
        want.update({f"ema.{k[6:]}": v for k, v in want.items()})
    for i, p in enumerate(model.parameters()):
        want.update({f"opt.{i}.exp_avg": (tuple(p.shape), p.dtype), f"opt.{i}.exp_avg_sq": (tuple(p.shape), p.dtype),
                     f"opt.{i}.step": ((), torch.float32)})
    if cfg.train.method == "pcd":
        sample = ((1, IMAGE_SIZES[cfg.data.dataset], IMAGE_SIZES[cfg.data.dataset])
                  if isinstance(cfg, config_mod.ImageRunConfig) else (2,))
        want["buffer.x"] = ((cfg.train.buffer_size, *sample), torch.float32)
        want["buffer.age"] = ((cfg.train.buffer_size,), torch.int64)
    want["step"] = ((), torch.int64)
    return want


def check_trainer(path: str | Path, cfg: AnyConfig) -> dict[str, torch.Tensor]:
    """The tensors of a run folder's TRAINER_FILE once checked against what a trainer of cfg holds;
    NotARunError saying what is wrong when the file is not ours or does not fit."""
    f = Path(path) / TRAINER_FILE
    try:
        t = load_file(str(f))
    except (SafetensorError, OSError, ValueError) as e:
        raise NotARunError(f"{f} is not a safetensors file of a trainer's state ({e}); pickled checkpoints "
                           "are never loaded") from None
    want = _template(cfg)
    if not any(k.startswith("opt.") for k in t):  # saved before Adam's first step: no moments yet
        want = {k: v for k, v in want.items() if not k.startswith("opt.")}
    missing = sorted(k for k in set(want) - set(t) if k not in OPTIONAL)
    extra = sorted(set(t) - set(want) - set(OPTIONAL))
    if missing or extra:
        raise NotARunError(f"{f} does not fit the network and settings in {CONFIG_FILE} (missing: "
                           f"{', '.join(missing[:3]) or '-'}; unexpected: {', '.join(extra[:3]) or '-'})")
    wrong = sorted(k for k, (shape, dtype) in want.items()
                   if k in t and (tuple(t[k].shape) != shape or t[k].dtype != dtype))
    if wrong:
        raise NotARunError(f"{f} holds tensors of other shapes than its config says ({', '.join(wrong[:3])})")
    bad = sorted(k for k, v in t.items() if v.is_floating_point() and not bool(v.isfinite().all()))
    if bad:
        raise NotARunError(f"{f} holds values that are not finite numbers ({', '.join(bad[:3])})")
    if int(t["step"]) < 0 or ("buffer.age" in t and bool((t["buffer.age"] < 0).any())):
        raise NotARunError(f"{f} holds a negative step count or chain age")
    if "buffer.flight" in t or "buffer.flight_sizes" in t:
        flight, sizes = t.get("buffer.flight"), t.get("buffer.flight_sizes")
        if (flight is None or sizes is None or flight.dtype != torch.int64 or sizes.dtype != torch.int64
                or flight.ndim != 1 or sizes.ndim != 1 or bool((sizes < 0).any()) or int(sizes.sum()) != len(flight)
                or bool(((flight < 0) | (flight >= cfg.train.buffer_size)).any())):
            raise NotARunError(f"{f} holds a list of chains in their burn-in that does not fit its replay buffer")
    return t


def load_trainer(path: str | Path, trainer, cfg: AnyConfig) -> None:
    """Put a run folder's TRAINER_FILE back into `trainer`, built from config `cfg`; NotARunError
    (and the trainer unchanged) when the file is missing, not ours, or does not fit."""
    t = check_trainer(path, cfg)
    device = trainer.device
    with torch.no_grad():
        trainer.model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
        if trainer.ema is not None:
            trainer.ema.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("ema.")})
        slots: dict[int, dict] = {}
        for k, v in t.items():
            if k.startswith("opt."):
                _, i, name = k.split(".", 2)
                slots.setdefault(int(i), {})[name] = v.to(device) if name != "step" else v
        trainer.opt.load_state_dict({"state": slots, "param_groups": trainer.opt.state_dict()["param_groups"]})
        if trainer.buffer is not None:
            trainer.buffer.x.copy_(t["buffer.x"])
            if "buffer.age" in t:
                trainer.buffer.age.copy_(t["buffer.age"])
            else:
                trainer.buffer.age.zero_()
            sizes = t["buffer.flight_sizes"].tolist() if "buffer.flight" in t else []
            trainer.buffer.flight = [f.to(device) for f in t["buffer.flight"].split(sizes)] if sizes else []
        trainer.step_count = int(t["step"])
        for name, gen in (("rng", trainer.generator), ("data_rng", trainer.data_generator)):
            template = gen.get_state()
            if name in t and t[name].shape == template.shape and t[name].dtype == template.dtype:
                gen.set_state(t[name])  # another device's generator state does not fit: fresh draws then


RUN_FILES = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, TRAINER_FILE, RECORDING_FILE)
MAX_ZIP_BYTES = 32 * 2**20  # a run zip is about 1 MB (digits) to a few MB (MNIST's replay buffer)
MAX_UNZIPPED_BYTES = 128 * 2**20  # what its files may hold unpacked, told or not by the zip's own header


def zip_run(folder: str | Path) -> bytes:
    """A run folder as a zip (its files in a folder of its name), stored uncompressed: weights do not
    compress, and this is fast enough to make at the click."""
    folder = Path(folder)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name in RUN_FILES:
            if (folder / name).is_file():
                z.write(folder / name, arcname=f"{folder.name}/{name}")
    return out.getvalue()


def unzip_run(data: bytes, dest: str | Path) -> tuple[Path, AnyConfig]:
    """Unpack a run zip (`zip_run`) into the empty folder dest and check all of it (load_run, and the
    trainer's state against the config); returns the folder and its config. NotARunError saying what
    is wrong when it is not one of ours: not a zip, other or missing files, too large once unpacked
    (a zip bomb), damaged, or holding a config or tensors that `load_run`/`check_trainer` refuse."""
    if len(data) > MAX_ZIP_BYTES:
        raise NotARunError(f"the file is {len(data) / 2**20:.0f} MB; a run zip is at most {MAX_ZIP_BYTES // 2**20} MB")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise NotARunError(f"it is not a zip file ({e}); download a run with the page's Save button") from None
    with z:
        found: dict[str, zipfile.ZipInfo] = {}
        for info in z.infolist():
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            if len(parts) > 2 or parts[-1] not in RUN_FILES or parts[-1] in found:
                raise NotARunError(f"it holds {info.filename!r}; a run zip holds only {', '.join(RUN_FILES)}")
            found[parts[-1]] = info
        for name in (MODEL_FILE, CONFIG_FILE):
            if name not in found:
                raise NotARunError(f"it has no {name}: it is not a run saved by this tool")
        if sum(i.file_size for i in found.values()) > MAX_UNZIPPED_BYTES:
            raise NotARunError(f"it would unpack to more than {MAX_UNZIPPED_BYTES // 2**20} MB")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        budget = MAX_UNZIPPED_BYTES
        for name, info in found.items():
            try:
                with z.open(info) as src, open(dest / name, "wb") as out:
                    while chunk := src.read(1 << 20):  # the header's sizes may lie: count what comes out
                        budget -= len(chunk)
                        if budget < 0:
                            raise NotARunError(f"it unpacks to more than {MAX_UNZIPPED_BYTES // 2**20} MB")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
                raise NotARunError(f"it is damaged or truncated ({name}: {e})") from None
    _, cfg = load_run(dest)
    if has_trainer(dest):
        check_trainer(dest, cfg)
    read_recording(dest)
    return dest, cfg
