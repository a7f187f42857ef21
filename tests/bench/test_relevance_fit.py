"""The fit ranks offline with numpy (bench/relevance/fit.py); the product ranks with
`service.search.ranking.rank`. The weights it fits are only the product's if both give the
same scores and order for the same candidates."""

from __future__ import annotations

import numpy as np

from bench.relevance.fit import SHIPPED, CaseFeatures, case_mrr, scores
from service.search.ranking import Candidate, RankingWeights, rank

CANDIDATES = [
    Candidate(1, docs=[(10, 8.0, "answer"), (11, 2.0, "question")], threads=[(20, 3.0)],
              topics=4.0, responses=12, accepted=3, votes=30, recent=2.5),
    Candidate(2, docs=[(12, 9.5, "answer")], topics=0.0, responses=2, recent=0.1),
    Candidate(3, docs=[(13, 1.0, "question")], threads=[(21, 6.0), (22, 1.0)],
              topics=1.5, responses=40, accepted=9, votes=4, recent=6.0),
    Candidate(4, threads=[(23, 2.0)], responses=1),
]
WEIGHTS = [SHIPPED[0], RankingWeights(thread=0.5, topics=0.25, accepted=0.1, votes=0.05,
                                      question_text=0.25, floor=0.03)]


def _features(people: list[Candidate]) -> CaseFeatures:
    def column(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=np.float64)

    return CaseFeatures(
        users=[f"u{c.person_id}" for c in people],
        person_ids=np.array([c.person_id for c in people], dtype=np.int64),
        answer_text=column([sum(r for _, r, k in c.docs if k != "question") for c in people]),
        question_text=column([sum(r for _, r, k in c.docs if k == "question") for c in people]),
        thread=column([sum(r for _, r in c.threads) for c in people]),
        topics=column([c.topics for c in people]),
        responses=column([c.responses for c in people]),
        accepted=column([c.accepted for c in people]),
        votes=column([c.votes for c in people]),
        has_docs=np.array([bool(c.docs) for c in people]),
        recent={SHIPPED[1]: column([c.recent for c in people])},
        asker="nobody", target="u3", grades={"u3": 2})


def test_the_fit_scores_candidates_as_the_product_ranks_them() -> None:
    case = _features(CANDIDATES)
    for weights in WEIGHTS:
        offline = dict(zip(case.users, scores(case, weights, SHIPPED[1]), strict=True))
        product = rank(CANDIDATES, weights)
        assert np.allclose([offline[f"u{p.person_id}"] for p in product],
                           [p.score for p in product], rtol=0, atol=1e-12)
        ranked = sorted(offline, key=lambda u: (-offline[u], int(u[1:])))
        assert ranked == [f"u{p.person_id}" for p in product]


def test_with_no_weight_on_threads_the_fit_drops_whom_only_threads_found() -> None:
    """The product does not look for the threads' answerers then (candidates.py)."""
    case = _features(CANDIDATES)
    weights = SHIPPED[0]
    assert weights.thread == 0
    case.target, case.grades = "u4", {"u4": 2}
    assert case_mrr(case, weights, SHIPPED[1])["MRR"] == 0.0
    assert case_mrr(case, RankingWeights(thread=0.5), SHIPPED[1])["MRR"] > 0.0
