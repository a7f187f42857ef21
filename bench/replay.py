"""Replay servers with generated data of realistic size, for bench/connectors.py.

Each source kind is served by its test replay server (tests/connectors/*_server.py) loaded
with generated items in the source's own format instead of the handful of fixtures:

    discourse      `DiscourseServer` + `/posts/<id>.json` (what Perceval reads the posts
                   beyond a topic's first chunk with), topics of `posts` posts on average,
                   every `long_every`-th one longer than Discourse's chunk of 20
    rss            `FeedServer` serving one RSS 2.0 feed of `rss_items` WordPress-style items
    wordpress      `WordPressServer`: posts with comments, users
    stackexchange  `StackExchangeServer`: questions with answers and comments
    jsonfeed       `PortalServer`: a partner portal paged by page number
    slack          `SlackServer`: the fixture workspace `slack_copies` times over
    github_discussions  `GitHubServer`: the fixture repository `github_copies` times over
    confluence     `ConfluenceServer`: the fixture wiki `confluence_copies` times over

(The last three scale their test fixtures rather than generate text: their items are the
fixtures' hand-written ones, copied with shifted ids and times.)

The data never changes during a run, so each server caches its answers by request (the
first request of a kind computes it, later ones are a lookup): the bench then measures
the clients, not the test servers' deep copies and sorting. The servers run in their own
process (`serve`), so that neither client shares its GIL with them.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.connectors.confluence_server import ConfluenceServer  # noqa: E402
from tests.connectors.discourse_server import DiscourseServer  # noqa: E402
from tests.connectors.feedserver import FeedServer  # noqa: E402
from tests.connectors.github_server import GitHubServer  # noqa: E402
from tests.connectors.portal_server import (  # noqa: E402
    Listing,
    PortalServer,
    PortalStyle,
    total_pages,
)
from tests.connectors.slack_server import TOKEN as SLACK_TOKEN  # noqa: E402
from tests.connectors.slack_server import SlackServer  # noqa: E402
from tests.connectors.stackexchange_server import StackExchangeServer  # noqa: E402
from tests.connectors.wordpress_server import WordPressServer  # noqa: E402

__all__ = ["GITHUB_TOKEN", "SLACK_CHANNELS", "SLACK_TOKEN", "Scale", "serve"]

_POSTS_ROUTE = re.compile(r"^/posts/(\d+)\.json$")
_START = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)
_VOCABULARY = (
    "claims adjudication dental vision pharmacy formulary prior authorization eligibility "
    "deductible copay coinsurance appeal denial remittance provider network referral "
    "explanation of benefits premium enrolment renewal broker portal invoice reimbursement "
    "out-of-pocket maximum generic brand specialist telehealth wellness claim form member "
    "subscriber dependant coverage exclusion waiting period pre-existing condition"
).split()
WP_CREDENTIALS = "bench:app password"
GITHUB_TOKEN = "ghp_bench"
SLACK_CHANNELS = ["ask-claims", "ask-it"]
_AVATARS = "/user_avatar/community.example.com"


@dataclass(frozen=True)
class Scale:
    """How much data each server holds (the command line's numbers)."""

    topics: int = 300
    posts: int = 10  # a topic's, on average
    long_every: int = 10  # every Nth topic has 28 posts, more than one chunk of 20
    rss_items: int = 500
    wp_posts: int = 300
    wp_comments: int = 5  # a post's
    se_questions: int = 300
    se_answers: int = 2  # a question's
    se_comments: int = 1  # a question's or an answer's
    portal_items: int = 3000
    portal_per_page: int = 100
    #: each Discourse request's round trip (a forum is not on localhost), in seconds
    latency: float = 0.0
    slack_copies: int = 100  # 1,200 items in the two channels read
    github_copies: int = 250  # 1,000 discussions, 3,000 items
    confluence_copies: int = 100  # 1,200 items


# -- text -----------------------------------------------------------------------------------


def _sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(_VOCABULARY) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def _html(rng: random.Random, paragraphs: int, quote: str | None = None) -> str:
    """A post body as Discourse or WordPress renders it: paragraphs, a list or a link,
    sometimes code; `quote` leads with a quote of another post."""
    parts: list[str] = []
    if quote:
        parts.append(
            '<aside class="quote no-group" data-username="someone" data-post="1">'
            f'<div class="title">someone:</div><blockquote><p>{quote}</p></blockquote></aside>'
        )
    for n in range(paragraphs):
        text = " ".join(_sentence(rng, rng.randint(8, 18)) for _ in range(rng.randint(1, 3)))
        if n == 1:
            text += ' See the <a href="https://help.example.com/claims">claims guide</a>.'
        parts.append(f"<p>{text}</p>")
    if rng.random() < 0.3:
        items = "".join(f"<li>{_sentence(rng, 5)}</li>" for _ in range(3))
        parts.append(f"<ul>\n{items}\n</ul>")
    if rng.random() < 0.15:
        parts.append("<pre><code>GET /api/v2/claims?status=denied\nAccept: json</code></pre>")
    return "\n".join(parts)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# -- Discourse ---------------------------------------------------------------------------------


class BenchDiscourse(DiscourseServer):
    """`DiscourseServer` with generated topics, `/posts/<id>.json`, cached answers."""

    def __init__(self, scale: Scale) -> None:
        super().__init__(per_page=30, chunk_size=20)
        self._httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        template_topic = self.topics[214]
        template_post = template_topic["post_stream"]["posts"][1]
        template_item = self.items[214]
        users = [
            {"id": n, "username": f"member{n}", "name": f"Member {n}"} for n in range(20, 140)
        ]
        rng = random.Random(214)
        counts = _post_counts(scale.topics, scale.posts, scale.long_every, 20)
        self.items, self.topics = {}, {}
        self.post_index: dict[int, dict[str, Any]] = {}
        post_id = 100_000
        when = _START
        for number in range(scale.topics):
            topic_id = 1000 + number
            title = _sentence(rng, rng.randint(5, 10)).rstrip(".") + "?"
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            category = (5, 6, 7, 1)[number % 4]
            posts = []
            for post_number in range(1, counts[number] + 1):
                post_id += 1
                when += timedelta(minutes=rng.randint(3, 90), milliseconds=rng.randint(0, 999))
                user = rng.choice(users)
                replying = post_number > 2 and rng.random() < 0.3
                reply_to = rng.randint(1, post_number - 1) if replying else None
                quote = _sentence(rng, 8) if post_number > 1 and rng.random() < 0.2 else None
                post = {
                    **template_post,
                    "id": post_id,
                    "name": user["name"],
                    "username": user["username"],
                    "display_username": user["name"],
                    "user_id": user["id"],
                    "avatar_template": f"{_AVATARS}/{user['username']}/{{size}}/1_2.png",
                    "created_at": _iso(when),
                    "updated_at": _iso(when),
                    "cooked": _html(rng, rng.randint(1, 4), quote),
                    "post_number": post_number,
                    "reply_to_post_number": reply_to,
                    "reply_count": 0,
                    "topic_id": topic_id,
                    "topic_slug": slug,
                    "score": round(rng.random() * 40, 1),
                    "actions_summary": [{"id": 2, "count": rng.randint(0, 6), "can_act": True}],
                    "accepted_answer": False,
                }
                posts.append(post)
                self.post_index[post_id] = post
            solved = len(posts) > 2 and number % 3 == 0
            if solved:
                posts[1]["accepted_answer"] = True
            last = posts[-1]["created_at"]
            self.topics[topic_id] = {
                **template_topic,
                "id": topic_id,
                "title": title,
                "fancy_title": title,
                "slug": slug,
                "category_id": category,
                "posts_count": len(posts),
                "highest_post_number": len(posts),
                "created_at": posts[0]["created_at"],
                "last_posted_at": last,
                "user_id": posts[0]["user_id"],
                "tags": [{"id": 1, "name": rng.choice(_VOCABULARY), "slug": "t"}],
                "accepted_answer": {"post_number": 2} if solved else None,
                "post_stream": {"posts": posts, "stream": [p["id"] for p in posts]},
            }
            self.items[topic_id] = {
                **template_item,
                "id": topic_id,
                "title": title,
                "fancy_title": title,
                "slug": slug,
                "posts_count": len(posts),
                "highest_post_number": len(posts),
                "created_at": posts[0]["created_at"],
                "last_posted_at": last,
                "bumped_at": last,
                "category_id": category,
                "pinned": False,
            }
        self.post_count = sum(counts)
        self._cache: dict[tuple[Any, ...], tuple[int, Any]] = {}

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        key = (path, tuple(sorted((k, tuple(v)) for k, v in query.items())))
        cached = self._cache.get(key)
        if cached is None:
            if match := _POSTS_ROUTE.match(path):
                post = self.post_index.get(int(match.group(1)))
                cached = (200, post) if post else super().answer("/none", {})
            else:
                cached = super().answer(path, query)
            self._cache[key] = cached
        return cached


def _post_counts(topics: int, mean: int, long_every: int, chunk: int) -> list[int]:
    """Posts per topic: `topics * mean` in all; every `long_every`-th topic has more than
    one chunk (`chunk + 8`), the others share the rest evenly."""
    long_size = chunk + 8
    is_long = [bool(long_every) and n % long_every == long_every - 1 for n in range(topics)]
    short = is_long.count(False)
    rest = topics * mean - (topics - short) * long_size
    if short == 0 or rest < short:
        raise ValueError("too many long topics for the mean number of posts")
    shares = iter([rest // short + (1 if n < rest % short else 0) for n in range(short)])
    return [long_size if long else next(shares) for long in is_long]


# -- RSS -------------------------------------------------------------------------------------------


def rss_feed(items: int) -> bytes:
    """A WordPress-style RSS 2.0 feed: title, link, dc:creator, pubDate, categories, guid,
    an excerpt and the full post as content:encoded."""
    rng = random.Random(412)
    authors = [f"Author {n}" for n in range(25)]
    entries = []
    when = _START
    for n in range(items):
        when += timedelta(hours=rng.randint(1, 30), seconds=rng.randint(0, 59))
        title = _sentence(rng, rng.randint(4, 9)).rstrip(".")
        link = f"https://blogs.intranet.example.com/claims/{when:%Y/%m/%d}/post-{n}/"
        body = _html(rng, rng.randint(4, 9))
        categories = "".join(
            f"<category><![CDATA[{rng.choice(_VOCABULARY).title()}]]></category>"
            for _ in range(rng.randint(1, 4))
        )
        entries.append(
            f"""<item>
<title>{title}</title>
<link>{link}</link>
<comments>{link}#comments</comments>
<dc:creator><![CDATA[{rng.choice(authors)}]]></dc:creator>
<pubDate>{format_datetime(when)}</pubDate>
{categories}
<guid isPermaLink="false">https://blogs.intranet.example.com/claims/?p={1000 + n}</guid>
<description><![CDATA[<p>{_sentence(rng, 20)} [&#8230;]</p>]]></description>
<content:encoded><![CDATA[{body}]]></content:encoded>
<wfw:commentRss>{link}feed/</wfw:commentRss>
<slash:comments>{rng.randint(0, 9)}</slash:comments>
</item>"""
        )
    head = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:wfw="http://wellformedweb.org/CommentAPI/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:atom="http://www.w3.org/2005/Atom"
 xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
<channel>
<title>Claims Platform Blog</title>
<atom:link href="https://blogs.intranet.example.com/claims/feed/" rel="self"
 type="application/rss+xml" />
<link>https://blogs.intranet.example.com/claims</link>
<description>Notes from the claims platform team</description>
<language>en-US</language>
"""
    return (head + "\n".join(reversed(entries)) + "\n</channel>\n</rss>\n").encode("utf-8")


# -- WordPress -----------------------------------------------------------------------------------


class BenchWordPress(WordPressServer):
    """`WordPressServer` with generated posts, comments and users; cached answers."""

    def __init__(self, scale: Scale) -> None:
        super().__init__()
        rng = random.Random(101)
        post_template, comment_template = self.posts[101], self.comments[31]
        user_template = self.users[7]
        self.users = {
            n: {**user_template, "id": n, "username": f"writer{n}", "name": f"Writer {n}",
                "slug": f"writer-{n}", "email": f"writer{n}@example.com"}
            for n in range(100, 130)
        }
        embedded_author = post_template["_embedded"]["author"][0]
        self.posts, self.comments = {}, {}
        when = _START
        comment_id = 50_000
        for n in range(scale.wp_posts):
            post_id = 10_000 + n
            when += timedelta(hours=rng.randint(1, 20), seconds=rng.randint(0, 59))
            author = rng.choice(list(self.users))
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
            local = (when + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
            self.posts[post_id] = {
                **post_template,
                "id": post_id,
                "date": local, "date_gmt": stamp, "modified": local, "modified_gmt": stamp,
                "slug": f"post-{post_id}",
                "link": f"https://intranet.example.com/claims/?p={post_id}",
                "title": {"rendered": _sentence(rng, 7).rstrip(".")},
                "content": {"rendered": _html(rng, rng.randint(4, 9)), "protected": False},
                "excerpt": {"rendered": f"<p>{_sentence(rng, 20)}</p>", "protected": False},
                "author": author,
                "_embedded": {
                    **post_template["_embedded"],
                    "author": [{**embedded_author, "id": author, "name": f"Writer {author}",
                                "slug": f"writer-{author}"}],
                },
            }
            for c in range(scale.wp_comments):
                comment_id += 1
                said = when + timedelta(minutes=10 * (c + 1))
                commenter = rng.choice(list(self.users))
                self.comments[comment_id] = {
                    **comment_template,
                    "id": comment_id,
                    "post": post_id,
                    "parent": comment_id - 1 if c and rng.random() < 0.3 else 0,
                    "author": commenter,
                    "author_name": f"Writer {commenter}",
                    "date": (said + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "date_gmt": said.strftime("%Y-%m-%dT%H:%M:%S"),
                    "content": {"rendered": _html(rng, rng.randint(1, 2))},
                    "link": f"https://intranet.example.com/claims/?p={post_id}#comment-{comment_id}",
                    "_embedded": {"author": [{**comment_template["_embedded"]["author"][0],
                                              "id": commenter, "name": f"Writer {commenter}",
                                              "slug": f"writer-{commenter}"}]},
                }
        self.now = when + timedelta(days=30)
        self.credentials = WP_CREDENTIALS
        self.item_count = len(self.posts) + len(self.comments)
        self._cache: dict[tuple[Any, ...], tuple[int, dict[str, str], bytes]] = {}

    def answer(
        self, route: str, query: dict[str, str], auth: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        key = (route, tuple(sorted(query.items())), auth)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = super().answer(route, query, auth)
        return cached


# -- Stack Exchange ------------------------------------------------------------------------------


def _se_owner(rng: random.Random) -> dict[str, Any]:
    user = rng.randint(2000, 2200)
    return {"account_id": 90000 + user, "reputation": rng.randint(1, 20000), "user_id": user,
            "user_type": "registered", "display_name": f"Brewer {user}",
            "link": f"https://beer.stackexchange.com/users/{user}/brewer-{user}"}


class BenchStackExchange(StackExchangeServer):
    """`StackExchangeServer` with generated questions, answers, comments; cached answers."""

    def __init__(self, scale: Scale) -> None:
        rng = random.Random(5001)
        questions, answers, comments = [], [], []
        epoch = int(_START.timestamp())
        answer_id, comment_id = 700_000, 900_000
        for n in range(scale.se_questions):
            question_id = 600_000 + n
            created = epoch + n * 3600 + rng.randint(0, 3000)
            activity = created
            thread_answers = []
            for _ in range(scale.se_answers):
                answer_id += 1
                said = created + rng.randint(60, 20000)
                activity = max(activity, said)
                thread_answers.append({
                    "owner": _se_owner(rng), "is_accepted": False, "score": rng.randint(-1, 30),
                    "up_vote_count": rng.randint(0, 30), "last_activity_date": said,
                    "creation_date": said, "answer_id": answer_id, "question_id": question_id,
                    "content_license": "CC BY-SA 4.0", "body": _html(rng, rng.randint(1, 4)),
                })
            if thread_answers and n % 2 == 0:
                thread_answers[0]["is_accepted"] = True
            answers += thread_answers
            for post_id in [question_id] + [a["answer_id"] for a in thread_answers]:
                for _ in range(scale.se_comments):
                    comment_id += 1
                    comments.append({
                        "owner": _se_owner(rng), "edited": False, "score": rng.randint(0, 5),
                        "creation_date": created + rng.randint(100, 30000), "post_id": post_id,
                        "comment_id": comment_id, "content_license": "CC BY-SA 4.0",
                        "body": _sentence(rng, 14),
                    })
            title = _sentence(rng, 8).rstrip(".") + "?"
            accepted = thread_answers[0]["answer_id"] if n % 2 == 0 and thread_answers else None
            questions.append({
                "tags": [rng.choice(_VOCABULARY) for _ in range(3)], "owner": _se_owner(rng),
                "is_answered": True, "view_count": rng.randint(10, 5000),
                "accepted_answer_id": accepted,
                "answer_count": len(thread_answers), "score": rng.randint(0, 40),
                "up_vote_count": rng.randint(0, 40), "last_activity_date": activity,
                "creation_date": created, "question_id": question_id,
                "content_license": "CC BY-SA 4.0",
                "link": f"https://beer.stackexchange.com/questions/{question_id}/q",
                "title": title, "body": _html(rng, rng.randint(2, 5)),
            })
        for question in questions:
            if question["accepted_answer_id"] is None:
                del question["accepted_answer_id"]
        super().__init__(questions, answers, comments, quota_remaining=10**9)
        self.item_count = len(questions) + len(answers) + len(comments)
        self._cache: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}

    def answer(self, path: str, query: dict[str, str]) -> tuple[str, dict[str, Any]]:
        key = (path, tuple(sorted(query.items())))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = super().answer(path, query)
        return cached[0], dict(cached[1])


# -- a JSON partner portal -------------------------------------------------------------------------

PORTAL_OPTIONS: dict[str, Any] = {
    "items": "data.results",
    "pagination": "page",
    "total_pages": "meta.total_pages",
    "total": "meta.total",
    "order": "asc",
    "kinds": {"comment": "reply"},
    "fields": {
        "id": "id", "kind": "type",
        "author": {"id": "author.uid", "username": "author.login",
                   "name": "author.display_name", "email": "author.mail"},
        "title": "subject", "html": "body_html", "url": "links.web",
        "created": "created_at", "updated": "updated_at", "thread": "topic_id",
        "parent": "in_reply_to", "tags": "tags", "score": "votes", "likes": "kudos",
        "replies": "reply_count", "accepted": "is_accepted", "deleted": "is_deleted",
    },
}


class BenchPortal(PortalServer):
    """`PortalServer` with generated partner-hub items, page pagination, cached answers."""

    def __init__(self, scale: Scale) -> None:
        rng = random.Random(5101)
        items = []
        when = _START
        thread = 0
        for n in range(scale.portal_items):
            item_id = 200_000 + n
            kind = "question" if n % 6 == 0 else rng.choice(["answer", "answer", "comment"])
            if kind == "question":
                thread = item_id
            when += timedelta(minutes=rng.randint(1, 120))
            user = rng.randint(1, 400)
            items.append({
                "id": item_id, "type": kind,
                "subject": _sentence(rng, 8) if kind == "question" else "",
                "body_html": _html(rng, rng.randint(1, 4)),
                "author": {"uid": f"ph-{user}", "login": f"partner{user}",
                           "display_name": f"Partner {user}",
                           "mail": f"partner{user}@broker{user % 7}.example"},
                "created_at": when.isoformat().replace("+00:00", "Z"),
                "updated_at": when.isoformat().replace("+00:00", "Z"),
                "topic_id": thread, "in_reply_to": None if kind == "question" else thread,
                "tags": [rng.choice(_VOCABULARY) for _ in range(2)],
                "votes": rng.randint(0, 20), "kudos": rng.randint(0, 10),
                "reply_count": rng.randint(0, 5), "is_accepted": False, "is_deleted": False,
                "links": {"web": f"/t/{thread}#p{item_id}"},
            })

        def envelope(page: Listing) -> Any:
            return {
                "data": {"results": page.items},
                "meta": {"page": page.page, "total_pages": total_pages(page),
                         "total": page.total},
            }

        style = PortalStyle(
            pagination="page",
            envelope=envelope,
            updated=lambda item: datetime.fromisoformat(item["updated_at"]).timestamp(),
            per_page=scale.portal_per_page,
        )
        super().__init__(style, items)
        self._httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        self.item_count = len(items)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def answer(self, query: dict[str, str]) -> Any:
        key = tuple(sorted(query.items()))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = super().answer(query)
        return cached


# -- Slack, GitHub Discussions, Confluence: the test fixtures scaled ---------------------------


class BenchSlack(SlackServer):
    """`SlackServer.scaled`, cached answers; `BenchSlack.of(scale)`."""

    item_count = 0

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    @classmethod
    def of(cls, scale: Scale) -> BenchSlack:
        server = cls.scaled(scale.slack_copies)
        assert isinstance(server, cls)
        read = {c["id"] for c in server.channels if c["name"] in SLACK_CHANNELS}
        bots = {m["id"] for m in server.members if m.get("is_bot")}
        words = {None, "thread_broadcast", "file_share", "me_message"}  # what the connector keeps
        server.item_count = sum(
            1
            for cid in read
            for m in server.messages.get(cid, {}).values()
            if m.get("user") and m["user"] not in bots and not m.get("bot_id")
            and m.get("subtype") in words
        )
        return server

    def answer(self, method: str, query: dict[str, str], auth: str | None) -> dict[str, Any]:
        key = (method, auth, *sorted(query.items()))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = super().answer(method, query, auth)
        return cached


class BenchGitHub(GitHubServer):
    """`GitHubServer.scaled`, a rate limit never reached, cached answers;
    `BenchGitHub.of(scale)`."""

    item_count = 0

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._cache: dict[str, tuple[int, dict[str, str], Any]] = {}

    @classmethod
    def of(cls, scale: Scale) -> BenchGitHub:
        server = cls.scaled(scale.github_copies, token=GITHUB_TOKEN, limit=10**9)
        assert isinstance(server, cls)
        server.item_count = len(server.expected())
        return server

    def answer(self, body: Any, headers: Any) -> tuple[int, dict[str, str], Any]:
        key = json.dumps([body, headers.get("Authorization")], sort_keys=True)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = super().answer(body, headers)
        return cached


class BenchConfluence(ConfluenceServer):
    """`ConfluenceServer.scaled`, cached answers (the rate-limit headers stay live);
    `BenchConfluence.of(scale)`."""

    item_count = 0

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def of(cls, scale: Scale) -> BenchConfluence:
        server = cls.scaled(scale.confluence_copies)
        assert isinstance(server, cls)
        server.item_count = sum(len(items) for items in server.items.values())
        return server

    def answer(self, route: str, query: dict[str, str]) -> Any:
        key = (route, *sorted(query.items()))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = super().answer(route, query)
        return cached


# -- the server process ----------------------------------------------------------------------------


def serve(conn: Connection, scale: Scale) -> None:
    """Start every replay server, send their URLs and item counts, serve until told."""
    discourse = BenchDiscourse(scale)
    discourse.latency = scale.latency
    feed = FeedServer()
    feed_body = rss_feed(scale.rss_items)
    feed.reply("/feed/", body=feed_body,
               headers={"Content-Type": "application/rss+xml; charset=UTF-8"})
    wordpress = BenchWordPress(scale)
    stackexchange = BenchStackExchange(scale)
    portal = BenchPortal(scale)
    slack, github = BenchSlack.of(scale), BenchGitHub.of(scale)
    confluence = BenchConfluence.of(scale)
    servers: list[Any] = [discourse, feed, wordpress, stackexchange, portal, slack, github,
                          confluence]
    for server in servers:
        server.start()
    long_topics = sum(1 for t in discourse.topics.values() if t["posts_count"] > 20)
    se = stackexchange.data
    conn.send(json.dumps({
        "discourse": {
            "url": discourse.base, "items": discourse.post_count,
            "data": f"{len(discourse.topics)} topics ({long_topics} of >20 posts), "
                    f"{discourse.post_count} posts",
        },
        "rss": {"url": feed.url("/feed/"), "items": scale.rss_items,
                "data": f"1 feed of {scale.rss_items} items, {len(feed_body) // 1000} kB"},
        "wordpress": {
            "url": wordpress.url, "items": wordpress.item_count,
            "data": f"{len(wordpress.posts)} posts, {len(wordpress.comments)} comments",
        },
        "stackexchange": {
            "url": stackexchange.url("/2.3"), "items": stackexchange.item_count,
            "data": f"{len(se['questions'])} questions, {len(se['answers'])} answers, "
                    f"{len(se['comments'])} comments",
        },
        "jsonfeed": {"url": portal.url, "items": portal.item_count,
                     "data": f"{portal.item_count} items, {scale.portal_per_page} a page"},
        "slack": {"url": slack.url, "items": slack.item_count,
                  "data": f"2 channels, {slack.item_count} messages and replies"},
        "github_discussions": {
            "url": github.url, "items": github.item_count,
            "data": f"{len(github.discussions)} discussions, {github.item_count} items",
        },
        **{kind: {"url": confluence.url, "items": confluence.item_count,
                  "data": f"{confluence.item_count} pages, posts and comments, {likes}"}
           for kind, likes in (("confluence", "likes read"),
                               ("confluence-nolikes", "likes = false"))},
    }))
    conn.recv()  # anything: stop
    for server in servers:
        server.stop()
