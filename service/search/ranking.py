"""One ranking for every search engine: how people are ordered for a query. Pure.

A person's score is a weighted sum of signals, each kept with its value and its points so
that a user can see why a person ranks where they do (`explain` in the API, the search
page's "why this rank"):

    text       their contributions matching the query: the sum of the relevance (BM25
               faded by age) of their best matching documents (Balog's Model 2); a
               question they asked counts `question_text` of its relevance
    thread     threads whose opening post matches the query and that they answered: the
               sum of those posts' relevance (the question states what the answer is about)
    topics     their reputation on the query's topics (the profile's topic scores)
    responses  how many answers and replies they wrote (the candidate prior: "most answers")
    accepted   how many of them were accepted
    votes      the votes (score or likes) their responses received
    recent     their responses counted with a 30-day half-life: who is active now

The query-dependent signals (text, thread, topics) enter as log(x / best + floor), where
best is the best candidate's value for this query, so that their weight means the same for
every query and community; the priors as log(1 + x). This is the log-linear combination of
a document-centric query model with candidate priors (Balog et al. 2009, "A language
modeling framework for expert finding"; Fang and Zhai 2007 on candidate priors) with
weights fitted by leave-one-site-out on the shared communities (bench/relevance/fit.py,
BENCHMARKS.md): the same defaults for every community.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["DEFAULT_WEIGHTS", "Candidate", "RankedPerson", "RankingWeights", "Signal",
           "SIGNALS", "rank"]

#: The signals in the order they are explained.
SIGNALS = ("text", "thread", "topics", "responses", "accepted", "votes", "recent")
_RELATIVE = ("text", "thread", "topics")


@dataclass(frozen=True, slots=True)
class RankingWeights:
    text: float = 1.0
    thread: float = 0.0
    topics: float = 0.0
    responses: float = 0.05
    accepted: float = 0.0
    votes: float = 0.0
    recent: float = 0.8
    #: the share of a question's relevance its asker gets as text
    question_text: float = 1.0
    #: added to x / best: how far a person with none of a query signal falls behind
    floor: float = 0.1


DEFAULT_WEIGHTS = RankingWeights()


@dataclass(slots=True)
class Candidate:
    """What a search found about one person."""

    person_id: int
    #: their own matching documents: (contribution, relevance, kind), best first
    docs: list[tuple[int, float, str]] = field(default_factory=list)
    #: matching threads they responded in: (their response, the opening post's relevance)
    threads: list[tuple[int, float]] = field(default_factory=list)
    topics: float = 0.0
    responses: int = 0
    accepted: int = 0
    votes: int = 0
    recent: float = 0.0


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    value: float
    weight: float
    points: float


@dataclass(slots=True)
class RankedPerson:
    person_id: int
    score: float
    #: the text signal's value (the relevance of their best matching documents)
    text: float
    signals: list[Signal]


def text_value(candidate: Candidate, weights: RankingWeights) -> float:
    return sum(rel * (weights.question_text if kind == "question" else 1.0)
               for _, rel, kind in candidate.docs)


def _values(candidate: Candidate, weights: RankingWeights) -> dict[str, float]:
    return {
        "text": text_value(candidate, weights),
        "thread": sum(rel for _, rel in candidate.threads),
        "topics": candidate.topics,
        "responses": float(candidate.responses),
        "accepted": float(candidate.accepted),
        "votes": float(candidate.votes),
        "recent": candidate.recent,
    }


def rank(candidates: Sequence[Candidate], weights: RankingWeights = DEFAULT_WEIGHTS,
         explained: int | None = None) -> list[RankedPerson]:
    """Order the candidates, best first (ties: the lower person id first); the first
    `explained` people (everyone: None) carry their signals."""
    values = [_values(c, weights) for c in candidates]
    best = {name: max((v[name] for v in values), default=0.0) or 1.0 for name in _RELATIVE}
    used = [(name, float(getattr(weights, name))) for name in SIGNALS if getattr(weights, name)]

    def points(name: str, weight: float, value: float) -> float:
        if name in _RELATIVE:
            return weight * math.log(value / best[name] + weights.floor)
        return weight * math.log1p(value)

    ranked = [RankedPerson(c.person_id, sum(points(n, w, v[n]) for n, w in used),
                           v["text"], [])
              for c, v in zip(candidates, values, strict=True)]
    order = sorted(range(len(ranked)), key=lambda i: (-ranked[i].score, ranked[i].person_id))
    ranked = [ranked[i] for i in order]
    shown = len(ranked) if explained is None else explained
    for person, i in zip(ranked[:shown], order[:shown], strict=True):
        person.signals = [Signal(n, values[i][n], w, points(n, w, values[i][n]))
                          for n, w in used]
    return ranked
