"""A class larger than one server: replicas of the app behind nginx with sticky sessions.

    python bench/replicas.py [--sessions 10] [--replicas 2] [--warmup 10] [--seconds 20] [--results DIR]

Starts deploy/replicas.py (the replicas, `streamlit run serve.py` each, and Debian's nginx in front,
deploy/nginx.conf.template) on free local ports, then drives --sessions browserless tabs through
nginx (bench/st_client.py: the WebSocket, the canvas's frame pulls and the live panels' pulls, with
the tab's cookies, so nginx's sticky cookie comes back like a browser's), presses Train in all, and
measures a window of --seconds after --warmup. Checks, each one failing the run (exit status 1):
  - every session got the sticky cookie on its WebSocket's handshake;
  - every session trains: the step its live numbers show advances in both halves of the window;
  - every session's pulls (canvas and panels) reach its own replica: no 404 and no 403 answer, every
    answer carries the X-EBM-Replica of the replica that nginx says (X-EBM-Upstream on the handshake)
    serves the session's WebSocket, and only that one;
  - nginx's access log agrees: every request carrying one session's cookie went to one upstream;
  - every replica serves at least one session (the cookies are random: with 10 sessions and 2
    replicas all land on one with probability 2/1024).
Reported: sessions per replica, steps/s and frames/s pulled per session, the pulls' errors, the
click-to-training latency, and per replica its process tree's memory (RSS summed, and PSS, which
splits shared pages fairly between the fork server's children) and CPU in the window.
Results: replicas.json and replicas.md in --results (default bench/results).
"""

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import st_client  # noqa: E402

from devtools.browser import descendants  # noqa: E402
from devtools.memory import tree_mb  # noqa: E402

STICKY_COOKIE = "ebm_sticky"  # deploy/nginx.conf.template
CLK = os.sysconf("SC_CLK_TCK")


def free_ports(n: int) -> tuple[int, int]:
    """A free port for nginx and the first of n free consecutive ones for the replicas."""
    def free(p: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
        return True

    def any_free() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    while True:
        first = any_free()
        if first + n < 65536 and all(free(first + i) for i in range(n)):
            break
    while (front := any_free()) in range(first, first + n):
        pass
    return front, first


def tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat: all but idle and iowait)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / CLK


def cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each process in a tree."""
    out = {}
    for p in tree(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[p] = (int(f[11]) + int(f[12])) / CLK
    return out


def cores(a: dict[int, float], b: dict[int, float], dt: float) -> float:
    """Cores a tree used between two cpu_s readings (processes present in both, and new ones whole)."""
    return sum(v - a.get(p, 0.0) for p, v in b.items()) / dt


def start_deployment(workdir: Path, replicas: int) -> tuple[subprocess.Popen, dict]:
    front, first = free_ports(replicas)
    cmd = [sys.executable, str(ROOT / "deploy" / "replicas.py"), "--replicas", str(replicas), "--port", str(front),
           "--first-port", str(first), "--dir", str(workdir)]
    err = open(workdir / "replicas.err", "wb")  # noqa: SIM115  # the child keeps it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
    err.close()
    line = proc.stdout.readline()  # deploy/replicas.py gives up by itself if the replicas do not start
    if not line:
        proc.wait()
        raise RuntimeError(f"deploy/replicas.py exited {proc.returncode}:\n"
                           f"{(workdir / 'replicas.err').read_text()[-3000:]}")
    return proc, json.loads(line)


def stop_deployment(proc: subprocess.Popen) -> float:
    """SIGTERM, as Ctrl-C would; seconds until everything stopped."""
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise RuntimeError("deploy/replicas.py did not stop within 60 s of SIGTERM") from None
    return time.monotonic() - t


async def drive(url: str, n: int, warmup: float, seconds: float, stagger: float, replica_pids: dict[str, int],
                port_names: dict[str, str]) -> dict:
    """The sessions' run; `replica_pids`: the process trees whose memory and CPU are measured (by name)."""
    sessions = [st_client.Session(url, name=f"s{i}") for i in range(n)]
    for i, s in enumerate(sessions):  # students arrive a little apart
        await s.open()
        if i + 1 < n:
            await asyncio.sleep(stagger)
    await asyncio.gather(*(s.wait(lambda s: s.label("train") is not None, 300) for s in sessions))
    t_click = time.monotonic()
    for s in sessions:
        await s.click("train")
    latency = await asyncio.gather(*(st_client._timed(s, lambda s: s.label("train") == "Pause", 120)
                                     for s in sessions))
    await asyncio.sleep(warmup)
    f0 = [st_client.frame_counts(s) for s in sessions]
    p0 = [st_client.panel_counts(s) for s in sessions]
    cpu0 = {name: cpu_s(pid) for name, pid in replica_pids.items()}
    busy0, client0, t0 = machine_busy_s(), time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    t1 = time.monotonic()
    busy1, client1 = machine_busy_s(), time.process_time()
    cpu1 = {name: cpu_s(pid) for name, pid in replica_pids.items()}
    memory = {name: tree_mb(pid) for name, pid in replica_pids.items()}  # while every run trains
    per = []
    for s, a, pa in zip(sessions, f0, p0):
        mid = (t0 + t1) / 2
        rate, _ = st_client.rate_between(s.steps, t0, t1)
        halves = [st_client.rate_between(s.steps, x, y)[0] for x, y in ((t0, mid), (mid, t1))]
        frames = st_client.frame_rates(s, a, st_client.frame_counts(s), t0, t1)
        panels = st_client.panel_rates(s, pa, st_client.panel_counts(s), t0, t1)
        upstream = s.ws_headers.get("x-ebm-upstream", "")
        st = s.stats
        per.append({
            "session": s.name, "cookie": s.cookies.get(STICKY_COOKIE), "ws_upstream": upstream,
            "ws_replica": port_names.get(upstream.rpartition(":")[2]),
            "pull_replicas": dict(st.replicas),  # every answer since the session opened
            "steps_per_s": rate, "halves_steps_per_s": halves, "advancing": all(h > 0 for h in halves),
            "step": s.step(), "frames_pulled_per_s": frames["frames_pulled_per_s"],
            "frame_kB_per_s": frames["frame_kB_per_s"], "frame_wait_ms_median": frames["frame_wait_ms"]["median"],
            "numbers_updates_per_s": panels.get("numbers_panel", {}).get("updates_per_s", 0.0),
            # since the session opened
            "frames_404": st.frames_gone, "frame_errors": dict(st.frame_errors),
            "panel_404": sum(p.gone for p in st.panels.values()),
            "panel_errors": {k: dict(p.errors) for k, p in st.panels.items() if p.errors},
            "http_reconnects": st.http_reconnects,
            "train_click_latency_s": latency[sessions.index(s)],
            "connection_error": repr(s.error) if s.error else None})
    out = {"window_s": t1 - t0, "sessions": per, "memory": memory,
           "cores": {name: cores(cpu0[name], cpu1[name], t1 - t0) for name in replica_pids},
           "machine_cores": (busy1 - busy0) / (t1 - t0), "client_cores": (client1 - client0) / (t1 - t0),
           "train_clicked_at_s": t_click - sessions[0].opened_at}
    await asyncio.gather(*(s.close() for s in sessions))
    return out


def access_log_upstreams(path: Path) -> dict[str, set[str]]:
    """nginx's access log: sticky key -> the upstreams its requests went to."""
    seen: dict[str, set[str]] = defaultdict(set)
    for line in path.read_text().splitlines():
        m = re.search(r"upstream=(\S+) sticky=(\S+)$", line)
        if m and m.group(1) != "-":
            seen[m.group(2)].add(m.group(1))
    return seen


