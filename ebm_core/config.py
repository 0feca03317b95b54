"""Run configuration: one small frozen dataclass per concern, composed into a RunConfig.

A RunConfig round-trips through a plain dict (saved as config.json with every run) and through URL
query parameters (the Playground's shareable links). Field names are unique across sections, so the
query string is flat: ?dataset=rings&step_size=0.02. Strings are parsed by the type of the default;
unknown keys and out-of-range values raise ValueError naming the field and what is allowed.
"""

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import toy2d
from .nets import ACTIVATIONS, IMAGE_NETS
from .samplers import SAMPLERS, temperature


# Each setting says here, once, what the CLI, the sidebars and the links need to know of it: its
# range or choices, whether a running model takes a new value (`live`; else a new run starts), and
# the label and help a person reads (`field_info`).
def _range(lo: float, hi: float, default: Any, *, live: bool = False, label: str = "", help: str = "") -> Any:
    """A numeric setting in [lo, hi]."""
    return field(default=default, metadata={"range": (lo, hi), "live": live, "label": label, "help": help})


def _choice(choices: tuple[str, ...] | dict[str, str], default: str, *, live: bool = False, label: str = "",
            help: str = "") -> Any:
    """A setting with a fixed set of values; given as a dict, each value's label for the widgets."""
    labels = dict(choices) if isinstance(choices, dict) else {}
    return field(default=default, metadata={"choices": tuple(choices), "choice_labels": labels, "live": live,
                                            "label": label, "help": help})


def _flag(default: bool, *, label: str, help: str) -> Any:
    return field(default=default, metadata={"live": False, "label": label, "help": help})


@dataclass(frozen=True)
class DataConfig:
    dataset: str = _choice((*toy2d.DATASETS, toy2d.CUSTOM), "eight_gaussians", label="Dataset",
                           help="The 2D toy dataset the model learns; custom: your own points.")


@dataclass(frozen=True)
class ModelConfig:
    width: int = _range(4, 1024, 128, label="Width", help="Hidden units per layer.")
    depth: int = _range(1, 8, 2, label="Depth", help="Hidden layers.")
    activation: str = _choice(tuple(ACTIVATIONS), "silu", label="Activation", help="The nonlinearity between layers.")
    spectral_norm: bool = _flag(False, label="Spectral norm", help="Spectral normalisation on every layer.")
    confine: float = _range(0.1, 1.0, 0.5, label="Wall width",
                            help="Width of the quadratic energy wall outside the box; keeps Z finite.")


@dataclass(frozen=True)
class SamplerConfig:
    sampler: str = _choice(tuple(SAMPLERS), "ula", live=True, label="Langevin sampler",
                           help="ula: x ← x − η∇E + noise·√(2η)·ξ; mala adds an accept/reject test that removes "
                                "ULA's bias.")
    step_size: float = _range(1e-6, 10.0, 0.01, live=True, label="Step size η", help="Size of each Langevin move.")
    noise_scale: float = _range(0.0, 10.0, 1.0, live=True, label="Noise scale",
                                help="Multiplies the Langevin noise (ULA only): temperature T = noise²; 1 samples "
                                     "exp(−E), below 1 is 'cold' Langevin.")
    n_steps: int = _range(1, 1000, 10, live=True, label="Langevin steps K", help="Langevin steps per training update.")
    grad_clip: float = _range(0.0, 1e4, 0.0, live=True, label="Gradient clip (0 = off)",
                              help="Clamp each component of ∇E to [−c, c]; 0 means no clipping.")

    @property
    def temperature(self) -> float:
        return temperature(self.sampler, self.noise_scale)


