"""Session state for pages with a live run: settings <-> URL, and the session's own run.

Every run setting lives in st.session_state under its config field name (the widget key), is read
from the URL once when the session starts, and is written back to the URL on every rerun, so the
address bar is always a shareable link. The live run is owned by a session-scoped cached resource:
Streamlit releases it when the tab closes, and `on_release` only signals the thread to stop.
"""

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import streamlit as st

from ebm_core import config, views
from ebm_core.lessons import presets
from ebm_core.live import LiveRun, saved
from ui import run_watch

# page state kept in the URL beside the run config; present=on is presentation mode (ui/presentation.py)
UI_PARAMS = {"view": tuple(views.VIEWS), "present": ("off", "on")}

# Classroom links (?hide=network,share&lock=dataset) hide or lock Playground controls, by setting name
# or by group. Hidden settings keep the link's values; locked ones show them, greyed out.
CONTROL_GROUPS = {
    "data": ("dataset",),
    "sampler": ("sampler", "step_size", "noise_scale", "n_steps", "grad_clip"),
    "training": ("method", "lr", "alpha", "batch_size", "reinit_frac", "burn_in", "restart"),
    "network": ("width", "depth", "activation", "spectral_norm", "confine", "buffer_size", "beta1", "ema", "seed"),
    "buttons": ("step", "phase", "reset", "share", "files"),
    "views": ("view", "layers"),
    "panels": ("numbers", "curves"),  # the live numbers beside the picture, the curves below it
    "lesson": ("preset",),  # the lesson picker and the lesson's banner
    "text": ("intro", "explainer"),  # the title with the introduction, and "What am I looking at?"
}
CLASSROOM_PARAMS = ("hide", "lock")
PRESET_PARAM = "preset"  # ?preset=short_run names the lesson preset the link's settings come from
RESUME_COOKIE = "ebm_resume"  # set for a minute by a tab whose server restarted: its run's saved name (live_panel.js)


def classroom_names() -> list[str]:
    """Every name a classroom link may hide or lock: groups first, then single controls. "sampler"
    names both a group and a setting (ULA or MALA); in a link it means the group."""
    return list(dict.fromkeys([*CONTROL_GROUPS, *(n for names in CONTROL_GROUPS.values() for n in names)]))


def _classroom(params: dict[str, list[str]], warnings: list[str]) -> None:
    ss = st.session_state
    valid = classroom_names()
    for k in CLASSROOM_PARAMS:
        names, chosen = set(), []
        for item in ",".join(params.get(k, [])).split(","):
            item = item.strip()
            if not item:
                continue
            if item not in valid:
                warnings.append(f"{k}: {shorten(item)!r} is not a control name; valid: {', '.join(CONTROL_GROUPS)} "
                                "or a setting name")
                continue
            chosen.append(item)
            names.update(CONTROL_GROUPS.get(item, (item,)))
        ss[f"_{k}_param"] = chosen
        ss["_hidden" if k == "hide" else "_locked"] = frozenset(names)


MAX_LINK_WARNINGS = 5  # a link with more problems gets one box naming the first few and counting the rest
MAX_ECHO = 80  # characters of a link's value echoed back in a warning


def shorten(text: str, limit: int = MAX_ECHO) -> str:
    """text, cut to `limit` characters with an ellipsis: a link may carry a value of any length."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_link_warnings(warnings: list[str]) -> None:
    """The link's ignored parameters, one box each, or a single box for many (1500 unknown names in
    ?hide= made 1500 boxes and a 20 s page load)."""
    if len(warnings) <= MAX_LINK_WARNINGS:
        for w in warnings:
            st.warning(f"Link parameter ignored: {shorten(w, 3 * MAX_ECHO)}.", icon=":material/warning:")
    elif warnings:
        first = "; ".join(shorten(w, 2 * MAX_ECHO) for w in warnings[:MAX_LINK_WARNINGS])
        st.warning(f"{len(warnings):,} link parameters were ignored, among them: {first}; and "
                   f"{len(warnings) - MAX_LINK_WARNINGS:,} more.", icon=":material/warning:")


def keep(store: str, keys: Iterable[str]) -> None:
    """Make widget values outlive visits to other pages. Streamlit forgets a widget's value as soon as
    a run does not draw it (any run of another page), and the widget then comes back at its default
    (a number input at its minimum). Called at the top of every run of a page, before its widgets:
    the values of the widgets still alive are saved under `store`, and the ones Streamlit dropped are
    given back, so the widgets take them when they are drawn again."""
    ss = st.session_state
    saved = ss.setdefault(store, {})
    for k in keys:
        if k in ss:
            saved[k] = ss[k]
        elif k in saved:
            ss[k] = saved[k]


@dataclass(frozen=True)
class RunPage:
    """What a page with a live run needs to know: its config class, the live task, the prefix of
    its widget keys (pages share one session state, so keys must not collide), the page state it
    keeps in the URL (name -> allowed values, first = default), and the keys of its other widgets
    whose values outlive a visit to another page (`keep`). Which settings start a new run is the
    config's to say (config.restart_settings)."""

    root: type
    task: str
    prefix: str
    ui_params: dict[str, tuple[str, ...]]
    widgets: tuple[str, ...] = ()
    lessons: bool = False  # the page takes lesson links (?preset=) and classroom links (?hide=, ?lock=)

    def key(self, name: str) -> str:
        return self.prefix + name

    def kept_keys(self) -> list[str]:
        return [self.key(k) for k in (*config.field_names(self.root), *self.ui_params)] + list(self.widgets)


