"""The tap's settings and the checks that refuse bad ones before any request."""

from __future__ import annotations

import decimal
import difflib
import json
import numbers
import re
import typing as t
from datetime import datetime, timezone

from singer_sdk import typing as th
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR

from tap_twitter_metrics.billing import PRICES
from tap_twitter_metrics.credentials import credential_errors

# A post or account id: X's ids are numeric strings of up to 19 digits.
POST_ID = re.compile(r"[0-9]{1,19}")
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
    th.Property("consumer_key", th.StringType, secret=True, description="OAuth 1.0a API key."),
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
        description="File where the rotating OAuth 2.0 tokens are kept between runs; ~ and "
        "$VARIABLES are expanded.",
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
        description="Earliest post creation time to read when there is no state yet; not in "
        "the future.",
    ),
    th.Property(
        "lookback_days",
        th.IntegerType,
        default=7,
        description="Days before the bookmark that are read again to refresh recent figures "
        "(0 to 3650).",
    ),
    th.Property(
        "refresh_ages_days",
        th.ArrayType(th.IntegerType),
        description="Instead of lookback_days: the ages in days at which a post's figures are "
        "read again, e.g. [1, 7, 30]; each run reads the posts that passed one of these ages "
        "since the last run (1 to 3650 each).",
    ),
    th.Property(
        "max_billed_reads_per_run",
        th.IntegerType,
        description="Most resources (posts, accounts, analytics resources) one run reads; the "
        "run stops before passing it and the next run resumes (1 to 1000000000).",
    ),
    th.Property(
        "max_cost_per_run_usd",
        th.NumberType,
        description="Most USD one run's reads may cost at the price_per_* settings; the run stops "
        "before passing it and the next run resumes (0.01 to 1000000).",
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
        description="Days of recent analytics buckets read again on every run: they still change "
        "(0 to 3650).",
    ),
    th.Property(
        "analytics_post_age_days",
        th.IntegerType,
        default=30,
        description="Own posts younger than this have their analytics buckets refreshed on "
        "every run (1 to 3650).",
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
        description="Longest wait for a rate-limit window before the run stops (0 to 86400).",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=5,
        description="Tries per request on server errors, timeouts and broken bodies (1 to 20).",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType,
        default=60,
        description="Seconds to wait for one API response (1 to 600).",
    ),
    *(
        th.Property(
            setting,
            th.NumberType,
            default=price,
            description=f"USD X bills for {what}, for the run's cost estimate.",
        )
        for setting, (price, what) in PRICES.items()
    ),
).to_dict()
SECRET_SETTINGS = tuple(
    name for name, prop in CONFIG_SCHEMA["properties"].items() if prop.get("secret")
)


