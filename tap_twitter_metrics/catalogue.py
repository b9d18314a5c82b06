"""The stream catalogue: every stream the tap offers, one row each.

A row says what a stream is called, its key, which part of a parsed response feeds it, which
metric family of the API it carries and whether it needs user-context credentials. Its
schema is `schemas/<name>.json`, whose properties are the stream's columns, in order. The
stream classes, discovery, the parser's column lists and the tests all read this table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib.resources import files
from typing import Any

from singer_sdk.schema.source import SchemaDirectory

SCHEMAS = SchemaDirectory(files(__package__).joinpath("schemas"))


class Part(str, Enum):
    """The part of a parsed response (`records.Page`) a stream's records come from."""

    USERS = "users"
    TWEETS = "tweets"
    MEDIA = "media"
    TWEET_METRICS = "tweet_metrics"
    MEDIA_METRICS = "media_metrics"
    TWEET_DAILY = "tweet_daily"
    """Every family of a post the page holds, as one row per post and UTC day."""
    MEDIA_DAILY = "media_daily"
    TWEET_ANALYTICS = "tweet_analytics"
    """Not a part of the posts' pages: read from /2/tweets/analytics."""
    MEDIA_ANALYTICS = "media_analytics"
    USAGE = "usage"
    """Not a part of the posts' pages: read from /2/usage/tweets with the app's bearer token."""
    RUNS = "runs"
    """Not read from the API: one record per run, of what the run did."""


@dataclass(frozen=True)
class StreamSpec:
    """One row of the catalogue."""

    name: str
    key: tuple[str, ...]
    part: Part
    family: str | None
    """The metric family's key in API objects (`organic_metrics`), for metric streams."""
    user_context: bool
    """Only OAuth 1.0a or OAuth 2.0 user context may read it: off unless selected."""
    description: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The schema's properties, in schema order: exactly the keys of each record."""
        return schema_columns(self.name)


# fmt: off
CATALOGUE: tuple[StreamSpec, ...] = (
    StreamSpec("users", ("id",), Part.USERS, None, False,
               "The synced accounts and the authors of looked-up posts."),
    StreamSpec("tweets", ("id",), Part.TWEETS, None, False,
               "Posts of the synced accounts and the looked-up posts."),
    StreamSpec("media", ("media_key",), Part.MEDIA, None, False,
               "Photos, videos and GIFs attached to the posts, once per media key."),
    StreamSpec("tweet_public_metrics", ("tweet_id",), Part.TWEET_METRICS, "public_metrics", False,
               "Retweets, replies, likes, quotes, bookmarks and impressions of every post."),
    StreamSpec("tweet_non_public_metrics", ("tweet_id",), Part.TWEET_METRICS, "non_public_metrics",
               True, "Impressions, link and profile clicks of the account's recent posts."),
    StreamSpec("tweet_organic_metrics", ("tweet_id",), Part.TWEET_METRICS, "organic_metrics", True,
               "Organic figures of the account's posts of the last 30 days."),
    StreamSpec("tweet_promoted_metrics", ("tweet_id",), Part.TWEET_METRICS, "promoted_metrics",
               True, "Paid figures of the account's promoted posts of the last 30 days."),
    StreamSpec("media_public_metrics", ("media_key",), Part.MEDIA_METRICS, "public_metrics", False,
               "Video views, a total over every post that carries the video."),
    StreamSpec("media_non_public_metrics", ("media_key",), Part.MEDIA_METRICS,
               "non_public_metrics", True,
               "Playback quartiles of the account's videos of the last 30 days."),
    StreamSpec("media_organic_metrics", ("media_key",), Part.MEDIA_METRICS, "organic_metrics", True,
               "Organic playback quartiles and views of the account's recent videos."),
    StreamSpec("media_promoted_metrics", ("media_key",), Part.MEDIA_METRICS, "promoted_metrics",
               True, "Paid playback quartiles and views of the account's recent promoted videos."),
    StreamSpec("tweet_metrics_daily", ("tweet_id", "snapshot_date"), Part.TWEET_DAILY, None,
               False, "Every family read of each post, one row per post and UTC day."),
    StreamSpec("media_metrics_daily", ("media_key", "snapshot_date"), Part.MEDIA_DAILY, None,
               False, "Every family read of each video, one row per video and UTC day."),
    StreamSpec("tweet_analytics", ("tweet_id", "timestamp"), Part.TWEET_ANALYTICS, None, True,
               "The account's posts' metrics per hour, day or week, from X's analytics."),
    StreamSpec("media_analytics", ("media_key", "timestamp"), Part.MEDIA_ANALYTICS, None, True,
               "The account's videos' metrics per hour or day, from X's analytics."),
    StreamSpec("api_usage", ("client_app_id", "date"), Part.USAGE, None, False,
               "Posts X counted per app and UTC day, and the project's monthly cap, from X's "
               "usage endpoint (needs bearer_token)."),
    StreamSpec("sync_runs", ("run_id",), Part.RUNS, None, False,
               "One row per run: accounts, requests, retries, waits, resources read and their "
               "estimated charge."),
)
# fmt: on

STREAMS: dict[str, StreamSpec] = {spec.name: spec for spec in CATALOGUE}
STREAM_NAMES: tuple[str, ...] = tuple(STREAMS)
USER_CONTEXT_STREAMS = frozenset(spec.name for spec in CATALOGUE if spec.user_context)


def load_schema(stream_name: str) -> dict[str, Any]:
    """A fresh copy of the JSON Schema of a catalogued stream."""
    if stream_name not in STREAMS:
        msg = f"unknown stream {stream_name!r}; streams: {', '.join(STREAM_NAMES)}"
        raise ValueError(msg)
    schema: dict[str, Any] = json.loads(json.dumps(SCHEMAS.get_schema(stream_name)))
    return schema


@cache
def schema_columns(stream_name: str) -> tuple[str, ...]:
    """The properties of a stream's schema, in order."""
    return tuple(load_schema(stream_name)["properties"])


def metric_streams(part: Part) -> dict[str, StreamSpec]:
    """The metric streams fed by `part`, by name."""
    return {spec.name: spec for spec in CATALOGUE if spec.part is part}
