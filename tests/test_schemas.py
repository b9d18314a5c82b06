"""The stream schemas: one file per stream, the documented columns, warehouse-friendly types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]

from tap_twitter_metrics.catalogue import STREAM_NAMES, load_schema
from tap_twitter_metrics.records import STREAM_COLUMNS

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "tap_twitter_metrics" / "schemas"

TWEET_KEYS = ["tweet_id", "author_id", "created_at", "observed_at"]
ENGAGEMENT = [
    "impression_count",
    "like_count",
    "reply_count",
    "retweet_count",
    "url_link_clicks",
    "user_profile_clicks",
]
PLAYBACK = [
    "playback_0_count",
    "playback_25_count",
    "playback_50_count",
    "playback_75_count",
    "playback_100_count",
]

# Written out from the design document rather than derived from the code under test.
DOCUMENTED_COLUMNS: dict[str, list[str]] = {
    "users": [
        "id",
        "username",
        "name",
        "created_at",
        "followers_count",
        "following_count",
        "tweet_count",
        "listed_count",
        "like_count",
        "observed_at",
    ],
    "tweets": [
        "id",
        "text",
        "created_at",
        "author_id",
        "conversation_id",
        "lang",
        "in_reply_to_user_id",
        "referenced_tweets",
        "media_keys",
        "edit_history_tweet_ids",
        "possibly_sensitive",
        "reply_settings",
        "entities",
    ],
    "media": [
        "media_key",
        "type",
        "duration_ms",
        "url",
        "preview_image_url",
        "width",
        "height",
        "alt_text",
        "variants",
    ],
    "tweet_public_metrics": [
        *TWEET_KEYS,
        "retweet_count",
        "reply_count",
        "like_count",
        "quote_count",
        "bookmark_count",
        "impression_count",
    ],
    "tweet_non_public_metrics": [
        *TWEET_KEYS,
        "impression_count",
        "url_link_clicks",
        "user_profile_clicks",
        "engagements",
    ],
    "tweet_organic_metrics": [*TWEET_KEYS, *ENGAGEMENT],
    "tweet_promoted_metrics": [*TWEET_KEYS, *ENGAGEMENT],
    "media_public_metrics": ["media_key", "observed_at", "view_count"],
    "media_non_public_metrics": ["media_key", "observed_at", *PLAYBACK],
    "media_organic_metrics": ["media_key", "observed_at", *PLAYBACK, "view_count"],
    "media_promoted_metrics": ["media_key", "observed_at", *PLAYBACK, "view_count"],
    "tweet_metrics_daily": [
        "tweet_id",
        "snapshot_date",
        "author_id",
        "created_at",
        "observed_at",
        "public_retweet_count",
        "public_reply_count",
        "public_like_count",
        "public_quote_count",
        "public_bookmark_count",
        "public_impression_count",
        "non_public_impression_count",
        "non_public_url_link_clicks",
        "non_public_user_profile_clicks",
        "non_public_engagements",
        *(f"organic_{name}" for name in ENGAGEMENT),
        *(f"promoted_{name}" for name in ENGAGEMENT),
    ],
    "media_metrics_daily": [
        "media_key",
        "snapshot_date",
        "observed_at",
        "public_view_count",
        *(f"non_public_{name}" for name in PLAYBACK),
        *(f"organic_{name}" for name in (*PLAYBACK, "view_count")),
        *(f"promoted_{name}" for name in (*PLAYBACK, "view_count")),
    ],
    # X's analytics field names, as the API documentation lists them, then three keys its
    # examples show.
    "tweet_analytics": [
        "tweet_id",
        "timestamp",
        "granularity",
        "author_id",
        "observed_at",
        "app_install_attempts",
        "app_opens",
        "bookmarks",
        "detail_expands",
        "email_tweet",
        "engagements",
        "follows",
        "hashtag_clicks",
        "impressions",
        "likes",
        "media_views",
        "permalink_clicks",
        "quote_tweets",
        "replies",
        "retweets",
        "shares",
        "unfollows",
        "unlikes",
        "url_clicks",
        "user_profile_clicks",
        "link_clicks",
        "media_engagements",
        "profile_visits",
    ],
    "media_analytics": [
        "media_key",
        "timestamp",
        "granularity",
        "author_id",
        "observed_at",
        "cta_url_clicks",
        "cta_watch_clicks",
        "play_from_tap",
        "playback25",
        "playback50",
        "playback75",
        "playback_complete",
        "playback_start",
        "video_views",
        "watch_time_ms",
    ],
    "api_usage": [
        "client_app_id",
        "date",
        "project_id",
        "posts_consumed",
        "project_cap",
        "project_usage",
        "cap_reset_day",
        "observed_at",
    ],
    "sync_runs": [
        "run_id",
        "started_at",
        "ended_at",
        "accounts",
        "requests",
        "retries",
        "waits",
        "waited_seconds",
        "own_posts_read",
        "other_posts_read",
        "accounts_read",
        "analytics_resources_read",
        "estimated_cost_usd",
        "stopped_at_cap",
    ],
}
PRIMARY_KEYS = {
    "users": ["id"],
    "tweets": ["id"],
    "media": ["media_key"],
    "tweet_metrics_daily": ["tweet_id", "snapshot_date"],
    "media_metrics_daily": ["media_key", "snapshot_date"],
    "tweet_analytics": ["tweet_id", "timestamp", "granularity"],
    "media_analytics": ["media_key", "timestamp", "granularity"],
    "api_usage": ["client_app_id", "date"],
    "sync_runs": ["run_id"],
    **{name: ["tweet_id"] for name in DOCUMENTED_COLUMNS if name.endswith("metrics")},
}
PRIMARY_KEYS.update(
    {
        name: ["media_key"]
        for name in DOCUMENTED_COLUMNS
        if name.startswith("media_") and name.endswith("metrics")
    }
)
ID_COLUMNS = {
    "id",
    "tweet_id",
    "author_id",
    "conversation_id",
    "in_reply_to_user_id",
    "media_key",
}
TIME_COLUMNS = {"created_at", "observed_at", "timestamp"}
SCALAR_TYPES = {"string", "integer", "boolean", "number"}


def subschemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema and every schema nested in it through properties and items."""
    found = [schema]
    for child in schema.get("properties", {}).values():
        found.extend(subschemas(child))
    if "items" in schema:
        found.extend(subschemas(schema["items"]))
    return found


