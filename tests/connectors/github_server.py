"""A repository's GitHub Discussions in memory, answering GitHub's GraphQL API over HTTP.

It loads tests/fixtures/github/discussions.json (discussion nodes with every comment and
reply) and answers `POST /graphql` as GitHub does for the three queries the connector
sends, told apart by their text:

    repository.discussions     by `updatedAt` then id, newest first; `first`, `after`;
                               `pageInfo { hasNextPage endCursor }`, `totalCount`; each
                               discussion's first `comments(first: N)`, each comment's
                               first `replies(first: M)` (N, M read from the query)
    node(id) ... on Discussion          a discussion's comments after `after`
    node(id) ... on DiscussionComment   a comment's replies after `after`

Cursors are keyset, as GitHub's (`cursor:v2:` and the sort key, base64): a discussion
bumped during a walk moves to the head without shifting the pages after the cursor.
Every answer carries `rateLimit { remaining resetAt }` and the `X-RateLimit-*` headers; a
query once `remaining` is 0 and before the reset is a violation (kept in `violations`) and
gets GitHub's 403. With `token` set, a request without `Authorization: bearer <token>`
gets GitHub's 401 "Bad credentials".

With `app` set (`App`: the App's id, its installation's id, its public key, how long the
tokens it issues last), `POST /app/installations/<id>/access_tokens` answers as GitHub
documents it: the bearer JWT verified with the App's public key (RS256, `iss` the App,
`exp` in the future and at most 10 minutes ahead, `iat` not ahead), else 401 with GitHub's
message; an unknown installation 404; else 201 with a `ghs_` token and its `expires_at`
(whole seconds); also under `/api/v3`, as GitHub Enterprise Server serves REST (GraphQL
is taken at any path, `/api/graphql` too). GraphQL then takes those tokens until they
expire (or `revoke_tokens()`), and answers an expired one with 401 "Bad credentials"
(counted in `refused`). `minted` keeps each exchange's JWT claims, `token_paths` the
paths they were asked at.

Tests change the repository (`add_comment`, `edit`, `delete_comment`, `remove`) — each
change bumps the discussion's `updatedAt` as GitHub does — and draw faults from a seeded
`plan` (tests/connectors/faults.py): a throttle is GitHub's secondary limit (403 or 429
with `Retry-After`), a repeat replays the previous list answer. Every request is
recorded in `requests` as (kind, variables).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tests.connectors.faults import HTML_ERROR, FaultPlan, cut, pause
from tests.connectors.localserver import Handler, LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
DOCS = "https://docs.github.com/graphql"
_BAD_CREDENTIALS = {"message": "Bad credentials", "documentation_url": DOCS}
_SECONDARY = {
    "documentation_url": "https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api#secondary-rate-limits",
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
    "you try again.",
}
Item = dict[str, Any]
_TOKEN_DOCS = (
    "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
)
_UNDECODABLE = "A JSON web token could not be decoded"


@dataclass
class App:
    """A GitHub App installed on the fixture repository's organisation."""

    app_id: int
    installation_id: int
    public_key: RSAKey
    token_seconds: float = 3600.0


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(key: tuple[str, str]) -> str:
    return base64.b64encode(("cursor:v2:" + json.dumps(list(key))).encode()).decode()


def _uncursor(cursor: str) -> tuple[str, str]:
    raw = base64.b64decode(cursor).decode()
    return tuple(json.loads(raw.removeprefix("cursor:v2:")))  # type: ignore[return-value]


