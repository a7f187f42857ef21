"""Routing quality on real communities: would the suggested answerers of a new question
have included the person whose answer was eventually accepted?

    python -m bench.relevance.routing DUMP_FOLDER [DUMP_FOLDER ...] [--test-share 0.25]
        [--json-out PATH]

The time split of `bench.relevance.run` (the newest quarter of each site's questions are
the test period; the store holds everything created before the first of them, its clock
at that cut: the suggestions are made as of the question's creation, from what was known
then). For each case (a test question with an accepted answer by someone with training
contributions, not the asker), each method names its top 3 and top 5 for the question's
title and the first 300 characters of its body; R@3 and R@5 are the share of cases whose
accepted answerer is among them.

Methods: `routing`, the product's suggested answerers (`service.routing.questions.
Suggester`: the search's ranking, employees first, then trusted members, the asker and
opted-out people left out; no load limit, each question judged on its own); `search`, the
search's ranking unfiltered (what routing would suggest without the trust rule); the
POP and Model 2 baselines of `bench.relevance.baselines`. On these sites nobody is an
employee, so `routing` suggests trusted members only (expert or authority on a topic of
the question). Figures are measured and written into BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from bench.relevance.baselines import Baselines, Ranker
from bench.relevance.run import Case, SiteSplit, open_store, site_users, split_site, whoknows_ranker
from service import pipeline
from service.config import RoutingConfig
from service.routing.questions import Suggester, question_text

__all__ = ["DEPTHS", "recall_at", "route_site", "routing_ranker"]

DEPTHS = (3, 5)
FORM = "title+body"
#: the methods in the order the tables print them
METHODS = ("routing", "search", "POP", "Model 2")


def routing_ranker(services: pipeline.Services, cutoff: date, trusted_accepted: int | None = None
                   ) -> Callable[[Case, int], list[str]]:
    """The product's suggested answerers of a case, as site user ids (`trusted_accepted`:
    the configured one when None)."""
    users = site_users(services)
    person_of = {user: person for person, user in users.items()}
    company = services.config.organisations.company_id

    def suggest(case: Case, k: int) -> list[str]:
        config = RoutingConfig(suggestions=k, max_open_suggestions=10**9,
                               trusted_accepted=RoutingConfig().trusted_accepted
                               if trusted_accepted is None else trusted_accepted)
        with services.engine.connect() as conn:
            suggester = Suggester(conn, services.index, config, company, cutoff)
            topics = sorted(services.vocabulary.extract([], [case.title, case.body]))
            found = suggester.suggest(question_text(case.title, case.body),
                                      person_of.get(case.asker), topics)
        return [users[s.person_id] for s in found if s.person_id in users]

    return suggest


def _ranked(rank: Ranker) -> Callable[[Case, int], list[str]]:
    def named(case: Case, k: int) -> list[str]:
        return [p for p in rank(case.query(FORM), k + 1) if p != case.asker][:k]

    return named


def recall_at(named: Sequence[Sequence[str]], cases: Sequence[Case], k: int) -> float:
    """The share of cases whose accepted answerer is among the first k named."""
    hits = sum(1 for found, case in zip(named, cases, strict=True) if case.target in found[:k])
    return hits / len(cases) if cases else 0.0


def route_site(split: SiteSplit, trusted_accepted: int | None = None
               ) -> dict[str, dict[str, float]]:
    """method -> R@3, R@5 and ms per question, on one site."""
    with tempfile.TemporaryDirectory(prefix="whoknows-routing-") as workdir:
        services = open_store(Path(workdir), split)
        try:
            baselines = Baselines(split.training, split.cutoff).rankers()
            methods = {"routing": routing_ranker(services, split.cutoff.date(),
                                                 trusted_accepted),
                       "search": _ranked(whoknows_ranker(services)),
                       "POP": _ranked(baselines["POP"]),
                       "Model 2": _ranked(baselines["Model 2"])}
            found: dict[str, dict[str, float]] = {}
            for name, method in methods.items():
                started = time.perf_counter()
                named = [method(case, max(DEPTHS)) for case in split.cases]
                ms = 1000 * (time.perf_counter() - started) / max(1, len(split.cases))
                found[name] = {**{f"R@{k}": recall_at(named, split.cases, k) for k in DEPTHS},
                               "ms": round(ms, 1)}
        finally:
            services.engine.dispose()
    return found


def _table(title: str, rows: dict[str, dict[str, float]], cases: int) -> str:
    lines = [f"{title} ({cases} cases)", "", "| method | R@3 | R@5 | ms/question |",
             "| --- | ---: | ---: | ---: |"]
    for name in METHODS:
        row = rows[name]
        lines.append(f"| {name} | {row['R@3']:.3f} | {row['R@5']:.3f} | {row['ms']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="StackExchange dump folders")
    parser.add_argument("--test-share", type=float, default=0.25)
    parser.add_argument("--json-out", type=Path, metavar="PATH")
    parser.add_argument("--trusted-accepted", type=int, default=None,
                        help="accepted answers that make a member trusted (default: the "
                        "product's [routing] trusted_accepted)")
    args = parser.parse_args(argv)
    sites = []
    for folder in args.folders:
        started = time.perf_counter()
        split = split_site(folder, args.test_share)
        rows = route_site(split, args.trusted_accepted)
        print(f"  {folder.name}: {len(split.cases)} cases, "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        print(_table(split.site, rows, len(split.cases)))
        sites.append({"site": split.site, "cases": len(split.cases), "methods": rows})
    counted = [s for s in sites if s["cases"]]
    macro = {name: {metric: sum(s["methods"][name][metric] for s in counted) / len(counted)
                    for metric in ("R@3", "R@5", "ms")} for name in METHODS} if counted else {}
    if macro:
        total = sum(int(s["cases"]) for s in counted)
        print(_table(f"Macro average over {len(counted)} sites", macro, total))
    if args.json_out:
        args.json_out.write_text("".join(json.dumps(line) + "\n"
                                         for line in [*sites, {"macro": macro}]))


if __name__ == "__main__":
    main()
