"""Session state for the Playground: settings <-> URL, and the session's own live run.

Every run setting lives in st.session_state under its config field name (the widget key), is read
from the URL once when the session starts, and is written back to the URL on every rerun, so the
address bar is always a shareable link. The live run is owned by a session-scoped cached resource:
Streamlit releases it when the tab closes, and `on_release` only signals the thread to stop.
"""

import streamlit as st

from ebm_core import config
from ebm_core.live import LiveRun

# Settings that define a run: changing one starts a new run. The others apply while training.
STRUCTURAL = ("dataset", "width", "depth", "activation", "spectral_norm", "confine", "method", "buffer_size",
              "beta1", "ema", "seed")
UI_PARAMS = {"view": ("energy", "density", "surface")}  # page state kept in the URL beside the run config


def _flat(cfg: config.RunConfig) -> dict:
    return {k: v for sec in config.to_dict(cfg).values() for k, v in sec.items()}


def init_from_url() -> None:
    """Once per session: settings from the query string; bad or unknown ones fall back with warnings."""
    ss = st.session_state
    if ss.get("_loaded"):
        return
    params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    cfg, warnings = config.from_query_lenient(params, ignore=tuple(UI_PARAMS))
    for k, v in _flat(cfg).items():
        ss[k] = v
    for k, allowed in UI_PARAMS.items():
        value = params.get(k, [allowed[0]])[-1]
        if value not in allowed:
            warnings.append(f"{k}: {value!r} is not one of {', '.join(allowed)}; using {allowed[0]!r}")
            value = allowed[0]
        ss[k] = value
    ss["_url_warnings"] = warnings
    ss["_loaded"] = True
    ss.setdefault("run_id", 0)
    ss.setdefault("playing", False)


def current_config() -> config.RunConfig:
    ss = st.session_state
    return config.RunConfig().replace(**{k: ss[k] for k in config.field_names() if k in ss})


def write_url(cfg: config.RunConfig) -> dict[str, str]:
    """Mirror the settings that differ from the defaults into the query string; returns them."""
    q = config.to_query(cfg)
    for k, allowed in UI_PARAMS.items():
        if st.session_state.get(k, allowed[0]) != allowed[0]:
            q[k] = st.session_state[k]
    if dict(st.query_params) != q:
        st.query_params.from_dict(q)
    return q


def share_url(query: dict[str, str]) -> str:
    base = (st.context.url or "").split("?")[0]
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _release(run: LiveRun) -> None:
    run.request_stop()  # never join here: this can run on the server's event loop


@st.cache_resource(scope="session", max_entries=1, show_spinner=False, on_release=_release)
def _session_run(structure: str, run_id: int, _cfg: config.RunConfig) -> LiveRun:
    return LiveRun(_cfg, run_id=run_id).start()


def live_run(cfg: config.RunConfig) -> LiveRun:
    """This session's run for cfg: a new one when a structural setting or the run id changed;
    live settings are forwarded to the running thread."""
    flat = _flat(cfg)
    structure = "&".join(f"{k}={flat[k]}" for k in STRUCTURAL)
    run = _session_run(structure, st.session_state.run_id, cfg)
    live = (id(run), cfg.sampler, cfg.train)
    if st.session_state.get("_sent") != live:
        run.update(cfg)
        st.session_state["_sent"] = live
    st.session_state["_run"] = run  # a reference for other pages; the cache above owns the run
    return run


def current_run() -> LiveRun | None:
    """The Playground's run of this session, if one is alive (for other pages, e.g. the Langevin Lab)."""
    run = st.session_state.get("_run")
    return run if run is not None and run.thread.is_alive() else None


def reset_run() -> None:
    st.session_state.run_id += 1
    st.session_state.playing = False
