"""Several replicas of the app behind nginx with sticky sessions, on one machine.

    .venv/bin/python deploy/replicas.py              # replicas on 127.0.0.1:8601, :8602; nginx on 127.0.0.1:8500
    .venv/bin/python deploy/replicas.py --address 0.0.0.0 --port 80 --replicas 4
    .venv/bin/python deploy/replicas.py --check      # write the nginx config, `nginx -t` it, start nothing

Each replica is `streamlit run serve.py` with the flags `make run` and the tests use (headless, no file
watcher, no post-script GC, OMP/MKL on one thread), bound to 127.0.0.1, with EBM_REPLICA=r1, r2, ...
(the frame and panel routes name it in their X-EBM-Replica header) and one Streamlit cookie secret
shared by all of them. They share $EBM_STATE_DIR, so a run saved by one replica can be resumed by
another. Each server trains at most EBM_MAX_TRAINING runs at once (ebm_core/live/slots.py: by default
16 per core of the machine, fewer when memory is short); replicas on one machine share its cores, so
unless EBM_MAX_TRAINING or --max-training says otherwise each gets that default divided by their
number. nginx (deploy/nginx.conf.template, Debian's `nginx`) runs in the foreground as the current
user, with its config, pid, logs and temp files in --dir (a new temp folder unless given); nothing
of the system's nginx is touched.

Once everything answers /_stcore/health, one JSON line {"event": "ready", "url", "replicas": [{"name",
"port", "pid"}], "nginx_pid", "max_training", "dir"} goes to stdout. Ctrl-C or SIGTERM stops nginx,
then the replicas (SIGTERM to each one's process group, SIGKILL after 20 s). A replica that dies is
started again (at most every 10 s; meanwhile nginx sends its sessions to another replica); if nginx
dies, the replicas are stopped and the exit status is 1.
"""

import argparse
import grp
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESTART_S = 10  # a replica that exits is started again, at most this often
TEMPLATE = Path(__file__).resolve().with_name("nginx.conf.template")
STREAMLIT_FLAGS = ("--server.headless", "true", "--browser.gatherUsageStats", "false",
                   "--server.fileWatcherType", "none", "--runner.postScriptGC", "false")  # devtools/browser.py's


