"""The tap's settings and the checks that refuse bad ones before any request."""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timezone

from singer_sdk import typing as th

OAUTH1_SETTINGS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
SECRET_SETTINGS = (
    "bearer_token",
    "consumer_secret",
    "access_token",
    "access_token_secret",
    "oauth2_client_secret",
    "oauth2_refresh_token",
)
_POST_ID = re.compile(r"[0-9]{1,19}")
_USERNAME = re.compile(r"@?[A-Za-z0-9_]{1,15}")
_API_URL = re.compile(r"https?://[^/\s?#]+(/[^\s?#]*)?")
EXCLUSIONS = ("retweets", "replies")

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


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 time; a time without zone is UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def config_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Every problem with the settings' values, each naming its setting."""
    errors: list[str] = []
    for setting, pattern, what in (
        ("user_ids", _POST_ID, "a numeric account id of 1 to 19 digits"),
        ("tweet_ids", _POST_ID, "a numeric post id of 1 to 19 digits"),
        ("usernames", _USERNAME, "a handle of 1 to 15 letters, digits or underscores"),
    ):
        values = config.get(setting) or []
        errors.extend(
            f"{setting}: {value!r} is not {what}"
            for value in values
            if not isinstance(value, str) or not pattern.fullmatch(value)
        )
    start_date = config.get("start_date")
    if start_date:
        try:
            parse_datetime(str(start_date))
        except ValueError:
            errors.append(f"start_date: {start_date!r} is not an ISO 8601 date or time")
    for setting, least in (
        ("lookback_days", 0),
        ("rate_limit_max_wait_seconds", 0),
        ("request_timeout", 1),
        ("max_retries", 1),
    ):
        value = config.get(setting)
        if isinstance(value, int) and value < least:
            what = "zero or more" if least == 0 else f"at least {least}"
            errors.append(f"{setting}: must be {what}, got {value}")
    errors.extend(
        f"exclude: {value!r} is not one of {', '.join(EXCLUSIONS)}"
        for value in config.get("exclude") or []
        if value not in EXCLUSIONS
    )
    api_url = config.get("api_url")
    if isinstance(api_url, str) and not _API_URL.fullmatch(api_url):
        errors.append(f"api_url: {api_url!r} is not an http:// or https:// base URL")
    errors.extend(credential_errors(config))
    return errors


def credential_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Incomplete credential sets, or none at all; never a credential's value."""
    errors = []
    oauth1_given = [name for name in OAUTH1_SETTINGS if config.get(name)]
    oauth1 = len(oauth1_given) == len(OAUTH1_SETTINGS)
    if oauth1_given and not oauth1:
        missing = ", ".join(name for name in OAUTH1_SETTINGS if name not in oauth1_given)
        errors.append(f"OAuth 1.0a needs all four settings; missing: {missing}")
    client_id = config.get("oauth2_client_id")
    oauth2_tokens = config.get("oauth2_refresh_token") or config.get("oauth2_token_file")
    oauth2_secrets = config.get("oauth2_refresh_token") or config.get("oauth2_client_secret")
    # With complete OAuth 1.0a credentials the OAuth 2.0 settings are not used.
    if not oauth1 and not client_id and oauth2_secrets:
        errors.append(
            "oauth2_client_id: missing; OAuth 2.0 needs the client id of the app with "
            "oauth2_refresh_token (or an oauth2_token_file written by tap-twitter-metrics-auth)"
        )
    if not oauth1 and client_id and not oauth2_tokens:
        errors.append(
            "oauth2_refresh_token: missing; OAuth 2.0 needs it (or an oauth2_token_file "
            "written by tap-twitter-metrics-auth) with oauth2_client_id"
        )
    oauth2 = client_id and oauth2_tokens
    if not errors and not (oauth1 or oauth2 or config.get("bearer_token")):
        errors.append(
            "No credentials: set bearer_token (public metrics), the four OAuth 1.0a settings "
            "(consumer_key, consumer_secret, access_token, access_token_secret) or "
            "oauth2_client_id with oauth2_refresh_token / oauth2_token_file."
        )
    return errors


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
