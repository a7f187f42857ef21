"""The README's examples, run as written in a fresh folder.

A block marked `<!-- readme-test: run -->` runs in bash (stopping at the first failing
line), `<!-- readme-test: file NAME -->` is written to NAME, all in the order of the
README, in an empty folder whose `.venv` is this test's environment;
`<!-- readme-test: output of whoknows demo -->` is output the demo must print (`…`
stands for anything).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from service.cli import cli

README = Path(__file__).parent.parent / "README.md"
_MARKED = re.compile(r"<!-- readme-test: (?P<what>[^>]*?) -->\n```[a-z]*\n(?P<body>.*?)```",
                     re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    return [(m["what"], m["body"]) for m in _MARKED.finditer(README.read_text())]


def _pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in line.split("…")))


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Everything the marked blocks printed, run in a fresh folder."""
    folder = tmp_path_factory.mktemp("fresh")
    (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    printed = []
    for what, body in _blocks():
        if what.startswith("file "):
            (folder / what.removeprefix("file ")).write_text(body)
        elif what == "run":
            done = subprocess.run(["bash", "-e", "-c", body], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{body}\n{done.stdout}\n{done.stderr}"
            printed.append(done.stdout)
    return "\n".join(printed)


def test_the_readme_marks_the_first_hour_blocks() -> None:
    kinds = [what for what, _ in _blocks()]
    assert kinds.count("run") >= 4
    assert {"file whoknows.toml", "file records.jsonl",
            "output of whoknows demo"} <= set(kinds)
    runs = "".join(body for what, body in _blocks() if what == "run")
    for command in ("whoknows init", "whoknows demo", "whoknows search", "whoknows import",
                    "whoknows clients create"):
        assert command in runs


def test_the_readme_examples_run_as_written_in_a_fresh_folder(ran: str) -> None:
    assert "1 new, 0 updated" in ran  # the import of records.jsonl
    assert "client_secret:" in ran


def test_the_demo_output_in_the_readme_is_the_real_one(ran: str) -> None:
    expected = next(body for what, body in _blocks() if what == "output of whoknows demo")
    lines = ran.splitlines()
    position = 0
    for wanted in (line for line in expected.splitlines() if line.strip()):
        pattern = _pattern(wanted)
        found = next((i for i in range(position, len(lines)) if pattern.fullmatch(lines[i])),
                     None)
        assert found is not None, f"the README shows {wanted!r}, the demo did not print it"
        position = found + 1


def test_the_readme_names_every_command() -> None:
    text = README.read_text()

    def names(group: click.Group, prefix: str) -> list[str]:
        found = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += names(command, f"{prefix}{name} ")
            else:
                found.append(f"{prefix}{name}")
        return found

    missing = [name for name in names(cli, "whoknows ") if name not in text]
    assert missing == []
