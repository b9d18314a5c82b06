"""The records a sync must emit, computed from the sandbox world the API serves."""

from __future__ import annotations

import re
import typing as t
from collections import defaultdict
from datetime import datetime, timedelta, timezone

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_twitter_metrics_sandbox.world import Media, Post, User, World

Expected = dict[str, dict[str, dict[str, t.Any]]]
_SURROGATE = re.compile("[\ud800-\udfff]")
PLAYBACK = tuple(f"playback_{q}_count" for q in (0, 25, 50, 75, 100))
ENGAGEMENT = (
    "impression_count",
    "like_count",
    "reply_count",
    "retweet_count",
    "url_link_clicks",
    "user_profile_clicks",
)


def private_cutoff(now: datetime | None = None) -> datetime:
    """The tap's 30-day line with its one-hour margin, rounded up to the second."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=30) + timedelta(hours=1)
    return cutoff.replace(microsecond=0) + timedelta(seconds=1)


def timeline_posts(
    world: World, user_id: str, *, since: datetime | None = None, exclude_retweets: bool = True
) -> list[Post]:
    """An account's posts a timeline sync reads, newest first."""
    return [
        post
        for post in world.timeline(user_id)[:3200]
        if not (exclude_retweets and post.is_retweet)
        and (since is None or post.created_at >= since)
    ]


def _columns(family: t.Mapping[str, int | None] | None, columns: Iterable[str]) -> dict[str, t.Any]:
    family = family or {}
    return {column: family.get(column) for column in columns}


def as_loaded(value: t.Any) -> t.Any:
    """A value as it reaches a table: text without NUL, a lone surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, list):
        return [as_loaded(item) for item in value]
    if isinstance(value, dict):
        return {key: as_loaded(item) for key, item in value.items()}
    return value


def _tweet(post: Post) -> dict[str, t.Any]:
    return {
        "id": post.id,
        "text": as_loaded(post.text),
        "created_at": post.created_at_api,
        "author_id": post.author_id,
        "conversation_id": post.conversation_id,
        "lang": post.lang,
        "in_reply_to_user_id": post.in_reply_to_user_id,
        "referenced_tweets": post.referenced_tweets,
        "media_keys": list(post.media_keys) or None,
        "edit_history_tweet_ids": [post.id],
        "possibly_sensitive": post.possibly_sensitive,
        "reply_settings": post.reply_settings,
        "entities": as_loaded(post.entities),
    }


def _user(user: User) -> dict[str, t.Any]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "created_at": user.created_at_api,
        **_columns(
            user.public_metrics,
            ("followers_count", "following_count", "tweet_count", "listed_count", "like_count"),
        ),
    }


def _media(media: Media) -> dict[str, t.Any]:
    return {
        "media_key": media.media_key,
        "type": media.type,
        "duration_ms": media.duration_ms,
        "url": media.url,
        "preview_image_url": media.preview_image_url,
        "width": media.width,
        "height": media.height,
        "alt_text": media.alt_text,
        "variants": [
            {
                "bit_rate": v.get("bit_rate"),
                "content_type": v.get("content_type"),
                "url": v.get("url"),
            }
            for v in media.variants
        ]
        if media.variants is not None
        else None,
    }


def expected_records(
    world: World,
    posts: Iterable[Post],
    *,
    private_ids: set[str],
    users: Iterable[str] = (),
) -> Expected:
    """Records for `posts`; those in `private_ids` carry their private families too."""
    out: Expected = defaultdict(dict)
    for user_id in users:
        out["users"][user_id] = _user(world.users[user_id])
    for post in posts:
        head = {"tweet_id": post.id, "author_id": post.author_id, "created_at": post.created_at_api}
        out["tweets"][post.id] = _tweet(post)
        public: dict[str, int | None] = dict(post.public_metrics)
        public.setdefault("retweet_count", public.pop("repost_count", None))
        out["tweet_public_metrics"][post.id] = head | _columns(
            public,
            (
                "retweet_count",
                "reply_count",
                "like_count",
                "quote_count",
                "bookmark_count",
                "impression_count",
            ),
        )
        private = post.id in private_ids
        if private:
            out["tweet_non_public_metrics"][post.id] = head | _columns(
                post.non_public_metrics,
                ("impression_count", "url_link_clicks", "user_profile_clicks", "engagements"),
            )
            out["tweet_organic_metrics"][post.id] = head | _columns(
                post.organic_metrics, ENGAGEMENT
            )
            if post.promoted_metrics:
                out["tweet_promoted_metrics"][post.id] = head | _columns(
                    post.promoted_metrics, ENGAGEMENT
                )
        for key in post.media_keys:
            media = world.media[key]
            out["media"].setdefault(key, _media(media))
            if not media.has_metrics:
                continue
            out["media_public_metrics"].setdefault(
                key, {"media_key": key} | _columns(media.public_metrics, ("view_count",))
            )
            if private and key not in out["media_non_public_metrics"]:
                out["media_non_public_metrics"][key] = {"media_key": key} | _columns(
                    media.non_public_metrics, PLAYBACK
                )
                out["media_organic_metrics"][key] = {"media_key": key} | _columns(
                    media.organic_metrics, (*PLAYBACK, "view_count")
                )
                if media.promoted_metrics:
                    out["media_promoted_metrics"][key] = {"media_key": key} | _columns(
                        media.promoted_metrics, (*PLAYBACK, "view_count")
                    )
    _null_poisoned(world, out)
    return out


def _null_poisoned(world: World, out: Expected) -> None:
    """The figures the sandbox serves as no count at all are loaded as null."""
    streams = {"users": world.poisoned_users, "tweet_public_metrics": world.poisoned_posts}
    for stream, poisoned in streams.items():
        for resource, (path, _) in poisoned.items():
            if resource in out[stream]:
                out[stream][resource][path.split(".")[-1]] = None


def without_observed_at(records: dict[str, dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """Records with the read time left out, for exact comparison."""
    return {
        key: {column: value for column, value in record.items() if column != "observed_at"}
        for key, record in records.items()
    }
