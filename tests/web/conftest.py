"""The intranet page on the demo company, served by the real app on a real port, and a
real headless Chromium (Debian's, driven by Playwright) to look at it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from service import pipeline
from service.api import create_app
from service.config import load_config
from service.connectors.base import Page
from service.demo.company import FORUM
from service.demo.generator import DemoData
from service.demo.loader import load_demo
from service.store import people as store_people
from tests.records import record

END = date(2026, 5, 1)
NOW = datetime(2026, 5, 1, tzinfo=UTC)
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1;alert(1)"><script>alert(2)</script>'
HOSTILE_WORD = "zyzzogeton"


@dataclass
class Site:
    url: str
    services: pipeline.Services
    data: DemoData

    def person_id(self, email: str) -> int:
        with self.services.engine.connect() as conn:
            row = store_people.find_person(conn, email)
        assert row is not None, email
        return int(row.id)

    def display_name(self, email: str) -> str:
        with self.services.engine.connect() as conn:
            row = store_people.find_person(conn, email)
        assert row is not None, email
        return str(row.display_name)


def _plant_hostile(services: pipeline.Services) -> None:
    """A forum member whose display name is markup, with a `javascript:` link."""
    records = [record(f"hostile-{i}", "mallory", kind="question", name=HOSTILE_NAME,
                      day=-200 - i, title=f"{HOSTILE_WORD} <b>question</b> {i}",
                      text=f"{HOSTILE_WORD} rules <script>alert(3)</script>",
                      url="javascript:alert(4)", tags=[HOSTILE_WORD])
               for i in range(3)]
    pipeline.ingest_pages(services, FORUM, [Page(records, cursor=None)], full_pass=False)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free local port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def demo_services(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[pipeline.Services, DemoData]]:
    folder = tmp_path_factory.mktemp("webdemo")
    config = folder / "whoknows.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{folder / "demo.db"}"\n')
    services = pipeline.open_services(load_config(config, environ={}), clock=lambda: NOW)
    data = load_demo(services, END, echo=lambda _: None, queries=False)
    _plant_hostile(services)
    yield services, data
    services.engine.dispose()


@pytest.fixture(scope="session")
def site(demo_services: tuple[pipeline.Services, DemoData]) -> Iterator[Site]:
    services, data = demo_services
    app = create_app({"SERVICES": services})
    with serve(app) as url:
        yield Site(url, services, data)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} "
                    "(apt-get install chromium; make test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that fails the test on any dialog (alert, confirm) it opens."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


__all__ = ["HOSTILE_NAME", "HOSTILE_WORD", "Site", "screenshot", "serve"]


def tab_until(page: Any, condition: str, what: str, limit: int = 40) -> None:
    """Press Tab until the JavaScript `condition` on `document.activeElement` holds;
    fail naming `what` when `limit` presses never reach it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {condition})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached {what}")


__all__ += ["tab_until"]
