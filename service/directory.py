"""Reading a people directory export (CSV): e-mail, name, department, optionally
organisation (an organisation id or name) and away_until (YYYY-MM-DD: suggested to answer
no question until then), and one column per source id holding the person's account name in
that source."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from service.identity import DirectoryEntry
from service.model import normalise_email

__all__ = ["DirectoryError", "read_directory_csv"]

_FIXED = {"email", "name", "department", "organisation", "away_until"}


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
            away = _cell(row, "away_until")
            if away is not None and not _is_date(away):
                problems.append(f"line {reader.line_num}: away_until {away!r} is not a date "
                                "(YYYY-MM-DD)")
                away = None
            entries.append(DirectoryEntry(
                email=email, name=_cell(row, "name"), department=_cell(row, "department"),
                accounts=accounts, organisation=_cell(row, "organisation"), away_until=away))
    return entries, problems


def _cell(row: dict[str, str | None], name: str) -> str | None:
    return (row.get(name) or "").strip() or None


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