class GitHubServer(LocalServer):
    """A `LocalServer` answering as the fixture repository; `start()` and `stop()` it."""

    def __init__(self, *, token: str | None = None, limit: int = 5000) -> None:
        self.token = token
        self.limit = limit
        self.remaining = limit
        self.reset_seconds = 1.0
        self._reset_at: float | None = None
        self.plan: FaultPlan | None = None
        self.violations: list[str] = []
        self.throttled: list[int] = []  # the statuses secondary-limit answers went out with
        self.requests: list[tuple[str, Item]] = []
        self.discussions: dict[str, Item] = {
            d["id"]: d for d in json.loads((FIXTURES / "discussions.json").read_text("utf-8"))
        }
        self._last_list: bytes | None = None
        self._clock = datetime(2024, 6, 1, tzinfo=UTC)
        self._serial = 0
        self._lock = threading.Lock()
        self.app: App | None = None
        self.minted: list[Item] = []  # the claims of each JWT a token was minted for
        self.refused = 0  # GraphQL requests answered 401
        self.token_paths: list[str] = []  # where installation tokens were asked for
        self._issued: dict[str, float] = {}  # installation token -> expiry (epoch s)
        super().__init__(_handler_for(self))

    @classmethod
    def scaled(cls, copies: int, **settings: Any) -> GitHubServer:
        """The fixture repository `copies` times over (ids suffixed `_<n>`, times shifted
        `n` days later)."""
        server = cls(**settings)
        originals = list(server.discussions.values())
        for number in range(1, copies):
            for original in originals:
                item = _shifted(copy.deepcopy(original), number)
                server.discussions[item["id"]] = item
        return server

    @property
    def url(self) -> str:
        return self.origin + "/graphql"

    # Changes, each bumping its discussion as GitHub does

    def _now(self) -> str:
        self._clock += timedelta(minutes=1)
        return iso(self._clock)

    def add_comment(self, discussion_id: str, text: str, *, reply_to: str | None = None) -> str:
        with self._lock:
            discussion = self.discussions[discussion_id]
            self._serial += 1
            now = self._now()
            comment = {
                "id": f"DC_kwDOnew{self._serial:04d}",
                "isAnswer": False,
                "deletedAt": None,
                "bodyText": text,
                "url": f"{discussion['url']}#discussioncomment-new{self._serial}",
                "createdAt": now,
                "updatedAt": now,
                "upvoteCount": 0,
                "author": {"login": "newbie", "url": "https://github.com/newbie", "databaseId": 7},
                "reactionGroups": [],
                "replies": {"nodes": []},
            }
            if reply_to is None:
                discussion["comments"]["nodes"].append(comment)
            else:
                del comment["isAnswer"], comment["replies"]
                self._comment(discussion, reply_to)["replies"]["nodes"].append(comment)
            discussion["updatedAt"] = now
            return comment["id"]

    def edit(self, discussion_id: str, comment_id: str | None, text: str) -> None:
        with self._lock:
            discussion = self.discussions[discussion_id]
            target = discussion if comment_id is None else self._comment(discussion, comment_id)
            target["bodyText"] = text
            target["updatedAt"] = discussion["updatedAt"] = self._now()

    def delete_comment(self, discussion_id: str, comment_id: str) -> None:
        """GitHub keeps a deleted comment that has replies as a placeholder."""
        with self._lock:
            discussion = self.discussions[discussion_id]
            comment = self._comment(discussion, comment_id)
            now = self._now()
            comment.update(deletedAt=now, bodyText="", updatedAt=now)
            discussion["updatedAt"] = now

    def remove(self, discussion_id: str) -> None:
        with self._lock:
            del self.discussions[discussion_id]

    def spend_elsewhere(self, seconds: float) -> None:
        """Another client with the same token spends the rest of the limit, back in
        `seconds` (rounded up to GitHub's whole seconds)."""
        with self._lock:
            self.remaining = 0
            wall = math.ceil(time.time() + seconds)
            self._reset_at = time.monotonic() + (wall - time.time())

    def add_replies(self, discussion_id: str, comment_id: str | None, count: int) -> None:
        for number in range(count):
            self.add_comment(discussion_id, f"more {number}", reply_to=comment_id)

    @staticmethod
    def _comment(discussion: Item, comment_id: str) -> Item:
        for comment in discussion["comments"]["nodes"]:
            if comment["id"] == comment_id:
                return comment
            for reply in comment["replies"]["nodes"]:
                if reply["id"] == comment_id:
                    return reply
        raise KeyError(comment_id)

    # What a clean sync should store

    def expected(self) -> dict[str, Item]:
        """Every item the repository holds, by id: kind, author login, parent, accepted."""
        found: dict[str, Item] = {}
        for d in self.discussions.values():
            thread = d["id"]

            def add(item: Item, kind: str, parent: str | None, thread: str = thread) -> None:
                found[item["id"]] = {
                    "kind": kind,
                    "login": _login(item),
                    "parent": parent,
                    "thread": thread,
                    "accepted": item.get("isAnswer") is True,
                }

            add(d, "question", None)
            for c in d["comments"]["nodes"]:
                add(c, "answer", thread)
                for r in c["replies"]["nodes"]:
                    add(r, "reply", c["id"])
        return found

    # App installation tokens

    def revoke_tokens(self) -> None:
        """Every installation token issued so far stops working (as after its hour)."""
        with self._lock:
            self._issued = dict.fromkeys(self._issued, 0.0)

    def exchange(self, path: str, authorization: str | None) -> tuple[int, Item]:
        """The answer to `POST /app/installations/<id>/access_tokens`."""
        app = self.app
        if app is None:
            return 404, {"message": "Not Found", "documentation_url": _TOKEN_DOCS}
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 401, {"message": _UNDECODABLE, "documentation_url": _TOKEN_DOCS}
        problem = _jwt_problem(token, app)
        if problem:
            return 401, {"message": problem, "documentation_url": _TOKEN_DOCS}
        if path != f"/app/installations/{app.installation_id}/access_tokens":
            return 404, {"message": "Not Found", "documentation_url": _TOKEN_DOCS, "status": "404"}
        alphabet = string.ascii_letters + string.digits
        issued = "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))
        expires = math.ceil(time.time() + app.token_seconds)
        with self._lock:
            self._issued[issued] = float(expires)
            self.minted.append(jwt.decode(token, app.public_key).claims)
        return 201, {
            "token": issued,
            "expires_at": iso(datetime.fromtimestamp(expires, UTC)),
            "permissions": {"discussions": "read", "metadata": "read"},
            "repository_selection": "selected",
        }

    def _authorised(self, authorization: str | None) -> bool:
        if self.token is None and self.app is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return False
        if self.token is not None and token == self.token:
            return True
        with self._lock:
            return time.time() < self._issued.get(token, 0.0)

    # Answers

    def answer(self, body: Item, headers: Any) -> tuple[int, dict[str, str], Item]:
        """The status, headers and JSON answer for one GraphQL request."""
        if not self._authorised(headers.get("Authorization")):
            with self._lock:
                self.refused += 1
            return 401, {}, _BAD_CREDENTIALS
        with self._lock:
            now = time.monotonic()
            if self._reset_at is not None and now >= self._reset_at:
                self.remaining, self._reset_at = self.limit, None
            if self.remaining <= 0:
                self.violations.append("a query with the primary rate limit spent")
                return 403, self._limit_headers(), {
                    "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]
                }
            self.remaining -= 1
            if self.remaining == 0:
                # GitHub names the reset in whole seconds: the limit comes back then.
                wall = math.ceil(time.time() + self.reset_seconds)
                self._reset_at = now + (wall - time.time())
            query, variables = str(body.get("query") or ""), body.get("variables") or {}
            data = self._data(query, variables)
            data["rateLimit"] = {"remaining": self.remaining, "resetAt": self._reset_iso()}
            return 200, self._limit_headers(), {"data": data}

    def _reset_epoch(self) -> int:
        left = (self._reset_at - time.monotonic()) if self._reset_at else 3600.0
        return round(time.time() + max(0.0, left))

    def _reset_iso(self) -> str:
        return iso(datetime.fromtimestamp(self._reset_epoch(), UTC))

    def _limit_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Used": str(self.limit - self.remaining),
            "X-RateLimit-Reset": str(self._reset_epoch()),
            "X-RateLimit-Resource": "graphql",
        }

    def _data(self, query: str, variables: Item) -> Item:
        comments = int(_first(query, "comments", 100))
        replies = int(_first(query, "replies", 100))
        if "repository(" in query:
            self.requests.append(("list", variables))
            return {"repository": self._repository(variables, comments, replies)}
        node = self._find(str(variables.get("id")))
        after = variables.get("after")
        if "on DiscussionComment" in query:
            self.requests.append(("replies", variables))
            if node is None or "replies" not in node:
                return {"node": None}
            return {"node": {"replies": _slice(node["replies"]["nodes"], replies, after)}}
        self.requests.append(("comments", variables))
        if node is None or "comments" not in node:
            return {"node": None}
        return {"node": {"comments": self._comments(node, comments, replies, after)}}

    def _repository(self, variables: Item, comments: int, replies: int) -> Item | None:
        if (variables.get("owner"), variables.get("name")) != ("octo-org", "octo-repo"):
            return None
        ordered = sorted(
            self.discussions.values(), key=lambda d: (d["updatedAt"], d["id"]), reverse=True
        )
        after = variables.get("after")
        if after:
            key = _uncursor(after)
            ordered = [d for d in ordered if (d["updatedAt"], d["id"]) < key]
        page = ordered[: int(variables.get("first") or 10)]
        nodes = []
        for d in page:
            node = {k: v for k, v in d.items() if k != "comments"}
            node["comments"] = self._comments(d, comments, replies, None)
            nodes.append(node)
        end = _cursor((page[-1]["updatedAt"], page[-1]["id"])) if page else None
        return {
            "discussions": {
                "totalCount": len(self.discussions),
                "pageInfo": {"hasNextPage": len(ordered) > len(page), "endCursor": end},
                "nodes": nodes,
            }
        }

    def _comments(self, d: Item, comments: int, replies: int, after: str | None) -> Item:
        sliced = _slice(d["comments"]["nodes"], comments, after)
        sliced["nodes"] = [
            {**c, "replies": _slice(c["replies"]["nodes"], replies, None)} for c in sliced["nodes"]
        ]
        return sliced

    def _find(self, node_id: str) -> Item | None:
        for d in self.discussions.values():
            if d["id"] == node_id:
                return d
            for c in d["comments"]["nodes"]:
                if c["id"] == node_id:
                    return c
        return None


