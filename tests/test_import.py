"""`whoknows import`: JSON Lines in, idempotent, edits update, bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, select

from service.cli import cli
from service.store.schema import contributions


def _line(external_id: str, text: str = "claims adjudication rules", **extra: object) -> str:
    return json.dumps({
        "id": external_id, "kind": "answer", "created": "2026-10-01T10:00:00Z",
        "author": {"id": "alice", "name": "Alice", "email": "alice@corp.example"},
        "text": text, "tags": ["claims"], **extra,
    })


def _run(config_file: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config_file), *args])


def _rows(config_file: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{config_file.parent / 'whoknows.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(contributions.c.external_id, contributions.c.body)
                            .order_by(contributions.c.external_id)).all()
    engine.dispose()
    return [(r.external_id, r.body) for r in rows]


def test_reimporting_the_same_file_changes_nothing(config_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "forum.jsonl"
    data.write_text("\n".join(_line(f"a{i}") for i in range(5)) + "\n")
    first = _run(config_file, "import", str(data), "--source", "forum")
    second = _run(config_file, "import", str(data), "--source", "forum")
    assert first.exit_code == 0, first.output
    assert "5 new, 0 updated" in first.output
    assert "0 new, 0 updated, 5 unchanged" in second.output
    assert len(_rows(config_file)) == 5


def test_an_edited_line_updates_the_stored_item(config_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "forum.jsonl"
    data.write_text(_line("a1") + "\n")
    _run(config_file, "import", str(data), "--source", "forum")
    data.write_text(_line("a1", text="rewritten", updated="2026-10-02T10:00:00Z") + "\n")
    result = _run(config_file, "import", str(data), "--source", "forum")
    assert "0 new, 1 updated" in result.output
    assert _rows(config_file) == [("a1", "rewritten")]


def test_a_malformed_line_is_reported_by_number_and_the_rest_imports(
    config_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "forum.jsonl"
    lines = [_line("a1"), "{not json", _line("a2"), json.dumps({"id": "a3", "kind": "poem"}),
             _line("a4")]
    data.write_text("\n".join(lines) + "\n")
    result = _run(config_file, "import", str(data), "--source", "forum")
    assert result.exit_code == 1
    assert "line 2:" in result.output and "line 4:" in result.output
    assert "3 new" in result.output
    assert [key for key, _ in _rows(config_file)] == ["a1", "a2", "a4"]


def test_a_line_that_is_not_json_is_reported_with_its_column(
    config_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "forum.jsonl"
    lines = [_line("a1"), '{"id": "a2", "kind": "answer"', '{"id": "a3", "kind": "ans']
    data.write_text("\n".join(lines) + "\n")
    result = _run(config_file, "import", str(data), "--source", "forum")
    assert result.exit_code == 1
    assert "truncated" not in result.output
    assert ("line 2: not valid JSON: expecting ',' delimiter at column 30 (the line ends "
            "before the record does)") in result.output
    assert "line 3: not valid JSON: unterminated string starting at column 22" in result.output
    assert [key for key, _ in _rows(config_file)] == ["a1"]


def test_an_unknown_source_says_how_to_configure_a_push_source(
    config_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "x.jsonl"
    data.write_text(_line("a1") + "\n")
    result = _run(config_file, "import", str(data), "--source", "nowhere")
    assert result.exit_code != 0
    assert "'nowhere' is not configured" in result.output
    assert '[[sources]]\nid = "nowhere"\nkind = "push"\naudience = "internal"' in result.output
    assert _rows(config_file) == []


def test_search_on_an_empty_store_says_how_to_load_one(tmp_path: Path) -> None:
    config = tmp_path / "whoknows.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "var" / "w.db"}"\n')
    missing = _run(config, "search", "claims")
    assert missing.exit_code == 1
    assert f"nothing is loaded yet (no store at {tmp_path / 'var' / 'w.db'})" in missing.output
    assert not (tmp_path / "var").exists()  # a search creates no store
    assert _run(config, "init").exit_code == 0
    empty = _run(config, "search", "claims")
    assert empty.exit_code == 1
    assert "nothing is loaded yet (the store has no contributions)" in empty.output
    for command in ("whoknows demo", "whoknows import", "whoknows sync"):
        assert command in empty.output


def test_the_schema_command_prints_the_canonical_record(config_file: Path) -> None:
    result = _run(config_file, "schema")
    schema = json.loads(result.output)
    record = schema["$defs"]["ContributionRecord"]
    assert {"id", "kind", "author", "created"} <= set(record["required"])


def test_the_documented_schema_is_the_one_the_code_reads(config_file: Path) -> None:
    documented = Path(__file__).parent.parent / "docs" / "contribution.schema.json"
    result = _run(config_file, "schema")
    assert _fields(json.loads(documented.read_text())) == _fields(json.loads(result.output)), (
        "docs/contribution.schema.json is stale: regenerate it with `whoknows schema`")


def _fields(schema: object) -> object:
    """The schema without what msgspec's releases render differently: descriptions with
    their whitespace collapsed (older releases keep the docstring's indentation) and no
    empty-container defaults (newer releases print them). Every field, type, default,
    enum, requirement and description word stays, so a real change still fails."""
    if isinstance(schema, dict):
        return {key: " ".join(value.split()) if key == "description" else _fields(value)
                for key, value in schema.items()
                if not (key == "default" and value in ([], {}))}
    if isinstance(schema, list):
        return [_fields(item) for item in schema]
    return schema


def test_search_prints_did_you_mean_and_the_matched_topics(config_file: Path,
                                                           tmp_path: Path) -> None:
    data = tmp_path / "forum.jsonl"
    data.write_text(_line("a1", text="medical insurance claims adjudication rules") + "\n")
    assert _run(config_file, "import", str(data), "--source", "forum").exit_code == 0
    result = _run(config_file, "search", "medcal insurance claims")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:3] == ['  did you mean "medical insurance claims"?',
                          "  matched topics: medical insurance claims"]
    assert "did you mean" not in _run(config_file, "search", "medical insurance claims").output
