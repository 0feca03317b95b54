"""The layers of the code, checked on every module: pages -> ui -> ebm_core, the library never imports
Streamlit (or the UI), no first-party import cycles, and the web server's first imports stay light."""

import ast
import subprocess
import sys

from conftest import ROOT

PACKAGES = ("ebm_core", "ui")


def _modules() -> dict[str, ast.Module]:
    """Every first-party module by dotted name (pages and the entry points by file stem)."""
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            found[name] = ast.parse(path.read_text(encoding="utf-8"))
    for path in [*sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py", ROOT / "serve.py"]:
        found[f"{path.parent.name}/{path.stem}" if path.parent.name == "pages" else path.stem] = ast.parse(
            path.read_text(encoding="utf-8"))
    return found


def _imports(name: str, tree: ast.Module) -> set[str]:
    """Dotted names this module imports, anywhere in it (a lazy import is still a dependency)."""
    package = name if name in PACKAGES or name.endswith("components") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # `from ebm_core import live` imports ebm_core.live
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: {i for i in _imports(m, t) if i in mods and i != m} for m, t in mods.items()} | {
        f"{m}:all": _imports(m, t) for m, t in mods.items()}


def test_the_library_imports_neither_streamlit_nor_the_ui_and_the_ui_no_page():
    g = _graph()
    for m, deps in g.items():
        if not m.endswith(":all"):
            continue
        m = m[:-4]
        if m.startswith("ebm_core"):
            bad = {d for d in deps if d.split(".")[0] in ("streamlit", "ui", "pages", "starlette", "devtools")}
            assert not bad, f"{m} imports {sorted(bad)}: the library must not depend on the app"
        if m.startswith("ui"):
            assert not {d for d in deps if d.startswith(("pages", "devtools"))}, f"{m} imports a page or devtools"


def test_the_benchmarks_do_not_import_the_test_tree():
    test_modules = {p.stem for p in (ROOT / "tests").rglob("*.py")}
    for path in sorted((ROOT / "bench").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _imports(path.stem, tree)
        assert not {n.split(".")[0] for n in names} & test_modules, f"bench/{path.name} imports the test tree"


def test_first_party_modules_have_no_import_cycle():
    g = {m: d for m, d in _graph().items() if not m.endswith(":all")}
    for d in g.values():  # `from ebm_core import x` also names the package itself, which is not a cycle
        d.difference_update(PACKAGES + ("ui.components",))
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)


def test_every_library_module_imports_without_streamlit_and_the_servers_first_imports_without_torch():
    names = sorted(m for m in _modules() if m.startswith("ebm_core"))
    code = (f"import importlib, sys\nfor m in {names!r}:\n    importlib.import_module(m)\n"
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # serve.py imports the routes before the first visitor: they must not pull torch in with them
    code = "import sys, ui.frame_route, ebm_core.views; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
