"""Bad settings are refused before the first request, each by a message naming the setting."""

from __future__ import annotations

import copy
import typing as t

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_twitter_metrics.settings import config_errors
from tap_twitter_metrics.tap import TapTwitterMetrics
from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tests.tapruns import run_tap

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

    assert error.value.errors == ["**** is not of type 'string', 'null' in config['bearer_token']"]


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
