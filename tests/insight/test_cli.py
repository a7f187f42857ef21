"""`whoknows topics --trending` and `--activity TOPIC` on the planted community."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from service import pipeline
from service.cli import cli
from tests.insight import planted


def _run(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", str(config), "topics", *args])


def test_trending_lists_the_planted_burst(config_file: Path,
                                          services: pipeline.Services) -> None:
    planted.load(services)
    result = _run(config_file, "--trending", "--weeks", "52")
    assert result.exit_code == 0, result.output
    assert f"{planted.BURST_TOPIC}: since " in result.output and "peak 20" in result.output


def test_activity_prints_weeks_and_keeps_internal_topics_internal(
    config_file: Path, services: pipeline.Services
) -> None:
    planted.load(services)
    result = _run(config_file, "--activity", "GDPR", "--weeks", "104", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["bursts"]) == 1
    internal = _run(config_file, "--activity", planted.INTERNAL_TAG)
    assert internal.exit_code == 0 and "1 contributions" in internal.output
    external = _run(config_file, "--activity", planted.INTERNAL_TAG, "--audience", "external")
    assert external.exit_code == 1 and "no activity" in external.output
    assert _run(config_file).exit_code == 2  # neither --trending nor --activity
