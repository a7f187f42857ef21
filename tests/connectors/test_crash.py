"""A sync killed with SIGKILL mid-run, then restarted, ends with the same store as an
uninterrupted sync: no contribution lost, none twice; the same identities, interactions,
people and cursor.

Real processes: `whoknows --config ... sync SOURCE` runs as a subprocess against a replay
server in this process (a JSON partner portal walked with and without its update-time
filter, and a Discourse forum). The server blocks the request for page k (k drawn from a
seeded `random.Random`) until the test has killed the process, so the kill lands between
two stored pages. In the resumed run a second kill lands a random few milliseconds after a
page was answered: while that page is mapped or stored (its transaction then rolls back)
or, after the last page, while people are linked and recomputed; the next page request is
held meanwhile. A third run goes to completion.

Profiles are compared by the last test: a run that died after storing its pages and
before computing profiles leaves its people queued, and the next run computes them.

The seed is printed (shown with a failure); `WHOKNOWS_CRASH_SEED=<n>` replays a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service import pipeline
from service.config import load_config
from service.connectors import build_connector
from service.store import people as store_people
from service.store import sync as store_sync
from tests.connectors.crashsite import (
    PORTAL_OPTIONS,
    TrippedDiscourse,
    TrippedPortal,
    Tripwire,
    portal_items,
    portal_style,
    snapshot,
    start_sync,
    write_config,
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

SEED = int(os.environ.get("WHOKNOWS_CRASH_SEED") or random.SystemRandom().randrange(2**32))
PER_PAGE = 25
PORTAL_ITEMS = 200  # 8 listing pages


@dataclass
class Site:
    """A replay server, the `[[sources]]` block for it, and how many page requests a full
    run makes."""

    source_id: str
    source: str
    pages: int
    tripwire: Tripwire


@pytest.fixture(scope="module")
def portal() -> Iterator[TrippedPortal]:
    with TrippedPortal(portal_style(), portal_items(PORTAL_ITEMS), Tripwire()) as server:
        yield server


@pytest.fixture(scope="module")
def forum() -> Iterator[TrippedDiscourse]:
    # Two topics a list page and three posts a topic request: the topics with more posts
    # are read in two requests, the list in three.
    with TrippedDiscourse(Tripwire(), per_page=2, chunk_size=3) as server:
        yield server


def _portal_site(server: TrippedPortal, since: bool) -> Site:
    options = PORTAL_OPTIONS.format(
        per_page=PER_PAGE, since='updated_since_param = "modified_since"' if since else ""
    )
    source = (
        f'[[sources]]\nid = "partner-hub"\nkind = "jsonfeed"\naudience = "partner"\n'
        f'url = "{server.url}"\n{options}'
    )
    return Site("partner-hub", source, PORTAL_ITEMS // PER_PAGE, server.tripwire)


def _forum_site(server: TrippedDiscourse) -> Site:
    source = (
        f'[[sources]]\nid = "member-forum"\nkind = "discourse"\naudience = "external"\n'
        f'url = "{server.base}"\n'
    )
    return Site("member-forum", source, len(server.topics), server.tripwire)


@pytest.mark.parametrize("scenario", ["portal-since", "portal-walk", "discourse"])
def test_a_killed_sync_resumes_to_the_store_of_an_uninterrupted_one(
    scenario: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if scenario == "discourse":
        site = _forum_site(request.getfixturevalue("forum"))
    else:
        site = _portal_site(request.getfixturevalue("portal"), since=scenario == "portal-since")
    rng = random.Random(f"{SEED}:{scenario}")
    first_kill = rng.randint(1, site.pages)
    second_kill = rng.randint(1, 2)
    delay = rng.uniform(0.0, 0.03)
    print(
        f"crash test {scenario}: WHOKNOWS_CRASH_SEED={SEED}: kill 1 while page request "
        f"{first_kill} of {site.pages} waits; kill 2 {delay * 1000:.0f} ms after the "
        f"resumed run's page request {second_kill} was answered"
    )

    clean = _config(tmp_path, "clean", site)
    crashed = _config(tmp_path, "crashed", site)
    _run_to_the_end(clean, site, tmp_path)

    # 1. Killed while the server holds page request k: pages 1..k-1 are stored.
    proc = _start(crashed, site, tmp_path, block_at=first_kill)
    reached = site.tripwire.wait(site.tripwire.is_blocking, lambda: proc.poll() is None)
    assert reached, f"the run ended before page request {first_kill}: {_output(proc)}"
    _kill(proc, site)
    stored = len(snapshot(tmp_path / "crashed.db")["contributions"])
    total = len(snapshot(tmp_path / "clean.db")["contributions"])
    assert stored < total, "the kill landed after the run had stored everything"
    if scenario != "discourse":
        assert stored == (first_kill - 1) * PER_PAGE

    # 2. Killed a few ms after an answer: while its page is mapped or stored, or after
    #    the last page; the next page request is held. A short resumed run may end first.
    proc = _start(crashed, site, tmp_path, block_at=second_kill + 1)
    answered = site.tripwire.wait(
        lambda: site.tripwire.answered >= second_kill, lambda: proc.poll() is None
    )
    if answered:
        time.sleep(delay)
        killed = _kill(proc, site)
        print(f"kill 2 {'landed' if killed else 'came after the run had ended'}")
    else:
        _finish(proc, site)

    # 3. Runs to the end.
    _run_to_the_end(crashed, site, tmp_path)

    want, got = snapshot(tmp_path / "clean.db"), snapshot(tmp_path / "crashed.db")
    assert got["duplicates"] == [] and want["duplicates"] == []
    assert len(got["contributions"]) == total > 0
    assert got["contributions"] == want["contributions"]
    assert got["identities"] == want["identities"]
    assert got["interactions"] == want["interactions"]
    assert len(got["interactions"]) > 0
    assert got["cursors"] == want["cursors"]
    assert got["cursors"][site.source_id]
    assert got["people"] == want["people"]




def test_a_run_killed_before_recomputing_leaves_no_stale_profiles(
    portal: TrippedPortal, tmp_path: Path
) -> None:
    site = _portal_site(portal, since=True)
    site.tripwire.arm(None)
    clean = _services(_config(tmp_path, "clean", site))
    crashed = _services(_config(tmp_path, "crashed", site))
    try:
        assert _sync(clean, site).failed is None

        # A run that stored every page and died before computing anyone's profile (as a
        # SIGKILL between the page transactions and the recompute leaves it).
        with crashed.engine.connect() as conn:
            cursor = store_sync.get_cursor(conn, site.source_id)
        source = crashed.config.source(site.source_id)
        assert source is not None
        pipeline.ingest_pages(crashed, site.source_id, build_connector(source).pages(cursor),
                              full_pass=cursor is None, recompute_people=False)
        with crashed.engine.begin() as conn:
            store_people.resolve_people(conn)  # the people linked, their profiles not
        assert _sync(crashed, site).failed is None  # nothing new to read, the queue done
    finally:
        clean.engine.dispose()
        crashed.engine.dispose()

    want, got = snapshot(tmp_path / "clean.db"), snapshot(tmp_path / "crashed.db")
    assert got["contributions"] == want["contributions"]
    assert got["people"] == want["people"]
    _same_profiles(got["profiles"], want["profiles"])


def _services(config: Path) -> pipeline.Services:
    return pipeline.open_services(load_config(config, environ={}))


def _sync(services: pipeline.Services, site: Site) -> pipeline.SyncReport:
    return pipeline.sync_source(services, site.source_id, build_connector)


def _config(tmp_path: Path, name: str, site: Site) -> Path:
    return write_config(tmp_path / f"{name}.toml", tmp_path / f"{name}.db", site.source)


def _start(config: Path, site: Site, cwd: Path, block_at: int | None) -> subprocess.Popen[str]:
    site.tripwire.arm(block_at)
    return start_sync(config, site.source_id, cwd)


def _kill(proc: subprocess.Popen[str], site: Site) -> bool:
    """SIGKILL the run (then let the held request go); True if it was still running."""
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    site.tripwire.release()
    if running:
        assert proc.returncode == -signal.SIGKILL, out
    return running


def _finish(proc: subprocess.Popen[str], site: Site) -> None:
    out, _ = proc.communicate(timeout=60)
    site.tripwire.release()
    assert proc.returncode == 0, out


def _run_to_the_end(config: Path, site: Site, cwd: Path) -> None:
    _finish(_start(config, site, cwd, block_at=None), site)


def _output(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        return "(still running)"
    out = proc.stdout.read() if proc.stdout else ""
    return f"exit {proc.returncode}: {out}"


def _same_profiles(got: dict[Any, Any], want: dict[Any, Any]) -> None:
    assert got.keys() == want.keys()
    for key, (score, rest) in want.items():
        assert got[key][1] == rest, key
        assert got[key][0] == pytest.approx(score, rel=1e-5, abs=1e-5), key
