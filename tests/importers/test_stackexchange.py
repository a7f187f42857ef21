"""The StackExchange data dump importer, on a slice of the real conlang.stackexchange.com
dump (tests/fixtures/stackexchange_dump/, CC BY-SA, authors as in the files)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from service.cli import cli
from service.importers import DumpError, StackExchangeDump
from service.model import ContributionKind, ContributionRecord
from service.store.schema import contributions, identities, interactions

DUMP = Path(__file__).parent.parent / "fixtures" / "stackexchange_dump"
SITE = "https://conlang.stackexchange.com"


def _records(folder: Path = DUMP, **options: object) -> dict[str, ContributionRecord]:
    dump = StackExchangeDump(folder, **options)  # type: ignore[arg-type]
    return {record.id: record for page in dump.pages() for record in page.records}


def _run(config_file: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config_file), *args])


def _copy(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "dump"
    folder.mkdir()
    for name in names:
        shutil.copy(DUMP / name, folder / name)
    return folder


def _insert_rows(path: Path, after_id: str, *rows: str) -> None:
    """Put raw rows after the row with Id `after_id` (one row per line, as dumps are)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = f'<row Id="{after_id}" '
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(start))
    path.write_text("\n".join(lines[: at + 1] + list(rows) + lines[at + 1 :]) + "\n", "utf-8")


def test_questions_answers_and_comments_map_to_canonical_records() -> None:
    records = _records(site_url=SITE)
    question, answer = records["q1"], records["a2"]
    assert question.kind == ContributionKind.QUESTION
    assert question.title.startswith("Are questions asked in conlangs accepted")
    assert question.tags == ["discussion", "on-topic"]
    assert question.author.id == "14" and question.author.name == "bytebuster"
    assert question.author.url == f"{SITE}/users/14"
    assert question.thread == "q1" and question.url == f"{SITE}/questions/1"
    assert question.created == datetime(2018, 2, 6, 20, 19, 50, 957000, tzinfo=UTC)
    assert "<p>" not in question.text and "Lojban" in question.text
    # a deleted user is known by display name only
    assert answer.author.id == "name:user23" and answer.author.name == "user23"
    assert (answer.kind, answer.thread, answer.parent) == (ContributionKind.ANSWER, "q1", "q1")
    assert answer.accepted and not records["a4"].accepted
    assert answer.score == 22 and answer.likes == 22  # 22 up-votes in Votes.xml
    assert answer.title == ""
    on_answer, on_question = records["c3"], records["c2"]
    assert (on_answer.parent, on_answer.thread) == ("a2", "q1")
    assert (on_question.parent, on_question.thread) == ("q3", "q3")
    assert on_answer.kind == ContributionKind.COMMENT and on_answer.author.id == "12"
    assert records["c5"].author.id == "name:user23"
    assert on_answer.url == f"{SITE}/questions/1#comment3_2"
    kinds = [str(r.kind) for r in records.values()]
    assert (kinds.count("question"), kinds.count("answer"), kinds.count("comment")) == (10, 26, 67)


def test_the_cli_stores_accepted_answers_as_accept_interactions(config_file: Path) -> None:
    result = _run(config_file, "import-stackexchange", str(DUMP), "--source", "forum")
    assert result.exit_code == 0, result.output
    assert "10 questions, 26 answers, 67 comments: 103 new" in result.output
    engine = create_engine(f"sqlite:///{config_file.parent / 'whoknows.db'}")
    c, i, who = contributions.c, interactions.c, identities.c
    with engine.connect() as conn:
        accepts = conn.execute(
            select(c.external_id, who.external_id)
            .join(interactions, i.target_contribution_id == c.id)
            .join(identities, who.id == i.actor_identity_id)
            .where(i.kind == "accept").order_by(c.external_id)).all()
        replies = conn.execute(select(i.id).where(i.kind == "reply")).all()
    engine.dispose()
    # the answers each question accepted, accepted by the question's author
    assert [tuple(row) for row in accepts] == [("a11", "32"), ("a2", "14"), ("a20", "8"),
                                               ("a8", "19")]
    assert len(replies) > 26
    # what was imported is searchable
    found = _run(config_file, "search", "klingon tags", "--json")
    assert found.exit_code == 0, found.output
    top = json.loads(found.output)["hits"][0]
    assert top["display_name"] == "Rand al'Thor"
    assert "Do we need both the [klingon] and [klingon-language] tags?" in [
        ev["title"] for ev in top["evidence"]]


