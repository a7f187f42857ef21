"""Topics from tags and text, normalised through a synonym map.

The synonym file is TOML: each key is a canonical topic, its value the list of phrases
that mean it (`"medical insurance claims" = ["claims adjudication", "health claims"]`).
A tag becomes a topic after normalisation (lower case, punctuation as spaces, synonym
mapped); text yields the known topics (canonical or alias phrases) it mentions.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

__all__ = ["TopicVocabulary", "load_vocabulary", "tokens"]

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Return the lower-case word tokens of `text`."""
    return _TOKEN.findall(text.lower())


class TopicVocabulary:
    """The known topics and their synonyms."""

    def __init__(self, synonyms: Mapping[str, Iterable[str]]) -> None:
        self.canonical: dict[str, str] = {}
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for topic, aliases in synonyms.items():
            name = " ".join(tokens(topic))
            for phrase in (topic, *aliases):
                words = tuple(tokens(phrase))
                if not words:
                    continue
                self.canonical[" ".join(words)] = name
                self._by_first.setdefault(words[0], []).append((words, name))
        #: every word of a topic or synonym (what a misspelled query word is corrected to)
        self.words = frozenset(word for phrase in self.canonical for word in phrase.split())

    @property
    def topics(self) -> set[str]:
        return set(self.canonical.values())

    def normalise(self, tag: str) -> str | None:
        """Return the topic a tag names (its synonym-mapped form), or None if it is empty."""
        key = " ".join(tokens(tag))
        if not key:
            return None
        return self.canonical.get(key, key)

    def from_text(self, *texts: str) -> set[str]:
        """Return the known topics mentioned in the texts."""
        words = tokens(" ".join(texts))
        present = self._by_first.keys() & set(words)
        if not present:
            return set()
        # Phrases are checked on the joined words: a substring test runs in C.
        padded = f" {' '.join(words)} "
        return {
            topic
            for first in present
            for phrase, topic in self._by_first[first]
            if len(phrase) == 1 or f" {' '.join(phrase)} " in padded
        }

    def extract(
        self, tags: Iterable[str], texts: Iterable[str], from_tags: bool = True,
        from_text: bool = True,
    ) -> set[str]:
        """Return the topics of a contribution from its tags and its text."""
        found: set[str] = set()
        if from_tags:
            found |= {topic for tag in tags if (topic := self.normalise(tag))}
        if from_text:
            found |= self.from_text(*texts)
        return found


def load_vocabulary(path: str | Path | None = None) -> TopicVocabulary:
    """Read a synonym file (the bundled one when `path` is empty)."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("service.reputation").joinpath("synonyms.toml").read_text("utf-8")
    data = tomllib.loads(text)
    synonyms = data.get("topics", data)
    return TopicVocabulary({str(k): [str(a) for a in v] for k, v in synonyms.items()})
