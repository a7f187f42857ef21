"""Precision and recall of the merge suggestions on the demo company, with a ground truth.

    python bench/identity_suggestions.py [--share 0.5] [--seeds 7 8 9 10 11] [--json]

The demo company gives each employee accounts on several sources, the same e-mail on
each, and a directory naming them: the certain rules link them all. To make part of them
unlinkable, each employee's forum and portal account is, with probability `--share`,
stripped of its e-mail and left out of the directory, and shown one of four ways, a
quarter each:

- `full name`: the display name as on the intranet (`Dana Smith`);
- `short name`: the first name and the last initial (`Dana S.`);
- `username`: no display name, the platform shows the username (`DanaS_Lumen`);
- `bio`: no display name, and a profile text naming the employee in a sentence.

The demo's own hazards stay: two different "Alex Kim" (an employee and a customer), and
30 customers and 15 partner people who are nobody's other account. The demo gives
everyone else a first and a last name of their own, which flatters name evidence, so
`--namesakes N` adds N customers on the forum who share an employee's full name (half of
them with a verified e-mail at their company, half with none): other people, whom only
their username, their e-mail or a missing bio can tell apart. The store is loaded
through the real pipeline (a temporary SQLite file), which resolves and refreshes the
queue; then the suggestions are scored at several thresholds against the truth (which
human each account belongs to). Recall counts the split-off accounts that a correct
suggestion links to their human; precision, the suggestions that join one human.

    python bench/identity_suggestions.py --scale 2000 50000

times `suggest` alone on synthetic people: that many employees (a blog account each)
and external accounts (half with a display name, a fifth with a bio), names drawn from
the demo's 50 first names and 45 last names with one of 40 endings (`Smithar`), so the
names repeat the way a large community's do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from service import pipeline  # noqa: E402
from service.config import load_config  # noqa: E402
from service.demo.company import BLOG, FORUM, DemoPerson  # noqa: E402
from service.demo.generator import DemoData, generate_demo  # noqa: E402
from service.demo.loader import store_demo  # noqa: E402
from service.identity.suggestions import THRESHOLD, suggest  # noqa: E402
from service.model import AuthorRecord  # noqa: E402
from service.store import suggestions as store_suggestions  # noqa: E402
from service.store.schema import identities  # noqa: E402

END = datetime(2026, 12, 1, tzinfo=UTC)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
VARIANTS = ("full name", "short name", "username", "bio")


@dataclass
class Truth:
    #: (source, username) -> the demo human's e-mail
    owner: dict[tuple[str, str], str] = field(default_factory=dict)
    #: the split-off accounts: (source, username) -> how it is shown
    hidden: dict[tuple[str, str], str] = field(default_factory=dict)


def _bio(person: DemoPerson, rng: random.Random) -> str:
    return rng.choice([
        f"{person.department} at Lumen Mutual. {person.name} on the intranet.",
        f"Hi, I'm {person.name} - I work on {person.department.lower() if person.department else 'it'}.",  # noqa: E501
        f"Lumen Mutual staff ({person.name}). Opinions my own.",
    ])


def make_unlinkable(data: DemoData, share: float, seed: int) -> Truth:
    """Strip e-mails and directory entries from a share of the employees' external
    accounts, in place; return the ground truth."""
    rng = random.Random(seed)
    truth = Truth()
    for person in data.people:
        for source, username in person.usernames.items():
            truth.owner[(source, username)] = person.email
    hide: dict[tuple[str, str], tuple[DemoPerson, str]] = {}
    for person in data.people:
        if person.role != "employee":
            continue
        for source in sorted(person.usernames):
            if source != BLOG and rng.random() < share:
                variant = rng.choice(VARIANTS)
                hide[(source, person.usernames[source])] = (person, variant)
                truth.hidden[(source, person.usernames[source])] = variant
    done: set[int] = set()
    for source, records in data.records.items():
        for record in records:
            for author in [record.author, *record.liked_by]:
                key = (source, author.id)
                if key not in hide or id(author) in done or author.username is None:
                    continue  # a liker's bare id says nothing but the account
                person, variant = hide[key]
                author.email = None
                author.name = {"full name": person.name,
                               "short name": f"{person.name.split()[0]} "
                                             f"{person.name.split()[-1][0]}.",
                               }.get(variant)
                if variant == "bio":
                    author.bio = _bio(person, rng)
                done.add(id(author))
    hidden_by_email = defaultdict(set)
    for (source, _), (person, _) in hide.items():
        hidden_by_email[person.email].add(source)
    for row in data.directory:
        for source in hidden_by_email.get(row["email"], ()):
            row[source] = ""
    return truth


def add_namesakes(data: DemoData, count: int, seed: int, truth: Truth) -> None:
    """Customers on the forum named like employees: each re-authors copies of two forum
    answers (so they have contributions), as accounts of their own."""
    rng = random.Random(seed * 31)
    employees = [p for p in data.people if p.role == "employee"]
    answers = [r for r in data.records[FORUM] if r.kind == "answer"]
    for i, twin in enumerate(rng.sample(employees, count)):
        first, last = twin.name.lower().split(" ", 1)
        username = f"{first[0]}{last.replace(' ', '')}{rng.randint(10, 99)}"
        email = f"{first}.{last}@harbourclinic.example" if i % 2 == 0 else None
        author = AuthorRecord(f"ns{i}", username, twin.name, email)
        truth.owner[(FORUM, author.id)] = f"namesake-{i}"
        for j, original in enumerate(rng.sample(answers, 2)):
            copy = dataclasses.replace(original, id=f"{original.id}-ns{i}-{j}", author=author,
                                       liked_by=[], accepted=False)
            data.records[FORUM].append(copy)
    data.records[FORUM].sort(key=lambda r: r.updated or r.created)


def load(data: DemoData, folder: Path) -> pipeline.Services:
    config = folder / "whoknows.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{folder / "demo.db"}"\n')
    services = pipeline.open_services(load_config(config, environ={}), clock=lambda: END)
    store_demo(services, data, echo=lambda _: None)
    return services


def evaluate(services: pipeline.Services, truth: Truth) -> dict[str, Any]:
    with services.engine.connect() as conn:
        facts = store_suggestions.people_facts(conn)
        external = {r.id: (r.source_id, r.external_id) for r in conn.execute(
            select(identities.c.id, identities.c.source_id, identities.c.external_id))}
        started = time.perf_counter()
        candidates = suggest(facts, store_suggestions.blocked_people(conn), threshold=0.0)
        seconds = time.perf_counter() - started
        queued = len(store_suggestions.list_suggestions(conn, limit=10_000))
    human: dict[int, set[str]] = {}
    account_person: dict[tuple[str, str], int] = {}
    for person in facts:
        # the demo's account ids are its usernames
        human[person.person_id] = {truth.owner.get(external[a.identity_id], "?")
                                   for a in person.accounts}
        for a in person.accounts:
            account_person[external[a.identity_id]] = person.person_id
    wrongly_merged = sum(1 for owners in human.values() if len(owners) > 1)
    rows = []
    for threshold in THRESHOLDS:
        kept = [c for c in candidates if c.confidence >= threshold]
        correct = [c for c in kept if len(human[c.person_id] | human[c.other_person_id]) == 1]
        found_people = {p for c in correct for p in (c.person_id, c.other_person_id)}
        recall_by: dict[str, list[bool]] = defaultdict(list)
        for key, variant in truth.hidden.items():
            if key in account_person:  # an account with no contribution is not stored
                recall_by[variant].append(account_person[key] in found_people)
        hits = [ok for oks in recall_by.values() for ok in oks]
        rows.append({
            "threshold": threshold, "suggestions": len(kept), "correct": len(correct),
            "precision": round(len(correct) / len(kept), 3) if kept else None,
            "recall": round(sum(hits) / len(hits), 3) if hits else None,
            "recall_by_variant": {v: f"{sum(oks)}/{len(oks)}"
                                  for v, oks in sorted(recall_by.items())},
        })
    stored = sum(1 for key in truth.hidden if key in account_person)
    return {"people": len(facts), "hidden_accounts": stored,
            "wrongly_merged_by_rules": wrongly_merged, "queued_at_threshold": queued,
            "suggest_seconds": round(seconds, 4), "rows": rows}


def scale(employees: int, externals: int, seed: int = 1) -> dict[str, Any]:
    from service.demo.vocabulary import FIRST_NAMES, LAST_NAMES
    from service.identity.suggestions import Account, PersonFacts

    rng = random.Random(seed)
    endings = [a + b for a in "aeiou" for b in "nrstlmkd"]

    def name() -> str:
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}{rng.choice(endings)}"

    people = []
    for i in range(employees):
        full = name()
        first, last = full.lower().split(" ", 1)
        email = f"{first}.{last}@corp.example"
        people.append(PersonFacts(i, full, (Account(i, "blog", "internal", first[0] + last,
                                                    full, email),), email, "D", True))
    for i in range(employees, employees + externals):
        full = name()
        first, last = full.lower().split(" ", 1)
        shown = full if rng.random() < 0.5 else None
        bio = f"I like {name()}" if rng.random() < 0.2 else None
        people.append(PersonFacts(i, shown or first, (Account(
            i, "forum", "external", f"{first}{last[0]}{rng.randint(1, 99)}", shown, None,
            bio),)))
    started = time.perf_counter()
    found = suggest(people)
    return {"employees": employees, "externals": externals, "suggestions": len(found),
            "seconds": round(time.perf_counter() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10, 11])
    parser.add_argument("--namesakes", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scale", type=int, nargs=2, metavar=("EMPLOYEES", "EXTERNALS"))
    args = parser.parse_args(argv)
    if args.scale:
        print(json.dumps(scale(*args.scale)))
        return 0
    runs = []
    for seed in args.seeds:
        data = generate_demo(END)
        truth = make_unlinkable(data, args.share, seed)
        if args.namesakes:
            add_namesakes(data, args.namesakes, seed, truth)
        with tempfile.TemporaryDirectory() as folder:
            services = load(data, Path(folder))
            runs.append({"seed": seed, **evaluate(services, truth)})
            services.engine.dispose()
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    print(f"shipped threshold: {THRESHOLD}")
    for run in runs:
        print(f"seed {run['seed']}: {run['people']} people, {run['hidden_accounts']} "
              f"split-off accounts, {run['queued_at_threshold']} queued, suggest "
              f"{run['suggest_seconds'] * 1000:.1f} ms, {run['wrongly_merged_by_rules']} "
              "wrong merges by the rules")
    print("threshold  suggestions  precision  recall   recall by variant (all seeds)")
    for i, threshold in enumerate(THRESHOLDS):
        rows = [run["rows"][i] for run in runs]
        kept = sum(r["suggestions"] for r in rows)
        correct = sum(r["correct"] for r in rows)
        by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in rows:
            for variant, text in r["recall_by_variant"].items():
                found, total = map(int, text.split("/"))
                by[variant][0] += found
                by[variant][1] += total
        hits = sum(f for f, _ in by.values())
        total = sum(t for _, t in by.values())
        mark = " *" if threshold == THRESHOLD else ""
        print(f"{threshold:>8}{mark:2} {kept:>11}  {correct / kept if kept else 0:>9.3f}  "
              f"{hits / total if total else 0:>6.3f}   "
              + ", ".join(f"{v} {f}/{t}" for v, (f, t) in sorted(by.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
