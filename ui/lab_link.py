"""The Langevin Lab's settings in the widgets and the URL.

Every sidebar setting is a `config.LabConfig` field, kept in session state under "lab_" + its name
(the widget key) and in the query string under its name, plus ?eta= for the compared step sizes.
The link is read once per session; the address bar then mirrors what differs from the defaults.
"""

import streamlit as st

from ebm_core import config
from ebm_core.config import LabConfig
from ui import session

SLOTS = "ABCD"
MAX_COMPARE = len(SLOTS)
SETTINGS = config.field_names(LabConfig)  # widget key "lab_" + name, URL parameter name
STEP_KEYS = [f"lab_step_{i}" for i in range(MAX_COMPARE)]
STEPS_PARAM = "eta"  # ?eta=0.01,0.1,0.5: the compared step sizes, when they differ from the target's own
KEPT = [f"lab_{k}" for k in SETTINGS] + STEP_KEYS  # the widgets whose values outlive other pages' runs
ss = st.session_state


def limits(name: str) -> dict:
    """min_value / max_value of a setting's widget, from its range in LabConfig."""
    lo, hi = config.field_info(name, LabConfig)["range"]
    return dict(min_value=lo, max_value=hi)


def choices(name: str, labels: dict[str, str]) -> list[str]:
    """A setting's choices in the order of its labels (a choice without a label fails here, loudly)."""
    return sorted(config.field_info(name, LabConfig)["choices"], key=list(labels).index)


def allowed(name: str) -> str:
    info = config.field_info(name, LabConfig)
    if "range" in info:
        lo, hi = info["range"]
        return f"{'a whole number' if isinstance(info['default'], int) else 'a number'} from {lo:g} to {hi:g}"
    return "true or false"


def load_url() -> None:
    """Once per session: the link's settings go into the widget keys, the rest start at their defaults.
    Each bad or unknown parameter is dropped with a warning that says what is allowed."""
    params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    unknown = [k for k in params if k not in (*SETTINGS, STEPS_PARAM)]
    warnings = [f"{k}: not a Lab setting; valid: {', '.join(SETTINGS)}, {STEPS_PARAM}" for k in unknown]
    cfg, errors = config.from_query_lenient(params, ignore=(STEPS_PARAM, *unknown), root=LabConfig)
    warnings += [f"{e} (allowed: {allowed(e.split(':')[0])})" if ": expected" in e else e for e in errors]
    flat = config.flat(cfg)
    for k, v in flat.items():
        if k in params:
            ss[f"lab_{k}"] = v
        else:
            ss.setdefault(f"lab_{k}", v)
    if STEPS_PARAM in params:
        try:
            steps = config.parse_step_sizes(params[STEPS_PARAM][-1], MAX_COMPARE)
        except ValueError as err:
            warnings.append(f"{err}; using the target's own step sizes")
        else:
            for key, step in zip(STEP_KEYS, steps):
                ss[key] = step
            ss["_lab_steps_for"] = cfg.target.target  # the link's step sizes, not the target's defaults
            if "n_compare" not in params:
                ss["lab_n_compare"] = len(steps)
    ss["_lab_url_warnings"] = warnings
    ss["_lab_loaded"] = True


def write_url(steps: list[float] | None, own_steps: list[float] | None) -> None:
    """Mirror the settings that differ from the defaults into the query string, when they changed.
    Without a target (no Playground model yet) the step sizes cannot be compared: a linked ?eta= stays."""
    q = config.to_query(LabConfig().replace(**{k: ss[f"lab_{k}"] for k in SETTINGS}))
    if steps is None:
        if STEPS_PARAM in st.query_params:
            q[STEPS_PARAM] = st.query_params[STEPS_PARAM]
    elif steps != own_steps[: len(steps)]:
        q[STEPS_PARAM] = ",".join(repr(step) for step in steps)
    if dict(st.query_params) != q:
        st.query_params.from_dict(q)


def restore() -> None:
    """At the top of every run, before the widgets: read the link once, give back the widget values
    Streamlit dropped (`session.keep`), put an auto-tuned step in its slot, and show the link's warnings."""
    if not ss.get("_lab_loaded"):
        load_url()
    session.keep("_lab_kept", KEPT)
    if "_lab_apply" in ss:  # an auto-tuned step from the last run: put it in its slot before the widgets exist
        slot, step = ss.pop("_lab_apply")
        ss[f"lab_step_{slot}"] = step
        ss["lab_n_compare"] = max(ss["lab_n_compare"], slot + 1)
        ss["lab_sampler"] = "mala"
        session.keep("_lab_kept", KEPT)  # saved now, in case the next run is another page's
    session.show_link_warnings(ss["_lab_url_warnings"])
