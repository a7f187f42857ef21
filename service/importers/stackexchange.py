"""Import a StackExchange data dump: the archive.org site dumps and Stack Overflow for Teams
exports, a folder of XML files each holding one `<row .../>` element per item.

    Posts.xml      required: questions (PostTypeId 1) and answers (2); the other post
                   types (tag wikis, moderator nominations, ...) are not contributions
    Users.xml      optional: display names
    Votes.xml      optional: up-votes become `likes`; accept votes (VoteTypeId 1) mark
                   accepted answers, even those whose question is not in the dump
    Comments.xml   optional: the comments on the dump's questions and answers

Records carry the ids the API connector gives (`q<id>`, `a<id>`, `c<id>`), so a source
seeded from a dump can then be kept current by the API connector without duplicates. An
answer's thread and parent are its question (`ParentId`), and it is `accepted` when the
question's `AcceptedAnswerId` names it; an answer whose question is not in the dump is
still stored. A comment's parent is the post commented on, its thread that post's
question. An author is the `OwnerUserId` (for comments the `UserId`); a deleted user has
only a display name and becomes `name:<display name>`. Bodies are HTML turned into text;
tags come as `<a><b>` or `|a|b|`. `updated` is the last edit (`LastEditDate`), else the
creation, as the API connector has it: `LastActivityDate` moves when someone else answers
or comments, which is not a change to the post. The pipeline derives the reply and
accept interactions from thread, parent and `accepted`.

`until` keeps only what was created before it (posts, comments, votes): the site as it
stood then, as far as a dump can tell. With Votes.xml the scores are then recounted from
the votes cast before it (up - down) and an answer accepted after it is not accepted;
without Votes.xml the scores are the dump's own.

Rows stream (`iterparse`, each read element dropped at once): what stays in memory is a
display name per user, vote counts per voted post, the question id of each answer and the
set of question ids (tens of bytes per post, never the text). A malformed row (no usable
Id, date, author or question) is described in `Page.errors` with its file, row number and
Id, and skipped; the rest goes on. A file that is not well-formed XML cannot be read past
the fault: the records read before it are yielded, then `DumpError` names its line and
column.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from service.connectors.base import ConnectorError, Page
from service.connectors.rss import html_to_text
from service.model import AuthorRecord, ContributionKind, ContributionRecord

__all__ = ["DumpCounts", "DumpError", "StackExchangeDump", "PAGE_SIZE"]

#: Records per page: one transaction each in the pipeline.
PAGE_SIZE = 2000
_QUESTION, _ANSWER = "1", "2"
_ACCEPT_VOTE, _UP_VOTE, _DOWN_VOTE = "1", "2", "3"
_TAG = re.compile(r"<([^<>]+)>")

Row = Mapping[str, str]


class DumpError(ConnectorError):
    """The dump cannot be read: no Posts.xml, or a file that is not well-formed XML."""


class _Malformed(Exception):
    """A row lacks what a record needs; the message says what."""


@dataclass(slots=True)
class DumpCounts:
    """What an import read. `skipped` rows are not contributions (other post types,
    comments on posts outside the dump) or were created after `until`; `malformed` rows
    are described in the pages' errors."""

    questions: int = 0
    answers: int = 0
    comments: int = 0
    skipped: int = 0
    malformed: int = 0


@dataclass(slots=True)
class _Votes:
    up: Counter[int] = field(default_factory=Counter)
    down: Counter[int] = field(default_factory=Counter)
    accepts: set[int] = field(default_factory=set)
    #: answers accepted only on or after `until`
    late_accepts: set[int] = field(default_factory=set)


