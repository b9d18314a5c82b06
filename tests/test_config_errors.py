"""Bad settings are refused before the first request, each by a message naming the setting."""

from __future__ import annotations

import copy
import json
import subprocess
import typing as t

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_twitter_metrics.settings import config_errors
from tap_twitter_metrics.tap import TapTwitterMetrics
from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tests.tapruns import TAP, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

OAUTH1 = {
    "consumer_key": CREDENTIALS["consumer_key"],
    "consumer_secret": CREDENTIALS["consumer_secret"],
    "access_token": CREDENTIALS["access_token"],
    "access_token_secret": CREDENTIALS["access_token_secret"],
}
BASE = {"api_url": "http://127.0.0.1:9", **OAUTH1}
NO_CREDENTIALS = (
    "No credentials: set bearer_token (public metrics), the four OAuth 1.0a settings "
    "(consumer_key, consumer_secret, access_token, access_token_secret) or oauth2_client_id "
    "with oauth2_refresh_token / oauth2_token_file."
)
BAD = {
    "start_date": (
        {"start_date": "last tuesday"},
        "start_date: 'last tuesday' is not an ISO 8601 date or time",
    ),
    "start_date_month_13": (
        {"start_date": "2024-13-01"},
        "start_date: '2024-13-01' is not an ISO 8601 date or time",
    ),
    "user_id_handle": (
        {"user_ids": ["1500000000000000001", "sandbox_brand"]},
        "user_ids: 'sandbox_brand' is not a numeric account id of 1 to 19 digits",
    ),
    "tweet_id_20_digits": (
        {"tweet_ids": ["12345678901234567890"]},
        "tweet_ids: '12345678901234567890' is not a numeric post id of 1 to 19 digits",
    ),
    "username": (
        {"usernames": ["not a handle"]},
        "usernames: 'not a handle' is not a handle of 1 to 15 letters, digits or underscores",
    ),
    "oauth1_incomplete": (
        {"access_token_secret": None, "consumer_secret": ""},
        "OAuth 1.0a needs all four settings; missing: consumer_secret, access_token_secret",
    ),
    "negative_lookback": ({"lookback_days": -1}, "lookback_days: must be zero or more, got -1"),
    "negative_wait": (
        {"rate_limit_max_wait_seconds": -5},
        "rate_limit_max_wait_seconds: must be zero or more, got -5",
    ),
    "zero_timeout": ({"request_timeout": 0}, "request_timeout: must be at least 1, got 0"),
    "zero_tries": ({"max_retries": 0}, "max_retries: must be at least 1, got 0"),
    "start_date_in_the_future": (
        {"start_date": "2999-01-01"},
        "start_date: '2999-01-01' is in the future; X refuses a start_time after now, so the "
        "run would read nothing",
    ),
    "huge_lookback": (
        {"lookback_days": 10**9},
        "lookback_days: must be at most 3650, got 1000000000",
    ),
    "huge_analytics_days": (
        {"analytics_days": 3651},
        "analytics_days: must be at most 3650, got 3651",
    ),
    "huge_analytics_post_age": (
        {"analytics_post_age_days": 10**6},
        "analytics_post_age_days: must be at most 3650, got 1000000",
    ),
    "huge_wait": (
        {"rate_limit_max_wait_seconds": 86401},
        "rate_limit_max_wait_seconds: must be at most 86400, got 86401",
    ),
    "huge_timeout": ({"request_timeout": 601}, "request_timeout: must be at most 600, got 601"),
    "huge_tries": ({"max_retries": 21}, "max_retries: must be at most 20, got 21"),
    "api_url_with_2": (
        {"api_url": "https://api.x.com/2"},
        "api_url: 'https://api.x.com/2' must be the base URL without /2, e.g. https://api.x.com",
    ),
    "api_url_with_2_and_slash": (
        {"api_url": "http://127.0.0.1:9/2/"},
        "api_url: 'http://127.0.0.1:9/2/' must be the base URL without /2, e.g. http://127.0.0.1:9",
    ),
    "lookback_not_a_number": (
        {"lookback_days": "x"},
        "lookback_days: must be an integer, got 'x'",
    ),
    "user_ids_not_a_list": ({"user_ids": "123"}, "user_ids: must be a list, got '123'"),
    "tweet_id_a_number": ({"tweet_ids": [123]}, "tweet_ids[0]: must be a string, got 123"),
    "granularity": (
        {"analytics_granularity": "monthly"},
        "analytics_granularity: must be one of daily, hourly, weekly, got 'monthly'",
    ),
    "token_file_unset_variable": (
        {
            **dict.fromkeys(OAUTH1),
            "oauth2_client_id": "client",
            "oauth2_token_file": "$TAP_TWITTER_METRICS_TEST_UNSET/tokens.json",
        },
        "oauth2_token_file: '$TAP_TWITTER_METRICS_TEST_UNSET/tokens.json' names "
        "$TAP_TWITTER_METRICS_TEST_UNSET, which is not set in the environment",
    ),
    "exclude": ({"exclude": ["quotes"]}, "exclude: 'quotes' is not one of retweets, replies"),
    "api_url": (
        {"api_url": "api.x.com"},
        "api_url: 'api.x.com' is not an http:// or https:// base URL",
    ),
    "no_credentials": (dict.fromkeys(OAUTH1), NO_CREDENTIALS),
    "oauth2_without_client_id": (
        {**dict.fromkeys(OAUTH1), "oauth2_refresh_token": "refresh"},
        "oauth2_client_id: missing; OAuth 2.0 needs the client id of the app with "
        "oauth2_refresh_token (or an oauth2_token_file written by tap-twitter-metrics-auth)",
    ),
    "oauth2_without_token": (
        {**dict.fromkeys(OAUTH1), "oauth2_client_id": "client"},
        "oauth2_refresh_token: missing; OAuth 2.0 needs it (or an oauth2_token_file written "
        "by tap-twitter-metrics-auth) with oauth2_client_id",
    ),
}