def test_one_schema_file_per_stream() -> None:
    assert sorted(path.stem for path in SCHEMA_DIR.glob("*.json")) == sorted(STREAM_NAMES)
    assert list(STREAM_NAMES) == list(DOCUMENTED_COLUMNS)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_schema_columns_are_the_documented_ones(stream: str) -> None:
    schema = load_schema(stream)
    assert list(schema["properties"]) == DOCUMENTED_COLUMNS[stream]
    assert list(STREAM_COLUMNS[stream]) == DOCUMENTED_COLUMNS[stream]
    assert schema == json.loads((SCHEMA_DIR / f"{stream}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_schema_is_strict(stream: str) -> None:
    schema = load_schema(stream)
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    required = PRIMARY_KEYS[stream]
    assert schema["required"] == required
    assert all(schema["properties"][column]["type"] == "string" for column in required)
    for column, prop in schema["properties"].items():
        if column in ID_COLUMNS:
            assert prop["type"] in ("string", ["string", "null"]), column
        elif column in TIME_COLUMNS:
            assert prop["format"] == "date-time", column
            assert prop["type"] in ("string", ["string", "null"]), column
        elif column.endswith(("_count", "_clicks", "engagements")) or column in {
            "duration_ms",
            "width",
            "height",
        }:
            assert prop == {"type": ["integer", "null"]}, column
    if stream != "users":
        # Every metric row and every post carries the time it was created or observed.
        times = [c for c in ("created_at", "observed_at") if c in schema["properties"]]
        assert all(schema["properties"][c]["type"] == "string" for c in times)
    if stream == "tweets":
        assert schema["properties"]["entities"] == {"type": ["object", "null"]}
        assert schema["properties"]["media_keys"]["items"] == {"type": "string"}


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_warehouse_contract(stream: str) -> None:
    """Snowflake and Postgres targets need one type per column (plus null) and unique names."""
    schema = load_schema(stream)
    for sub in subschemas(schema):
        types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        non_null = [t for t in types if t != "null"]
        assert len(non_null) == 1, sub
        assert len(types) == len(set(types)), sub
        assert "anyOf" not in sub
        assert "oneOf" not in sub
        assert "allOf" not in sub
        if non_null[0] in SCALAR_TYPES:
            assert "properties" not in sub
            assert "items" not in sub
    for sub in subschemas(schema):
        names = list(sub.get("properties", {}))
        assert len({name.lower() for name in names}) == len(names)
        assert all(0 < len(name) < 63 for name in names)
        assert all(name.isidentifier() and name == name.lower() for name in names)


def test_load_schema_returns_a_fresh_copy() -> None:
    first = load_schema("tweets")
    first["properties"].clear()
    assert list(load_schema("tweets")["properties"]) == DOCUMENTED_COLUMNS["tweets"]


def test_load_schema_rejects_unknown_streams() -> None:
    with pytest.raises(ValueError, match=r"unknown stream '\.\./pyproject'"):
        load_schema("../pyproject")