@dataclass(frozen=True)
class TrainConfig:
    method: str = _choice({"pcd": "Persistent CD (replay buffer)", "cd": "CD-k from data (textbook)",
                           "short_run": "Short-run from noise"}, "pcd", label="Negatives start",
                          help="Where the Langevin chains start each update: pcd (a replay buffer of persistent "
                               "chains), cd (at the data), short_run (from noise).")
    batch_size: int = _range(8, 8192, 256, live=True, label="Batch size", help="Data points and chains per update.")
    lr: float = _range(1e-6, 1.0, 3e-3, live=True, label="Learning rate", help="Adam learning rate.")
    beta1: float = _range(0.0, 0.999, 0.0, label="Adam β1", help="Adam's first-moment decay; 0 is common for EBMs.")
    alpha: float = _range(0.0, 10.0, 0.1, live=True, label="Alpha (energy L2)",
                          help="Penalty α·(E(data)² + E(neg)²) keeps energies bounded.")
    buffer_size: int = _range(64, 200_000, 8192, label="Replay buffer size", help="Persistent chains kept (pcd).")
    reinit_frac: float = _range(0.0, 1.0, 0.05, live=True, label="Buffer reinit fraction",
                                help="Share of persistent chains restarted from noise at each update (pcd).")
    burn_in: int = _range(1, 10, 1, live=True, label="Burn-in of restarted chains",
                          help="Updates in a row a restarted chain takes part in (pcd): at 3, its first three runs "
                               "of K steps come one after another before it waits its turn like the others, so "
                               "the buffer holds almost no chain that is only K steps from noise. 1: it waits "
                               "from the start.")
    ema: float = _range(0.0, 0.9999, 0.99, label="EMA of weights (0 = off)",
                        help="The shown model averages recent weights with this decay; 0 disables it.")
    seed: int = _range(0, 2**31 - 1, 0, label="Seed", help="Same seed, same run.")


@dataclass(frozen=True)
class Train2DConfig(TrainConfig):
    """The training settings of a 2D run: the shared ones, and where restarted chains start, which
    only a 2D model's exact density allows to be the model itself."""

    restart: str = _choice({"noise": "Uniform noise", "model": "The model's own density"}, "noise", live=True,
                           label="Chains restart from",
                           help="Where restarted chains (the reinit fraction; short-run's chains) start: uniform "
                                "noise over the box, or a draw from the model's own normalised density on a grid, "
                                "which only 2D allows. From noise, persistent chains keep the modes they first "
                                "fell into, and the model's weights between modes drift; from the model, "
                                "restarts follow its mass and training evens the weights out.")


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "sampler": SamplerConfig,
                             "train": Train2DConfig}


@dataclass(frozen=True)
class RunConfig:
    """A 2D toy run (the Playground)."""

    SECTIONS = SECTIONS
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    sampler: SamplerConfig = SamplerConfig()
    train: Train2DConfig = Train2DConfig()

    def replace(self, **flat: Any) -> "RunConfig":
        """A copy with flat field overrides, validated: cfg.replace(step_size=0.02, dataset="rings")."""
        return _replace(self, flat)


IMAGE_DATASETS = {"digits": "8×8 digits (bundled)", "mnist": "MNIST 28×28 (download)",
                  "fashion_mnist": "Fashion-MNIST 28×28 (download)"}


@dataclass(frozen=True)
class ImageDataConfig:
    dataset: str = _choice(IMAGE_DATASETS, "digits", label="Dataset",
                           help="The images: 8×8 digits ship with the app; MNIST and Fashion-MNIST download once.")
    data_noise: float = _range(0.0, 0.5, 0.03, label="Data noise", help="Gaussian noise added to each data batch.")


@dataclass(frozen=True)
class ImageModelConfig:
    net: str = _choice({"mlp": "MLP on the pixels", "conv": "Conv net"}, "mlp", label="Network",
                       help="mlp: all pixels as one vector through two hidden layers; cheap per Langevin step, "
                            "so it makes many updates on small images. conv: stride-2 convolutions, which "
                            "know that neighbouring pixels belong together (the 28×28 datasets' choice).")
    width: int = _range(4, 256, 128, label="Width",
                        help="mlp: hidden units per layer; conv: channels of the first layer (doubled at "
                             "each downsampling).")
    activation: str = _choice(tuple(ACTIVATIONS), "silu", label="Activation", help="The nonlinearity between layers.")
    spectral_norm: bool = _flag(False, label="Spectral norm", help="Spectral normalisation on every layer.")


IMAGE_SECTIONS: dict[str, type] = {"data": ImageDataConfig, "model": ImageModelConfig, "sampler": SamplerConfig,
                                   "train": TrainConfig}


