"""The classic expert-finding baselines, computed from the same training records as
whoknows' store.

    most answers      everyone ranked by how many answers they wrote (query ignored)
    most accepted     ... by how many of their answers were accepted (then by answers)
    BM25 profiles     Balog et al. 2006, Model 1 (candidate-centric): one document per
                      person, all their answers concatenated, ranked by BM25
    BM25 answers      Balog et al. 2006, Model 2 (document-centric): answers ranked by
                      BM25, each person scored by the sum over their answers among the
                      best `ANSWERS_SCORED`

An answer's document is its text with its question's title (the title states what the
answer is about; whoknows' index sees the question too). BM25 is SQLite FTS5's
(k1 = 1.2, b = 0.75) in an in-memory database, with whoknows' tokenizer (porter stemming,
unicode61) and the same stop words dropped from the query, whose words are OR-ed.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from service.model import ContributionKind, ContributionRecord
from service.reputation.topics import tokens
from service.search.sqlite import STOPWORDS

__all__ = ["ANSWERS_SCORED", "Baselines", "Ranker"]

#: Model 2 sums a person's answers among this many best answers.
ANSWERS_SCORED = 1000
#: A ranker: (query text, how many people) -> site user ids, best first.
Ranker = Callable[[str, int], list[str]]


class Baselines:
    """The four baselines over one site's training records."""

    def __init__(self, training: Iterable[ContributionRecord]) -> None:
        records = [r for r in training if not r.deleted]
        titles = {r.id: r.title for r in records if r.kind == ContributionKind.QUESTION}
        answers = [r for r in records if r.kind == ContributionKind.ANSWER]
        count = Counter(a.author.id for a in answers)
        accepted = Counter(a.author.id for a in answers if a.accepted)
        self._by_answers = sorted(count, key=lambda p: (-count[p], -accepted[p], p))
        self._by_accepted = sorted(count, key=lambda p: (-accepted[p], -count[p], p))
        self._people = sorted(count)
        self._authors = [a.author.id for a in answers]
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
            "most answers": lambda _text, k: self._by_answers[:k],
            "most accepted": lambda _text, k: self._by_accepted[:k],
            "BM25 profiles (Model 1)": self.profiles,
            "BM25 answers (Model 2)": self.answers,
        }

    def profiles(self, text: str, k: int) -> list[str]:
        match = _match(text)
        if not match:
            return []
        rows = self._db.execute(
            "SELECT rowid FROM profile WHERE profile MATCH ? ORDER BY bm25(profile) LIMIT ?",
            (match, k))
        return [self._people[row[0]] for row in rows]

    def answers(self, text: str, k: int) -> list[str]:
        match = _match(text)
        if not match:
            return []
        score: dict[str, float] = defaultdict(float)
        for rowid, relevance in self._db.execute(
                "SELECT rowid, -bm25(answer) FROM answer WHERE answer MATCH ? "
                "ORDER BY bm25(answer) LIMIT ?", (match, ANSWERS_SCORED)):
            score[self._authors[rowid]] += relevance
        return sorted(score, key=lambda p: (-score[p], p))[:k]


def _match(text: str) -> str:
    words = list(dict.fromkeys(tokens(text)))
    kept = [w for w in words if w not in STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in kept)
