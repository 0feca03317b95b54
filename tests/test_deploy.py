"""deploy/: the nginx config that puts replicas of the app behind one address with sticky sessions.

Checked against Debian's nginx with two stub backends (no Streamlit: cheap): nginx accepts the config,
a client without the cookie gets one, a client with a cookie always reaches the same backend, the
routes' headers pass both ways, and the WebSocket's upgrade is forwarded. The real app behind it is
bench/replicas.py's job. Skipped when nginx is not installed, except under CI=1 (.ci/run installs it)."""

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT

_spec = importlib.util.spec_from_file_location("deploy_replicas", ROOT / "deploy" / "replicas.py")
deploy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deploy)

NGINX = deploy.find_nginx()
if NGINX is None and os.environ.get("CI") != "1":
    pytest.skip("nginx is not installed (apt-get install nginx)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/_stcore/stream":  # answer an upgrade only if nginx passed it on
                upgrade = (self.headers.get("Upgrade", "").lower() == "websocket"
                           and "upgrade" in self.headers.get("Connection", "").lower())
                self.send_response(101 if upgrade else 400)
                if upgrade:
                    self.send_header("Upgrade", "websocket")
                    self.send_header("Connection", "Upgrade")
                self.end_headers()
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("X-EBM-Replica", name)
            self.send_header("X-Frame-Key", "7.1")
            self.send_header("X-Seen-Auth", self.headers.get("X-EBM-Auth", ""))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    """nginx with the deployment's config in front of two stub backends; yields (url, backend names by port)."""
    backends = {"b1": _backend("b1"), "b2": _backend("b2")}
    workdir = tmp_path_factory.mktemp("nginx")
    port = _free_port()
    deploy.write_config(workdir, f"127.0.0.1:{port}", [f"127.0.0.1:{b.server_port}" for b in backends.values()])
    checked = deploy.check_config(NGINX, workdir)
    assert checked.returncode == 0, checked.stdout
    proc = deploy.start_nginx(NGINX, workdir)
    try:
        deadline = time.monotonic() + 10  # readiness: nginx binds its port a moment after it starts
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (workdir / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", {str(b.server_port): n for n, b in backends.items()}
    finally:
        deploy.stop(proc, grace=10)
        for b in backends.values():
            b.shutdown()
            b.server_close()


def _get(url: str, headers: dict[str, str] | None = None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
        return r.status, r.headers


def test_the_cli_writes_a_config_that_nginx_accepts(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "deploy" / "replicas.py"), "--check", "--dir", str(tmp_path),
                          "--port", str(_free_port())], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert "server 127.0.0.1:8601;" in conf and "server 127.0.0.1:8602;" in conf and "{{" not in conf


def test_a_session_cookie_pins_every_request_to_one_backend(front):
    url, names = front
    pinned = {}
    for _ in range(20):
        status, h = _get(url + "/")
        cookie = h["Set-Cookie"].split(";")[0]
        assert status == 200 and cookie.startswith("ebm_sticky=")
        pinned[cookie] = names[h["X-EBM-Upstream"].rpartition(":")[2]]
    # random cookies spread over both backends (all 20 on one: probability 2e-6)
    assert set(pinned.values()) == {"b1", "b2"}
    for cookie, name in pinned.items():
        for _ in range(3):
            status, h = _get(url + "/api/ebm/frame/tok?view=energy&after=", {"Cookie": cookie, "X-EBM-Auth": "k1"})
            assert (status, h["X-EBM-Replica"]) == (200, name)
            assert h["X-Frame-Key"] == "7.1" and h["X-Seen-Auth"] == "k1"  # the routes' headers, both ways
            assert "Set-Cookie" not in h  # the cookie is set once


def test_the_websocket_upgrade_is_forwarded_with_the_cookie(front):
    url, names = front
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, f"connection closed after {head!r}"
            head += chunk
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), lines
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    assert headers["set-cookie"].startswith("ebm_sticky=")  # a client that opens the socket first is pinned too
    assert headers["x-ebm-upstream"].rpartition(":")[2] in names