@dataclass(frozen=True)
class ImageRunConfig:
    """An image run (the Images page). Sampler and training sections are the 2D ones with the
    image recipe's defaults: large clipped steps, little noise, a replay buffer."""

    SECTIONS = IMAGE_SECTIONS
    data: ImageDataConfig = ImageDataConfig()
    model: ImageModelConfig = ImageModelConfig()
    # The digits recipe, tuned on one CPU thread (bench/images.py, images_sweep.md; the 28×28 datasets pick
    # a conv net, IMAGE_DATASET_SETTINGS). noise_scale 0.001 gives a per-step noise std of 0.0045, the
    # recipes' 0.005; cheap updates (batch 64, K=20) and a small buffer show digits within minutes.
    # What bought what, replay buffer recognised after 120 s (seed 0 unless said):
    # - the MLP instead of the width-16 conv net: ~4x the updates in the same time, 0.69 -> 0.79-0.81;
    #   lr 1e-3 for it (2e-3 collapsed after ~40 s: every chain stuck far from the data, energies at
    #   the alpha penalty's bounds; 5e-4 learnt slower, 0.74);
    # - burn-in 3: a restarted chain runs three updates in a row, so the buffer no longer holds the
    #   fifth of chains only K steps from noise (they scored 0.4-0.6): 0.80 -> 0.83-0.89 (conv net
    #   alone: 0.69 -> 0.80);
    # - reinit 0.1 with it: at 0.2 fresh chains from noise lost class spread as training went on
    #   (0.87-0.92 at 120 s on three seeds), at 0.1 it stays at 0.98-0.99 with the buffer at 0.84-0.88
    #   on three seeds (bench/results/images.md).
    # EMA 0.99 keeps up with a short run.
    sampler: SamplerConfig = SamplerConfig(step_size=10.0, noise_scale=0.001, n_steps=20, grad_clip=0.03)
    train: TrainConfig = TrainConfig(batch_size=64, lr=1e-3, buffer_size=2048, reinit_frac=0.1, burn_in=3, ema=0.99)

    def replace(self, **flat: Any) -> "ImageRunConfig":
        return _replace(self, flat)


def _replace(cfg: Any, flat: Mapping[str, Any]) -> Any:
    root = type(cfg)
    index = _field_section(root)
    d = to_dict(cfg)
    for k, v in flat.items():
        sec = index.get(k)
        if sec is None:
            raise ValueError(f"unknown setting {k!r}; valid settings: {', '.join(index)}")
        d[sec][k] = v
    return from_dict(d, root)


_INDEX: dict[type, dict[str, str]] = {}


def _field_section(root: type) -> dict[str, str]:
    """{setting name: section} for a root config class; names are unique across its sections."""
    if root not in _INDEX:
        index = {}
        for sec, cls in root.SECTIONS.items():
            for f in dataclasses.fields(cls):
                assert f.name not in index, f"duplicate setting name {f.name}"
                index[f.name] = sec
        _INDEX[root] = index
    return _INDEX[root]


def _field(name: str, root: type = RunConfig) -> dataclasses.Field:
    cls = root.SECTIONS[_field_section(root)[name]]
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def _default(name: str, root: type = RunConfig) -> Any:
    return getattr(getattr(root(), _field_section(root)[name]), name)


def _parse(name: str, value: Any, root: type = RunConfig) -> Any:
    """Coerce value (possibly a string) to the type of the field's default and check its range."""
    f = _field(name, root)
    kind = type(f.default)
    try:
        if kind is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = low in ("true", "1", "yes")
            elif not isinstance(value, (bool, int)) or value not in (0, 1):
                raise ValueError
            value = bool(value)
        elif kind is int:
            if isinstance(value, bool):
                raise ValueError
            fv = float(value)
            if not fv.is_integer():
                raise ValueError
            value = int(fv)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        else:
            value = str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected {kind.__name__}, got {value!r}") from None
    if "range" in f.metadata:
        lo, hi = f.metadata["range"]
        if not lo <= value <= hi:
            raise ValueError(f"{name}: {value} is outside the allowed range [{lo}, {hi}]")
    if "choices" in f.metadata and value not in f.metadata["choices"]:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(f.metadata['choices'])}")
    return value


def to_dict(cfg: Any) -> dict[str, dict[str, Any]]:
    return {sec: dataclasses.asdict(getattr(cfg, sec)) for sec in type(cfg).SECTIONS}


