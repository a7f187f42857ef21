"""Intranet page load: time to first result for a search, measured in a real browser.

Needs the store `bench/run.py` builds (`bench/out/bench.db`, 1 M contributions), Debian's
chromium (/usr/bin/chromium) and the `playwright` package. The store is never written: it
is copied once (SQLite's backup API, read-only source) to `--copy` and served from there
by `whoknows serve` in its own process. For each of `--n` queries from queries.txt:

- navigation: load `/?q=...` in a fresh page, time until the first person card is in the
  document (server search + HTML + CSS/JS), as the browser's clock sees it;
- in-page: type the query into the page's form (JavaScript on), time until the new
  results are painted (the fetch, the swap, the next frame).

    .venv/bin/python bench/page_load.py [--n 30] [--cpu-throttle 4]
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import requests
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
FIRST_CARD_MS = """() => {
  const entry = performance.getEntriesByType("navigation")[0];
  return {server: entry.responseStart - entry.requestStart, dom: window.__firstCard || null};
}"""
# Runs before the page's own scripts: note when the first card enters the document.
WATCH_FIRST_CARD = """
new MutationObserver((_, observer) => {
  if (document.querySelector("#results .card, #status")) {
    window.__firstCard = performance.now(); observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""
IN_PAGE_SEARCH = """async (q) => {
  const form = document.getElementById("search-form");
  const results = document.getElementById("results");
  form.q.value = q;
  const start = performance.now();
  form.requestSubmit();
  await new Promise((done) => {
    const check = () => results.hasAttribute("aria-busy") ? requestAnimationFrame(check) : done();
    requestAnimationFrame(check);
  });
  await new Promise((done) => requestAnimationFrame(() => done()));
  return {ms: performance.now() - start, cards: results.querySelectorAll(".card").length};
}"""


def copy_store(source: Path, target: Path) -> None:
    """Copy the benchmark store without writing to it (read-only source, backup API)."""
    if target.exists():
        return
    partial = target.with_suffix(".partial")
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, \
            sqlite3.connect(partial) as dst:
        src.backup(dst, pages=65536)
    partial.rename(target)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(config: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "whoknows"), "--config", str(config), "serve", "--port",
         str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                return server
        except requests.ConnectionError:
            time.sleep(0.25)
    server.kill()
    raise SystemExit("the server did not start within 120 s")


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max_ms": round(ordered[-1], 1)}


def measure(base: str, queries: list[str], throttle: float) -> dict[str, Any]:
    navigation, server, in_page, empty = [], [], [], 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context()
        context.add_init_script(WATCH_FIRST_CARD)
        for number, text in enumerate(queries[:3] + queries):  # 3 unmeasured warm-ups
            page = context.new_page()
            if throttle > 1:
                context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate",
                                                   {"rate": throttle})
            page.goto(f"{base}/?q={quote_plus(text)}", wait_until="load")
            timing = page.evaluate(FIRST_CARD_MS)
            result = page.evaluate(IN_PAGE_SEARCH, text)
            page.close()
            if number < 3:
                continue
            navigation.append(timing["dom"])
            server.append(timing["server"])
            in_page.append(result["ms"])
            empty += result["cards"] == 0
        browser.close()
    return {"queries": len(queries), "without_results": empty,
            "navigation_first_card": _summary(navigation),
            "server_response_start": _summary(server), "in_page_search": _summary(in_page)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("bench/out/bench.toml"))
    parser.add_argument("--db", type=Path, default=Path("bench/out/bench.db"))
    parser.add_argument("--copy", type=Path,
                        default=Path(tempfile.gettempdir()) / "whoknows-page-load.db")
    parser.add_argument("--queries", type=Path, default=Path("bench/out/data/queries.txt"))
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--cpu-throttle", type=float, default=1.0,
                        help="Chromium CPU slow-down factor (4: a slow laptop)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    copy_store(args.db.resolve(), args.copy)
    print(f"store copy ready in {time.monotonic() - began:.0f} s: {args.copy}", file=sys.stderr)
    config = args.copy.with_suffix(".toml")
    config.write_text(args.config.read_text().replace(
        'url = "sqlite:///bench/out/bench.db"', f'url = "sqlite:///{args.copy}"'))
    lines = [line.strip() for line in args.queries.read_text().splitlines() if line.strip()]
    step = max(1, len(lines) // args.n)
    queries = lines[::step][:args.n]  # spread over the file: whole, partial, mixed phrases
    port = _free_port()
    server = start_server(config, port)
    try:
        report = measure(f"http://127.0.0.1:{port}", queries, args.cpu_throttle)
    finally:
        server.terminate()
        server.wait(timeout=10)
    report["cpu_throttle"] = args.cpu_throttle
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
