"""The tap's settings and the checks that refuse bad ones before any request."""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timezone

from singer_sdk import typing as th

from tap_twitter_metrics.credentials import credential_errors

_POST_ID = re.compile(r"[0-9]{1,19}")
_USERNAME = re.compile(r"@?[A-Za-z0-9_]{1,15}")
_API_URL = re.compile(r"https?://[^/\s?#]+(/[^\s?#]*)?")
EXCLUSIONS = ("retweets", "replies")
GRANULARITIES = ("daily", "hourly", "weekly")

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_url",
        th.StringType,
        default="https://api.x.com",
        description="Base URL of the X API; every path starts with /2/.",
    ),
    th.Property(
        "bearer_token",
        th.StringType,
        secret=True,
        description="App-only bearer token: public metrics of any post.",
    ),
    th.Property("consumer_key", th.StringType, description="OAuth 1.0a API key."),
    th.Property(
        "consumer_secret", th.StringType, secret=True, description="OAuth 1.0a API secret."
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        description="OAuth 1.0a access token of the account whose private metrics are read.",
    ),
    th.Property(
        "access_token_secret",
        th.StringType,
        secret=True,
        description="OAuth 1.0a access token secret.",
    ),
    th.Property("oauth2_client_id", th.StringType, description="OAuth 2.0 client id of the app."),
    th.Property(
        "oauth2_client_secret",
        th.StringType,
        secret=True,
        description="OAuth 2.0 client secret (confidential clients only).",
    ),
    th.Property(
        "oauth2_refresh_token",
        th.StringType,
        secret=True,
        description="OAuth 2.0 refresh token that seeds oauth2_token_file on the first run.",
    ),
    th.Property(
        "oauth2_token_file",
        th.StringType,
        description="File where the rotating OAuth 2.0 tokens are kept between runs.",
    ),
    th.Property(
        "user_ids",
        th.ArrayType(th.StringType),
        description="Numeric ids of the accounts whose timelines are read.",
    ),
    th.Property(
        "usernames",
        th.ArrayType(th.StringType),
        description="Handles of the accounts whose timelines are read.",
    ),
    th.Property(
        "tweet_ids",
        th.ArrayType(th.StringType),
        description="Posts looked up by id on every run.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Earliest post creation time to read when there is no state yet.",
    ),
    th.Property(
        "lookback_days",
        th.IntegerType,
        default=7,
        description="Days before the bookmark that are read again to refresh recent figures.",
    ),
    th.Property(
        "analytics_granularity",
        th.StringType,
        default="daily",
        allowed_values=list(GRANULARITIES),
        description="Bucket size of tweet_analytics and media_analytics: hourly, daily or "
        "weekly (media_analytics has no weekly buckets and uses daily).",
    ),
    th.Property(
        "analytics_days",
        th.IntegerType,
        default=7,
        description="Days of recent analytics buckets read again on every run: they still change.",
    ),
    th.Property(
        "analytics_post_age_days",
        th.IntegerType,
        default=30,
        description="Own posts younger than this have their analytics buckets refreshed on "
        "every run.",
    ),
    th.Property(
        "exclude",
        th.ArrayType(th.StringType),
        default=["retweets"],
        description="Timeline exclusions: retweets, replies.",
    ),
    th.Property(
        "rate_limit_max_wait_seconds",
        th.IntegerType,
        default=900,
        description="Longest wait for a rate-limit window before the run stops.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=5,
        description="Tries per request on server errors, timeouts and broken bodies.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType,
        default=60,
        description="Seconds to wait for one API response.",
    ),
).to_dict()
SECRET_SETTINGS = tuple(
    name for name, prop in CONFIG_SCHEMA["properties"].items() if prop.get("secret")
)


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 time; a time without zone is UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def config_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Every problem with the settings' values, each naming its setting."""
    return [
        *_id_errors(config),
        *_date_errors(config),
        *_range_errors(config),
        *(
            f"exclude: {value!r} is not one of {', '.join(EXCLUSIONS)}"
            for value in config.get("exclude") or []
            if value not in EXCLUSIONS
        ),
        *_api_url_errors(config),
        *credential_errors(config),
    ]


def _id_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    errors: list[str] = []
    for setting, pattern, what in (
        ("user_ids", _POST_ID, "a numeric account id of 1 to 19 digits"),
        ("tweet_ids", _POST_ID, "a numeric post id of 1 to 19 digits"),
        ("usernames", _USERNAME, "a handle of 1 to 15 letters, digits or underscores"),
    ):
        errors.extend(
            f"{setting}: {value!r} is not {what}"
            for value in config.get(setting) or []
            if not isinstance(value, str) or not pattern.fullmatch(value)
        )
    return errors


def _date_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    start_date = config.get("start_date")
    if start_date:
        try:
            parse_datetime(str(start_date))
        except ValueError:
            return [f"start_date: {start_date!r} is not an ISO 8601 date or time"]
    return []


def _range_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    errors = []
    for setting, least in (
        ("lookback_days", 0),
        ("analytics_days", 0),
        ("analytics_post_age_days", 1),
        ("rate_limit_max_wait_seconds", 0),
        ("request_timeout", 1),
        ("max_retries", 1),
    ):
        value = config.get(setting)
        if isinstance(value, int) and value < least:
            what = "zero or more" if least == 0 else f"at least {least}"
            errors.append(f"{setting}: must be {what}, got {value}")
    return errors


def _api_url_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    api_url = config.get("api_url")
    if isinstance(api_url, str) and not _API_URL.fullmatch(api_url):
        return [f"api_url: {api_url!r} is not an http:// or https:// base URL"]
    return []


def redact_secrets(messages: t.Iterable[str], config: t.Mapping[str, t.Any]) -> list[str]:
    """`messages` with every configured secret value replaced by `****`.

    JSON Schema errors quote the offending value, e.g. a token given as a number.
    """
    secrets = sorted(
        {str(config[name]) for name in SECRET_SETTINGS if config.get(name) not in (None, "")},
        key=len,
        reverse=True,
    )
    redacted = []
    for message in messages:
        text = message
        for secret in secrets:
            text = text.replace(secret, "****")
        redacted.append(text)
    return redacted
