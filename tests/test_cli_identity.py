"""The identity review from the command line: suggestions list, accept, reject, the
audit log per person with its export, and undo."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from click.testing import CliRunner

from service.cli import cli
from tests.test_cli_people import _import, _names, _post


def _run(config: Path, *args: str):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result


def _load(config: Path, tmp_path: Path) -> None:
    _import(config, tmp_path, "blog", [_post("b1", "mtorres", kind="blog_post",
                                             author={"id": "mtorres", "username": "mtorres",
                                                     "name": "Maya Torres"})])
    _import(config, tmp_path, "forum", [_post("f1", "MayaT",
                                              author={"id": "MayaT", "username": "MayaT",
                                                      "name": "Maya Torres"})])


def _suggestion_id(config: Path, status: str = "open") -> int | None:
    listed = _run(config, "suggestions", "list", "--status", status, "--json")
    assert listed.exit_code == 0, listed.output
    items = [json.loads(line) for line in listed.output.splitlines()]
    return items[0]["id"] if items else None


def test_list_accept_audit_and_undo(config_file: Path, tmp_path: Path) -> None:
    _load(config_file, tmp_path)
    shown = _run(config_file, "suggestions", "list")
    assert "Maya Torres" in shown.output and "blog:mtorres" in shown.output
    assert "+ the same name (maya torres) on an internal source" in shown.output
    suggestion = _suggestion_id(config_file)
    assert suggestion is not None
    accepted = _run(config_file, "suggestions", "accept", str(suggestion), "--reason", "HR")
    assert accepted.exit_code == 0, accepted.output
    assert _names(config_file) == ["Maya Torres"]
    again = _run(config_file, "suggestions", "accept", str(suggestion))
    assert again.exit_code != 0 and "already accepted" in again.output

    history = _run(config_file, "audit", "forum:MayaT")
    assert history.exit_code == 0, history.output
    assert re.search(r"#\d+ .* accept by suggestion, cli:", history.output)
    merge = re.search(r"#(\d+) .* merge by suggestion, cli:\S+: person \d+: \d+,\d+ - HR",
                      history.output)
    assert merge, history.output
    undone = _run(config_file, "undo", merge.group(1))
    assert undone.exit_code == 0, undone.output
    assert _names(config_file) == ["Maya Torres", "Maya Torres"]
    exported = _run(config_file, "audit", "blog:mtorres", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [(r["action"], r["method"]) for r in rows] == [
        ("accept", "suggestion"), ("merge", "suggestion"), ("split", "undo")]
    assert rows[2]["undoes"] == merge.group(1)
    lines = _run(config_file, "audit", "--format", "jsonl").output.splitlines()
    assert [json.loads(line)["action"] for line in lines][-3:] == ["accept", "merge", "split"]
    assert _suggestion_id(config_file) is None  # the undone pair is not suggested again


def test_reject_keeps_them_apart_and_unknown_ids_say_so(config_file: Path,
                                                        tmp_path: Path) -> None:
    _load(config_file, tmp_path)
    suggestion = _suggestion_id(config_file)
    assert suggestion is not None
    rejected = _run(config_file, "suggestions", "reject", str(suggestion))
    assert rejected.exit_code == 0, rejected.output
    assert _run(config_file, "rebuild").exit_code == 0
    assert _suggestion_id(config_file) is None
    assert _suggestion_id(config_file, "rejected") == suggestion
    assert len(_names(config_file)) == 2
    missing = _run(config_file, "suggestions", "accept", "9999")
    assert missing.exit_code != 0 and "no suggestion 9999" in missing.output
    nobody = _run(config_file, "audit", "nobody@corp.example")
    assert nobody.exit_code != 0 and "nobody known" in nobody.output
    assert "no open suggestions" in _run(config_file, "suggestions", "list").output
