"""Benchmark the connectors: items per second, each against its local replay server, and
Perceval (CHAOSS) reading the same Discourse forum and the same RSS feed in the same run.

    python bench/connectors.py [--perceval-python PATH] [--repeat 3] [--topics 300] ...

What is timed, on both sides, is fetch + parse only: `connector.pages(None)` iterated to
the end and its records counted (nothing is stored), against `Backend(url).fetch()`
iterated to the end (bench/perceval_driver.py, in Perceval's own interpreter, which stays
up between runs). Each side makes one untimed warm-up run, then `--repeat` timed runs,
interleaved (ours, Perceval, ours, ...) so that both see the same load; the median is
reported. The replay servers run in a process of their own, with their answers cached
(bench/replay.py), so the clients do not share a GIL with them and the server's cost is
small and the same for both sides. Our side does more per item than Perceval's: it maps
each item to a canonical record (HTML made plain text, authors, threads, signals), where
Perceval yields the source's JSON or feedparser's entries as they are.

Perceval runs in its own venv: `--perceval-python` names its interpreter; without it the
bench creates (once) `bench/out/perceval-venv` with `python -m venv` and
`pip install "perceval>=1.0"`, which needs PyPI that one time. `--no-perceval` skips it.

Prints a table and one JSON line (items/s and requests per connector, and ours/Perceval
for Discourse and RSS; Perceval has no comparable backend for Slack, GitHub Discussions or
Confluence, see COMPARED). Not a test: nothing is asserted but that both sides saw the
same items.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import replay

from service.config import SourceConfig
from service.connectors.base import Connector
from service.connectors.confluence import ConfluenceConnector
from service.connectors.discourse import DiscourseConnector
from service.connectors.github_discussions import GitHubDiscussionsConnector
from service.connectors.http import HttpClient
from service.connectors.jsonfeed import JsonFeedConnector
from service.connectors.rss import RssConnector
from service.connectors.slack import SlackConnector
from service.connectors.stackexchange import StackExchangeConnector
from service.connectors.wordpress import WordPressConnector

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DRIVER = HERE / "perceval_driver.py"
KINDS = (
    "discourse", "rss", "wordpress", "stackexchange", "jsonfeed", "slack", "github_discussions",
    "confluence", "confluence-nolikes",
)
#: Perceval has no comparable backend for the others: none for GitHub Discussions (its
#: github backends read issues and pull requests), Confluence only through the v1 REST API
#: (the local server speaks v2), Slack without thread replies (and with its URL fixed).
COMPARED = ("discourse", "rss")


#: our Discourse source's concurrency (--concurrency)
_CONCURRENCY = 4


def _client() -> HttpClient:
    # No request budget: a large forum takes more than one run's default 1000 requests.
    return HttpClient(max_requests=None)


def _connector(kind: str, url: str) -> Connector:
    def source(audience: str = "external", **options: Any) -> SourceConfig:
        return SourceConfig(id=f"bench-{kind}", kind=kind.removesuffix("-nolikes"),  # type: ignore[arg-type]
                            audience=audience, url=url, options=options)  # type: ignore[arg-type]

    if kind == "discourse":
        return DiscourseConnector(
            SourceConfig(id="bench-discourse", kind="discourse", audience="external",  # type: ignore[arg-type]
                         url=url, concurrency=_CONCURRENCY), _client())
    if kind == "rss":
        return RssConnector(source("internal"), _client())
    if kind == "wordpress":
        return WordPressConnector(source("internal"), _client(), replay.WP_CREDENTIALS)
    if kind == "stackexchange":
        return StackExchangeConnector(source(site="beer"), _client())
    if kind == "jsonfeed":
        options = {**replay.PORTAL_OPTIONS, "per_page": 100}
        return JsonFeedConnector(source("partner", **options), _client())
    if kind == "slack":
        channels = replay.SLACK_CHANNELS
        return SlackConnector(source("internal", channels=channels), _client(), replay.SLACK_TOKEN)
    if kind == "github_discussions":
        options = {"repository": "octo-org/octo-repo", "per_page": 25}
        return GitHubDiscussionsConnector(source(**options), _client(), replay.GITHUB_TOKEN)
    if kind.startswith("confluence"):
        likes = kind == "confluence"
        return ConfluenceConnector(source("internal", likes=likes), _client())
    raise ValueError(kind)


def run_ours(kind: str, url: str) -> tuple[float, int, int]:
    """One run: a fresh connector's `pages(None)` to the end; (seconds, records,
    requests)."""
    connector = _connector(kind, url)
    started = time.perf_counter()
    items = sum(len(page.records) for page in connector.pages(None))
    seconds = time.perf_counter() - started
    return seconds, items, connector.client.requests_made  # type: ignore[attr-defined]


class PercevalDriver:
    """bench/perceval_driver.py running in Perceval's interpreter, one fetch a request."""

    def __init__(self, python: str) -> None:
        self._proc = subprocess.Popen(
            [python, str(DRIVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            bufsize=1,
        )
        self.version = str(self._read().get("perceval"))

    def run(self, kind: str, url: str) -> tuple[float, int]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{kind} {url}\n")
        self._proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise SystemExit(f"the Perceval driver: {answer['error']}")
        return float(answer["seconds"]), int(answer["items"])

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(10)

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise SystemExit(f"the Perceval driver ended (exit {self._proc.wait()})")
        return dict(json.loads(line))


def measure(
    kind: str, url: str, repeat: int, perceval: PercevalDriver | None
) -> dict[str, Any]:
    """A warm-up run of each side, then `repeat` timed runs of each, interleaved (ours,
    Perceval, ours, ...) so that both see the same load."""
    run_ours(kind, url)
    if perceval:
        perceval.run(kind, url)
    ours: list[float] = []
    theirs: list[float] = []
    items = their_items = requests = 0
    for _ in range(repeat):
        seconds, items, requests = run_ours(kind, url)
        ours.append(seconds)
        if perceval:
            seconds, their_items = perceval.run(kind, url)
            theirs.append(seconds)
    result: dict[str, Any] = {"ours": {**_figures(ours, items), "requests": requests}}
    if perceval:
        result["perceval"] = {**_figures(theirs, their_items), "version": perceval.version}
        result["ratio"] = round(result["ours"]["per_second"] / result["perceval"]["per_second"], 2)
        if their_items != items:
            result["note"] = f"item counts differ: ours {items}, Perceval {their_items}"
    return result


def _figures(seconds: list[float], items: int) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "items": items,
        "seconds": round(median, 3),
        "runs": [round(s, 3) for s in seconds],
        "per_second": round(items / median) if median else None,
    }


def perceval_python(given: str | None) -> str:
    """The interpreter that has Perceval: the one given, or bench/out/perceval-venv's
    (created on first use; needs PyPI then)."""
    if given:
        return given
    venv = OUT / "perceval-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (pip install perceval>=1.0, needs PyPI once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "perceval>=1.0"], check=True)
    return str(python)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "cpu": model or platform.processor(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": platform.system(),
    }


def _table(results: dict[str, dict[str, Any]]) -> str:
    rows = [("connector", "data", "items", "requests", "ours s", "ours items/s",
             "Perceval items/s", "ours/Perceval")]
    for kind, result in results.items():
        ours, theirs = result["ours"], result.get("perceval")
        rows.append((
            kind,
            result["data"],
            str(ours["items"]),
            str(ours["requests"]),
            f"{ours['seconds']:.2f}",
            f"{ours['per_second']:,}",
            f"{theirs['per_second']:,}" if theirs else "-",
            f"{result['ratio']:.2f}" if result.get("ratio") else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--perceval-python", help="Perceval's interpreter (default: a venv "
                        "in bench/out/perceval-venv, created once)")
    parser.add_argument("--no-perceval", action="store_true", help="measure ours only")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side")
    parser.add_argument("--only", default=",".join(KINDS), help="connectors to measure")
    parser.add_argument("--topics", type=int, default=300)
    parser.add_argument("--posts", type=int, default=10, help="posts per topic (mean)")
    parser.add_argument("--long-every", type=int, default=10,
                        help="every Nth topic has 28 posts, beyond one chunk (0: none)")
    parser.add_argument("--rss-items", type=int, default=500)
    parser.add_argument("--wp-posts", type=int, default=300)
    parser.add_argument("--se-questions", type=int, default=300)
    parser.add_argument("--portal-items", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="each Discourse request's round trip, as from a real forum")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="our Discourse source's concurrency (Perceval reads one at a time)")
    args = parser.parse_args(argv)
    kinds = [k for k in args.only.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    compared = set(kinds) & set(COMPARED)
    python = None if args.no_perceval or not compared else perceval_python(args.perceval_python)

    scale = replay.Scale(topics=args.topics, posts=args.posts, long_every=args.long_every,
                         rss_items=args.rss_items, wp_posts=args.wp_posts,
                         se_questions=args.se_questions, portal_items=args.portal_items,
                         latency=args.latency_ms / 1000)
    global _CONCURRENCY
    _CONCURRENCY = args.concurrency
    context = multiprocessing.get_context("spawn")
    ours_end, server_end = context.Pipe()
    server = context.Process(target=replay.serve, args=(server_end, scale), daemon=True)
    server.start()
    try:
        sites = json.loads(ours_end.recv())
        results = _run(kinds, sites, python, args.repeat)
    finally:
        ours_end.send("stop")
        server.join(10)
    for kind, result in results.items():
        result["data"] = sites[kind]["data"]
    print(_table(results))
    print(json.dumps({"bench": "connectors", "machine": machine(), "repeat": args.repeat,
                      "argv": sys.argv[1:], "results": results}))


def _run(kinds: list[str], sites: dict[str, Any], python: str | None,
         repeat: int) -> dict[str, dict[str, Any]]:
    perceval = PercevalDriver(python) if python else None
    results: dict[str, dict[str, Any]] = {}
    try:
        for kind in kinds:
            print(f"{kind} ...", file=sys.stderr)
            result = measure(kind, sites[kind]["url"], repeat,
                             perceval if kind in COMPARED else None)
            expected = sites[kind]["items"]
            if result["ours"]["items"] != expected:
                result.setdefault("note", f"ours read {result['ours']['items']} of {expected}")
            results[kind] = result
    finally:
        if perceval:
            perceval.close()
    return results


if __name__ == "__main__":
    main()