class StackExchangeDump:
    """One dump folder; `pages()` yields its records in pages of `page_size`: the
    questions and answers in the order of Posts.xml, then the comments.

    `until` (a time without zone is UTC) keeps what was created before it; `site_url`
    (e.g. "https://beer.stackexchange.com") makes post, comment and user links. Raises
    `DumpError` when the folder has no Posts.xml. `counts` fills in as pages are read.
    """

    def __init__(
        self, folder: Path, *, until: datetime | None = None, site_url: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.folder = Path(folder)
        if not (self.folder / "Posts.xml").is_file():
            raise DumpError(
                f"{self.folder}: no Posts.xml here (a StackExchange dump folder holds "
                "Posts.xml, and Users.xml, Votes.xml and Comments.xml when exported)")
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        self.until = until
        self.site_url = site_url.rstrip("/") if site_url else None
        self.page_size = page_size
        self.counts = DumpCounts()
        self._errors: list[str] = []
        self._names: dict[str, str] = {}
        self._votes: _Votes | None = None
        #: answers named by their question's AcceptedAnswerId, until the answer is read
        self._accepted: set[int] = set()
        self._questions: set[int] = set()
        self._question_of: dict[int, int] = {}

    def pages(self) -> Iterator[Page]:
        """Yield pages of records, each with the malformed rows found since the last.

        Raises `DumpError` (after yielding what was read) when a file is not well-formed.
        """
        self.counts, self._errors = DumpCounts(), []
        self._accepted, self._questions, self._question_of = set(), set(), {}
        self._names = self._read_users()
        self._votes = self._read_votes()
        batch: list[ContributionRecord] = []
        try:
            for record in chain(self._posts(), self._comments()):
                batch.append(record)
                if len(batch) >= self.page_size:
                    yield self._page(batch)
                    batch = []
        except DumpError:
            if batch or self._errors:
                yield self._page(batch)
            raise
        if batch or self._errors:
            yield self._page(batch)

    def _page(self, records: list[ContributionRecord]) -> Page:
        errors, self._errors = self._errors, []
        return Page(records, cursor=None, errors=errors)

    def _rows(self, name: str) -> Iterator[tuple[int, Row]]:
        """Yield (row number, attributes) for each `<row>` of a file, dropping each
        element once read; raise `DumpError` at XML that is not well-formed."""
        number = 0
        try:
            events = ET.iterparse(self.folder / name, events=("start", "end"))
            _, root = next(events)
            for event, element in events:
                if event == "end" and element.tag == "row":
                    number += 1
                    yield number, element.attrib
                    root.clear()
        except ET.ParseError as exc:
            line, column = exc.position
            raise DumpError(
                f"{name}: not well-formed XML at line {line}, column {column} after row "
                f"{number} ({exc}); the rows before it were imported") from exc

    def _malformed(self, name: str, number: int, row: Row, exc: Exception) -> None:
        self.counts.malformed += 1
        self._errors.append(f"{name} row {number} (Id {row.get('Id') or '?'}): {exc}")

    def _after_cut(self, created: datetime) -> bool:
        return self.until is not None and created >= self.until

    def _read_users(self) -> dict[str, str]:
        names: dict[str, str] = {}
        if not (self.folder / "Users.xml").is_file():
            return names
        for number, row in self._rows("Users.xml"):
            try:
                user = str(_number(row, "Id"))
            except _Malformed as exc:
                self._malformed("Users.xml", number, row, exc)
                continue
            if name := _clean(row.get("DisplayName")):
                names[user] = name
        return names

    def _read_votes(self) -> _Votes | None:
        if not (self.folder / "Votes.xml").is_file():
            return None
        votes = _Votes()
        for number, row in self._rows("Votes.xml"):
            kind = row.get("VoteTypeId")
            if kind not in (_ACCEPT_VOTE, _UP_VOTE, _DOWN_VOTE):
                continue
            try:
                post, late = _number(row, "PostId"), self._after_cut(_time(row, "CreationDate"))
            except _Malformed as exc:
                self._malformed("Votes.xml", number, row, exc)
                continue
            if kind == _ACCEPT_VOTE:
                (votes.late_accepts if late else votes.accepts).add(post)
            elif not late:
                (votes.up if kind == _UP_VOTE else votes.down)[post] += 1
        return votes

    def _posts(self) -> Iterator[ContributionRecord]:
        for number, row in self._rows("Posts.xml"):
            kind = row.get("PostTypeId")
            try:
                if kind == _QUESTION:
                    record = self._question(row)
                elif kind == _ANSWER:
                    record = self._answer(row)
                else:  # tag wikis, moderator nominations, ...: not contributions
                    record = None
            except _Malformed as exc:
                self._malformed("Posts.xml", number, row, exc)
                continue
            if record is None:
                self.counts.skipped += 1
            else:
                yield record

    def _question(self, row: Row) -> ContributionRecord | None:
        post, created = _number(row, "Id"), _time(row, "CreationDate")
        if self._after_cut(created):
            return None
        accepted = _number(row, "AcceptedAnswerId") if row.get("AcceptedAnswerId") else None
        record = ContributionRecord(
            id=f"q{post}", kind=ContributionKind.QUESTION,
            author=self._author(row, "OwnerUserId", "OwnerDisplayName"),
            created=created, updated=_time(row, "LastEditDate", created),
            title=_clean(row.get("Title")) or "", text=html_to_text(row.get("Body") or ""),
            url=self._url(f"questions/{post}"), thread=f"q{post}", tags=_tags(row.get("Tags")),
            score=self._score(post, row), likes=self._likes(post),
            replies=_int(row, "AnswerCount"),
        )
        if accepted is not None:
            self._accepted.add(accepted)
        self._questions.add(post)
        self.counts.questions += 1
        return record

    def _answer(self, row: Row) -> ContributionRecord | None:
        post, created = _number(row, "Id"), _time(row, "CreationDate")
        if self._after_cut(created):
            return None
        question = _number(row, "ParentId")
        record = ContributionRecord(
            id=f"a{post}", kind=ContributionKind.ANSWER,
            author=self._author(row, "OwnerUserId", "OwnerDisplayName"),
            created=created, updated=_time(row, "LastEditDate", created),
            text=html_to_text(row.get("Body") or ""), url=self._url(f"a/{post}"),
            thread=f"q{question}", parent=f"q{question}", score=self._score(post, row),
            likes=self._likes(post), accepted=self._is_accepted(post),
            replies=_int(row, "CommentCount"),
        )
        # each answer is read once: its question's mark is no longer needed
        self._accepted.discard(post)
        self._question_of[post] = question
        self.counts.answers += 1
        return record

    def _comments(self) -> Iterator[ContributionRecord]:
        if not (self.folder / "Comments.xml").is_file():
            return
        for number, row in self._rows("Comments.xml"):
            try:
                record = self._comment(row)
            except _Malformed as exc:
                self._malformed("Comments.xml", number, row, exc)
                continue
            if record is None:
                self.counts.skipped += 1
            else:
                yield record

    def _comment(self, row: Row) -> ContributionRecord | None:
        comment, created = _number(row, "Id"), _time(row, "CreationDate")
        post = _number(row, "PostId")
        if self._after_cut(created):
            return None
        if post in self._question_of:
            question, parent = self._question_of[post], f"a{post}"
        elif post in self._questions:
            question, parent = post, f"q{post}"
        else:  # on a tag wiki, or on a post the dump (or `until`) left out
            return None
        record = ContributionRecord(
            id=f"c{comment}", kind=ContributionKind.COMMENT,
            author=self._author(row, "UserId", "UserDisplayName"),
            created=created, updated=created, text=_clean(row.get("Text")) or "",
            url=self._url(f"questions/{question}#comment{comment}_{post}"),
            thread=f"q{question}", parent=parent, score=_int(row, "Score"),
        )
        self.counts.comments += 1
        return record

    def _author(self, row: Row, id_key: str, name_key: str) -> AuthorRecord:
        if row.get(id_key):
            user = str(_number(row, id_key))
            return AuthorRecord(id=user, name=self._names.get(user) or _clean(row.get(name_key)),
                                url=self._url(f"users/{user}"))
        if name := _clean(row.get(name_key)):
            return AuthorRecord(id=f"name:{name}", name=name)
        raise _Malformed(f"it has neither {id_key} nor {name_key}")

    def _url(self, path: str) -> str | None:
        return f"{self.site_url}/{path}" if self.site_url else None

    def _score(self, post: int, row: Row) -> int:
        if self.until is not None and self._votes is not None:
            return self._votes.up[post] - self._votes.down[post]
        return _int(row, "Score")

    def _likes(self, post: int) -> int:
        return self._votes.up[post] if self._votes is not None else 0

    def _is_accepted(self, answer: int) -> bool:
        votes = self._votes
        if votes is None:
            return answer in self._accepted
        return ((answer in self._accepted or answer in votes.accepts)
                and answer not in votes.late_accepts)


def _number(row: Row, key: str) -> int:
    value = row.get(key)
    if not value:
        raise _Malformed(f"it has no {key}")
    try:
        return int(value)
    except ValueError:
        raise _Malformed(f"{key} {value!r} is not a number") from None


def _int(row: Row, key: str) -> int:
    """A count or score; absent is 0."""
    return _number(row, key) if row.get(key) else 0


def _time(row: Row, key: str, default: datetime | None = None) -> datetime:
    value = row.get(key)
    if not value:
        if default is None:
            raise _Malformed(f"it has no {key}")
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Malformed(f"{key} {value!r} is not a date and time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _tags(value: str | None) -> list[str]:
    if not value:
        return []
    if value.startswith("|"):  # the newer dumps' format
        return [tag for tag in value.split("|") if tag]
    return _TAG.findall(value)


def _clean(value: str | None) -> str | None:
    """Whitespace collapsed; None when nothing is left."""
    return (" ".join(value.split()) or None) if value else None
