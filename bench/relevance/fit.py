"""Fit the ranking weights (service.search.ranking) by leave-one-site-out.

    python -m bench.relevance.fit DUMP_FOLDER [DUMP_FOLDER ...] [--json-out fit.json]
                                  [--half-lives 7,14,30,60,90,180]

For each site: the time split and the store of bench/relevance/run.py, then for every test
case and both query forms the candidates the product's own search finds
(`SqliteExpertIndex.candidates`) and their signals. The weights are then chosen offline,
by coordinate ascent over a small grid (GRID) from text alone (START), to maximise the
macro-average MRR (mean over sites, then over the two query forms) of the training sites:

- leave-one-site-out: for each site, the weights fitted on the other sites, and that
  site's MRR with them (the honest figure for a community the weights never saw);
- all sites: the weights to ship as `RankingWeights`' defaults.

`--half-lives` adds the half-life of `recent` to the grid (the shipped 30 days is stored
with the activity, so a change means recomputing the profiles); `recent` is then counted
here from the stored contributions at each half-life, as service.reputation.activity does.
The offline ranking is `ranking.rank`'s formula in numpy; the figures BENCHMARKS.md
reports come from bench/relevance/run.py through the product with the shipped defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from statistics import fmean

import numpy as np

from bench.relevance.metrics import case_metrics
from bench.relevance.run import QUERY_FORMS, TOP, open_store, site_users, split_site
from service import pipeline
from service.model import Audience
from service.reputation.activity import ACTIVITY_HALF_LIFE_DAYS, RESPONSE_KINDS
from service.reputation.scoring import age_decay
from service.search.base import ExpertQuery, QueryError
from service.search.ranking import DEFAULT_WEIGHTS, RankingWeights

__all__ = ["GRID", "CaseFeatures", "collect", "fit", "site_scores"]

#: The values tried for each weight (text is fixed at 1: only the ratios order people).
GRID: dict[str, tuple[float, ...]] = {
    "thread": (0.0, 0.25, 0.5, 1.0, 2.0),
    "topics": (0.0, 0.1, 0.25, 0.5),
    "responses": (0.0, 0.05, 0.1, 0.2, 0.4),
    "accepted": (0.0, 0.05, 0.1, 0.2),
    "votes": (0.0, 0.05, 0.1, 0.2),
    "recent": (0.0, 0.1, 0.2, 0.4, 0.8, 1.6),
    "question_text": (0.0, 0.25, 0.5, 1.0),
    "floor": (0.01, 0.03, 0.1, 0.3),
    # not a weight of the query: the stored activity is decayed at it
    # (service.reputation.activity.ACTIVITY_HALF_LIFE_DAYS); --half-lives tries others
    "recent_half_life_days": (ACTIVITY_HALF_LIFE_DAYS,),
}
ROUNDS = 3
#: The ranking weights and the half-life of `recent`.
Trial = tuple[RankingWeights, float]
SHIPPED: Trial = (DEFAULT_WEIGHTS, ACTIVITY_HALF_LIFE_DAYS)
#: Collect with weight on every signal, so that the search gathers them all.
EVERY_SIGNAL = RankingWeights(thread=1.0, topics=1.0)
#: Where every fit starts: text alone (Model 2), no prior, no thread, no recency, so that
#: no fold starts from weights the held-out site helped choose.
START: Trial = (RankingWeights(thread=0.0, topics=0.0, responses=0.0, accepted=0.0,
                               votes=0.0, recent=0.0, question_text=1.0, floor=0.1),
                ACTIVITY_HALF_LIFE_DAYS)


@dataclass(slots=True)
class CaseFeatures:
    """One case and query form: every candidate's signals, as columns."""

    users: list[str]
    person_ids: np.ndarray
    answer_text: np.ndarray
    question_text: np.ndarray
    thread: np.ndarray
    topics: np.ndarray
    responses: np.ndarray
    accepted: np.ndarray
    votes: np.ndarray
    #: found through their own matching documents (not only through threads)
    has_docs: np.ndarray
    #: the responses decayed at the cut, per half-life in days
    recent: dict[float, np.ndarray]
    asker: str
    target: str
    grades: dict[str, int]


