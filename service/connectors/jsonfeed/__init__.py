"""The generic JSON connector (`kind = "jsonfeed"`): a partner portal by configuration.

A portal that lists its posts as JSON over HTTP needs a `[[sources]]` block, not code:
`options` say where the items are in an answer, how to page through them, and which
item field holds each canonical field.

    [[sources]]
    id = "partner-hub"
    kind = "jsonfeed"
    audience = "partner"
    url = "https://hub.partner.example.com/api/v2/posts"
    credentials_env = "PARTNER_HUB_TOKEN"     # "user:password" -> Basic, else Bearer

    [sources.options]
    items = "data.results"          # dotted path to the list of items ("" = the body)
    pagination = "page"             # page | offset | cursor | link | none (default)
    page_param = "page"             # page: the page number's parameter (default "page")
    per_page_param = "per_page"     #       the page size's parameter (default "per_page";
                                    #       "" sends none: the portal's own size applies)
    per_page = 50                   #       page size (default 100)
    first_page = 1                  #       number of the first page (default 1)
    total_pages = "meta.total_pages"   # optional: where the answer says how many pages
    total = "meta.total"            # optional: where it says how many items (progress)
    updated_since_param = "modified_since"   # optional: filter by update time ...
    updated_since_format = "iso"    # ... sent as iso (default) | epoch | epoch_ms
    order = "asc"                   # the listing's update order: asc | desc | any (default)
    params = { sort = "updated_at" }   # optional: sent with every request
    headers = { Accept = "application/json" }   # optional: sent with every request
    kinds = { post = "question", comment = "reply" }   # portal kind -> canonical kind
    tags_key = "name"               # tags as objects: the key holding the tag

    [sources.options.fields]        # canonical field = dotted path in an item
    id = "id"                       # required
    kind = "type"                   # or options.kind_value = "article" for every item
    "author.id" = "author.uid"      # required (or: author = { id = "author.uid", ... })
    "author.username" = "author.login"
    "author.name" = "author.display_name"
    "author.email" = "author.mail"
    "author.url" = "author.profile"   # relative URLs resolve against the source url
    "author.organisation" = "author.company"  # the member's organisation (service/organisations)
    title = "subject"
    html = "body_html"              # HTML made plain text; or text = "..." (plain)
    url = "links.web"
    created = "created_at"          # required; ISO 8601 (RFC 2822) or epoch seconds / ms
    updated = "updated_at"
    thread = "topic_id"
    parent = "in_reply_to"
    tags = "tags"                   # a list of strings, a comma-separated string, or
                                    # a list of objects with options.tags_key
    score = "votes"
    likes = "kudos"
    replies = "reply_count"
    accepted = "is_accepted"
    deleted = "is_deleted"

Pagination keys by style (each rejected under another style):

- `page`: `page_param`, `per_page_param`, `per_page`, `first_page`, `total_pages`. The
  walk ends on an empty page, on the page `total_pages` names, else on a page shorter
  than `per_page` (so `per_page` must not exceed what the portal really serves).
- `offset`: `offset_param` ("offset"), `limit_param` ("limit"), `per_page` (100). Ends on
  an empty page, when `total` is reached, else on a short page.
- `cursor`: `next_cursor` (required: dotted path to the next cursor in the answer),
  `cursor_param` ("cursor"), and optionally `per_page_param` with `per_page`. Ends when
  the answer has no next cursor.
- `link`: follows the `Link: <...>; rel="next"` header (RFC 8288, was 5988; same site only);
  optionally `per_page_param` with `per_page` on the first request.
- `none`: one request.

Incremental runs. The cursor (see `cursor.py`) keeps a watermark: the newest update time
emitted and the ids at that time. With `updated_since_param` the portal is asked for items
updated since the watermark (less a second); without it every run walks the whole
listing and leaves out what is not past the watermark. A run with no cursor is a full
pass: its last page is `complete`, and the pipeline flags what it did not see as deleted.
`order` is a promise about the listing's update order: `asc` lets an interrupted walk
resume from the watermark, `desc` ends an incremental walk at the first item older than
the watermark; a listing that breaks the promise is reported in `Page.errors` and read as
`any` for the rest of the run.

An item without an id, an author id or a created time, or with a value of the wrong
shape, is left out and described in `Page.errors` with its page and position; the rest
of the page maps.
"""

from __future__ import annotations

from service.connectors.jsonfeed.connector import JsonFeedConnector
from service.connectors.jsonfeed.options import JsonFeedOptions, parse_options

__all__ = ["JsonFeedConnector", "JsonFeedOptions", "parse_options"]
