"""A page waiting for a job (ebm_core/jobs.py) shows a progress line; the line's update is where
Streamlit stops a page that went away (the tab closed, or a click reruns it), which kills the job."""

from collections.abc import Callable
from typing import Any

import streamlit as st

from ebm_core import jobs


def run(text: str, fn: Callable, *args: Any, timeout_s: float, memo: jobs.Memo | None = None, key: Any = None,
        expect_s: float = 10.0, **kwargs: Any) -> Any:
    """jobs.run(fn, *args, **kwargs), or memo.get(key, ...) when a memo is given, with a progress line
    that fills over about expect_s seconds."""
    bar = st.empty()

    def on_wait(elapsed: float) -> None:
        bar.progress(min(0.95, elapsed / expect_s), text=f"{text} ({elapsed:.0f} s)")

    try:
        if memo is None:
            return jobs.run(fn, *args, timeout_s=timeout_s, on_wait=on_wait, **kwargs)
        return memo.get(key, fn, *args, timeout_s=timeout_s, on_wait=on_wait, **kwargs)
    finally:
        bar.empty()