def collect(folder: Path, test_share: float = 0.25) -> tuple[str, dict[str, list[CaseFeatures]]]:
    """Return the site name and, per query form, each case's candidate signals."""
    split = split_site(folder, test_share)
    found: dict[str, list[CaseFeatures]] = {form: [] for form in QUERY_FORMS}
    with tempfile.TemporaryDirectory(prefix="whoknows-fit-") as workdir:
        services = open_store(Path(workdir), split)
        try:
            users = site_users(services)
            decayed = _decayed_responses(services, split.cutoff)
            for form in QUERY_FORMS:
                for case in split.cases:
                    try:
                        people = services.index.candidates(ExpertQuery(
                            text=case.query(form), audience=Audience.INTERNAL), EVERY_SIGNAL)
                    except QueryError:
                        people = {}
                    known = [c for c in people.values() if c.person_id in users]
                    found[form].append(CaseFeatures(
                        users=[users[c.person_id] for c in known],
                        person_ids=np.array([c.person_id for c in known], dtype=np.int64),
                        answer_text=_column(sum(r for _, r, k in c.docs if k != "question")
                                            for c in known),
                        question_text=_column(sum(r for _, r, k in c.docs if k == "question")
                                              for c in known),
                        thread=_column(sum(r for _, r in c.threads) for c in known),
                        topics=_column(c.topics for c in known),
                        responses=_column(c.responses for c in known),
                        accepted=_column(c.accepted for c in known),
                        votes=_column(c.votes for c in known),
                        recent={h: _column(decayed.get(c.person_id, {}).get(h, 0.0)
                                           for c in known)
                                for h in GRID["recent_half_life_days"]},
                        has_docs=np.array([bool(c.docs) for c in known], dtype=bool),
                        asker=case.asker, target=case.target, grades=case.grades))
        finally:
            services.engine.dispose()
    return split.site, found


def _decayed_responses(services: pipeline.Services, now: datetime
                       ) -> dict[int, dict[float, float]]:
    """person -> half-life -> their responses decayed at `now`, as `recent` counts them
    (service.reputation.activity), for every half-life of the grid."""
    with services.engine.connect() as conn:
        facts = pipeline.facts_by_person(conn, services, None)
    return {person: {h: sum(age_decay(f.created, now, h) for f in found
                            if f.kind in RESPONSE_KINDS and not f.self_reply)
                     for h in GRID["recent_half_life_days"]}
            for person, found in facts.items()}


def _column(values: object) -> np.ndarray:
    return np.fromiter(values, dtype=np.float64)  # type: ignore[call-overload]


def _relative(values: np.ndarray, floor: float) -> np.ndarray:
    best = float(values.max(initial=0.0)) or 1.0
    return np.log(values / best + floor)


def scores(case: CaseFeatures, w: RankingWeights, half_life: float) -> np.ndarray:
    """`ranking.rank`'s score of every candidate of the case, `recent` decayed at
    `half_life` days."""
    text = case.answer_text + w.question_text * case.question_text
    total = np.zeros(len(case.users))
    for weight, values in ((w.text, text), (w.thread, case.thread), (w.topics, case.topics)):
        if weight:
            total += weight * _relative(values, w.floor)
    for weight, values in ((w.responses, case.responses), (w.accepted, case.accepted),
                           (w.votes, case.votes), (w.recent, case.recent[half_life])):
        if weight:
            total += weight * np.log1p(values)
    return total


def case_mrr(case: CaseFeatures, w: RankingWeights, half_life: float) -> dict[str, float]:
    score = scores(case, w, half_life)
    order = np.lexsort((case.person_ids, -score))
    # with no weight on threads the product does not look for the threads' answerers
    keep = case.has_docs if not w.thread else np.ones(len(case.users), dtype=bool)
    ranked = [case.users[i] for i in order if keep[i] and case.users[i] != case.asker][:TOP]
    return case_metrics(ranked, case.grades, case.target)


def site_scores(features: dict[str, list[CaseFeatures]], trial: Trial) -> dict[str, float]:
    """form -> mean MRR over the site's cases."""
    w, half_life = trial
    return {form: fmean(case_mrr(c, w, half_life)["MRR"] for c in cases) if cases else 0.0
            for form, cases in features.items()}


