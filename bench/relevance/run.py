"""Measure "who knows what" on real StackExchange sites: whoknows' own search against the
classic expert-finding baselines, on a time split of each site.

    python -m bench.relevance.run DUMP_FOLDER [DUMP_FOLDER ...] [--test-share 0.25]

For each dump folder: the questions sorted by creation, the last quarter is the test
period; everything created before the first test question is imported (the StackExchange
dump importer with `until`, `pipeline.ingest_pages`, `pipeline.rebuild`) into a fresh
SQLite store, with the reputation clock at that moment. A test case is a test question
with an accepted answer whose author has training contributions and is not the asker.
Each method ranks people for the question's title (and for title + body); the asker is
left out of every ranking (nobody is sent to answer their own question). Prints one
table per site and query form, then one JSON line per site. Figures are measured, never
asserted (tests/search/test_relevance_floor.py holds a floor on a small slice).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.relevance.baselines import Baselines, Ranker
from bench.relevance.metrics import METRICS, case_metrics, mean_metrics
from service import pipeline
from service.config import load_config
from service.connectors.base import Page
from service.importers import StackExchangeDump
from service.model import Audience, ContributionKind, ContributionRecord
from service.search.base import ExpertQuery, QueryError

__all__ = ["Case", "SiteSplit", "evaluate", "split_site", "whoknows_ranker"]

SOURCE = "site"
QUERY_FORMS = ("title", "title+body")
TOP = 10


@dataclass(slots=True)
class Case:
    question: str
    title: str
    body: str
    asker: str
    #: the accepted answerer
    target: str
    #: person -> 2 (accepted answerer) or 1 (another answerer scored >= 1)
    grades: dict[str, int]

    def query(self, form: str) -> str:
        return self.title if form == "title" else f"{self.title}\n{self.body}"


@dataclass(slots=True)
class SiteSplit:
    site: str
    cutoff: datetime
    training: list[ContributionRecord]
    cases: list[Case]
    counts: dict[str, int] = field(default_factory=dict)


def _records(folder: Path, until: datetime | None = None) -> list[ContributionRecord]:
    dump = StackExchangeDump(folder, until=until)
    return [record for page in dump.pages() for record in page.records]


def split_site(folder: Path, test_share: float = 0.25) -> SiteSplit:
    """Split a dump in time: training records (created before the first test question)
    and the test cases. Relevance grades come from the dump's final state; only people
    with training contributions are graded (no method can rank the others)."""
    everything = _records(folder)
    questions = sorted((r for r in everything if r.kind == ContributionKind.QUESTION),
                       key=lambda r: (r.created, r.id))
    cutoff = questions[min(len(questions) - 1, int(len(questions) * (1 - test_share)))].created
    training = _records(folder, until=cutoff)
    known = {r.author.id for r in training}
    answers: dict[str, list[ContributionRecord]] = defaultdict(list)
    for record in everything:
        if record.kind == ContributionKind.ANSWER and record.thread:
            answers[record.thread].append(record)
    tested = [q for q in questions if q.created >= cutoff]
    with_accepted = [q for q in tested if any(a.accepted for a in answers[q.id])]
    cases = []
    for question in with_accepted:
        asker = question.author.id
        target = next(a.author.id for a in answers[question.id] if a.accepted)
        if target == asker or target not in known:
            continue
        grades = {a.author.id: 1 for a in answers[question.id]
                  if a.score >= 1 and a.author.id in known and a.author.id != asker}
        grades[target] = 2
        cases.append(Case(question.id, question.title, question.text, asker, target, grades))
    kinds = [r.kind for r in training]
    counts = {"training_questions": kinds.count(ContributionKind.QUESTION),
              "training_answers": kinds.count(ContributionKind.ANSWER),
              "training_comments": kinds.count(ContributionKind.COMMENT),
              "test_questions": len(tested), "test_with_accepted": len(with_accepted),
              "cases": len(cases)}
    site = folder.name.split("_")[0]
    return SiteSplit(site, cutoff, training, cases, counts)


def open_store(workdir: Path, split: SiteSplit) -> pipeline.Services:
    """A fresh SQLite store holding the training records, rebuilt, its clock at the cut."""
    config = workdir / "whoknows.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{workdir / "relevance.db"}"\n\n'
                      f'[[sources]]\nid = "{SOURCE}"\nkind = "push"\naudience = "external"\n')
    services = pipeline.open_services(load_config(config, environ={}),
                                      clock=lambda: split.cutoff)
    pipeline.ingest_pages(services, SOURCE, _pages(split.training), full_pass=False,
                          recompute_people=False)
    pipeline.rebuild(services)
    return services


def _pages(records: Sequence[ContributionRecord], size: int = 2000) -> Iterator[Page]:
    for start in range(0, len(records), size):
        yield Page(list(records[start:start + size]), cursor=None)


def whoknows_ranker(services: pipeline.Services) -> Ranker:
    """Rank through the search path the API uses (`ExpertIndex.search`, default settings,
    internal audience), each hit's person mapped back to the site's user id."""
    with services.engine.connect() as conn:
        users: dict[int, str] = dict(conn.exec_driver_sql(
            "SELECT l.person_id, i.external_id FROM identity_links l "
            "JOIN identities i ON i.id = l.identity_id WHERE i.source_id = ?", (SOURCE,)).all())

    def rank(text: str, k: int) -> list[str]:
        try:
            result = services.index.search(ExpertQuery(text=text, audience=Audience.INTERNAL,
                                                       limit=k))
        except QueryError:
            return []
        return [users[hit.person_id] for hit in result.hits if hit.person_id in users]

    return rank


def evaluate(split: SiteSplit, rankers: dict[str, Ranker], forms: Sequence[str] = QUERY_FORMS
             ) -> dict[str, dict[str, dict[str, float]]]:
    """Return form -> method -> mean metrics (and `cases`, `ms` per query)."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for form in forms:
        results[form] = {}
        for name, rank in rankers.items():
            per_case, started = [], time.perf_counter()
            for case in split.cases:
                # one more than shown, so that leaving out the asker still leaves TOP
                ranked = [p for p in rank(case.query(form), TOP + 1) if p != case.asker][:TOP]
                per_case.append(case_metrics(ranked, case.grades, case.target))
            seconds = time.perf_counter() - started
            means = {m: round(v, 4) for m, v in mean_metrics(per_case).items()}
            results[form][name] = {**means, "cases": len(per_case),
                                   "ms": round(1000 * seconds / max(1, len(per_case)), 1)}
    return results