PLAYGROUND = RunPage(config.RunConfig, "toy2d", "", UI_PARAMS,
                     ("preset_pick", *(f"layer_{k}" for k in ("data", "negatives", "trails", "field", "inspect")),
                      "cls_hide", "cls_lock", "own_brush", "own_per_dab", "own_image_n"), lessons=True)
IMAGES = RunPage(config.ImageRunConfig, "images", "img_", {"tab": ("train", "chain", "generate", "inpaint"),
                                                         "present": ("off", "on")},
                 tuple(f"img_{s}_{k}" for s in ("chain", "gen", "inp") for k in ("k", "eta", "noise"))
                 + ("img_gen_n", "img_inp_mode", "img_inp_mask", "img_inp_std", "img_inp_first"))




def init_from_url(page: RunPage = PLAYGROUND) -> None:
    """Once per session: settings from the query string; bad or unknown ones fall back with warnings.
    On every later run: the page's widget values come back after a visit to another page (`keep`)."""
    ss = st.session_state
    for k, v in ss.pop(page.key("_budget_revert"), {}).items():  # settings `affordable` refused: back to ones that fit
        ss[page.key(k)] = v
    if ss.get(page.key("_loaded")):
        keep(page.key("_kept"), page.kept_keys())
        return
    params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    extra = (*CLASSROOM_PARAMS, PRESET_PARAM) if page.lessons else ()
    cfg, warnings = config.from_query_lenient(params, ignore=tuple(page.ui_params) + extra, root=page.root)
    _resume_after_restart(page)
    if extra:
        _classroom(params, warnings)
        key = params.get(PRESET_PARAM, [""])[-1]
        if key and key not in presets.PRESETS:
            warnings.append(f"preset: {key!r} is not one of {', '.join(presets.PRESETS)}")
            key = ""
        if key:
            cfg = _preset_link(key, cfg, params)
        ss["preset"] = ss["preset_pick"] = key or None
    for k, v in config.flat(cfg).items():
        ss[page.key(k)] = v
    for k, allowed in page.ui_params.items():
        value = params.get(k, [allowed[0]])[-1]
        if value not in allowed:
            warnings.append(f"{k}: {value!r} is not one of {', '.join(allowed)}; using {allowed[0]!r}")
            value = allowed[0]
        ss[page.key(k)] = value
    ss[page.key("_url_warnings")] = warnings
    ss[page.key("_loaded")] = True
    keep(page.key("_kept"), page.kept_keys())
    ss.setdefault(page.key("run_id"), 0)


def _resume_after_restart(page: RunPage) -> None:
    """A tab whose server restarted reloads itself with its run's saved name in a cookie (its live
    panel was given the name with its data): this session's first run resumes from it."""
    try:
        name = (st.context.cookies or {}).get(RESUME_COOKIE, "")
    except Exception:  # no request context (AppTest)
        return
    if not name or not name.startswith(page.task + "-"):
        return
    try:
        path = saved.path_for(name)
    except ValueError:
        return
    if path.exists():
        st.session_state[page.key("_resume_from")] = str(path)
    else:
        st.session_state[page.key("_resume_note")] = (
            "The server restarted and this tab's saved run is gone (saved runs are kept for a day), so a new run "
            "starts.")