def checks(res: dict, names: list[str], log: dict[str, set[str]]) -> dict[str, bool]:
    per = res["sessions"]
    ok = {
        "every session got the sticky cookie": all(p["cookie"] for p in per),
        "every session trains (step advances in both halves of the window)": all(p["advancing"] for p in per),
        "no 404 or 403 on any pull": all(not p["frames_404"] and not p["panel_404"]
                                         and "HTTP 403" not in p["frame_errors"]
                                         and not any("HTTP 403" in e for e in p["panel_errors"].values())
                                         for p in per),
        "every pull answered by the session's WebSocket replica": all(
            p["ws_replica"] is not None and set(p["pull_replicas"]) == {p["ws_replica"]} for p in per),
        "nginx's log: one upstream per session cookie": all(len(log.get(p["cookie"], ())) == 1 for p in per),
        "every replica serves a session": {p["ws_replica"] for p in per} == set(names),
        "no pull or connection errors": all(not p["frame_errors"] and not p["panel_errors"]
                                            and not p["connection_error"] for p in per),
    }
    return ok


def report(res: dict) -> str:
    per = res["sessions"]
    names = [r["name"] for r in res["deployment"]["replicas"]]
    by = {n: [p for p in per if p["ws_replica"] == n] for n in names}
    lines = [f"# Replicas behind nginx ({res['date']}, {res['machine']}, {res['window_s']:.0f} s window)", "",
             f"Code: {res['code']}. `python bench/replicas.py --sessions {res['n']} --replicas {len(names)} "
             f"--warmup {res['warmup_s']:g} --seconds {res['seconds']:g}`: deploy/replicas.py started "
             f"{len(names)} replicas (`streamlit run serve.py` each) and nginx {res['nginx_version']} in front "
             f"(deploy/nginx.conf.template: sticky sessions by a cookie, consistent hash), in "
             f"{res['startup_s']:.1f} s (at most {res['deployment']['max_training']} runs training at once per "
             f"replica); {res['n']} browserless tabs (bench/st_client.py, keeping cookies like a "
             f"browser) went through nginx and pressed Train. Load average at the start "
             f"{', '.join(f'{x:.1f}' for x in res['loadavg_start'])}; all of it on the same {os.cpu_count()} cores, "
             "so the replicas compete for the same CPUs: this checks correctness, not capacity.", "",
             "## Checks", ""]
    lines += [f"- {'PASS' if v else '**FAIL**'}: {k}" for k, v in res["checks"].items()]
    lines += ["", "## Per replica", "",
              "| replica | sessions | steps/s per session | frames/s pulled per session | processes | RSS summed "
              "| PSS | private | cores in the window |", "|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        ps, m = by[n], res["memory"][n]
        steps = ", ".join(f"{p['steps_per_s']:.1f}" for p in ps) or "-"
        frames = ", ".join(f"{p['frames_pulled_per_s']:.1f}" for p in ps) or "-"
        lines.append(f"| {n} | {len(ps)} | {steps} | {frames} | {m['processes']} | {m['rss_mb']:.0f} MB | "
                     f"{m['pss_mb']:.0f} MB | {m['private_mb']:.0f} MB | {res['cores'][n]:.2f} |")
    steps = [p["steps_per_s"] for p in per]
    frames = [p["frames_pulled_per_s"] for p in per]
    lat = [x for x in (p["train_click_latency_s"] for p in per) if x is not None]
    pulls = sum(sum(p["pull_replicas"].values()) for p in per)
    replica_cores = sum(res["cores"][n] for n in names)
    lines += ["", "## All sessions", "",
              f"- steps/s per session: median {statistics.median(steps):.1f}, min {min(steps):.1f}, "
              f"sum {sum(steps):.0f}",
              f"- canvas frames/s pulled per session: median {statistics.median(frames):.1f}, min {min(frames):.1f} "
              f"(answered in {statistics.median(p['frame_wait_ms_median'] or 0 for p in per):.0f} ms median)",
              f"- pull answers: {pulls} in all, each with the X-EBM-Replica of its session's replica: "
              f"{sum(1 for p in per if set(p['pull_replicas']) == {p['ws_replica']})} of {len(per)} sessions; "
              f"404s {sum(p['frames_404'] + p['panel_404'] for p in per)}, "
              f"errors {sum(sum(p['frame_errors'].values()) for p in per)} (canvas) + "
              f"{sum(sum(sum(e.values()) for e in p['panel_errors'].values()) for p in per)} (panels); "
              f"keep-alive reconnects {sum(p['http_reconnects'] for p in per)}",
              f"- Train pressed in all sessions at once: answered in {statistics.median(lat):.1f} s median, "
              f"{max(lat):.1f} s worst; {len(per) - len(lat)} not within 120 s" if lat else
              "- Train: no session answered",
              f"- nginx: {res['memory']['nginx']['rss_mb']:.0f} MB RSS ({res['memory']['nginx']['processes']} "
              f"processes), {res['cores']['nginx']:.3f} cores in the window; everything stopped {res['stop_s']:.1f} s "
              "after SIGTERM",
              f"- the whole machine was busy {res['machine_cores']:.2f} cores of {os.cpu_count()} in the window: "
              f"replicas {replica_cores:.2f}, nginx {res['cores']['nginx']:.2f}, these clients "
              f"{res['client_cores']:.2f}, others (other people's jobs) "
              f"{res['machine_cores'] - replica_cores - res['cores']['nginx'] - res['client_cores']:.2f}",
              "", "Per session: replica (WebSocket upstream), steps/s, frames/s pulled, answers per X-EBM-Replica:", ""]
    lines += [f"- {p['session']}: {p['ws_replica']} ({p['ws_upstream']}), {p['steps_per_s']:.1f} steps/s "
              f"(halves {p['halves_steps_per_s'][0]:.1f} / {p['halves_steps_per_s'][1]:.1f}), "
              f"{p['frames_pulled_per_s']:.1f} frames/s, {p['pull_replicas']}" for p in per]
    return "\n".join(lines) + "\n"


def code_version() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return f"working tree of {rev}" + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return str(ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--stagger", type=float, default=0.5, help="seconds between sessions opening")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("deploy_replicas", ROOT / "deploy" / "replicas.py")
    deploy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deploy)
    nginx = deploy.find_nginx()
    if not nginx:
        sys.exit("nginx is not installed (apt-get install nginx)")
    res = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": f"{platform.machine()}, "
           f"{os.cpu_count()} CPUs", "loadavg_start": os.getloadavg(), "code": code_version(), "n": args.sessions,
           "warmup_s": args.warmup, "seconds": args.seconds,
           "nginx_version": subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]}
    with tempfile.TemporaryDirectory(prefix="ebm-replicas-") as tmp:
        workdir = Path(tmp)
        t = time.monotonic()
        proc, dep = start_deployment(workdir, args.replicas)
        res["startup_s"] = time.monotonic() - t
        res["deployment"] = {k: dep.get(k) for k in ("url", "replicas", "max_training")}
        backends = ", ".join(f"{r['name']}:{r['port']}" for r in dep["replicas"])
        print(f"deployment ready in {res['startup_s']:.1f} s: {dep['url']} -> {backends}", flush=True)
        try:
            res.update(asyncio.run(drive(dep["url"], args.sessions, args.warmup, args.seconds, args.stagger,
                                         {**{r["name"]: r["pid"] for r in dep["replicas"]}, "nginx": dep["nginx_pid"]},
                                         {str(r["port"]): r["name"] for r in dep["replicas"]})))
        finally:
            res["stop_s"] = stop_deployment(proc)
        log = access_log_upstreams(workdir / "access.log")
    names = [r["name"] for r in dep["replicas"]]
    res["checks"] = checks(res, names, log)
    res["sessions_per_replica"] = dict(Counter(p["ws_replica"] for p in res["sessions"]))
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "replicas.json").write_text(json.dumps(res, indent=1, default=sorted) + "\n")
    text = report(res)
    (args.results / "replicas.md").write_text(text)
    print(text)
    return 0 if all(res["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
