"""Measure "who knows what" on real StackExchange sites: whoknows' own search against the
classic expert-finding baselines, on a time split of each site.

    python -m bench.relevance.run DUMP_FOLDER [DUMP_FOLDER ...] [--test-share 0.25]
        [--queries both|title] [--json-out PATH]

For each dump folder: the questions sorted by creation, the last quarter is the test
period; everything created before the first test question is imported (the StackExchange
dump importer with `until`, `pipeline.ingest_pages`, `pipeline.rebuild`) into a fresh
SQLite store, with the reputation clock at that moment. A test case is a test question
with an accepted answer whose author has training contributions and is not the asker.
Each method ranks people for the question's title, and for the title with the first
`BODY_CHARS` characters of the body; the asker is left out of every ranking (nobody is
sent to answer their own question). Prints one table per site and query form, with the
bootstrap interval of MRR and a paired test against the best baseline, then the macro
average over the sites (bench/relevance/report.py); `--json-out` writes the per-case
figures. Figures are measured, never asserted (tests/search/test_relevance_floor.py holds
a floor on a small slice).
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

from bench.relevance import report
from bench.relevance.baselines import Baselines, Ranker
from bench.relevance.metrics import case_metrics, mean_metrics
from service import pipeline
from service.config import load_config
from service.connectors.base import Page
from service.importers import StackExchangeDump
from service.model import Audience, ContributionKind, ContributionRecord
from service.search.base import ExpertQuery, QueryError

__all__ = ["BODY_CHARS", "QUERY_FORMS", "TOP", "Case", "MethodRun", "SiteSplit", "evaluate",
           "open_store", "rank_cases", "score_cases", "site_users", "split_site",
           "whoknows_ranker"]

SOURCE = "site"
QUERY_FORMS = ("title", "title+body")
TOP = 10
#: "title+body" queries take this many characters of the body after the title.
BODY_CHARS = 300


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
        """The query text: the title, or for "title+body" the title and the body's first
        `BODY_CHARS` characters."""
        return self.title if form == "title" else f"{self.title}\n{self.body[:BODY_CHARS]}"


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


def open_store(workdir: Path, split: SiteSplit, search: str = "") -> pipeline.Services:
    """A fresh SQLite store holding the training records, rebuilt, its clock at the cut;
    `search`: a [search] section of the configuration (default: the embedded engine)."""
    config = workdir / "whoknows.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{workdir / "relevance.db"}"\n\n{search}\n'
                      f'[[sources]]\nid = "{SOURCE}"\nkind = "push"\naudience = "external"\n')
    services = pipeline.open_services(load_config(config, environ={}),
                                      clock=lambda: split.cutoff)
    pipeline.ingest_pages(services, SOURCE, _pages(split.training), full_pass=False,
                          recompute_people=False, bulk=True)
    pipeline.rebuild(services)
    return services


def _pages(records: Sequence[ContributionRecord], size: int = 2000) -> Iterator[Page]:
    for start in range(0, len(records), size):
        yield Page(list(records[start:start + size]), cursor=None)


def site_users(services: pipeline.Services) -> dict[int, str]:
    """person -> the site's user id."""
    with services.engine.connect() as conn:
        return dict(conn.exec_driver_sql(
            "SELECT l.person_id, i.external_id FROM identity_links l "
            "JOIN identities i ON i.id = l.identity_id WHERE i.source_id = ?", (SOURCE,)).all())


def whoknows_ranker(services: pipeline.Services) -> Ranker:
    """Rank through the search path the API uses (`ExpertIndex.search`, default settings,
    internal audience), each hit's person mapped back to the site's user id."""
    users = site_users(services)

    def rank(text: str, k: int) -> list[str]:
        try:
            result = services.index.search(ExpertQuery(text=text, audience=Audience.INTERNAL,
                                                       limit=k))
        except QueryError:
            return []
        return [users[hit.person_id] for hit in result.hits if hit.person_id in users]

    return rank


