"""Time Perceval fetching a source; run by bench/connectors.py in Perceval's own venv.

    python bench/perceval_driver.py          then, on stdin, one request a line:
    discourse URL | rss URL                  answered on stdout with one JSON line:
                                             {"seconds": 0.52, "items": 3000}

Each request runs `Backend(url).fetch()` to the end once. The process stays up between
requests, so the bench can interleave Perceval's runs with its own (both then see the
same load on a shared machine) and neither the interpreter's start nor the imports are
timed. Items are what whoknows makes records of: for Discourse, the posts of each topic
Perceval yields (with those it fetched beyond the topic's first chunk); for RSS, the
feed's entries. The first line printed is {"perceval": VERSION}.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from importlib.metadata import version

from perceval.backends.core.discourse import Discourse
from perceval.backends.core.rss import RSS


def _discourse(url: str) -> Iterable[int]:
    for item in Discourse(url).fetch():
        yield len(item["data"]["post_stream"]["posts"])


def _rss(url: str) -> Iterable[int]:
    for _ in RSS(url).fetch():
        yield 1


BACKENDS: dict[str, Callable[[str], Iterable[int]]] = {"discourse": _discourse, "rss": _rss}


def main() -> None:
    print(json.dumps({"perceval": version("perceval")}), flush=True)
    for line in sys.stdin:
        kind, _, url = line.strip().partition(" ")
        if kind not in BACKENDS:
            print(json.dumps({"error": f"unknown backend {kind!r}"}), flush=True)
            continue
        started = time.perf_counter()
        items = sum(BACKENDS[kind](url))
        seconds = time.perf_counter() - started
        print(json.dumps({"seconds": seconds, "items": items}), flush=True)


if __name__ == "__main__":
    main()
