"""`--test` checks credentials and accounts with a small read and fails when they fail."""

from __future__ import annotations

import json
import subprocess
import typing as t

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.tapruns import TAP

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        yield sb


def connection_test(config: dict[str, t.Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run(
        [*TAP, "--config", str(config_file), "--test"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1].split(" | ")[-1]


def test_a_passing_test_says_what_it_saw_and_syncs_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    result = connection_test(sandbox.config_for("oauth1"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "ERROR" not in result.stderr
    assert last_line(result.stderr) == (
        "Connection test passed: signed in with OAuth 1.0a user-context credentials; "
        f"@sandbox_brand ({sandbox.world.main_user_id}) shows 5 recent posts."
    )
    assert [r.route for r in sandbox.requests] == ["/2/users/me", "/2/users/:id/tweets"]


def test_refused_credentials_fail_the_test(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.config_for("bearer") | {"bearer_token": "not-a-token", "user_ids": ["1"]}
    result = connection_test(config, tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not-a-token" not in result.stderr
    assert "HTTP 401" in last_line(result.stderr)


def test_an_unknown_account_fails_the_test(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.config_for("bearer") | {"usernames": ["sandbox_partner", "nobody_here"]}
    result = connection_test(config, tmp_path)

    assert result.returncode == 1
    assert last_line(result.stderr) == (
        "Configured accounts X did not show: @nobody_here not found. Nothing was synced; "
        "correct or remove these in user_ids or usernames."
    )
