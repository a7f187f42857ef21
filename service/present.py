"""Printing search results and profiles for the terminal (and as JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from service import pipeline
from service.config import ConfigError
from service.model import VISIBLE_AUDIENCES, Audience
from service.reputation.engine import explain
from service.search.base import SearchResult
from service.store import people as store_people
from service.store import profiles as store_profiles

__all__ = ["print_profile", "print_search", "search_json"]


def search_json(result: SearchResult) -> dict[str, Any]:
    """Return a search result as plain JSON-ready data."""
    return {
        "query_topics": result.query_topics,
        "did_you_mean": result.did_you_mean,
        "total": result.total,
        "hits": [asdict(hit) for hit in result.hits],
    }


def print_search(result: SearchResult, query: str, audience: str, *, as_json: bool,
                 echo: Callable[[str], None] = click.echo) -> None:
    if as_json:
        echo(json.dumps(search_json(result), indent=2, default=str, ensure_ascii=False))
        return
    echo(f'Who knows about "{query}"? ({audience} view, {result.total} people)')
    if result.did_you_mean:
        echo(f'  did you mean "{result.did_you_mean}"?')
    matched = {topic.topic for hit in result.hits for topic in hit.matched_topics}
    if matched:
        echo(f"  matched topics: {', '.join(t for t in result.query_topics if t in matched)}")
    if not result.hits:
        echo("  nobody yet")
    for rank, hit in enumerate(result.hits, start=1):
        dept = f", {hit.department}" if hit.department else ""
        echo(f"{rank:>2}. {hit.display_name}{dept}  score {hit.score:.2f}")
        for topic in hit.matched_topics[:3]:
            echo(f"      {topic.topic}: {topic.level} ({topic.score:.1f})")
        for ev in hit.evidence:
            title = ev.title or f"{ev.kind} {ev.contribution_id}"
            echo(f"      - [{ev.source_id}] {title}")
            echo(f"        {' '.join(ev.snippet.split())}")


def print_profile(services: pipeline.Services, who: str, *, explain: bool, audience: Audience,
                  echo: Callable[[str], None] = click.echo) -> None:
    """Print a person's topics, levels and evidence; with `explain`, each contribution's
    value breakdown. Raises ConfigError when nobody matches."""
    scope = "all" if audience == Audience.INTERNAL else "public"
    audiences = [str(a) for a in VISIBLE_AUDIENCES[audience]]
    with services.engine.connect() as conn:
        person = store_people.find_person(conn, who)
        if person is None or (scope == "public" and person.opt_out_external):
            raise ConfigError(f"nobody known as {who!r}")
        topics = store_profiles.person_topics(conn, person.id, scope)
        evidence_ids = [item[0] for row in topics for item in row.evidence]
        summaries = store_profiles.contribution_summaries(conn, evidence_ids, audiences)
        facts = pipeline.facts_by_person(conn, services, [person.id]).get(person.id, [])
    header = person.display_name + (f", {person.department}" if person.department else "")
    echo(f"{header} (person {person.id})")
    for row in topics:
        echo(f"  {row.topic}: {row.level}, score {row.score:.2f}, "
             f"{row.contributions} contributions")
        for contribution_id, value in row.evidence:
            summary = summaries.get(contribution_id)
            if summary is not None:
                echo(f"      {value:6.2f}  [{summary.source_id}] {summary.title or summary.kind}")
    if explain:
        _print_explain(services, facts, scope, echo)


def _print_explain(services: pipeline.Services, facts: list[Any], scope: str,
                   echo: Callable[[str], None]) -> None:
    breakdowns = explain(facts, services.settings, services.clock(), scope)
    echo("")
    echo("Breakdown: value = base (kind) x quality (signals) x decay x audience; "
         "counted = value after the per-thread and per-day caps")
    for topic, breakdown in sorted(breakdowns.items(), key=lambda item: -item[1].score):
        echo(f"  {topic}: {breakdown.score:.2f}")
        for valuation, counted in sorted(breakdown.lines, key=lambda line: -line[1])[:20]:
            note = f"  ({valuation.note})" if valuation.note else ""
            capped = "" if abs(counted - valuation.value) < 1e-9 else "  capped"
            echo(f"    #{valuation.contribution_id:<7} {valuation.kind:<9} "
                 f"{valuation.base:.1f} x {valuation.quality:.2f} x {valuation.decay:.3f} x "
                 f"{valuation.audience_weight:.1f} = {valuation.value:.2f} -> "
                 f"{counted:.2f}{capped}{note}")
