"""A "did you mean" for a query: its misspelled words corrected from the topic
vocabulary. Pure.

A word is corrected when no document the caller may see holds it, it is no word of a
topic or synonym, and a word of one is close to it (difflib's ratio ≥ `CUTOFF`: one
letter wrong, missing or added in a word of five or more). Only the vocabulary is
offered, never a word read from documents, and whether a word is missing is asked in the
caller's own view, so an external answer tells nothing of internal documents.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

from service.reputation.topics import tokens

__all__ = ["CUTOFF", "corrections", "spelled"]

CUTOFF = 0.8
#: Shorter words are left alone: at this length one letter changes what a word is.
MIN_LENGTH = 4


def corrections(words: Iterable[str], vocabulary_words: frozenset[str],
                missing: Callable[[str], bool], ignored: frozenset[str] = frozenset()
                ) -> dict[str, str]:
    """The misspelled words of the query with their correction; `missing(word)` says
    whether no visible document holds the word (asked only of words with a close match)."""
    found = {}
    for word in words:
        if len(word) < MIN_LENGTH or word in vocabulary_words or word in ignored:
            continue
        close = difflib.get_close_matches(word, vocabulary_words, n=1, cutoff=CUTOFF)
        if close and missing(word):
            found[word] = close[0]
    return found


def spelled(text: str, fixes: dict[str, str]) -> str:
    """The query's words with the corrections in place (lower case, as searched)."""
    return " ".join(fixes.get(word, word) for word in tokens(text))
