"""What to change when a live run's settings cost too much (ebm_core/budget.py estimates the cost):
the largest value of each main setting that fits with the others unchanged, and one plain-English
message naming the estimate, the limit and those changes."""

from typing import Any

from . import config
from .budget import default_limit_s, estimate, fits, image_size
from .config import ImageRunConfig, RunConfig

# The settings a refusal suggests lowering, in the order the message names them; and those that bound the
# diagnostics, the first to lower when no single change is enough.
NUMERIC = ("batch_size", "n_steps", "width", "depth", "buffer_size")
NETWORK = ("width", "depth", "dataset")
WORDS = {"batch_size": "the batch size", "n_steps": "the Langevin steps", "width": "the width", "depth": "the depth",
         "buffer_size": "the replay buffer"}


def fixes(cfg: RunConfig | ImageRunConfig, limit_s: float | None = None) -> list[dict[str, Any]]:
    """Changes that make cfg fit, each a dict of settings to apply together. First choice: one change
    each, the largest value of each main setting in its allowed range that fits with the others unchanged
    (rounded down to two significant digits), ULA for MALA, the 8x8 digits for 28x28 images. When no
    single change is enough: a change of the network that makes the diagnostics fit, with each single
    change that then makes the update fit too. Empty when nothing simple helps (or cfg already fits)."""
    limit = default_limit_s() if limit_s is None else limit_s
    if fits(cfg, limit):
        return []
    single = _single_fixes(cfg, lambda c: fits(c, limit))
    if single:
        return [dict([kv]) for kv in single.items()]
    out = []
    for name, value in _single_fixes(cfg, lambda c: estimate(c).diagnostics_s <= limit, NETWORK).items():
        smaller = cfg.replace(**{name: value})
        out += [{name: value, k: v} for k, v in _single_fixes(smaller, lambda c: fits(c, limit)).items() if k != name]
    return out


def _single_fixes(cfg: RunConfig | ImageRunConfig, ok, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """{setting: value} for each setting of `names` (default: all main ones) whose change alone makes ok(cfg)."""
    values, out = config.flat(cfg), {}
    for name in NUMERIC:
        if (names and name not in names) or name not in values or (name == "buffer_size" and cfg.train.method != "pcd"):
            continue
        value = _largest(cfg, name, values[name] - 1, ok)
        if value is not None:
            out[name] = value
    if (not names or "sampler" in names) and values["sampler"] == "mala" and ok(cfg.replace(sampler="ula")):
        out["sampler"] = "ula"
    if (isinstance(cfg, ImageRunConfig) and (not names or "dataset" in names) and values["dataset"] != "digits"
            and ok(cfg.replace(dataset="digits"))):
        out["dataset"] = "digits"
    return out


def _largest(cfg: RunConfig | ImageRunConfig, name: str, top: int, ok) -> int | None:
    """The largest value of an integer setting, at most `top` and within its range, for which ok(cfg with
    it) holds (cost grows with each of these settings), rounded down to two significant digits; None if none."""
    lo, hi = (int(v) for v in config.field_info(name, type(cfg))["range"])
    top = min(hi, top)
    if top < lo or not ok(cfg.replace(**{name: lo})):
        return None
    low = lo
    while low < top:
        mid = (low + top + 1) // 2
        low, top = (mid, top) if ok(cfg.replace(**{name: mid})) else (low, mid - 1)
    return max(lo, _round_down(low))


def _round_down(v: int) -> int:
    """v rounded down to two significant digits: 1375 -> 1300, 137 -> 130, 23 -> 23."""
    if v < 100:
        return v
    step = 10 ** (len(str(v)) - 2)
    return v // step * step


def check(cfg: RunConfig | ImageRunConfig, limit_s: float | None = None) -> str | None:
    """None when one update and one diagnostics refresh of cfg fit in the limit (by default
    default_limit_s()); else one plain-English message: the estimate, the limit, the settings, and the
    changes that would fit (`fixes`)."""
    limit = default_limit_s() if limit_s is None else limit_s
    est = estimate(cfg)
    if est.worst_s <= limit:
        return None
    costs = []
    if est.update_s > limit:
        costs.append(f"{_duration(est.update_s)} per training update")
    if est.diagnostics_s > limit:
        costs.append(f"{_duration(est.diagnostics_s)} per refresh of the live diagnostics")
    head = (f"These settings would take about {' and '.join(costs)} (the limit on this server is "
            f"{_duration(limit)}): {_describe(cfg)}; most of it is {est.dominant}.")
    found = fixes(cfg, limit)
    if not found:
        return f"{head} No simple change brings it under the limit: lower several of {_main_settings(cfg)}."
    if len(found[0]) == 1:
        return f"{head} {_sentence([_change(*next(iter(f.items()))) for f in found])}."
    first = {}  # network change -> the changes that go with it
    for f in found:
        (k0, v0), (k1, v1) = f.items()
        first.setdefault((k0, v0), []).append(_change(k1, v1, lower=False))
    options = [f"{_change(k, v)} and then {_either(rest)}" for (k, v), rest in first.items()]
    return f"{head} No single change is enough: {'; or '.join(options)}."


def _change(name: str, value: Any, lower: bool = True) -> str:
    if name == "sampler":
        return "use ULA instead of MALA"
    if name == "dataset":
        return "train on the 8×8 digits"
    return f"{'lower ' if lower else ''}{WORDS[name]} to at most {value}"


def _either(items: list[str], comma: bool = False) -> str:
    """"a", "a or b", "a, b or c" (with `comma`: "a, b, or c")."""
    if len(items) < 3:
        return " or ".join(items)
    return ", ".join(items[:-1]) + (", or " if comma else " or ") + items[-1]


def _sentence(items: list[str]) -> str:
    """The single changes as one sentence: "Lower the batch size to at most 310, the Langevin steps to
    at most 46, or the width to at most 6, or use ULA instead of MALA"."""
    lowers = [s.removeprefix("lower ") for s in items if s.startswith("lower ")]
    others = [s for s in items if not s.startswith("lower ")]
    parts = (["lower " + _either(lowers, comma=True)] if lowers else []) + others
    text = ", or ".join(parts)
    return text[0].upper() + text[1:]


def _main_settings(cfg: RunConfig | ImageRunConfig) -> str:
    names = [WORDS[k] for k in NUMERIC if k in config.flat(cfg) and k != "buffer_size"]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _describe(cfg: RunConfig | ImageRunConfig) -> str:
    """The settings that cost, in words: "a width-1024, depth-8 network with MALA on batches of 8192
    with 1000 Langevin steps"."""
    s, t = cfg.sampler, cfg.train
    if isinstance(cfg, RunConfig):
        net = f"a width-{cfg.model.width}, depth-{cfg.model.depth} network"
    else:
        size = image_size(cfg)
        kind = "MLP" if cfg.model.net == "mlp" else "conv network"
        net = f"a width-{cfg.model.width} {kind} on {size}×{size} images"
    sampler = " with MALA" if s.sampler == "mala" else ""
    steps = f"{s.n_steps} Langevin step" + ("" if s.n_steps == 1 else "s")
    return f"{net}{sampler} on batches of {t.batch_size} with {steps}"


def _duration(seconds: float) -> str:
    """0.5 s, 2 s, 40 s, 12 minutes, 1.7 hours."""
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.2g} hours"