class Fitter:
    """Coordinate ascent over GRID, each (site, trial) evaluated once."""

    def __init__(self, sites: dict[str, dict[str, list[CaseFeatures]]]) -> None:
        self.sites = sites
        self._cache: dict[tuple[str, Trial], dict[str, float]] = {}

    def site(self, site: str, trial: Trial) -> dict[str, float]:
        key = (site, trial)
        if key not in self._cache:
            self._cache[key] = site_scores(self.sites[site], trial)
        return self._cache[key]

    def objective(self, training: Sequence[str], trial: Trial) -> float:
        return fmean(fmean(self.site(s, trial).values()) for s in training)

    def fit(self, training: Sequence[str], start: Trial = START) -> Trial:
        best, best_value = start, self.objective(training, start)
        for _ in range(ROUNDS):
            improved = False
            for name, values in GRID.items():
                for value in values:
                    w, half_life = best
                    trial = ((w, float(value)) if name == "recent_half_life_days"
                             else (replace(w, **{name: value}), half_life))
                    trial_value = self.objective(training, trial)
                    if trial_value > best_value + 1e-9:
                        best, best_value, improved = trial, trial_value, True
            if not improved:
                break
        return best


def fit(sites: dict[str, dict[str, list[CaseFeatures]]]) -> dict[str, object]:
    """Leave-one-site-out weights and figures, and the weights fitted on all sites."""
    fitter = Fitter(sites)
    names = sorted(sites)
    held_out = {}
    for site in names:
        trial = fitter.fit([s for s in names if s != site])
        held_out[site] = {"weights": _described(trial), "MRR": fitter.site(site, trial),
                          "MRR_shipped": fitter.site(site, SHIPPED)}
    everything = fitter.fit(names)
    return {
        "held_out": held_out,
        "loso_macro": {form: fmean(h["MRR"][form] for h in held_out.values())
                       for form in QUERY_FORMS},
        "all_sites": _described(everything),
        "all_sites_macro": {form: fmean(fitter.site(s, everything)[form] for s in names)
                            for form in QUERY_FORMS},
        "shipped_macro": {form: fmean(fitter.site(s, SHIPPED)[form] for s in names)
                          for form in QUERY_FORMS},
    }


def _described(trial: Trial) -> dict[str, float]:
    weights, half_life = trial
    return {**asdict(weights), "recent_half_life_days": half_life}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="StackExchange dump folders")
    parser.add_argument("--test-share", type=float, default=0.25)
    parser.add_argument("--json-out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--half-lives", help="also try these half-lives of `recent`, in "
                        "days, e.g. 7,14,30,60,90,180 (the shipped one is always tried)")
    args = parser.parse_args(argv)
    if args.half_lives:
        GRID["recent_half_life_days"] = tuple(sorted(
            {ACTIVITY_HALF_LIFE_DAYS, *map(float, args.half_lives.split(","))}))
    sites = {}
    for folder in args.folders:
        print(f"  {folder.name}: collecting the candidates' signals", file=sys.stderr)
        site, features = collect(folder, args.test_share)
        sites[site] = features
    figures = fit(sites)
    print("| held-out site | MRR title | MRR title+body | weights fitted on the others |")
    print("| --- | ---: | ---: | --- |")
    for site, row in figures["held_out"].items():  # type: ignore[union-attr]
        weights = ", ".join(f"{k} {v:g}" for k, v in row["weights"].items()
                            if k not in ("text", "floor"))
        print(f"| {site} | {row['MRR']['title']:.3f} | {row['MRR']['title+body']:.3f} "
              f"| {weights} |")
    loso, everything = figures["loso_macro"], figures["all_sites_macro"]
    print(f"\nmacro MRR, leave-one-site-out: title {loso['title']:.3f}, "  # type: ignore[index]
          f"title+body {loso['title+body']:.3f}")  # type: ignore[index]
    print(f"macro MRR, fitted on all sites: title {everything['title']:.3f}, "  # type: ignore[index]
          f"title+body {everything['title+body']:.3f}")  # type: ignore[index]
    print(f"weights fitted on all sites (ship these): {figures['all_sites']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