@dataclass(slots=True)
class MethodRun:
    #: one metrics dict per case, in the split's case order
    per_case: list[dict[str, float]]
    #: milliseconds per query
    ms: float


def score_cases(cases: Sequence[Case], rank: Ranker, form: str) -> list[dict[str, float]]:
    """Return the metrics of `rank` on each case (in order) for the query form `form`,
    the asker left out of the ranking."""
    scored = []
    for case in cases:
        # one more than shown, so that leaving out the asker still leaves TOP
        ranked = [p for p in rank(case.query(form), TOP + 1) if p != case.asker][:TOP]
        scored.append(case_metrics(ranked, case.grades, case.target))
    return scored


def rank_cases(split: SiteSplit, rankers: dict[str, Ranker], forms: Sequence[str] = QUERY_FORMS
               ) -> dict[str, dict[str, MethodRun]]:
    """Return form -> method -> its per-case metrics and time per query."""
    runs: dict[str, dict[str, MethodRun]] = {}
    for form in forms:
        runs[form] = {}
        for name, rank in rankers.items():
            started = time.perf_counter()
            per_case = score_cases(split.cases, rank, form)
            seconds = time.perf_counter() - started
            runs[form][name] = MethodRun(per_case, round(1000 * seconds / max(1, len(per_case)), 1))
    return runs


def evaluate(split: SiteSplit, rankers: dict[str, Ranker], forms: Sequence[str] = QUERY_FORMS
             ) -> dict[str, dict[str, dict[str, float]]]:
    """Return form -> method -> mean metrics (and `cases`, `ms` per query)."""
    return {form: {name: {**{m: round(v, 4) for m, v in mean_metrics(run.per_case).items()},
                          "cases": len(run.per_case), "ms": run.ms}
                   for name, run in methods.items()}
            for form, methods in rank_cases(split, rankers, forms).items()}


def run_site(folder: Path, test_share: float, forms: Sequence[str]) -> dict[str, object]:
    """Split, import and rank one site; return its summary (`report.summarise_site`)."""
    split = split_site(folder, test_share)
    with tempfile.TemporaryDirectory(prefix="whoknows-relevance-") as workdir:
        services = open_store(Path(workdir), split)
        try:
            rankers = {"whoknows": whoknows_ranker(services),
                       **Baselines(split.training, split.cutoff).rankers()}
            runs = rank_cases(split, rankers, forms)
        finally:
            services.engine.dispose()
    per_case = {form: {name: run.per_case for name, run in methods.items()}
                for form, methods in runs.items()}
    ms = {form: {name: run.ms for name, run in methods.items()} for form, methods in runs.items()}
    return report.summarise_site(split.site, split.cutoff.isoformat(), split.counts,
                                 [case.question for case in split.cases], per_case, ms)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="StackExchange dump folders")
    parser.add_argument("--test-share", type=float, default=0.25,
                        help="share of the questions (the newest) in the test period")
    parser.add_argument("--queries", choices=("title", "both"), default="both",
                        help="query forms to run: the title, or the title and title+body")
    parser.add_argument("--json-out", type=Path, metavar="PATH",
                        help="write one JSON line per site (per-case metrics) and a macro line")
    args = parser.parse_args(argv)
    forms = QUERY_FORMS if args.queries == "both" else ("title",)
    sites = []
    for folder in args.folders:
        started = time.perf_counter()
        print(f"  {folder.name}: splitting, importing, searching", file=sys.stderr)
        summary = run_site(folder, args.test_share, forms)
        print(f"  {folder.name}: {summary['cases']} cases, "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        report.print_site(summary)
        sites.append(summary)
    macro = report.summarise_macro(sites)
    if macro is not None:
        report.print_macro(macro)
    if args.json_out:
        lines = [*sites, *([macro] if macro is not None else [])]
        args.json_out.write_text("".join(json.dumps(line) + "\n" for line in lines))


if __name__ == "__main__":
    main()
