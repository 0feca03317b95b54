"""Run folders: model.safetensors (weights), config.json (the resolved config) and metrics.csv.

A run folder holds a 2D run (kind "toy2d", a RunConfig) or an image run (kind "images", an
ImageRunConfig); config.json says which, and `load_run` builds the matching network.

Weights are stored with safetensors, which holds raw tensors only: loading one never runs code,
unlike unpickling a torch checkpoint. Anything that is not one of our run folders is rejected with
a message saying what is wrong.
"""

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import config as config_mod
from .image_train import build_image_model
from .images import IMAGE_SIZES
from .train2d import build_model_2d

FORMAT = "ebm-explorer-run/1"
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.csv"


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
             *, extra: dict | None = None) -> Path:
    """Write a run folder; returns its path. `metrics` is a sequence of flat dicts (CSV rows)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / MODEL_FILE), metadata={"format": FORMAT})
    doc = {"format": FORMAT, "kind": kind_of(cfg), "config": config_mod.to_dict(cfg), **(extra or {})}
    (out / CONFIG_FILE).write_text(json.dumps(doc, indent=2))
    rows = [asdict(r) if hasattr(r, "__dataclass_fields__") else dict(r) for r in metrics]
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
    try:
        cfg = config_mod.from_dict(doc.get("config", {}), KINDS[kind])
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