def _preset_link(key: str, cfg, params: dict[str, list[str]]):
    """A lesson link (?preset=long_run): the preset's settings, then the link's own valid settings on
    top (a link built by Share carries the preset's values anyway). When those change the lesson, a
    note (`_preset_note`) tells the user that its claim may not hold, so its banner stays hidden."""
    flat = config.flat(cfg)
    given = [k for k in params if k in flat and not config.from_query_lenient({k: params[k]})[1]]
    lesson = presets.apply_preset(key, cfg)
    cfg = lesson.replace(**{k: flat[k] for k in given})
    changed = [k for k in given if config.flat(lesson)[k] != flat[k] and k != "seed"]
    st.session_state["_preset_note"] = (
        f"This lesson link also changes {', '.join(changed)}: the lesson's settings were applied with those "
        "changes on top, so its claim may not hold and its banner is not shown." if changed else None)
    return cfg


def affordable(cfg, page: RunPage = PLAYGROUND):
    """cfg when one training update and one refresh of its diagnostics fit the server's limit
    (ebm_core/budget.py: 1 s of one core by default). Otherwise the widgets go back to the last
    settings that fit (at first, the change `budget_advice.fixes` suggests), the page runs again and says
    what was refused and why: no setting or combination can pin a training process."""
    from ebm_core import budget_advice

    ss = st.session_state
    problem = budget_advice.check(cfg)
    if problem is None:
        ss[page.key("_affordable")] = config.flat(cfg)
        note = ss.pop(page.key("_budget_note"), None)
        if note:
            st.error(f"{note} The settings were set back to ones this server can train live.",
                     icon=":material/speed:")
        return cfg
    flat = config.flat(cfg)
    back = ss.get(page.key("_affordable"))
    if back is None:  # a link's first run: the suggested change, else the defaults of what costs
        found = budget_advice.fixes(cfg)
        default = config.flat(config.defaults_for(cfg))
        back = {**flat, **found[0]} if found else {**flat, **{k: v for k, v in default.items()
                                                                if k in budget_advice.NUMERIC}}
    ss[page.key("_budget_note")] = problem
    ss[page.key("_budget_revert")] = {k: v for k, v in back.items() if flat.get(k) != v}
    st.rerun()


def current_config(page: RunPage = PLAYGROUND):
    ss = st.session_state
    return page.root().replace(**{k: ss[page.key(k)] for k in config.field_names(page.root) if page.key(k) in ss})


def write_url(cfg, page: RunPage = PLAYGROUND) -> dict[str, str]:
    """Mirror the settings that differ from the defaults into the query string; returns them."""
    q = config.to_query(cfg)
    for k, allowed in page.ui_params.items():
        if st.session_state.get(page.key(k), allowed[0]) != allowed[0]:
            q[k] = st.session_state[page.key(k)]
    if page.lessons:
        if active_preset(cfg):
            q[PRESET_PARAM] = st.session_state["preset"]
        for k in CLASSROOM_PARAMS:
            if st.session_state.get(f"_{k}_param"):
                q[k] = ",".join(st.session_state[f"_{k}_param"])
    if dict(st.query_params) != q:
        st.query_params.from_dict(q)
    return q


def active_preset(cfg) -> "presets.Preset | None":
    """The lesson preset the settings came from, while they still match it."""
    key = st.session_state.get("preset")
    if key and presets.apply_preset(key, cfg) == cfg:
        return presets.PRESETS[key]
    return None


def choose_preset() -> None:
    """Callback of the preset picker: load the preset's settings (keeping the seed) and start anew."""
    ss = st.session_state
    key = ss.get("preset_pick")
    ss["preset"] = key
    if key:
        for k, v in config.flat(presets.apply_preset(key, current_config())).items():
            ss[k] = v
        reset_run()


def choose_dataset(page: RunPage = PLAYGROUND) -> None:
    """Callback of a page's dataset picker: the settings the new dataset picks (config.DATASET_SETTINGS,
    IMAGE_DATASET_SETTINGS) replace those of the old one; every other setting stays as it was."""
    ss = st.session_state
    kept = ss.get("_locked", frozenset()) | ss.get("_hidden", frozenset()) if page.lessons else frozenset()
    for k, v in config.dataset_settings(ss[page.key("dataset")], page.root).items():
        if k not in kept:  # a classroom link's values stay
            ss[page.key(k)] = v


def share_url(query: dict[str, str]) -> str:
    base = (st.context.url or "").split("?")[0]
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _release(run: LiveRun) -> None:
    run.request_stop()  # never join here: this can run on the server's event loop


def _new_run(task: str, cfg, resume_from: str | None, **kw) -> LiveRun:
    """A run that saves its state under a fresh name (live/saved.py), resumed from resume_from if given."""
    path = saved.path_for(f"{task}-{secrets.token_urlsafe(9)}")
    run = LiveRun(cfg, task=task, save_path=str(path), resume_from=resume_from, **kw).start()
    run.save_name = path.stem
    return run