def test_reimporting_the_dump_changes_nothing(config_file: Path) -> None:
    _run(config_file, "import-stackexchange", str(DUMP), "--source", "forum")
    again = _run(config_file, "import-stackexchange", str(DUMP), "--source", "forum")
    assert again.exit_code == 0, again.output
    assert "0 new, 0 updated, 103 unchanged" in again.output
    assert "0 people recomputed" in again.output


def test_a_malformed_row_is_reported_with_its_number_and_the_rest_imports(
    config_file: Path, tmp_path: Path
) -> None:
    folder = _copy(tmp_path, "Posts.xml", "Users.xml", "Comments.xml")
    _insert_rows(folder / "Posts.xml", "4",
                 '  <row Id="900" PostTypeId="2" CreationDate="2018-02-06T20:29:00.000" '
                 'OwnerUserId="14" Body="&lt;p&gt;no question named&lt;/p&gt;" />',
                 '  <row Id="901" PostTypeId="1" CreationDate="yesterday" OwnerUserId="14" '
                 'Title="When?" Body="" />')
    result = _run(config_file, "import-stackexchange", str(folder), "--source", "forum")
    assert result.exit_code == 1
    assert "Posts.xml row 5 (Id 900): it has no ParentId" in result.output
    assert "Posts.xml row 6 (Id 901): CreationDate 'yesterday' is not a date" in result.output
    assert "10 questions, 26 answers, 67 comments: 103 new" in result.output
    assert "2 malformed" in result.output


def test_xml_that_is_not_well_formed_stops_at_the_fault_keeping_what_was_read(
    config_file: Path, tmp_path: Path
) -> None:
    folder = _copy(tmp_path, "Posts.xml")
    _insert_rows(folder / "Posts.xml", "8", '  <row Id="9" PostTypeId="1" <broken')
    result = _run(config_file, "import-stackexchange", str(folder), "--source", "forum")
    assert result.exit_code == 1
    assert "Posts.xml: not well-formed XML at line 11" in result.output
    assert "after row 8" in result.output
    assert "8 new" in result.output


def test_until_keeps_only_what_was_created_before_it() -> None:
    until = datetime(2018, 2, 7, tzinfo=UTC)
    records = _records(until=until)
    assert records and all(r.created < until for r in records.values())
    assert "q30" not in records and "a29" in records and "c37" in records
    assert "c40" not in records  # written after the cut, on a post before it
    # accepted on 2018-02-08 (Votes.xml): not yet accepted then; answer 8 was
    assert not records["a2"].accepted and records["a8"].accepted
    # scores recounted from the votes cast before the cut
    assert records["a2"].score < 22


def test_the_cli_until_option_cuts_the_import(config_file: Path) -> None:
    result = _run(config_file, "import-stackexchange", str(DUMP), "--source", "forum",
                  "--until", "2018-02-06T22:00:00")
    assert result.exit_code == 0, result.output
    assert "6 questions, 12 answers, 14 comments: 32 new" in result.output


def test_an_answer_whose_question_is_not_in_the_dump_is_still_stored(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "Posts.xml", "Votes.xml")
    posts = folder / "Posts.xml"
    posts.write_text("\n".join(line for line in posts.read_text("utf-8").splitlines()
                               if not line.strip().startswith('<row Id="1" ')) + "\n", "utf-8")
    records = _records(folder)
    assert "q1" not in records
    assert records["a2"].thread == "q1"
    assert records["a2"].accepted  # the accept vote says so
    assert records["a2"].author.name == "user23"


def test_posts_only_dumps_and_the_newer_tag_format_are_read(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "Posts.xml")
    posts = folder / "Posts.xml"
    posts.write_text(posts.read_text("utf-8").replace(
        'Tags="&lt;discussion&gt;&lt;on-topic&gt;"', 'Tags="|discussion|on-topic|"'), "utf-8")
    records = _records(folder)
    assert records["q1"].tags == ["discussion", "on-topic"]
    assert records["q1"].author.name is None  # no Users.xml: the id only
    assert records["a2"].accepted and records["a2"].likes == 0
    assert not any(r.kind == ContributionKind.COMMENT for r in records.values())


def test_a_folder_without_posts_is_a_clear_error(config_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="no Posts.xml"):
        StackExchangeDump(tmp_path)
    result = _run(config_file, "import-stackexchange", str(tmp_path), "--source", "forum")
    assert result.exit_code == 1
    assert "Error: " in result.output and "no Posts.xml" in result.output
