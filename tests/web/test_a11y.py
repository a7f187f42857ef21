"""An automated WCAG 2.1 A/AA audit of the intranet page and the embeddable card: axe-core
(Deque, MPL-2.0; installed from tests/web/a11y/package-lock.json with `npm ci` on first
use) injected into each page in the real headless Chromium, on a desktop window and on a
320 px wide one (what a 1280 px window shows at 400% zoom: reflow, WCAG 1.4.10), where
no page may scroll sideways either (the map's SVG scales down; a data table may scroll
in its own box).

The keyboard itself is exercised in test_page.py and test_map.py; axe checks what a
screen reader and a low-vision reader depend on: names, labels, landmarks, list and table
structure, contrast, duplicate ids, language."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from tests.oidc.harness import ensure_node_modules
from tests.web.conftest import Site

A11Y_DIR = Path(__file__).resolve().parent / "a11y"
TOPIC = "medical insurance claims"
CARD_PERSON = "samuel.mensah@lumenmutual.example"  # has public (external) expertise
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# and axe's best practices (one main landmark, all content in landmarks, headings in
# order, unique landmark names): what a screen reader user navigates by
RULE_TAGS = [*WCAG_21_AA, "best-practice"]
DESKTOP = {"width": 1280, "height": 900}
# 1280 CSS px at 400% zoom; drawn at 2 device pixels per CSS px, as on a zoomed laptop
NARROW = {"width": 320, "height": 640}

#: page name -> its path on the site
PAGES: dict[str, Callable[[Site], str]] = {
    "landing": lambda site: "/",
    "search": lambda site: f"/?q={quote_plus(TOPIC)}",
    "profile": lambda site: f"/people/{site.person_id(site.data.planted[TOPIC])}",
    "map": lambda site: f"/map?topic={quote_plus(TOPIC)}",
    "error": lambda site: f"/?q={quote_plus(TOPIC)}&since=last-tuesday",
    "card": lambda site: f"/v1/embed/{site.person_id(CARD_PERSON)}",
    "organisations": lambda site: "/organisations",
    "organisation": lambda site: "/organisations/harbour-clinic",
    "questions": lambda site: "/questions",
}


@pytest.fixture(scope="session")
def axe_script() -> Path:
    node_modules = ensure_node_modules(A11Y_DIR, package="axe-core")
    return node_modules / "axe-core" / "axe.min.js"


@pytest.fixture(params=[DESKTOP, NARROW], ids=["desktop", "narrow"])
def audit_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page that lets a test inject axe: the pages' CSP (script-src 'self', and the
    card's default-src 'none') would rightly refuse the injected script."""
    context = browser.new_context(
        viewport=request.param,
        bypass_csp=True,
        device_scale_factor=2 if request.param is NARROW else 1,
    )
    page = context.new_page()
    yield page
    context.close()


def audit(page: Any, script: Path) -> list[dict[str, Any]]:
    """axe's WCAG 2.1 A/AA and best-practice violations on the page as loaded, each
    with its nodes."""
    page.add_script_tag(path=str(script))
    result = page.evaluate(
        """runOnly => axe.run(document, {
        runOnly: {type: 'tag', values: runOnly}, resultTypes: ['violations']})""",
        RULE_TAGS,
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(node['target'])}: {node['failureSummary']}")
    return "\n".join(lines)


def _open(page: Any, site: Site, name: str) -> None:
    answer = page.goto(site.url + PAGES[name](site))
    assert answer is not None
    assert answer.status == (400 if name == "error" else 200), name


@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_has_no_wcag_21_aa_or_best_practice_violations(
    audit_page: Any, site: Site, axe_script: Path, name: str
) -> None:
    _open(audit_page, site, name)
    violations = audit(audit_page, axe_script)
    assert violations == [], f"{name}:\n{describe(violations)}"


@pytest.mark.parametrize("name", ["landing", "map"])
def test_every_form_field_has_a_visible_label_not_just_a_placeholder(
    page: Any, site: Site, name: str
) -> None:
    # axe's `label` rule accepts a placeholder or a title as a field's name; both vanish
    # or hide (on typing, on touch) and leave the field unnamed on screen (WCAG 3.3.2)
    _open(page, site, name)
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')]
        .filter(el => ![...el.labels].some(label => label.innerText.trim())
                      && !el.getAttribute('aria-labelledby'))
        .map(el => el.outerHTML)""")
    assert unlabelled == [], name


@pytest.mark.parametrize("name", list(PAGES))
def test_the_text_reflows_into_a_narrow_window_without_scrolling_sideways(
    browser: Any, site: Site, name: str
) -> None:
    context = browser.new_context(viewport=NARROW, device_scale_factor=2)
    try:
        page = context.new_page()
        _open(page, site, name)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        wide = page.evaluate(SIDEWAYS)
        assert wide == [], f"{name} is wider than {NARROW['width']} px: {wide}"
    finally:
        context.close()


#: what sticks out of the window to the right: the page's own scroll width, and up to
#: five elements, leaving out what sits inside a scroll box (a data table's, which may
#: scroll sideways: WCAG 1.4.10 excepts two-dimensional content) or is visually hidden
SIDEWAYS = """() => {
    const root = document.documentElement, width = root.clientWidth;
    const clipped = el => {
        for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
            if (getComputedStyle(up).overflowX !== 'visible') return true;
        }
        return false;
    };
    const wide = [...document.querySelectorAll('body *')]
        .filter(el => el.getBoundingClientRect().right > width + 1 && !clipped(el)
                      && !el.closest('.visually-hidden, .skip'))
        .slice(0, 5)
        .map(el => `${el.tagName.toLowerCase()}.${el.className} ends at `
                   + Math.round(el.getBoundingClientRect().right));
    return root.scrollWidth > width ? [`page scrolls to ${root.scrollWidth}`, ...wide] : wide;
}"""
