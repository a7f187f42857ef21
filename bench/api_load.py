"""Load benchmark of GET /v1/experts: gunicorn in front of the 1 M-contribution store, wrk
in front of gunicorn.

    python bench/api_load.py [--config bench/out/bench.toml] [--workers 2] [--threads 4]
                             [--connections 50] [--duration 30s] [--profile stacks.txt]

Needs the store `bench/run.py` builds (`bench/out/bench.db`, configured by
`bench/out/bench.toml`) and `wrk` (Debian: `apt-get install wrk`). It creates two API
clients with `experts:read` (internal and external audience; revoked at the end), makes
sure the signing key exists before the workers start (each worker must load the same key),
starts `gunicorn -k gthread` on a free local port with the configuration's rate limit
turned off, waits for /readyz, gets tokens through POST /oauth/token, warms the caches up,
runs `wrk --latency -s bench/wrk_experts.lua` (the realistic queries of
`bench/out/data/queries.txt`, every third one for the external audience, as bench/run.py
does), stops gunicorn and prints one JSON line: requests/s, latency percentiles, errors,
and the workers' CPU time per request (which, unlike the rest, holds on a shared machine).
`--profile` samples the workers with py-spy meanwhile. Figures are measured and written
down in BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import requests

from service.api.keys import load_signing_key
from service.api.scopes import EXPERTS_READ
from service.config import load_config
from service.store import clients as store_clients
from service.store.db import open_engine

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "wrk_experts.lua"
TARGET_RPS, TARGET_P99_MS = 300.0, 100.0
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clients(config_file: Path) -> list[tuple[str, str]]:
    """Create the bench clients (internal, external); also migrates the store and creates
    the signing key, once, before any worker starts."""
    config = load_config(config_file)
    load_signing_key(config.resolve_path(config.api.signing_key_file))
    engine = open_engine(config.database.url)
    try:
        with engine.begin() as conn:
            return [store_clients.create_client(conn, f"bench-api-load-{audience}",
                                                [EXPERTS_READ], audience)
                    for audience in ("internal", "external")]
    finally:
        engine.dispose()


def _revoke(config_file: Path, client_ids: list[str]) -> None:
    engine = open_engine(load_config(config_file).database.url, run_migrations=False)
    try:
        with engine.begin() as conn:
            for client_id in client_ids:
                store_clients.revoke_client(conn, client_id)
    finally:
        engine.dispose()


def _no_control_socket() -> list[str]:
    """Recent gunicorn opens a control socket at one fixed path per user; another gunicorn
    (the API of `make run`, say) may hold it."""
    from gunicorn.config import KNOWN_SETTINGS

    flags = {flag for setting in KNOWN_SETTINGS for flag in (setting.cli or [])}
    return ["--no-control-socket"] if "--no-control-socket" in flags else []


def _start_gunicorn(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WHOKNOWS_CONFIG": str(args.config),
           # the bench is one client per audience: the per-client limit would answer 429s
           "WHOKNOWS_API_RATE_LIMIT_PER_MINUTE": "0",
           "WHOKNOWS_API_TOKEN_LIFETIME_SECONDS": "86400"}
    command = [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-k", args.worker_class,
               "--threads", str(args.threads), "-b", f"127.0.0.1:{port}",
               "--timeout", "120", *_no_control_socket(), *args.gunicorn_arg,
               "service.api.wsgi:app"]
    print("  " + " ".join(command[2:]), file=sys.stderr)
    with log.open("wb") as handle:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return time.perf_counter() - started
        except (requests.ConnectionError, requests.Timeout):  # a cold 1 M store: wait on
            pass
        time.sleep(0.25)
    raise SystemExit(f"gunicorn not ready after {timeout:.0f} s")


def _token(base: str, client: tuple[str, str]) -> str:
    response = requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                             auth=client, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def _start_profiler(path: Path, pid: int) -> subprocess.Popen[bytes]:
    """py-spy on the gunicorn master and its workers (`pip install py-spy`)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    kind = "flamegraph" if path.suffix == ".svg" else "raw"
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--subprocesses", "--rate",
                             "200", "--format", kind, "--output", str(path), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_seconds(master: int) -> float:
    """User + system CPU time of the gunicorn workers so far (Linux /proc; 0 elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # the parent pid: a worker
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise ValueError(f"not a wrk duration: {value!r}")
    return round(float(match.group(1)) * _UNITS_MS[match.group(2)], 2)


def parse_wrk(output: str) -> dict[str, Any]:
    """requests/s, the latency percentiles, and the errors from `wrk --latency` output."""
    figures: dict[str, Any] = {}
    if found := re.search(r"Requests/sec:\s+([\d.]+)", output):
        figures["requests_per_s"] = round(float(found.group(1)), 1)
    if found := re.search(r"(\d+) requests in ([\d.]+\w+)", output):
        figures["requests"] = int(found.group(1))
    for percent, value in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)\s*$", output, re.M):
        figures[f"p{percent}_ms"] = _ms(value)
    if found := re.search(r"Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", output):
        figures["mean_ms"], figures["max_ms"] = _ms(found.group(1)), _ms(found.group(3))
    found = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["non_2xx"] = int(found.group(1)) if found else 0
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    figures["socket_errors"] = sum(map(int, found.groups())) if found else 0
    return figures


def _wrk(args: argparse.Namespace, base: str, tokens: list[str], duration: str,
         connections: int) -> str:
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{connections}", f"-d{duration}", "--latency",
               "--timeout", "10s", "-s", str(LUA), base, "--", str(args.queries), *tokens]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("bench/out/bench.toml"))
    parser.add_argument("--queries", type=Path, default=Path("bench/out/data/queries.txt"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[],
                        help="one more gunicorn argument (repeat for several)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--warmup", default="10s", help="an unmeasured wrk run first ('0' skips)")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--log", type=Path, default=Path("bench/out/api_load-gunicorn.log"))
    parser.add_argument("--keep-output", action="store_true", help="print wrk's own output too")
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample the workers with py-spy during the measured run and write "
                        "collapsed stacks here (.txt) or a flame graph (.svg)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the bench configuration names its store relative to the repository
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    for path in (args.config, args.queries):
        if not path.exists():
            raise SystemExit(f"{path} does not exist: build the store first (make bench)")

    load_before = os.getloadavg()[0]  # on a shared machine, others' load skews the figures
    clients = _clients(args.config)
    port = args.port or _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_gunicorn(args, port, args.log)
    try:
        ready_s = _wait_ready(base, server, timeout=300)
        tokens = [_token(base, client) for client in clients]
        if args.warmup not in ("0", "0s"):
            _wrk(args, base, tokens, args.warmup, args.connections)
        profiler = _start_profiler(args.profile, server.pid) if args.profile else None
        cpu_before = _cpu_seconds(server.pid)
        output = _wrk(args, base, tokens, args.duration, args.connections)
        cpu = _cpu_seconds(server.pid) - cpu_before
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
    finally:
        _stop(server)
        _revoke(args.config, [client_id for client_id, _ in clients])
    if args.keep_output:
        print(output, file=sys.stderr)
    figures = parse_wrk(output)
    if cpu and figures.get("requests"):
        # contention-free measure: what one request costs the workers, and so what the
        # machine's cores could serve if nothing else ran on them
        figures["worker_cpu_ms_per_request"] = round(1000 * cpu / figures["requests"], 1)
        figures["cpu_bound_capacity_per_s"] = round(
            (os.cpu_count() or 1) * figures["requests"] / cpu, 1)
    result = {
        "benchmark": "api_load", "endpoint": "GET /v1/experts",
        "gunicorn": {"workers": args.workers, "worker_class": args.worker_class,
                     "threads": args.threads, "extra": args.gunicorn_arg},
        "wrk": {"threads": args.wrk_threads, "connections": args.connections,
                "duration": args.duration, "warmup": args.warmup},
        "ready_s": round(ready_s, 1), **figures,
        "target": {"requests_per_s": TARGET_RPS, "p99_ms": TARGET_P99_MS,
                   "met": figures.get("requests_per_s", 0) >= TARGET_RPS
                   and figures.get("p99_ms", float("inf")) <= TARGET_P99_MS
                   and figures["non_2xx"] == 0 and figures["socket_errors"] == 0},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_before": round(load_before, 2)},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
