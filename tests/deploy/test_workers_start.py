"""Several workers starting together with no signing key yet: the README's production
command (`gunicorn -w 2 … 'service.api.wsgi:app'`) boots every time, and every worker
signs with the one key that ended up in the file."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from service.api.keys import load_signing_key
from tests.api.conftest import free_port

GUNICORN = Path(sys.executable).parent / "gunicorn"
#: the README's command ("Deploying"), on a port of the test's
README_COMMAND = ["-w", "2", "-k", "gthread", "--threads", "4"]
BOOTS = 10
#: all at once: a boot is two workers importing the app (seconds of CPU each), so the
#: test takes about the CPU time of the twenty imports whatever the split
AT_ONCE = BOOTS
#: seconds a boot may take on a loaded machine (two cores shared with other jobs)
BOOT_SECONDS = 240


def test_processes_creating_the_key_at_once_all_get_the_one_in_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing-key.pem"
    context = multiprocessing.get_context("fork")  # fast, and what gunicorn's workers are
    start = context.Barrier(6)
    kids = context.Queue()

    def load() -> None:
        start.wait()
        kids.put(load_signing_key(path).kid)

    processes = [context.Process(target=load) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0] * 6
    kids = [kids.get(timeout=5) for _ in processes]
    assert len(set(kids)) == 1
    assert kids[0] == load_signing_key(path).kid
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["signing-key.pem"]  # no temp left


def _boot(folder: Path) -> tuple[bool, set[str], str]:
    """Start the README's command in `folder` (a fresh store, no key); return whether it
    answered /readyz with its master alive and both workers booted, the key ids its JWKS
    showed over fresh connections, and its log."""
    folder.mkdir()
    folder.joinpath("whoknows.toml").write_text('[api]\nsigning_key_file = "var/key.pem"\n')
    port = free_port()
    env = {**os.environ, "WHOKNOWS_CONFIG": str(folder / "whoknows.toml"),
           "HOME": str(folder)}  # gunicorn's control socket lives in $HOME
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = folder / "gunicorn.log"
    with log.open("wb") as handle:
        server = subprocess.Popen([str(GUNICORN), *README_COMMAND, "-b", f"127.0.0.1:{port}",
                                   "service.api.wsgi:app"], cwd=folder, env=env,
                                  stdout=handle, stderr=subprocess.STDOUT)
    kids: set[str] = set()
    try:
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            booted = log.read_text().count("Booting worker")
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
            except requests.RequestException:
                ready = None
            if ready is not None and ready.status_code == 200 and booted >= 2:
                break
            time.sleep(0.2)
        for _ in range(6):  # each a new connection: gunicorn's workers share the socket
            if server.poll() is not None:
                break
            try:
                jwks = requests.get(f"http://127.0.0.1:{port}/.well-known/jwks.json",
                                    timeout=30, headers={"Connection": "close"})
            except requests.RequestException:
                break
            kids.update(key["kid"] for key in jwks.json()["keys"])
        time.sleep(0.5)  # a worker failing to boot a moment later stops the master
        up = server.poll() is None and "Worker failed to boot" not in log.read_text()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    return up, kids, log.read_text()


def test_the_readme_production_command_boots_every_time_with_no_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(AT_ONCE) as pool:
        boots = list(pool.map(_boot, [tmp_path / f"boot{n}" for n in range(BOOTS)]))
    for number, (up, kids, log) in enumerate(boots):
        assert up, f"boot {number} failed:\n{log}"
        key = load_signing_key(tmp_path / f"boot{number}" / "var" / "key.pem")
        assert kids == {key.kid}, f"boot {number}: the workers sign with other keys"