def find_nginx() -> str | None:
    """$NGINX, else nginx on the PATH, else Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    exe = os.environ.get("NGINX") or shutil.which("nginx")
    if exe:
        return exe
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def max_training_each(replicas: int) -> int | None:
    """The per-server training limit split between replicas sharing this machine (None: unknown)."""
    try:  # slots.py alone, by path: importing the package would load torch
        spec = importlib.util.spec_from_file_location("ebm_slots", ROOT / "ebm_core" / "live" / "slots.py")
        slots = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(slots)
        return max(1, slots.default_limit() // replicas)
    except Exception as e:  # noqa: BLE001  # the app then applies its own default in each replica
        print(f"no training limit computed ({e!r}): each replica uses its own default", file=sys.stderr)
        return None


def render_config(workdir: Path, listen: str, backends: list[str]) -> str:
    """The nginx config for `listen` ("address:port") in front of `backends` ("127.0.0.1:port" each)."""
    user = ""
    if os.geteuid() == 0:  # workers would otherwise run as nobody, who cannot write the temp folders here
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    fields = {"dir": str(workdir), "listen": listen, "user": user,
              "servers": "\n".join(f"        server {b};" for b in backends)}
    text = TEMPLATE.read_text(encoding="utf-8")
    for k, v in fields.items():
        text = text.replace("{{" + k + "}}", v)
    return text


def write_config(workdir: Path, listen: str, backends: list[str]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "nginx.conf"
    path.write_text(render_config(workdir, listen, backends), encoding="utf-8")
    return path


def nginx_cmd(nginx: str, workdir: Path, *extra: str) -> list[str]:
    """nginx with its prefix, startup error log and config all in workdir."""
    return [nginx, "-p", f"{workdir}/", "-e", str(workdir / "error.log"), "-c", str(workdir / "nginx.conf"), *extra]


def check_config(nginx: str, workdir: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on the config written in workdir (its output in .stdout)."""
    return subprocess.run(nginx_cmd(nginx, workdir, "-t"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=30)


def start_nginx(nginx: str, workdir: Path) -> subprocess.Popen:
    """nginx in the foreground (its master is the returned process), in its own process group."""
    log = open(workdir / "nginx.out", "ab")  # noqa: SIM115  # the child keeps it
    try:
        return subprocess.Popen(nginx_cmd(nginx, workdir, "-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()


def start_replica(name: str, port: int, workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    """`streamlit run serve.py` on 127.0.0.1:port, logging to workdir/<name>.log (a file, never a pipe:
    a full pipe blocks the server)."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"), *STREAMLIT_FLAGS,
           "--server.address", "127.0.0.1", "--server.port", str(port)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env, "EBM_REPLICA": name}
    log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115  # the child keeps it
    try:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


def wait_healthy(urls: dict[str, str], procs: dict[str, subprocess.Popen], timeout: float,
                 stopping: threading.Event | None = None) -> None:
    """Until every url answers its health check; RuntimeError when one's process ended, time ran out
    or `stopping` was set."""
    deadline = time.monotonic() + timeout
    waiting = dict(urls)
    while waiting:
        if stopping is not None and stopping.is_set():
            raise RuntimeError("stopped while starting")
        for name, url in list(waiting.items()):
            if healthy(url):
                del waiting[name]
            elif procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {procs[name].returncode} before answering {url}")
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"not healthy within {timeout:.0f} s: {', '.join(waiting)}")
        if waiting:
            time.sleep(0.3)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20) -> None:
    """Signal the process group a process leads; SIGKILL it after `grace` s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=2, help="how many app servers (default 2)")
    ap.add_argument("--first-port", type=int, default=8601, help="replica i listens on 127.0.0.1:(first-port + i)")
    ap.add_argument("--address", default="127.0.0.1", help="where nginx listens (0.0.0.0 for a class)")
    ap.add_argument("--port", type=int, default=8500, help="nginx's port")
    ap.add_argument("--dir", type=Path, help="config, pid, logs and temp files (default: a new temp folder, kept)")
    ap.add_argument("--nginx", default=find_nginx(), help="the nginx binary (default: $NGINX, the PATH, /usr/sbin)")
    ap.add_argument("--check", action="store_true", help="write the config and test it with nginx -t; start nothing")
    ap.add_argument("--max-training", type=int, help="runs training at once per replica (EBM_MAX_TRAINING; default: "
                    "$EBM_MAX_TRAINING, else the machine's default limit divided by --replicas)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds the replicas may take to start")
    args = ap.parse_args()
    if not args.nginx:
        sys.exit("nginx is not installed (apt-get install nginx), or pass --nginx")
    if args.replicas < 1:
        sys.exit("--replicas must be at least 1")
    workdir = (args.dir or Path(tempfile.mkdtemp(prefix="ebm-deploy-"))).resolve()
    ports = [args.first_port + i for i in range(args.replicas)]
    write_config(workdir, f"{args.address}:{args.port}", [f"127.0.0.1:{p}" for p in ports])
    checked = check_config(args.nginx, workdir)
    if checked.returncode != 0 or args.check:
        print(checked.stdout, end="", file=sys.stderr)
        print(f"config: {workdir / 'nginx.conf'}", file=sys.stderr)
        return checked.returncode

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    # one cookie secret for all: Streamlit signs its XSRF cookie with it (a random one per process otherwise)
    env = {"STREAMLIT_SERVER_COOKIE_SECRET": os.environ.get("STREAMLIT_SERVER_COOKIE_SECRET") or secrets.token_hex(32)}
    limit = args.max_training or (None if os.environ.get("EBM_MAX_TRAINING") else max_training_each(args.replicas))
    if limit:
        env["EBM_MAX_TRAINING"] = str(limit)
    names = [f"r{i + 1}" for i in range(args.replicas)]
    procs: dict[str, subprocess.Popen] = {}
    status = 0
    try:
        for name, port in zip(names, ports):
            procs[name] = start_replica(name, port, workdir, env)
        wait_healthy({n: f"http://127.0.0.1:{p}" for n, p in zip(names, ports)}, procs, args.timeout, stopping)
        procs["nginx"] = start_nginx(args.nginx, workdir)
        host = "127.0.0.1" if args.address in ("0.0.0.0", "::", "[::]") else args.address
        url = f"http://{host}:{args.port}"
        wait_healthy({"nginx": url}, procs, 30, stopping)
        print(json.dumps({"event": "ready", "url": url, "dir": str(workdir), "nginx_pid": procs["nginx"].pid,
                          "max_training": os.environ.get("EBM_MAX_TRAINING") if limit is None else limit,
                          "replicas": [{"name": n, "port": p, "pid": procs[n].pid} for n, p in zip(names, ports)]}),
              flush=True)
        started = dict.fromkeys(names, time.monotonic())
        while not stopping.wait(1.0):
            if procs["nginx"].poll() is not None:
                print(f"nginx exited with {procs['nginx'].returncode}; stopping the replicas (logs in {workdir})",
                      file=sys.stderr)
                status = 1
                break
            for name, port in zip(names, ports):
                # a replica that died is started again (at most every RESTART_S); meanwhile nginx sends its
                # sessions' requests to the next replica of the hash ring
                if procs[name].poll() is not None and time.monotonic() - started[name] >= RESTART_S:
                    print(f"{name} exited with {procs[name].returncode}; starting it again (log: "
                          f"{workdir / name}.log)", file=sys.stderr, flush=True)
                    procs[name], started[name] = start_replica(name, port, workdir, env), time.monotonic()
    except RuntimeError as e:
        print(f"{e} (logs in {workdir})", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the shutdown short
        if "nginx" in procs:
            stop(procs.pop("nginx"), signal.SIGTERM, grace=10)  # nginx's fast shutdown: closes the WebSockets
        for p in procs.values():  # signal them all, then wait: they stop side by side
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs.values():
            stop(p)
    return status


if __name__ == "__main__":
    sys.exit(main())
