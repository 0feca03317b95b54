"""Start `streamlit run` on 127.0.0.1 and drive Debian's Chromium through Playwright: shared by the
browser tests (tests/browser.py) and the benchmarks (bench/)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_PIDS: dict[str, int] = {}  # base URL -> pid of the streamlit process serving it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


def find_chromium() -> str | None:
    """Debian's Chromium ($CHROMIUM, else chromium or chromium-browser on the PATH), or None."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_path() -> str:
    exe = find_chromium()
    if not exe:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(script: Path | str, *extra: str, cwd: Path = ROOT, timeout: float = 90, port: int | None = None,
                     env: dict[str, str] | None = None):
    """Run `streamlit run script` on a local port (a free one unless given), with extra environment
    variables `env`; yields the base URL. Logs go to a temp file, never a pipe (a full pipe blocks the
    server)."""
    port = port or free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--runner.postScriptGC", "false", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not start:\n{log.read()[-3000:]}")
            time.sleep(0.3)
        SERVER_PIDS[url] = proc.pid
        yield url
    finally:
        SERVER_PIDS.pop(url, None)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        os.unlink(log.name)


@contextmanager
def browser(width: int = 1500, height: int = 1000, device_scale_factor: float = 1, *, executable: str | None = None):
    """A fresh browser context (headless Chromium) of this viewport; closed on leaving."""
    from playwright.sync_api import sync_playwright

    exe = executable or chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b.new_context(viewport={"width": width, "height": height}, device_scale_factor=device_scale_factor)
        finally:
            b.close()


def descendants(pid: int) -> list[int]:
    """Pids of every live process below `pid` (from /proc)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":  # zombies are gone in all but name
                parent[int(d.name)] = int(fields[1])
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        frontier += kids
    return out


def training_processes(server_pid: int) -> set[int]:
    """The server's live-run workers and jobs: the children of its multiprocessing fork server."""
    found = set()
    for pid in descendants(server_pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{parent}/cmdline", "rb") as f:
                if b"forkserver" in f.read():
                    found.add(pid)
        except OSError:
            pass
    return found