# One cached function per page: each keeps at most one run per session, and Streamlit releases it
# when the tab closes (the watcher below catches the runs it misses).
@st.cache_resource(scope="session", max_entries=1, show_spinner=False, on_release=_release)
def _playground_run(structure: str, run_id: int, generation: int, _cfg: config.RunConfig, _points=None,
                    _resume_from: str | None = None, _start_from: dict | None = None) -> LiveRun:
    return _new_run("toy2d", _cfg, _resume_from, run_id=run_id, points=_points, start_from=_start_from)


@st.cache_resource(scope="session", max_entries=1, show_spinner=False, on_release=_release)
def _images_run(structure: str, run_id: int, generation: int, _cfg: config.ImageRunConfig, _points=None,
                _resume_from: str | None = None, _start_from: dict | None = None) -> LiveRun:
    return _new_run("images", _cfg, _resume_from, run_id=run_id, max_fps=4.0, diag_every_s=2.0,
                    start_from=_start_from)


_STARTERS = {"toy2d": _playground_run, "images": _images_run}
MAX_AUTO_RESUMES = 3  # a worker that keeps dying is not restarted by itself more often than this a minute


def live_run(cfg, page: RunPage = PLAYGROUND, points=None) -> LiveRun:
    """This session's run for cfg: a new one when a structural setting, the run id or the user's
    own points (for dataset "custom") changed; live settings are forwarded to the running worker.
    A run whose worker is gone (killed, or given back while nobody watched) is replaced by one that
    resumes from its saved state, with a note saying so."""
    ss = st.session_state
    flat = config.flat(cfg)
    structure = "&".join(f"{k}={flat[k]}" for k in config.restart_settings(page.root))
    if points is not None:
        structure += f"&points={hashlib.sha1(points.tobytes()).hexdigest()}"
    start = _STARTERS[page.task]
    gen = ss.setdefault(page.key("_generation"), 0)
    run = start(structure, ss[page.key("run_id")], gen, cfg, points, ss.pop(page.key("_resume_from"), None),
                ss.pop(page.key("_start_from"), None))
    if run.ended and not _may_resume(page):
        ss[page.key("_resume_note")] = (
            f"The training process of this run stopped again right after each restart ({MAX_AUTO_RESUMES} times in "
            "a minute), so it is not restarted by itself any more. Press Reset to start a new run.")
    elif run.ended:
        step = run.latest().step if run.latest() is not None else 0
        ss[page.key("_resume_note")] = (
            f"The training process of this run stopped unexpectedly at step {step:,}. It was restarted from its "
            "last saved state." if run.dead else
            "This run was given back while nobody watched it, so others could use the server; it is back.")
        ss[page.key("_generation")] = gen + 1
        run = start(structure, ss[page.key("run_id")], gen + 1, cfg, points, run.save_path)
    run.owner = _session_id()
    run_watch.start()
    live_now = (id(run), *(flat[k] for k in config.live_settings(page.root)))
    if ss.get(page.key("_sent")) != live_now:
        run.update(cfg)
        ss[page.key("_sent")] = live_now
    ss[page.key("_run")] = run  # a reference for other pages; the cache above owns the run
    return run


def _may_resume(page: RunPage) -> bool:
    """At most MAX_AUTO_RESUMES automatic restarts a minute: a run that dies at once stays down."""
    now = time.monotonic()
    recent = [t for t in st.session_state.get(page.key("_resumes"), []) if now - t < 60] + [now]
    st.session_state[page.key("_resumes")] = recent
    return len(recent) <= MAX_AUTO_RESUMES


def resume_note(page: RunPage = PLAYGROUND) -> None:
    """Say once that the run was resumed from its saved state (or could not be)."""
    note = st.session_state.pop(page.key("_resume_note"), None)
    if note:
        st.info(note, icon=":material/history:")


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def current_run(page: RunPage = PLAYGROUND) -> LiveRun | None:
    """A page's run of this session, if one is alive (for other pages, e.g. the Langevin Lab)."""
    run = st.session_state.get(page.key("_run"))
    return run if run is not None and run.thread.is_alive() else None


def start_from_folder(page: RunPage, path: str, name: str, cfg) -> None:
    """Callback: a new run that starts from a run folder (ebm_core/checkpoint.py): the page takes the
    folder's settings, its worker the folder's trainer state (live/worker.py)."""
    ss = st.session_state
    for k, v in config.flat(cfg).items():
        ss[page.key(k)] = v
    ss[page.key("_start_from")] = {"path": str(path), "name": name}
    reset_run(page)


def reset_run(page: RunPage = PLAYGROUND) -> None:
    st.session_state[page.key("run_id")] += 1
