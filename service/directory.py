"""Reading a people directory export (CSV): e-mail, name, department, and one column per
source id holding the person's account name in that source."""

from __future__ import annotations

import csv
from pathlib import Path

from service.identity import DirectoryEntry
from service.model import normalise_email

__all__ = ["DirectoryError", "read_directory_csv"]

_FIXED = {"email", "name", "department"}


class DirectoryError(ValueError):
    """The file is not a directory export; the message says what is missing."""


def read_directory_csv(path: Path) -> tuple[list[DirectoryEntry], list[str]]:
    """Return the entries and one message per row that could not be read (with its line)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "email" not in reader.fieldnames:
            raise DirectoryError(f"{path}: the header must have an 'email' column")
        source_columns = [name for name in reader.fieldnames if name not in _FIXED]
        entries: list[DirectoryEntry] = []
        problems: list[str] = []
        for row in reader:
            email = normalise_email(row.get("email"))
            if email is None:
                problems.append(f"line {reader.line_num}: email {row.get('email')!r} "
                                "is not an e-mail address")
                continue
            accounts = {s: row[s].strip() for s in source_columns if (row.get(s) or "").strip()}
            entries.append(DirectoryEntry(email=email, name=(row.get("name") or "").strip()
                                          or None,
                                          department=(row.get("department") or "").strip()
                                          or None, accounts=accounts))
    return entries, problems