def from_dict(d: Mapping[str, Mapping[str, Any]], root: type = RunConfig, *, base: Any = None) -> Any:
    """Build a validated config of class `root` from a nested dict; missing fields take the values
    of `base`, by default the root's defaults."""
    if not isinstance(d, Mapping):
        raise ValueError(f"config must be a mapping, got {type(d).__name__}")
    unknown = set(d) - set(root.SECTIONS)
    if unknown:
        raise ValueError(f"unknown config section(s) {sorted(unknown)}; valid: {', '.join(root.SECTIONS)}")
    defaults = base if base is not None else root()
    parts = {}
    for sec, cls in root.SECTIONS.items():
        values = d.get(sec, {})
        if not isinstance(values, Mapping):
            raise ValueError(f"config section {sec!r} must be a mapping")
        names = {f.name for f in dataclasses.fields(cls)}
        bad = set(values) - names
        if bad:
            raise ValueError(f"unknown setting(s) {sorted(bad)} in {sec!r}; valid: {', '.join(sorted(names))}")
        parts[sec] = dataclasses.replace(getattr(defaults, sec), **{k: _parse(k, v, root) for k, v in values.items()})
    return root(**parts)


def to_query(cfg: Any, *, only_changed: bool = True) -> dict[str, str]:
    """Flat {name: string} for a URL; by default only the settings that differ from the defaults
    (for a run with datasets, its dataset's: `for_dataset`)."""
    default = to_dict(defaults_for(cfg))
    if type(cfg) in _PICKS:  # the dataset itself is listed unless it is the default one
        default["data"]["dataset"] = type(cfg)().data.dataset
    out = {}
    for sec, values in to_dict(cfg).items():
        for k, v in values.items():
            if not only_changed or default[sec][k] != v:
                out[k] = str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)
    return out


def from_query(params: Mapping[str, Any], root: type = RunConfig) -> Any:
    """Strict: build a config from flat query parameters; the first bad one raises ValueError."""
    cfg, errors = from_query_lenient(params, root=root)
    if errors:
        raise ValueError(errors[0])
    return cfg


def from_query_lenient(params: Mapping[str, Any], *, ignore: tuple[str, ...] = (),
                       root: type = RunConfig) -> tuple[Any, list[str]]:
    """Build a config from flat query parameters, keeping the default for every bad or unknown
    one; returns the config and one plain-language message per parameter that was dropped.
    Keys in `ignore` (parameters owned by the UI, not the run) are skipped silently."""
    index = _field_section(root)
    d: dict[str, dict[str, Any]] = {sec: {} for sec in root.SECTIONS}
    errors = []
    items = sorted(params.items(), key=lambda kv: kv[0] != "dataset")  # the dataset first: it sets the defaults
    picks = root in _PICKS
    base = for_dataset(root().data.dataset, root=root) if picks else root()
    for k, v in items:
        if k in ignore:
            continue
        if isinstance(v, (list, tuple)):
            v = v[-1] if v else ""
        if k not in index:
            errors.append(f"unknown setting {k!r} was ignored")
            continue
        try:
            d[index[k]][k] = _parse(k, v, root)
        except ValueError as e:
            errors.append(f"{e}; using the default {flat(base)[k]!r}")
        if k == "dataset" and picks:
            base = for_dataset(d["data"].get("dataset", base.data.dataset), root=root)
    return from_dict(d, root, base=base), errors


def field_names(root: type = RunConfig) -> list[str]:
    return list(_field_section(root))


def flat(cfg: Any) -> dict[str, Any]:
    """Every setting of a config by its (unique) name: {"dataset": ..., "width": ..., ...}."""
    return {k: v for sec in to_dict(cfg).values() for k, v in sec.items()}


def live_settings(root: type = RunConfig) -> tuple[str, ...]:
    """The settings a running model takes as they change (the sampler, lr, alpha, batch size,
    reinit fraction); changing any other one starts a new run (`restart_settings`)."""
    return tuple(k for k in field_names(root) if _field(k, root).metadata.get("live"))


def restart_settings(root: type = RunConfig) -> tuple[str, ...]:
    """The settings that define a run: changing one starts a new run."""
    return tuple(k for k in field_names(root) if not _field(k, root).metadata.get("live"))


def with_live_settings(current: Any, new: Any) -> Any:
    """`current` with every live setting taken from `new` (the rest, which define the run, kept)."""
    values = flat(new)
    return current.replace(**{k: values[k] for k in live_settings(type(current))})


def choice_labels(name: str, root: type = RunConfig) -> dict[str, str]:
    """Each value of a choice setting and its label (the value itself where it has none), in order."""
    meta = _field(name, root).metadata
    return {v: meta["choice_labels"].get(v, v) for v in meta["choices"]}


def field_info(name: str, root: type = RunConfig) -> dict[str, Any]:
    """Default, range or choices of a setting (for building widgets); the default is the root's."""
    return {**_field(name, root).metadata, "default": _default(name, root)}


