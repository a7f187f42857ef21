"""Importers: read a community's export files and yield pages of canonical records.

Like connectors, importers never touch the store: they yield `Page`s that
`pipeline.ingest_pages` stores (idempotently, by `(source, id)`).

    stackexchange   a StackExchange data dump (archive.org dumps, Stack Overflow for Teams
                    exports): Posts.xml, Users.xml, Votes.xml, Comments.xml
"""

from __future__ import annotations

from service.importers.stackexchange import DumpCounts, DumpError, StackExchangeDump

__all__ = ["DumpCounts", "DumpError", "StackExchangeDump"]
