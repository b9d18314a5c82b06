"""No secret in stdout, stderr, state or records: on success, at debug level, and on failures.

The fault matrix (test_faults.py) and the interrupted runs (test_interrupt.py) check every one
of their runs too.
"""

from __future__ import annotations

import typing as t

import pytest

from tap_twitter_metrics.settings import SECRET_SETTINGS
from tests.faultruns import assert_no_secret, sandbox, secrets_of, sync_config
from tests.tapruns import CORE_STREAMS, PUBLIC_STREAMS, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("credentials", ["bearer", "oauth1", "oauth2"])
def test_a_debug_level_sync_prints_no_secret(
    credentials: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debug lines of HTTP and OAuth libraries are where signed headers would show.
    monkeypatch.setenv("LOGLEVEL", "DEBUG")
    with sandbox(posts=30, partner_posts=5) as sb:
        config = sync_config(sb, credentials)
        if credentials == "oauth2":
            config["oauth2_token_file"] = str(tmp_path / "tokens.json")
        streams = PUBLIC_STREAMS if credentials == "bearer" else CORE_STREAMS
        run = run_tap(config, tmp_path, streams=streams)
        secrets = secrets_of(config, sb)

    assert run.returncode == 0, run.stderr
    assert "| DEBUG " in run.stderr
    assert len(run.records("tweets")) > 0
    assert {name for name in SECRET_SETTINGS if config.get(name)} <= {
        name for name in SECRET_SETTINGS if str(config.get(name)) in secrets
    }
    assert_no_secret(run.output, secrets)


def test_a_run_that_cannot_reach_the_api_prints_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGLEVEL", "DEBUG")
    with sandbox(posts=10, partner_posts=5) as sb:
        config = {
            **sync_config(sb, "oauth1"),
            "bearer_token": "sandbox-app-bearer-token",
            "max_retries": 2,
        }
    # The sandbox is gone: nothing listens on its port any more.
    run = run_tap(config, tmp_path)

    assert run.returncode == 1
    message = run.stderr.strip().splitlines()[-1].split(" | ", 3)[-1]
    assert message.startswith(
        "GET /2/users/me failed 2 times in a row (max_retries), the last time with no HTTP "
        "status: the connection was refused."
    )
    assert_no_secret(run.output, secrets_of(config))


def test_a_secret_given_as_a_number_is_not_printed(tmp_path: Path) -> None:
    config = {"api_url": "http://127.0.0.1:9", "consumer_secret": 12345678901234567}
    run = run_tap(config, tmp_path)

    assert run.returncode == 1
    assert "consumer_secret: must be a string, got a number" in run.stderr
    assert_no_secret(run.output, {"12345678901234567"})


def test_the_consumer_key_is_a_secret() -> None:
    assert "consumer_key" in SECRET_SETTINGS


# Each secret setting given as a number, a list or an object: no element may show.
WRONG_TYPES = {
    "number": (12345678901234567, "a number", {"12345678901234567"}),
    "list": (["s3cr3t-one", 98765432123], "a list", {"s3cr3t-one", "98765432123"}),
    "object": ({"k3y-part": "v4lue-part"}, "an object", {"k3y-part", "v4lue-part"}),
}


@pytest.mark.parametrize(("value", "kind", "parts"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_no_secret_of_the_wrong_type_is_printed_whatever_the_type(
    value: object, kind: str, parts: set[str], tmp_path: Path
) -> None:
    config = {"api_url": "http://127.0.0.1:9", **dict.fromkeys(SECRET_SETTINGS, value)}
    run = run_tap(config, tmp_path)

    errors = [line.split(" | ", 3)[-1] for line in run.stderr.splitlines() if "| ERROR " in line]
    assert run.returncode == 1
    assert errors[: len(SECRET_SETTINGS)] == [
        f"{name}: must be a string, got {kind}" for name in SECRET_SETTINGS
    ]
    assert errors[-1] == "Config validation failed"
    assert "Traceback" not in run.stderr
    assert_no_secret(run.output, parts)