# ----------------------------------------------------------------------------------------------
# The Langevin Lab's settings (its shareable links): ?target=banana&sampler=mala&steps=120&seed=7


@dataclass(frozen=True)
class LabTargetConfig:
    target: str = _choice({"mixture": "Mixture of 4 Gaussians", "gaussian": "Gaussian",
                           "correlated_gaussian": "Correlated Gaussian (ρ = 0.9)", "double_well": "Double well",
                           "banana": "Banana", "ring": "Ring", "playground": "Model trained in the Playground"},
                          "mixture")  # playground: the net trained on the Playground


@dataclass(frozen=True)
class LabSamplerConfig:
    sampler: str = _choice({name: spec.label for name, spec in SAMPLERS.items()}, "ula")
    noise: float = _range(0.0, 3.0, 1.0)  # ULA only; MALA always uses 1
    steps: int = _range(10, 500, 200)
    chains: int = _range(16, 1024, 256)


@dataclass(frozen=True)
class LabStartConfig:
    start: str = _choice({"uniform": "Uniform in the box", "point": "One point (x, y)",
                          "data": "Exact samples (“data”)"}, "uniform")
    start_x: float = _range(-20.0, 20.0, 0.0)  # the target's box is narrower: the page says so
    start_y: float = _range(-20.0, 20.0, 0.0)
    seed: int = _range(0, 2**31 - 1, 0)


@dataclass(frozen=True)
class LabCompareConfig:
    n_compare: int = _range(1, 4, 3)  # runs side by side, one per step size
    mala_ref: bool = True  # ULA runs get a MALA run at the same step size
    accept: float = _range(0.05, 0.95, 0.574)  # auto-tune's target acceptance


LAB_SECTIONS: dict[str, type] = {"target": LabTargetConfig, "sampler": LabSamplerConfig, "start": LabStartConfig,
                                 "compare": LabCompareConfig}


@dataclass(frozen=True)
class LabConfig:
    """The Langevin Lab's sidebar. The compared step sizes are not fields: their defaults depend on the
    target, so the page keeps them beside the config (?eta=0.01,0.1,0.5), each within STEP_SIZE_RANGE."""

    SECTIONS = LAB_SECTIONS
    STEP_SIZE_RANGE = (1e-5, 5.0)
    target: LabTargetConfig = LabTargetConfig()
    sampler: LabSamplerConfig = LabSamplerConfig()
    start: LabStartConfig = LabStartConfig()
    compare: LabCompareConfig = LabCompareConfig()

    def replace(self, **flat: Any) -> "LabConfig":
        return _replace(self, flat)


def parse_step_sizes(text: str, n_max: int = 4) -> tuple[float, ...]:
    """Comma-separated step sizes (?eta=0.01,0.1,0.5): 1 to n_max finite numbers within
    LabConfig.STEP_SIZE_RANGE; raises ValueError naming the parameter and what is allowed."""
    lo, hi = LabConfig.STEP_SIZE_RANGE
    allowed = f"1 to {n_max} comma-separated step sizes between {lo:g} and {hi:g}"
    try:
        steps = tuple(float(s) for s in str(text).split(","))
    except ValueError:
        raise ValueError(f"eta: {text!r} is not {allowed}") from None
    if not 1 <= len(steps) <= n_max or not all(lo <= s <= hi for s in steps):  # NaN fails the range too
        raise ValueError(f"eta: {text!r} is not {allowed}")
    return steps