@pytest.fixture(autouse=True)
def own_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK adds its built-in settings to the tap's schema in place: keep that to a copy."""
    monkeypatch.setattr(
        TapTwitterMetrics, "config_jsonschema", copy.deepcopy(TapTwitterMetrics.config_jsonschema)
    )


def settings(change: dict[str, t.Any]) -> dict[str, t.Any]:
    """BASE with `change` applied; None removes a setting."""
    merged = {**BASE, **change}
    return {key: value for key, value in merged.items() if value is not None}


@pytest.mark.parametrize(("change", "message"), BAD.values(), ids=BAD.keys())
def test_a_bad_setting_is_refused_naming_it(change: dict[str, t.Any], message: str) -> None:
    with pytest.raises(ConfigValidationError) as error:
        TapTwitterMetrics(config=settings(change), validate_config=True)

    assert error.value.errors == [message]


def test_every_bound_is_accepted() -> None:
    config = {
        **BASE,
        "start_date": "2006-03-21T00:00:00Z",  # before the tap's clamp: fine
        "lookback_days": 3650,
        "analytics_days": 3650,
        "analytics_post_age_days": 3650,
        "rate_limit_max_wait_seconds": 86400,
        "request_timeout": 600,
        "max_retries": 20,
        "api_url": "https://api.x.com/",
    }
    assert config_errors(config) == []


@pytest.mark.parametrize(
    "credentials",
    [
        {"bearer_token": "token"},
        OAUTH1,
        {"oauth2_client_id": "client", "oauth2_refresh_token": "refresh"},
        {"oauth2_client_id": "client", "oauth2_token_file": "tokens.json"},
        # Complete OAuth 1.0a credentials are used; stray OAuth 2.0 settings do not matter.
        {**OAUTH1, "oauth2_refresh_token": "refresh"},
    ],
    ids=["bearer", "oauth1", "oauth2", "oauth2_token_file", "oauth1_and_more"],
)
def test_every_complete_credential_set_is_accepted(credentials: dict[str, str]) -> None:
    config = {
        "api_url": "https://api.x.com",
        "start_date": "2024-05-01",
        "user_ids": ["1500000000000000001"],
        "tweet_ids": ["1" * 19],
        "usernames": ["@sandbox_brand"],
        "exclude": ["retweets", "replies"],
        "lookback_days": 0,
        **credentials,
    }
    assert config_errors(config) == []


def test_a_secret_of_the_wrong_type_is_not_quoted_in_the_refusal() -> None:
    with pytest.raises(ConfigValidationError) as error:
        TapTwitterMetrics(
            config={"api_url": "https://api.x.com", "bearer_token": 98765432109876543},
            validate_config=True,
        )

    assert error.value.errors == ["bearer_token: must be a string, got a number"]


def test_a_type_error_does_not_hide_the_other_errors() -> None:
    config = settings(
        {"lookback_days": "x", "consumer_key": 12345678, "user_ids": ["handle"], "max_retries": 0}
    )
    with pytest.raises(ConfigValidationError) as error:
        TapTwitterMetrics(config=config, validate_config=True)

    assert error.value.errors == [
        "consumer_key: must be a string, got a number",
        "lookback_days: must be an integer, got 'x'",
        "user_ids: 'handle' is not a numeric account id of 1 to 19 digits",
        "max_retries: must be at least 1, got 0",
    ]


