"""The classic expert-finding baselines, computed from the same training records as
whoknows' store. Names are short and stable (the tables, the JSON lines and BENCHMARKS.md
use them):

    POP            everyone ranked by how many answers they wrote (query ignored)
    ACC            ... by how many of their answers were accepted (then by answers)
    POP-90         ... by how many answers they wrote in the `RECENT_DAYS` days before the
                   cut (who is active now; then by all-time answers, then accepted)
    Model 1        candidate-centric, after Balog, Azzopardi & de Rijke 2006 ("Formal
                   models for expert finding in enterprise corpora", SIGIR): one document
                   per person, all their answers concatenated, ranked by BM25
    Model 2        document-centric, after the same paper: answers ranked by BM25, a
                   person's score the sum over their answers among the best
                   `ANSWERS_SCORED`:  score(p) = sum_{a by p} bm25(q, a)
    Model 2+votes  Model 2 with each answer's BM25 weighted by a vote prior:
                   score(p) = sum_{a by p} bm25(q, a) * (1 + ln(1 + max(votes(a), 0)))

Balog et al. define models 1 and 2 with language models; BM25 stands in for them here,
as is common in later work. The vote prior treats an answer's net votes as a sign of its
quality, a signal many community-QA studies use (e.g. Agichtein et al. 2008, "Finding
high-quality content in social media", WSDM); the log damping is our choice, so that one
heavily voted answer does not outweigh many, and not taken from a particular paper.
Votes are the record's score: dumps without Votes.xml carry the final score, votes cast
after the cut included (see README.md).

An answer's document is its text with its question's title (the title states what the
answer is about; whoknows' index sees the question too). BM25 is SQLite FTS5's
(k1 = 1.2, b = 0.75) in an in-memory database, with whoknows' tokenizer (porter stemming,
unicode61) and the same stop words dropped from the query, whose words are OR-ed.
Every ranking breaks ties by the site's user id, so that a run is repeatable.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from service.model import ContributionKind, ContributionRecord
from service.reputation.topics import tokens
from service.search.sqlite import STOPWORDS

__all__ = ["ANSWERS_SCORED", "RECENT_DAYS", "Baselines", "Ranker", "vote_prior"]

#: Model 2 sums a person's answers among this many best answers.
ANSWERS_SCORED = 1000
#: POP-90 counts the answers written in this many days before the cut.
RECENT_DAYS = 90
#: A ranker: (query text, how many people) -> site user ids, best first.
Ranker = Callable[[str, int], list[str]]


def vote_prior(votes: int) -> float:
    """Return the weight Model 2+votes gives an answer with `votes` net votes:
    1 + ln(1 + max(votes, 0)), so 1 for an unvoted or downvoted answer."""
    return 1.0 + math.log1p(max(votes, 0))


class Baselines:
    """The six baselines over one site's training records; `cutoff` is the moment the
    test period starts (POP-90 counts the `RECENT_DAYS` before it)."""

    def __init__(self, training: Iterable[ContributionRecord], cutoff: datetime) -> None:
        records = [r for r in training if not r.deleted]
        titles = {r.id: r.title for r in records if r.kind == ContributionKind.QUESTION}
        answers = [r for r in records if r.kind == ContributionKind.ANSWER]
        since = cutoff - timedelta(days=RECENT_DAYS)
        count = Counter(a.author.id for a in answers)
        accepted = Counter(a.author.id for a in answers if a.accepted)
        recent = Counter(a.author.id for a in answers if since <= a.created < cutoff)
        self._by_answers = sorted(count, key=lambda p: (-count[p], -accepted[p], p))
        self._by_accepted = sorted(count, key=lambda p: (-accepted[p], -count[p], p))
        self._by_recent = sorted(count, key=lambda p: (-recent[p], -count[p], -accepted[p], p))
        self._people = sorted(count)
        self._authors = [a.author.id for a in answers]
        self._priors = [vote_prior(a.score) for a in answers]
        self._db = sqlite3.connect(":memory:")
        for table in ("profile", "answer"):
            self._db.execute(f"CREATE VIRTUAL TABLE {table} USING fts5(body, "
                             "tokenize = 'porter unicode61')")
        documents: dict[str, list[str]] = defaultdict(list)
        for number, answer in enumerate(answers):
            text = f"{titles.get(answer.thread or '', '')}\n{answer.text}"
            documents[answer.author.id].append(text)
            self._db.execute("INSERT INTO answer(rowid, body) VALUES (?, ?)", (number, text))
        for number, person in enumerate(self._people):
            self._db.execute("INSERT INTO profile(rowid, body) VALUES (?, ?)",
                             (number, "\n".join(documents[person])))

    def rankers(self) -> dict[str, Ranker]:
        """The baselines by name, in the order the tables print them."""
        return {
            "POP": lambda _text, k: self._by_answers[:k],
            "ACC": lambda _text, k: self._by_accepted[:k],
            "POP-90": lambda _text, k: self._by_recent[:k],
            "Model 1": self.profiles,
            "Model 2": self.answers,
            "Model 2+votes": self.voted_answers,
        }

    def profiles(self, text: str, k: int) -> list[str]:
        """Model 1: people whose concatenated answers match `text` best, best first."""
        match = _match(text)
        if not match:
            return []
        # rowid follows the sorted user ids, so it breaks ties by user id
        rows = self._db.execute("SELECT rowid FROM profile WHERE profile MATCH ? "
                                "ORDER BY bm25(profile), rowid LIMIT ?", (match, k))
        return [self._people[row[0]] for row in rows]

    def answers(self, text: str, k: int) -> list[str]:
        """Model 2: people by the summed BM25 of their best-matching answers."""
        return self._summed(text, k, voted=False)

    def voted_answers(self, text: str, k: int) -> list[str]:
        """Model 2+votes: as Model 2, each answer's BM25 times its `vote_prior`."""
        return self._summed(text, k, voted=True)

    def _summed(self, text: str, k: int, voted: bool) -> list[str]:
        match = _match(text)
        if not match:
            return []
        score: dict[str, float] = defaultdict(float)
        for rowid, relevance in self._db.execute(
                "SELECT rowid, -bm25(answer) FROM answer WHERE answer MATCH ? "
                "ORDER BY bm25(answer), rowid LIMIT ?", (match, ANSWERS_SCORED)):
            score[self._authors[rowid]] += relevance * (self._priors[rowid] if voted else 1.0)
        return sorted(score, key=lambda p: (-score[p], p))[:k]


def _match(text: str) -> str:
    words = list(dict.fromkeys(tokens(text)))
    kept = [w for w in words if w not in STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in kept)
