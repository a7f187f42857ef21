"""A Slack workspace in memory, speaking Slack's Web API over real HTTP.

It loads tests/fixtures/slack (see its README) and answers `GET /api/<method>` as Slack
does, always HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": ...}`:

    auth.test                 the workspace URL
    users.list                members            } paged: `limit` (default 100) and
    conversations.list        channels           } `cursor`; `response_metadata.next_cursor`
    conversations.history     top-level messages } ("" on the last page); history by ts,
                              after `oldest`,    } newest first; replies the parent first
                              newest first       } on every page, then oldest first
    conversations.replies     one thread         }

A request without `Authorization: Bearer <token>` gets `not_authed`, with another token
`invalid_auth`; history of a channel the bot is not in `not_in_channel`. Thread fields
(`reply_count`, `latest_reply`, ...) are computed from the replies, as Slack keeps them.

Tests change the workspace (`post`, `edit`, `delete`, `react`), queue `ok: false` errors
(`refuse`) and 429s (`throttle`) per method, and draw faults from a seeded `plan`
(tests/connectors/faults.py): a 503 with HTML, a 429 `ratelimited` with `Retry-After`, a
body cut short, a slow answer, and a list page served again (the page before it in the
same walk, as a cache would). Every request is recorded in `requests` as (method, query).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.connectors.faults import HTML_ERROR, FaultPlan, cut, pause
from tests.connectors.localserver import Handler, LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"
TOKEN = "xoxb-17-whoknows-test"
WORKSPACE_URL = "https://acme-benefits.slack.com/"
_LISTS = {"users.list", "conversations.list", "conversations.history", "conversations.replies"}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


class SlackServer(LocalServer):
    """A `LocalServer` answering as the fixture workspace; `start()` and `stop()` it."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.plan: FaultPlan | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.members: list[dict[str, Any]] = load("users.list.json")["members"]
        self.channels: list[dict[str, Any]] = load("conversations.list.json")["channels"]
        self.messages: dict[str, dict[str, dict[str, Any]]] = {
            cid: {m["ts"]: m for m in items} for cid, items in load("messages.json").items()
        }
        self._refusals: dict[str, list[str]] = {}
        self._throttles: dict[str, list[int]] = {}
        self._last: dict[tuple[str, str, str], bytes] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @classmethod
    def scaled(cls, copies: int, **settings: Any) -> SlackServer:
        """The fixture channels `copies` times over, each copy 40 days after the last."""
        server = cls(**settings)
        for cid, items in list(server.messages.items()):
            originals = list(items.values())
            for number in range(1, copies):
                for message in originals:
                    moved = _shifted(message, number * 40 * 86400)
                    server.messages[cid][moved["ts"]] = moved
        return server

    @property
    def url(self) -> str:
        return self.origin + "/api"

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)

    # -- changing the workspace ------------------------------------------------------------

    def post(self, cid: str, user: str, text: str, ts: str, thread_ts: str | None = None,
             **fields: Any) -> dict[str, Any]:
        message = {"type": "message", "user": user, "text": text, "ts": ts, **fields}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._lock:
            self.messages.setdefault(cid, {})[ts] = message
        return message

    def edit(self, cid: str, ts: str, text: str, at: str) -> None:
        with self._lock:
            message = self.messages[cid][ts]
            message["text"] = text
            message["edited"] = {"user": message.get("user"), "ts": at}

    def delete(self, cid: str, ts: str) -> None:
        """Delete as Slack does: a parent with replies becomes a tombstone."""
        with self._lock:
            if self._replies(cid, ts):
                self.messages[cid][ts] = {
                    "type": "message", "subtype": "tombstone", "user": "USLACKBOT",
                    "text": "This message was deleted.", "hidden": True, "ts": ts,
                    "thread_ts": ts,
                }
            else:
                del self.messages[cid][ts]

    def react(self, cid: str, ts: str, name: str, user: str) -> None:
        with self._lock:
            reactions = self.messages[cid][ts].setdefault("reactions", [])
            for reaction in reactions:
                if reaction["name"] == name:
                    reaction["users"].append(user)
                    reaction["count"] += 1
                    return
            reactions.append({"name": name, "users": [user], "count": 1})

    def refuse(self, method: str, *errors: str) -> None:
        """Answer the next requests of `method` with these `ok: false` errors, in order."""
        self._refusals.setdefault(method, []).extend(errors)

    def throttle(self, method: str, seconds: int, times: int = 1) -> None:
        """Answer the next `times` requests of `method` with Slack's 429 naming `seconds`."""
        self._throttles.setdefault(method, []).extend([seconds] * times)

    # -- answering ---------------------------------------------------------------------------

    def answer(self, method: str, query: dict[str, str], auth: str | None) -> dict[str, Any]:
        if auth is None:
            return _error("not_authed")
        if auth != f"Bearer {self.token}":
            return _error("invalid_auth")
        with self._lock:
            if self._refusals.get(method):
                return _error(self._refusals[method].pop(0))
            if method == "auth.test":
                return {"ok": True, "url": WORKSPACE_URL, "team": "Acme Benefits",
                        "user": "whoknows", "team_id": "T0WHOKNOW", "user_id": "U09WHOKNW",
                        "bot_id": "B09WHOKNW", "is_enterprise_install": False}
            if method == "users.list":
                return _page(self.members, "members", query)
            if method == "conversations.list":
                return _page(self._listed_channels(query), "channels", query)
            if method in ("conversations.history", "conversations.replies"):
                channel = next((c for c in self.channels if c["id"] == query.get("channel")),
                               None)
                if channel is None:
                    return _error("channel_not_found")
                if not channel.get("is_member"):
                    return _error("not_in_channel")
                if method == "conversations.history":
                    return self._history(channel["id"], query)
                return self._replies_page(channel["id"], query)
        return _error("unknown_method")

    def _listed_channels(self, query: dict[str, str]) -> list[dict[str, Any]]:
        types = set((query.get("types") or "public_channel").split(","))
        keep = []
        for channel in self.channels:
            kind = "private_channel" if channel.get("is_private") else "public_channel"
            if kind not in types:
                continue
            if query.get("exclude_archived") == "true" and channel.get("is_archived"):
                continue
            keep.append(channel)
        return keep

    def _history(self, cid: str, query: dict[str, str]) -> dict[str, Any]:
        oldest = float(query.get("oldest") or 0)
        top = [
            self._with_thread(cid, m)
            for m in self.messages.get(cid, {}).values()
            if (m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast")
            and float(m["ts"]) > oldest
        ]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {**_page(top, "messages", query), "pin_count": 0}

    def _replies_page(self, cid: str, query: dict[str, str]) -> dict[str, Any]:
        parent = self.messages.get(cid, {}).get(query.get("ts", ""))
        if parent is None:
            return _error("thread_not_found")
        replies = self._replies(cid, parent["ts"])
        answer = _page(replies, "messages", query)
        answer["messages"] = [self._with_thread(cid, parent), *answer["messages"]]
        return answer

    def _replies(self, cid: str, ts: str) -> list[dict[str, Any]]:
        found = [m for m in self.messages.get(cid, {}).values()
                 if m.get("thread_ts") == ts and m["ts"] != ts]
        return sorted(found, key=lambda m: float(m["ts"]))

    def _with_thread(self, cid: str, message: dict[str, Any]) -> dict[str, Any]:
        replies = self._replies(cid, message["ts"])
        if not replies or message.get("thread_ts", message["ts"]) != message["ts"]:
            return copy.deepcopy(message)
        users = list(dict.fromkeys(r["user"] for r in replies))
        return {**copy.deepcopy(message), "thread_ts": message["ts"],
                "reply_count": len(replies), "reply_users_count": len(users),
                "reply_users": users[:5], "latest_reply": replies[-1]["ts"],
                "is_locked": False, "subscribed": False}

    def _follows(self, key: tuple[str, str, str], cursor: str) -> bool:
        """Whether the last answer for `key` is the page before `cursor` (a cache
        serving it again); a first page is never a repeat."""
        if not cursor or key not in self._last:
            return False
        previous = json.loads(self._last[key])
        return bool((previous.get("response_metadata") or {}).get("next_cursor") == cursor)

    def respond(self, handler: BaseHTTPRequestHandler, send: Any) -> None:
        parts = urlsplit(handler.path)
        method = parts.path.removeprefix("/api/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.requests.append((method, query))
        if self._throttles.get(method):
            body = json.dumps(_error("ratelimited")).encode()
            wait = self._throttles[method].pop(0)
            send(429, {"Content-Type": "application/json", "Retry-After": str(wait)}, body)
            return
        kind = self.plan.draw(method, listing=method in _LISTS) if self.plan else None
        key = (method, query.get("channel", ""), query.get("ts", ""))
        if kind == "error":
            assert self.plan is not None
            send(self.plan.error_status(), {"Content-Type": "text/html"}, HTML_ERROR)
            return
        if kind == "throttle":
            assert self.plan is not None
            body = json.dumps(_error("ratelimited")).encode()
            send(429, {"Content-Type": "application/json; charset=utf-8",
                       "Retry-After": str(self.plan.wait)}, body)
            return
        if kind == "repeat" and self._follows(key, query.get("cursor", "")):
            body = self._last[key]
        else:
            body = json.dumps(self.answer(method, query, handler.headers.get("Authorization")))
            body = body.encode()
            self._last[key] = body
        if self.plan is not None:
            pause(kind, self.plan)
        data, length, close = cut(body, kind)
        send(200, {"Content-Type": "application/json; charset=utf-8"}, data,
             length=length, close=close)


def _page(items: list[Any], key: str, query: dict[str, str]) -> dict[str, Any]:
    """Slack's cursor paging: `limit` items from the offset the cursor encodes."""
    limit = int(query.get("limit") or 100) or 100
    start = 0
    if query.get("cursor"):
        start = int(base64.b64decode(query["cursor"]).decode().split(":")[1])
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
    return {"ok": True, key: copy.deepcopy(chunk), "has_more": more,
            "response_metadata": {"next_cursor": cursor}}


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


def _shifted(message: dict[str, Any], seconds: int) -> dict[str, Any]:
    moved = copy.deepcopy(message)

    def shift(ts: str) -> str:
        whole, _, fraction = ts.partition(".")
        return f"{int(whole) + seconds}.{fraction}"

    moved["ts"] = shift(moved["ts"])
    for key in ("thread_ts",):
        if key in moved:
            moved[key] = shift(moved[key])
    if "edited" in moved:
        moved["edited"]["ts"] = shift(moved["edited"]["ts"])
    if "root" in moved:
        moved["root"]["ts"] = moved["root"]["thread_ts"] = shift(moved["root"]["ts"])
    return moved


def _handler_for(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class SlackHandler(Handler):
        def do_GET(self) -> None:
            server.respond(self, self.send)

    return SlackHandler