# Beyond these a value only hangs a run, overflows date arithmetic or bills whole timelines
# again on every run (README, "Bad settings").
RANGES = {
    "lookback_days": (0, 3650),
    "analytics_days": (0, 3650),
    "analytics_post_age_days": (1, 3650),
    "rate_limit_max_wait_seconds": (0, 86400),
    "request_timeout": (1, 600),
    "max_retries": (1, 20),
    "max_billed_reads_per_run": (1, 1_000_000_000),
    "max_cost_per_run_usd": (0.01, 1_000_000),
    **dict.fromkeys(PRICES, (0, 1)),
}
AGE_RANGE = (1, 3650)
_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 time; a time without zone is UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def json_type(value: object) -> str:
    """The JSON type of a value, as a message names it: never the value itself."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, numbers.Number):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _shown(value: object, *, secret: bool) -> str:
    """A value as a message may show it: a secret, a list or an object only by its type."""
    if secret or isinstance(value, (list, dict)) or value is None or isinstance(value, bool):
        return json_type(value)
    return repr(value) if isinstance(value, str) else str(value)


def unknown_settings(config: t.Mapping[str, t.Any], known: t.Collection[str]) -> list[str]:
    """One warning per setting the tap does not know, with the closest known one."""
    lowered = {name.lower(): name for name in known}
    warnings = []
    for key in config:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key).lower(), lowered, n=1)
        hint = f"; did you mean {lowered[close[0]]!r}?" if close else ""
        warnings.append(f"Unknown setting {key!r} is ignored{hint}")
    return warnings


def schema_errors(config: t.Mapping[str, t.Any], schema: dict[str, t.Any]) -> list[str]:
    """Every JSON Schema error of the settings, each naming its setting.

    A secret setting's value is never shown, whatever its type: only the type it was given.
    """
    validator = DEFAULT_JSONSCHEMA_VALIDATOR(schema)
    return [_schema_error(error) for error in validator.iter_errors(dict(config))]


def _schema_error(error: t.Any) -> str:  # a jsonschema ValidationError (no type stubs)
    path = list(error.absolute_path)
    if not path:
        # Only a missing property is named safely; other messages would quote the config.
        return error.message if error.validator == "required" else "config: is not valid"
    where = str(path[0]) + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in path[1:]
    )
    secret = path[0] in SECRET_SETTINGS
    shown = _shown(error.instance, secret=secret)
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else []
        names = [
            _JSON_TYPES.get(str(name), str(name)) for name in wanted or [error.validator_value]
        ]
        expected = " or ".join(name for name in names if name != "null")
        return f"{where}: must be {expected}, got {shown}"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        allowed = ", ".join(str(option) for option in error.validator_value)
        return f"{where}: must be one of {allowed}, got {shown}"
    return f"{where}: is not valid ({error.validator})" if secret else f"{where}: {error.message}"


def config_errors(config: t.Mapping[str, t.Any], now: datetime | None = None) -> list[str]:
    """Every problem with the settings' values, each naming its setting.

    A value of the wrong type is left to `schema_errors`, which names it once.
    """
    return [
        *_id_errors(config),
        *_date_errors(config, now or datetime.now(timezone.utc)),
        *_range_errors(config),
        *(
            f"exclude: {value!r} is not one of {', '.join(EXCLUSIONS)}"
            for value in _strings(config, "exclude")
            if value not in EXCLUSIONS
        ),
        *_age_errors(config),
        *_api_url_errors(config),
        *credential_errors(config),
    ]


def _strings(config: t.Mapping[str, t.Any], setting: str) -> list[str]:
    values = config.get(setting)
    if not isinstance(values, list):
        return []
    return [value for value in values if isinstance(value, str)]


def _id_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    errors: list[str] = []
    for setting, pattern, what in (
        ("user_ids", POST_ID, "a numeric account id of 1 to 19 digits"),
        ("tweet_ids", POST_ID, "a numeric post id of 1 to 19 digits"),
        ("usernames", _USERNAME, "a handle of 1 to 15 letters, digits or underscores"),
    ):
        errors.extend(
            f"{setting}: {value!r} is not {what}"
            for value in _strings(config, setting)
            if not pattern.fullmatch(value)
        )
    return errors


def _date_errors(config: t.Mapping[str, t.Any], now: datetime) -> list[str]:
    start_date = config.get("start_date")
    if not isinstance(start_date, str) or not start_date:
        return []
    try:
        start = parse_datetime(start_date)
    except ValueError:
        return [f"start_date: {start_date!r} is not an ISO 8601 date or time"]
    if start > now:
        return [
            f"start_date: {start_date!r} is in the future; X refuses a start_time after now, "
            "so the run would read nothing"
        ]
    return []


def _range_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    errors = []
    for setting, (least, most) in RANGES.items():
        value = config.get(setting)
        # Decimal too: the SDK reads a config file's numbers as Decimal.
        if not isinstance(value, (int, float, decimal.Decimal)) or isinstance(value, bool):
            continue
        if value < least:
            what = "zero or more" if least == 0 else f"at least {least}"
            errors.append(f"{setting}: must be {what}, got {value}")
        elif value > most:
            errors.append(f"{setting}: must be at most {most}, got {value}")
    return errors


def _age_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    ages = config.get("refresh_ages_days")
    if not isinstance(ages, list):
        return []
    least, most = AGE_RANGE
    return [
        f"refresh_ages_days: {age} is not between {least} and {most} days"
        for age in ages
        if isinstance(age, int) and not least <= age <= most
    ]


def _api_url_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    api_url = config.get("api_url")
    if not isinstance(api_url, str):
        return []
    if not _API_URL.fullmatch(api_url):
        return [f"api_url: {api_url!r} is not an http:// or https:// base URL"]
    base = api_url.rstrip("/")
    if base.endswith("/2"):
        return [f"api_url: {api_url!r} must be the base URL without /2, e.g. {base[:-2]}"]
    return []
