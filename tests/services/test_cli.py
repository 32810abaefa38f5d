"""The `baton` command: settings errors, check, import and export."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.cli import cli

YAML = """name: review
title: Review a doc
steps:
  - {id: read, title: Read it, assignee: U0BOB, due: 2h}
  - {id: ok, title: Approve it, kind: approval, assignee: U0ALICE, after: [read]}
"""


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "BATON_DATABASE_URL", "BATON_PORT"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_a_malformed_setting_stops_with_one_line_naming_it(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["db", "upgrade"], env={"BATON_PORT": "three thousand"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("baton: BATON_PORT is malformed")


def test_serve_without_credentials_names_what_is_missing(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "SLACK_SIGNING_SECRET is missing" in result.output


def test_check_prints_the_plan(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "review.yml"
    path.write_text(YAML)
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "review: Review a doc (2 steps)" in result.output
    assert "Critical path" in result.output


def test_check_names_the_problems(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("broken A broken one\na: First after b\nb: Second after a\n")
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert "a -> b -> a" in result.output or "b -> a -> b" in result.output


def test_import_then_export(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "review.yml"
    path.write_text(YAML)
    env = {"BATON_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    imported = runner.invoke(
        cli, ["import", str(path), "--team", "T0BATON", "--owner", "U0ALICE"], env=env
    )
    assert imported.exit_code == 0, imported.output
    assert "review: version 1 stored in T0BATON" in imported.output
    exported = runner.invoke(cli, ["export", "review", "--team", "T0BATON"], env=env)
    assert exported.exit_code == 0, exported.output
    assert "name: review" in exported.output
    assert "assignee: U0BOB" in exported.output
    missing = runner.invoke(cli, ["export", "nope", "--team", "T0BATON"], env=env)
    assert missing.exit_code == 1
    assert "no workflow named `nope`" in missing.output
