"""Ranking metrics for one test case: a ranked list of people against graded judgements.

`grades` maps a person to their relevance: 2 for the author of the accepted answer, 1 for
the other answerers whose answer scored at least 1. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import fmean

__all__ = ["METRICS", "case_metrics", "mean_metrics"]

METRICS = ("P@1", "MRR", "nDCG@10", "R@5", "R@10")


def case_metrics(ranked: Sequence[str], grades: Mapping[str, int], target: str
                 ) -> dict[str, float]:
    """Return the metrics of one ranked list: P@1 and MRR for `target` (the accepted
    answerer), nDCG@10 over the grades, and R@5 / R@10, the share of the people with a
    grade found in the top 5 / 10."""
    rank = next((i for i, person in enumerate(ranked, start=1) if person == target), None)
    relevant = [person for person, grade in grades.items() if grade > 0]
    return {
        "P@1": 1.0 if rank == 1 else 0.0,
        "MRR": 1.0 / rank if rank else 0.0,
        "nDCG@10": ndcg(ranked, grades, 10),
        "R@5": recall(ranked, relevant, 5),
        "R@10": recall(ranked, relevant, 10),
    }


def ndcg(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain at k, with gain 2^grade - 1."""
    gained = _dcg([grades.get(person, 0) for person in ranked[:k]])
    ideal = _dcg(sorted(grades.values(), reverse=True)[:k])
    return gained / ideal if ideal else 0.0


def _dcg(grades: Sequence[int]) -> float:
    return sum((2**grade - 1) / math.log2(position + 1)
               for position, grade in enumerate(grades, start=1))


def recall(ranked: Sequence[str], relevant: Sequence[str], k: int) -> float:
    if not relevant:
        return 0.0
    top = set(ranked[:k])
    return sum(1 for person in relevant if person in top) / len(relevant)


def mean_metrics(cases: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over the cases (0.0 when there are none)."""
    return {name: fmean(c[name] for c in cases) if cases else 0.0 for name in METRICS}
