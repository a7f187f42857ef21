"""A small community with planted patterns, loaded through the real pipeline.

- a burst: "data privacy gdpr" on the forum, 2 contributions a week for 30 weeks, 20 a
  week in weeks BURST_WEEKS (first and last), back to 2 after;
- two groups on "medical insurance claims": employees on the blog (emp1..emp4) and
  customers on the forum (cust1..cust4), joined only by Bea, who writes on both (one
  person: the same verified e-mail); a partner (partner1) on the portal;
- an internal-only topic tagged with `INTERNAL_TAG` on the blog.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service import pipeline
from service.connectors.base import Page
from service.model import AuthorRecord, ContributionKind, ContributionRecord

NOW = datetime(2026, 11, 1, tzinfo=UTC)
FIRST = NOW - timedelta(weeks=30)
BURST_WEEKS = (20, 23)
BURST_TOPIC = "data privacy gdpr"
CLAIMS = "medical insurance claims"
INTERNAL_TAG = "qqx-internal-7731"
INTERNAL_TOPIC = "qqx internal 7731"


def _who(account: str) -> AuthorRecord:
    email = "bea@corp.example" if account.startswith("bea") else None
    return AuthorRecord(id=account, username=account, name=account.title(), email=email)


def _rec(key: str, account: str, kind: str, at: datetime, tags: list[str], *,
         thread: str | None = None, parent: str | None = None, accepted: bool = False,
         liked_by: tuple[str, ...] = ()) -> ContributionRecord:
    return ContributionRecord(
        id=key, kind=ContributionKind(kind), author=_who(account), created=at,
        title=f"About {key}", text=f"Text of {key}", thread=thread, parent=parent, tags=tags,
        accepted=accepted, liked_by=[_who(a) for a in liked_by])


def _burst() -> list[ContributionRecord]:
    records = []
    for week in range(30):
        per_week = 20 if BURST_WEEKS[0] <= week <= BURST_WEEKS[1] else 2
        for i in range(per_week):
            at = FIRST + timedelta(weeks=week, hours=3 + i * 5)
            records.append(_rec(f"g{week}-{i}", f"asker{i % 7}", "question", at, ["gdpr"]))
    return records


def _thread(prefix: str, root_author: str, others: list[str], root_kind: str,
            tags: list[str], at: datetime) -> list[ContributionRecord]:
    root = f"{prefix}-root"
    records = [_rec(root, root_author, root_kind, at, tags)]
    for i, account in enumerate(others):
        records.append(_rec(f"{prefix}-{i}", account, "answer", at + timedelta(hours=i + 1),
                            [], thread=root, accepted=account.startswith("bea"),
                            liked_by=(root_author,)))
    return records


def blog() -> list[ContributionRecord]:
    at = NOW - timedelta(days=20)
    records = _thread("b1", "emp1", ["emp2", "emp3", "emp4", "bea"], "blog_post",
                      ["claims adjudication"], at)
    records += _thread("b2", "emp2", ["emp3", "emp4"], "blog_post", ["claims adjudication"],
                       at + timedelta(days=1))
    records.append(_rec("b3", "emp3", "blog_post", at, [INTERNAL_TAG]))
    return records


def forum() -> list[ContributionRecord]:
    at = NOW - timedelta(days=15)
    records = _thread("f1", "cust1", ["cust2", "cust3", "cust4", "bea_f"], "question",
                      ["claims adjudication"], at)
    records += _thread("f2", "cust2", ["cust3", "cust4"], "question", ["claims adjudication"],
                       at + timedelta(days=1))
    return records + _burst()


def portal() -> list[ContributionRecord]:
    at = NOW - timedelta(days=10)
    return _thread("p1", "partner1", ["partner2"], "article", ["claims adjudication"], at)


def batches() -> list[tuple[str, list[ContributionRecord]]]:
    """The community's records, per source."""
    return [("blog", blog()), ("forum", forum()), ("portal", portal())]


def load(services: pipeline.Services) -> None:
    """Store the community through the pipeline (which refreshes the insight tables)."""
    for source, records in batches():
        pipeline.ingest_pages(services, source, [Page(records, cursor=None)],
                              full_pass=False)