def test_an_unknown_setting_is_named_with_the_closest_known_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = settings(
        {"user_id": ["1500000000000000001"], "Lookback_Days": 3, "flattening_enable": True}
    )
    config["zzz"] = 1
    TapTwitterMetrics(config=config, validate_config=True)

    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "Unknown setting 'user_id' is ignored; did you mean 'user_ids'?",
        "Unknown setting 'Lookback_Days' is ignored; did you mean 'lookback_days'?",
        "Unknown setting 'flattening_enable' is ignored; did you mean 'flattening_enabled'?",
        "Unknown setting 'zzz' is ignored",
    ]


def test_the_sdk_settings_are_known(caplog: pytest.LogCaptureFixture) -> None:
    config = settings(
        {
            "stream_maps": {},
            "stream_map_config": {},
            "flattening_enabled": False,
            "flattening_max_depth": 1,
            "batch_config": None,
        }
    )
    TapTwitterMetrics(config=config, validate_config=True)

    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []


def test_a_typo_is_warned_of_in_one_line_and_the_run_goes_on(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        config = {**sb.config_for("oauth1"), "user_id": [sb.world.partner_user_id]}
        run = run_tap(config, tmp_path, streams=["users"])

    warnings = [
        line.split(" | ", 3)[-1] for line in run.stderr.splitlines() if "| WARNING " in line
    ]
    assert run.returncode == 0, run.stderr
    assert warnings == ["Unknown setting 'user_id' is ignored; did you mean 'user_ids'?"]
    assert "Traceback" not in run.stderr


def test_a_base_url_with_a_trailing_slash_works(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        config = {**sb.config_for("oauth1"), "api_url": sb.url + "/"}
        run = run_tap(config, tmp_path, streams=["users"])

    assert run.returncode == 0, run.stderr
    assert len(run.records("users")) == 1


def test_the_command_refuses_a_base_url_ending_in_2_before_any_request(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        url = sb.url
        config = {**sb.config_for("oauth1"), "api_url": url + "/2"}
        run = run_tap(config, tmp_path, streams=["users"])
        requests = sb.requests

    errors = [line.split(" | ", 3)[-1] for line in run.stderr.splitlines() if "| ERROR " in line]
    assert run.returncode == 1
    assert errors == [
        f"api_url: '{url}/2' must be the base URL without /2, e.g. {url}",
        "Config validation failed",
    ]
    assert requests == []
    assert "Traceback" not in run.stderr


def test_the_command_refuses_every_bad_setting_at_once_before_any_request(
    tmp_path: Path,
) -> None:
    with Sandbox(SandboxOptions(posts=10, partner_posts=5)) as sb:
        config = {
            **sb.config_for("oauth1"),
            "start_date": "yesterday",
            "user_ids": ["sandbox_brand"],
            "lookback_days": -2,
            "access_token_secret": "",
        }
        run = run_tap(config, tmp_path)
        requests = sb.requests

    errors = [line.split(" | ", 3)[-1] for line in run.stderr.splitlines() if "| ERROR " in line]
    assert run.returncode == 1
    assert errors == [
        "user_ids: 'sandbox_brand' is not a numeric account id of 1 to 19 digits",
        "start_date: 'yesterday' is not an ISO 8601 date or time",
        "lookback_days: must be zero or more, got -2",
        "OAuth 1.0a needs all four settings; missing: access_token_secret",
        "Config validation failed",
    ]
    assert run.messages == []
    assert requests == []
    assert "Traceback" not in run.stderr


def test_the_command_refuses_type_errors_dates_and_ranges_at_once_before_any_request(
    tmp_path: Path,
) -> None:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        config = {
            **sb.config_for("oauth1"),
            "lookback_days": 10**9,
            "start_date": "2999-12-31T00:00:00Z",
            "request_timeout": "60",
            "max_retries": 10**6,
        }
        run = run_tap(config, tmp_path)
        requests = sb.requests

    errors = [line.split(" | ", 3)[-1] for line in run.stderr.splitlines() if "| ERROR " in line]
    assert run.returncode == 1
    assert errors == [
        "request_timeout: must be an integer, got '60'",
        "start_date: '2999-12-31T00:00:00Z' is in the future; X refuses a start_time after "
        "now, so the run would read nothing",
        "lookback_days: must be at most 3650, got 1000000000",
        "max_retries: must be at most 20, got 1000000",
        "Config validation failed",
    ]
    assert requests == []
    assert "Traceback" not in run.stderr


def test_the_connection_test_refuses_bad_settings_in_the_same_report(tmp_path: Path) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**BASE, "lookback_days": "x", "consumer_key": 1234567}))
    result = subprocess.run(
        [*TAP, "--config", str(config_file), "--test"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    errors = [line.split(" | ", 3)[-1] for line in result.stderr.splitlines() if "| ERROR " in line]
    assert result.returncode == 1
    assert errors == [
        "consumer_key: must be a string, got a number",
        "lookback_days: must be an integer, got 'x'",
        "Config validation failed",
    ]
    assert "Traceback" not in result.stderr
    assert "1234567" not in result.stderr