def _jwt_problem(token: str, app: App) -> str | None:
    """What GitHub says of an App JWT that will not do, or None when it will."""
    try:
        decoded = jwt.decode(token, app.public_key, algorithms=["RS256"])
    except (JoseError, ValueError):
        return _UNDECODABLE
    claims, now = decoded.claims, time.time()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or exp <= now:
        return (
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"
        )
    if exp > now + 600:
        return "'Expiration time' claim ('exp') is too far in the future"
    if not isinstance(iat, int) or iat > now + 1:
        return (
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued"
        )
    if str(claims.get("iss")) != str(app.app_id):
        return _UNDECODABLE  # GitHub looks the key up by `iss`: another App's fails
    return None


def _first(query: str, field: str, default: int) -> int:
    found = re.search(rf"{field}\(first: (\d+)", query)
    return int(found.group(1)) if found else default


def _slice(nodes: list[Item], first: int, after: str | None) -> Item:
    start = int(base64.b64decode(after).decode().split(":")[-1]) if after else 0
    page = nodes[start : start + first]
    end = start + len(page)
    return {
        "totalCount": len(nodes),
        "pageInfo": {
            "hasNextPage": end < len(nodes),
            "endCursor": base64.b64encode(f"cursor:v2:{end}".encode()).decode() if page else None,
        },
        "nodes": copy.deepcopy(page),
    }


