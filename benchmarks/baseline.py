"""The practical ceiling: read the same API pages with `requests`, print RECORD lines.

A plain loop with nothing between the HTTP response and `json.dumps`: no SDK, no
validation, no type conformance. It replays a list of requests (the ones the tap made,
taken from the sandbox's request log), projects every response onto the same stream
columns the tap emits (media, users and media metrics once per key; daily snapshots: every
family of a post, or of a video once per UTC day, side by side; analytics: one record per
resource and time bucket) and prints one Singer RECORD message per record for the selected
streams.

    python benchmarks/baseline.py --config config.json --requests requests.json \
        --streams tweets,tweet_public_metrics > records.jsonl

`--config` is the tap's config file (api_url plus OAuth 1.0a keys or a bearer_token);
`--requests` a JSON list of `[path, {param: value}]` pairs, or `[path, {param: value},
false]` for a request whose response feeds no stream (the analytics streams' reads of the
own timeline, made only to learn the own posts' ids): it is sent, and nothing is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t
from datetime import datetime, timezone
from pathlib import Path

import requests
from requests_oauthlib import OAuth1

Record = dict[str, t.Any]

TWEET_FAMILIES = {
    "tweet_public_metrics": (
        "public_metrics",
        (
            "retweet_count",
            "reply_count",
            "like_count",
            "quote_count",
            "bookmark_count",
            "impression_count",
        ),
    ),
    "tweet_non_public_metrics": (
        "non_public_metrics",
        ("impression_count", "url_link_clicks", "user_profile_clicks", "engagements"),
    ),
    "tweet_organic_metrics": (
        "organic_metrics",
        (
            "impression_count",
            "like_count",
            "reply_count",
            "retweet_count",
            "url_link_clicks",
            "user_profile_clicks",
        ),
    ),
    "tweet_promoted_metrics": (
        "promoted_metrics",
        (
            "impression_count",
            "like_count",
            "reply_count",
            "retweet_count",
            "url_link_clicks",
            "user_profile_clicks",
        ),
    ),
}
PLAYBACK = tuple(f"playback_{share}_count" for share in (0, 25, 50, 75, 100))
MEDIA_FAMILIES = {
    "media_public_metrics": ("public_metrics", ("view_count",)),
    "media_non_public_metrics": ("non_public_metrics", PLAYBACK),
    "media_organic_metrics": ("organic_metrics", (*PLAYBACK, "view_count")),
    "media_promoted_metrics": ("promoted_metrics", (*PLAYBACK, "view_count")),
}


def daily_columns(
    head: tuple[str, ...], families: dict[str, tuple[str, tuple[str, ...]]]
) -> tuple[str, ...]:
    """A daily snapshot's columns: the head, then each family's, prefixed with its name."""
    return (
        *head,
        *(
            f"{family.removesuffix('_metrics')}_{column}"
            for family, columns in families.values()
            for column in columns
        ),
    )


TWEET_DAILY = daily_columns(
    ("tweet_id", "snapshot_date", "author_id", "created_at", "observed_at"), TWEET_FAMILIES
)
MEDIA_DAILY = daily_columns(("media_key", "snapshot_date", "observed_at"), MEDIA_FAMILIES)
TWEET_ANALYTICS = (
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
)
MEDIA_ANALYTICS = (
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
)
# Analytics path -> (stream, key column, metric columns).
ANALYTICS = {
    "/2/tweets/analytics": ("tweet_analytics", "tweet_id", TWEET_ANALYTICS),
    "/2/media/analytics": ("media_analytics", "media_key", MEDIA_ANALYTICS),
}
USER_METRICS = ("followers_count", "following_count", "tweet_count", "listed_count", "like_count")


def session_for(config: dict[str, t.Any]) -> requests.Session:
    """A session authenticated like the tap: OAuth 1.0a user context or a bearer token."""
    session = requests.Session()
    if config.get("consumer_key"):
        session.auth = OAuth1(
            config["consumer_key"],
            config["consumer_secret"],
            config["access_token"],
            config["access_token_secret"],
        )
    else:
        session.headers["Authorization"] = f"Bearer {config['bearer_token']}"
    return session


def tweet_record(post: Record) -> Record:
    attachments = post.get("attachments") or {}
    return {
        "id": post["id"],
        "text": post.get("text"),
        "created_at": post.get("created_at"),
        "author_id": post.get("author_id"),
        "conversation_id": post.get("conversation_id"),
        "lang": post.get("lang"),
        "in_reply_to_user_id": post.get("in_reply_to_user_id"),
        "referenced_tweets": post.get("referenced_tweets"),
        "media_keys": attachments.get("media_keys"),
        "edit_history_tweet_ids": post.get("edit_history_tweet_ids"),
        "possibly_sensitive": post.get("possibly_sensitive"),
        "reply_settings": post.get("reply_settings"),
        "entities": post.get("entities"),
    }


def media_record(media: Record) -> Record:
    variants = media.get("variants")
    return {
        "media_key": media["media_key"],
        "type": media.get("type"),
        "duration_ms": media.get("duration_ms"),
        "url": media.get("url"),
        "preview_image_url": media.get("preview_image_url"),
        "width": media.get("width"),
        "height": media.get("height"),
        "alt_text": media.get("alt_text"),
        "variants": None
        if variants is None
        else [
            {
                "bit_rate": v.get("bit_rate"),
                "content_type": v.get("content_type"),
                "url": v.get("url"),
            }
            for v in variants
        ],
    }


def user_record(user: Record, observed_at: str) -> Record:
    metrics = user.get("public_metrics") or {}
    record = {
        "id": user["id"],
        "username": user.get("username"),
        "name": user.get("name"),
        "created_at": user.get("created_at"),
    }
    record.update({column: metrics.get(column) for column in USER_METRICS})
    record["observed_at"] = observed_at
    return record


class Replay:
    """Turns response bodies into RECORD lines on stdout."""

    def __init__(self, streams: set[str]) -> None:
        self.streams = streams
        self.seen: dict[str, set[str]] = {}
        self.write = sys.stdout.write
        self.tweet_daily = "tweet_metrics_daily" in streams
        self.media_daily = "media_metrics_daily" in streams
        self.own_id: str | None = None

    def emit(self, stream: str, record: Record, extracted: str) -> None:
        if stream in self.streams:
            message = {
                "type": "RECORD",
                "stream": stream,
                "record": record,
                "time_extracted": extracted,
            }
            self.write(json.dumps(message, separators=(",", ":")) + "\n")

    def once(self, stream: str, key: str) -> bool:
        seen = self.seen.setdefault(stream, set())
        if key in seen:
            return False
        seen.add(key)
        return True

    def body(self, path: str, params: dict[str, str], body: Record) -> None:
        now = datetime.now(timezone.utc)
        observed_at = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        extracted = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        data = body.get("data") or []
        if isinstance(data, dict):
            data = [data]
        if path in ANALYTICS:
            self.analytics(path, params, data, observed_at, extracted)
            return
        includes = body.get("includes") or {}
        is_users = path.startswith("/2/users") and not path.endswith("/tweets")
        users = data if is_users else includes.get("users") or []
        if path == "/2/users/me" and users:
            self.own_id = users[0]["id"]
        for user in users:
            if self.once("users", user["id"]):
                self.emit("users", user_record(user, observed_at), extracted)
        if not is_users:
            self.media(includes.get("media") or [], observed_at, extracted)
            self.posts(data, observed_at, extracted)

    def media(self, items: list[Record], observed_at: str, extracted: str) -> None:
        for media in items:
            key = media["media_key"]
            if self.once("media", key):
                self.emit("media", media_record(media), extracted)
            daily: Record | None = None
            for stream, (family, columns) in MEDIA_FAMILIES.items():
                values = media.get(family)
                if not values:
                    continue
                if self.once(stream, key):
                    record = {"media_key": key, "observed_at": observed_at}
                    record.update({column: values.get(column) for column in columns})
                    self.emit(stream, record, extracted)
                if self.media_daily:
                    if daily is None:
                        daily = dict.fromkeys(MEDIA_DAILY)
                        daily.update(
                            media_key=key, snapshot_date=observed_at[:10], observed_at=observed_at
                        )
                    prefix = family.removesuffix("_metrics")
                    daily.update({f"{prefix}_{column}": values.get(column) for column in columns})
            if daily is not None and self.once("media_metrics_daily", key + daily["snapshot_date"]):
                self.emit("media_metrics_daily", daily, extracted)

    def posts(self, data: list[Record], observed_at: str, extracted: str) -> None:
        for post in data:
            daily: Record | None = None
            for stream, (family, columns) in TWEET_FAMILIES.items():
                values = post.get(family)
                if not values:
                    continue
                head = {
                    "tweet_id": post["id"],
                    "author_id": post.get("author_id"),
                    "created_at": post.get("created_at"),
                    "observed_at": observed_at,
                }
                record = {**head, **{column: values.get(column) for column in columns}}
                self.emit(stream, record, extracted)
                if self.tweet_daily:
                    if daily is None:
                        daily = dict.fromkeys(TWEET_DAILY)
                        daily.update(head, snapshot_date=observed_at[:10])
                    prefix = family.removesuffix("_metrics")
                    daily.update({f"{prefix}_{column}": values.get(column) for column in columns})
            if daily is not None:
                self.emit("tweet_metrics_daily", daily, extracted)
            self.emit("tweets", tweet_record(post), extracted)

    def analytics(
        self,
        path: str,
        params: dict[str, str],
        data: list[Record],
        observed_at: str,
        extracted: str,
    ) -> None:
        stream, key, columns = ANALYTICS[path]
        head = {
            "granularity": params.get("granularity"),
            "author_id": self.own_id,
            "observed_at": observed_at,
        }
        for item in data:
            ident = item.get("id", item.get("media_key"))
            for bucket in item.get("timestamped_metrics") or ():
                values = bucket.get("metrics") or {}
                record = {key: ident, "timestamp": bucket.get("timestamp"), **head}
                record.update({column: values.get(column) for column in columns})
                self.emit(stream, record, extracted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Replay API requests with plain `requests` and print RECORD lines."
    )
    parser.add_argument("--config", type=Path, required=True, help="the tap's config file")
    parser.add_argument("--requests", type=Path, required=True, help="[[path, params], ...]")
    parser.add_argument("--streams", required=True, help="comma-separated stream names")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    calls = json.loads(args.requests.read_text())
    api_url = config["api_url"].rstrip("/")
    session = session_for(config)
    replay = Replay(set(args.streams.split(",")))
    for path, params, *feeds in calls:
        response = session.get(api_url + path, params=params, timeout=60)
        response.raise_for_status()
        body = response.json()
        if feeds != [False]:
            replay.body(path, params, body)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
