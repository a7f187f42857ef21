"""The people commands: directory import, manual link and unlink, profile --explain."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from service.cli import cli


def _run(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def _import(config: Path, tmp_path: Path, source: str, rows: list[dict]) -> None:  # type: ignore[type-arg]
    data = tmp_path / f"{source}.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = _run(config, "import", str(data), "--source", source)
    assert result.exit_code == 0, result.output


def _post(external_id: str, account: str, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"id": external_id, "kind": "answer", "created": "2026-10-01T10:00:00Z",
            "author": {"id": account, "username": account, "name": account.title()},
            "text": "claims adjudication explained", "tags": ["claims adjudication"], **extra}


def _names(config: Path) -> list[str]:
    result = _run(config, "search", "claims adjudication", "--json", "--limit", "10")
    return [hit["display_name"] for hit in json.loads(result.output)["hits"]]


def test_directory_import_merges_accounts_and_names_the_person(
    config_file: Path, tmp_path: Path
) -> None:
    _import(config_file, tmp_path, "blog", [_post("b1", "dana.s", kind="blog_post")])
    _import(config_file, tmp_path, "forum", [_post("f1", "dsmith")])
    assert sorted(_names(config_file)) == ["Dana.S", "Dsmith"]
    people = tmp_path / "people.csv"
    people.write_text("email,name,department,blog,forum\n"
                      "dana@corp.example,Dana Smith,Claims,dana.s,dsmith\n"
                      "not-an-email,Broken,,,\n")
    result = _run(config_file, "directory", "import", str(people))
    assert result.exit_code == 0, result.output
    assert "line 3" in result.output  # the bad row is named, the good one is stored
    assert _names(config_file) == ["Dana Smith"]
    profile = _run(config_file, "profile", "dana@corp.example")
    assert "Dana Smith, Claims" in profile.output


def test_link_then_unlink_from_the_command_line(config_file: Path, tmp_path: Path) -> None:
    _import(config_file, tmp_path, "blog", [_post("b1", "lee", kind="blog_post")])
    _import(config_file, tmp_path, "forum", [_post("f1", "lee_outside")])
    assert _run(config_file, "link", "blog:lee", "forum:lee_outside").exit_code == 0
    assert len(_names(config_file)) == 1
    assert _run(config_file, "unlink", "forum:lee_outside").exit_code == 0
    assert len(_names(config_file)) == 2
    missing = _run(config_file, "unlink", "forum:nobody")
    assert missing.exit_code != 0 and "no account 'forum:nobody'" in missing.output


def test_profile_explain_prints_each_line_of_the_sum(config_file: Path, tmp_path: Path) -> None:
    _import(config_file, tmp_path, "forum", [
        {**_post("q1", "asker"), "kind": "question", "title": "How does adjudication work?"},
        _post("a1", "expert", thread="q1", accepted=True, score=3,
              author={"id": "expert", "email": "ex@corp.example", "name": "Exa"}),
    ])
    result = _run(config_file, "profile", "ex@corp.example", "--explain")
    assert result.exit_code == 0, result.output
    assert "medical insurance claims" in result.output
    assert "answer" in result.output and "(accepted)" in result.output
    assert "Breakdown" in result.output
    unknown = _run(config_file, "profile", "nobody@corp.example")
    assert unknown.exit_code != 0 and "nobody known" in unknown.output