# ----------------------------------------------------------------------------------------------
# Per-dataset settings. Choosing a 2D dataset (the Playground's sidebar, a link's `dataset=`, the
# CLI's --dataset) also picks these; a link lists only the settings that differ from its dataset's.
# Measured in bench/datasets.py: with them every dataset but the checkerboard (0.09-0.105) reaches
# KL(data || model) < 0.1 nats within 60 s of training on one core of the 2-core box, on three seeds
# (bench/results/datasets.md).
# RunConfig() itself stays the textbook set-up the lessons start from (restarts from noise).
# What bought what (seed 0 unless said, KL after 60 s; bench/results/datasets.md has the final table):
# - restarts from the model's density: eight_gaussians 0.09 -> 0.048 (the mode weights no longer
#   freeze), two_spirals 0.20 -> 0.087, pinwheel 0.12 -> 0.076, two_moons 0.12 -> 0.051.
# - with exact restarts the alpha penalty's own bias shows: it flattens the energy, so the model comes
#   out too wide (a standard normal learnt with variance 1.43 at alpha 0.1: KL 0.065; 0.002 at 0.01).
#   Lower alpha where it stays stable (0.05 diverged on two_spirals and pinwheel, 0.01 on eight Gaussians).
# - thin rings (std 0.08) and sharp-edged squares: a leaky-ReLU net (checkerboard 0.146 -> 0.099, with
#   K=5 and so more updates 0.095; rings 0.51 -> 0.078 with step 0.003 and lr 0.005, seed 1, 0.042 at
#   alpha 0.05), steps small enough for the rings' width. Checkerboard stays at 0.09-0.105 over seeds and
#   runs, at the edge of the target; tried and dropped: width 256 (0.181: fewer updates), depth 3, lower
#   alpha, batch 128, lr 0.004 or 0.006, K=3, reinit 0.1, plain ReLU. Batch 512 and EMA 0.995, each alone
#   within the noise, together ended 0.091, 0.089, 0.094 on seeds 0-2 (batch 512 alone 0.093-0.096, EMA
#   0.998 alone 0.087-0.103, lr 0.005 0.099-0.113, alpha 0.05 0.15-0.28).
_MODEL_RESTARTS = {"restart": "model"}
DATASET_SETTINGS: dict[str, dict[str, Any]] = {
    "eight_gaussians": {**_MODEL_RESTARTS, "alpha": 0.05},
    "two_moons": _MODEL_RESTARTS,
    "swiss_roll": _MODEL_RESTARTS,
    "rings": {**_MODEL_RESTARTS, "activation": "leaky_relu", "step_size": 0.003, "lr": 0.005, "alpha": 0.05},
    "two_spirals": _MODEL_RESTARTS,
    "checkerboard": {**_MODEL_RESTARTS, "activation": "leaky_relu", "n_steps": 5, "batch_size": 512, "ema": 0.995},
    "pinwheel": _MODEL_RESTARTS,
    "gaussian": {**_MODEL_RESTARTS, "alpha": 0.01},
    toy2d.CUSTOM: _MODEL_RESTARTS,
}
assert set(DATASET_SETTINGS) == {*toy2d.DATASETS, toy2d.CUSTOM}, "every dataset says what it picks"


# Image datasets: ImageRunConfig() is the digits recipe; MNIST and Fashion-MNIST (28×28, twelve times the
# pixels; they cannot be downloaded on the machines that tuned the digits recipe) keep the recipe they had
# before it moved to an MLP with burn-in: the conv net, lr 2e-3, reinit 0.2, no burn-in.
_CONV = {"net": "conv", "width": 16, "lr": 2e-3, "reinit_frac": 0.2, "burn_in": 1}
IMAGE_DATASET_SETTINGS: dict[str, dict[str, Any]] = {"digits": {}, "mnist": _CONV, "fashion_mnist": _CONV}
assert set(IMAGE_DATASET_SETTINGS) == set(_field("dataset", ImageRunConfig).metadata["choices"])
assert set(_field("net", ImageRunConfig).metadata["choices"]) == set(IMAGE_NETS), "every net choice is built"

_PICKS: dict[type, dict[str, dict[str, Any]]] = {RunConfig: DATASET_SETTINGS, ImageRunConfig: IMAGE_DATASET_SETTINGS}


def dataset_settings(name: str, root: type = RunConfig) -> dict[str, Any]:
    """The settings choosing dataset `name` picks in a `root` config (RunConfig or ImageRunConfig):
    for every setting some dataset picks, this dataset's value, else root()'s. Unknown dataset:
    ValueError."""
    table = _PICKS[root]
    if name not in table:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(table)}")
    default = flat(root())
    keys = dict.fromkeys(k for picks in table.values() for k in picks)
    return {k: table[name].get(k, default[k]) for k in keys}


def for_dataset(name: str, base: Any = None, root: type = RunConfig) -> Any:
    """`base` (root() by default) on dataset `name` with the settings that dataset picks."""
    base = base if base is not None else root()
    return base.replace(dataset=name, **dataset_settings(name, type(base)))


def defaults_for(cfg: Any) -> Any:
    """The defaults a config is compared with in a link: its dataset's for a run with datasets
    (2D, images), else the class's."""
    return for_dataset(cfg.data.dataset, root=type(cfg)) if type(cfg) in _PICKS else type(cfg)()

