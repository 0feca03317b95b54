"""The app's own Streamlit elements (components v2): the live canvas, the live panels, the drawing
pad and the curve editor. Each is a Python module with its JavaScript in a .js file beside it."""

import re
from pathlib import Path

_HERE = Path(__file__).parent


def js_source(name: str) -> str:
    """The text of the JavaScript file `name` in this folder."""
    return (_HERE / name).read_text(encoding="utf-8")


def minify(js: str) -> str:
    """Light minification: drop comments, indentation and spaces around punctuation.

    So string literals in the JavaScript must not rely on a space next to punctuation.
    """
    lines = (re.sub(r"\s+//\s.*$|^\s*//.*$", "", line).strip() for line in js.splitlines())
    return "\n".join(re.sub(r" *([-=+*/<>!?:,;{}()[\]&|]) *", r"\1", line) for line in lines if line)