def run_site(folder: Path, test_share: float, forms: Sequence[str]) -> dict[str, object]:
    split = split_site(folder, test_share)
    with tempfile.TemporaryDirectory(prefix="whoknows-relevance-") as workdir:
        services = open_store(Path(workdir), split)
        try:
            rankers = {"whoknows": whoknows_ranker(services), **Baselines(split.training).rankers()}
            results = evaluate(split, rankers, forms)
        finally:
            services.engine.dispose()
    return {"site": split.site, "cutoff": split.cutoff.isoformat(), **split.counts,
            "results": results}


def print_tables(figures: dict[str, object]) -> None:
    results = figures["results"]
    assert isinstance(results, dict)
    for form, methods in results.items():
        print(f"\n{figures['site']} — query: {form}; trained on everything before "
              f"{str(figures['cutoff'])[:10]}; {figures['cases']} cases "
              f"(of {figures['test_with_accepted']} test questions with an accepted answer)")
        print(f"| method | {' | '.join(METRICS)} | cases |")
        print(f"| --- | {' | '.join('---:' for _ in METRICS)} | ---: |")
        for name, row in methods.items():
            cells = " | ".join(f"{row[m]:.3f}" for m in METRICS)
            print(f"| {name} | {cells} | {row['cases']} |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="StackExchange dump folders")
    parser.add_argument("--test-share", type=float, default=0.25,
                        help="share of the questions (the newest) in the test period")
    parser.add_argument("--queries", choices=("title", "both"), default="both",
                        help="query forms to run: the title, or the title and title+body")
    args = parser.parse_args(argv)
    forms = QUERY_FORMS if args.queries == "both" else ("title",)
    lines = []
    for folder in args.folders:
        print(f"  {folder.name}: splitting, importing, searching", file=sys.stderr)
        figures = run_site(folder, args.test_share, forms)
        print_tables(figures)
        lines.append(json.dumps(figures))
    print()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