def _login(item: Item) -> str:
    return (item.get("author") or {}).get("login") or "ghost"


def _shifted(item: Item, number: int) -> Item:
    for key in ("createdAt", "updatedAt", "deletedAt"):
        if item.get(key):
            when = datetime.fromisoformat(item[key].replace("Z", "+00:00"))
            item[key] = iso(when + timedelta(days=number))
    if "id" in item:
        item["id"] = f"{item['id']}_{number}"
    for nested in ("comments", "replies"):
        for child in (item.get(nested) or {}).get("nodes") or ():
            _shifted(child, number)
    return item


def _handler_for(server: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class GitHubHandler(Handler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            plan = server.plan
            # GitHub Enterprise Server serves REST under /api/v3 (and GraphQL at /api/graphql)
            path = self.path.removeprefix("/api/v3")
            tokens = path.startswith("/app/installations/")
            listing = not tokens and "repository(" in str(body.get("query"))
            route = "/app/installations" if tokens else "/graphql"
            kind = plan.draw(route, listing=listing) if plan else None
            if kind == "error" and plan:
                self.send(plan.error_status(), {"Content-Type": "text/html"}, HTML_ERROR)
                return
            if kind == "throttle" and plan:
                status = 403 if len(plan.log) % 2 else 429
                server.throttled.append(status)
                headers = {"Content-Type": "application/json", "Retry-After": str(plan.wait)}
                self.send(status, headers, json.dumps(_SECONDARY).encode())
                return
            if tokens:
                server.token_paths.append(self.path)
                status, answer = server.exchange(path, self.headers.get("Authorization"))
                self._json(status, {}, json.dumps(answer).encode(), kind)
                return
            first_page = not (body.get("variables") or {}).get("after")
            if kind == "repeat" and not first_page and server._last_list is not None:
                # A cache answering the previous page of this walk again.
                self.send(200, {"Content-Type": "application/json"}, server._last_list)
                return
            status, headers, answer = server.answer(body, self.headers)
            payload = json.dumps(answer).encode()
            if listing and status == 200:
                server._last_list = payload
            self._json(status, headers, payload, kind)

        def _json(
            self, status: int, headers: dict[str, str], payload: bytes, kind: str | None
        ) -> None:
            if server.plan:
                pause(kind, server.plan)
            sent, announced, close = cut(payload, kind)
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
            self.send(status, headers, sent, length=announced, close=close)

    return GitHubHandler
