"""Analytics figures of own posts and videos: time buckets that add up to the served totals.

A resource's figures accrue along a cumulative curve. What it had when the world was
generated accrues between its creation and that instant, front-loaded like real engagement;
each growth by `World.advance` accrues at that advance's instant (a sparse ledger). A bucket
is the curve's rise over its interval, so buckets of every granularity add up exactly to the
totals, completed buckets never change, and nothing is stored per bucket.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import random
    from collections.abc import Collection

    from tap_twitter_metrics_sandbox.world import Media, Post

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-05, the first Monday after the epoch: weekly buckets start on Mondays.
FIRST_MONDAY_MS = 4 * DAY_MS
BUCKET_MS = {"hourly": HOUR_MS, "daily": DAY_MS, "weekly": WEEK_MS}

TWEET_METRICS = (
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
)
MEDIA_METRICS = (
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
TWEET_GRANULARITIES = ("hourly", "daily", "weekly", "total")
MEDIA_GRANULARITIES = ("hourly", "daily", "total")

# The API passes a counter through as text when the backend value is not a number; one
# designated video shows it in one bucket.
STRING_COUNTER = "watch_time_ms"
STRING_VALUE = "n/a"

Value: TypeAlias = "int | str"
Bucket: TypeAlias = "tuple[str, dict[str, Value]]"
Growth: TypeAlias = "list[tuple[int, dict[str, int]]]"
# (metric, the metric it is a share of, numerator, denominator)
Derived: TypeAlias = "tuple[str, str, int, int]"

# Figures the sandbox has no totals for: a share of another figure, drawn per resource
# between the two bounds (per 10,000).
_TWEET_SHARES: tuple[tuple[str, str, int, int], ...] = (
    ("app_install_attempts", "impressions", 0, 2),
    ("app_opens", "impressions", 0, 6),
    ("email_tweet", "impressions", 0, 3),
    ("follows", "user_profile_clicks", 200, 1500),
    ("hashtag_clicks", "impressions", 5, 60),
    ("media_views", "impressions", 800, 4000),
    ("permalink_clicks", "impressions", 5, 50),
    ("shares", "impressions", 0, 20),
    ("unfollows", "follows", 0, 2500),
    ("unlikes", "likes", 0, 600),
)
_MEDIA_SHARES: tuple[tuple[str, str, int, int], ...] = (
    ("play_from_tap", "playback_start", 1500, 6000),
    ("cta_url_clicks", "video_views", 0, 40),
    ("cta_watch_clicks", "video_views", 0, 60),
)


def tweet_totals(post: Post) -> dict[str, int]:
    """A post's analytics figures that equal figures the sandbox serves elsewhere."""
    public = post.public_metrics
    private = post.non_public_metrics
    return {
        "impressions": private["impression_count"],
        "likes": public["like_count"],
        "retweets": public["retweet_count"],
        "replies": public["reply_count"],
        "quote_tweets": public["quote_count"],
        "bookmarks": public["bookmark_count"],
        "url_clicks": private.get("url_link_clicks", 0),
        "user_profile_clicks": private["user_profile_clicks"],
        "engagements": private["engagements"],
        "detail_expands": post.extra.get("detail_expands", 0),
    }


def media_totals(media: Media) -> dict[str, int]:
    """A video's analytics figures that equal its served public and non-public metrics."""
    public = media.public_metrics or {}
    private = media.non_public_metrics or {}
    return {
        "video_views": public.get("view_count", 0),
        "playback_start": private.get("playback_0_count", 0),
        "playback25": private.get("playback_25_count", 0),
        "playback50": private.get("playback_50_count", 0),
        "playback75": private.get("playback_75_count", 0),
        "playback_complete": private.get("playback_100_count", 0),
    }


class Ledger:
    """The growth of every post and video, one entry per advance that changed it."""

    def __init__(self) -> None:
        self._entries: dict[str, Growth] = {}

    def record(self, key: str, at_ms: int, before: dict[str, int], after: dict[str, int]) -> None:
        """Note what grew on the resource `key` at `at_ms`."""
        steps = {name: after[name] - before[name] for name in after if after[name] != before[name]}
        if steps:
            self._entries.setdefault(key, []).append((at_ms, steps))

    def of(self, key: str) -> Growth:
        """The growth of one resource, oldest first."""
        return sorted(self._entries.get(key, ()), key=lambda entry: entry[0])


@dataclass(frozen=True)
class Track:
    """How one resource's figures accrue over time.

    `initial` accrues between `created_ms` and `created_ms + spread_ms` (all at creation when
    the spread is 0); `half_ms` sets how front-loaded that is.
    """

    created_ms: int
    spread_ms: int
    half_ms: int
    initial: dict[str, int]
    growth: Growth
    derived: tuple[Derived, ...]
    text_at: int | None = None

    def accrued(self, at_ms: int) -> dict[str, int]:
        """Every figure accrued strictly before `at_ms`."""
        x = at_ms - self.created_ms
        if x <= 0:
            out = dict.fromkeys(self.initial, 0)
        elif x >= self.spread_ms:
            out = dict(self.initial)
        else:
            # x/(x+half), scaled to reach 1 at the spread's end: exact, monotone integers.
            num = x * (self.spread_ms + self.half_ms)
            den = self.spread_ms * (x + self.half_ms)
            out = {name: total * num // den for name, total in self.initial.items()}
        for when, steps in self.growth:
            if when >= at_ms:
                break
            for name, step in steps.items():
                if name in out:
                    out[name] += step
        for name, base, num_, den_ in self.derived:
            out[name] = out[base] * num_ // den_
        return out


def _needed(names: Collection[str], derived: tuple[Derived, ...]) -> set[str]:
    """The figures to compute for `names`: them and what they are shares of."""
    needed = set(names)
    for name, base, _num, _den in reversed(derived):
        if name in needed:
            needed.add(base)
    return needed


def _track(
    totals: dict[str, int],
    derived: tuple[Derived, ...],
    names: Collection[str],
    *,
    growth: Growth,
    created_ms: int,
    spread_end_ms: int,
    half_ms: int,
    text_at: int | None = None,
) -> Track:
    """A track whose figures, once every growth has accrued, are `totals`."""
    initial = dict(totals)
    for _when, steps in growth:
        for name, step in steps.items():
            initial[name] -= step
    needed = _needed(names, derived)
    return Track(
        created_ms=created_ms,
        spread_ms=max(0, spread_end_ms - created_ms),
        half_ms=half_ms,
        initial={name: value for name, value in initial.items() if name in needed},
        growth=growth,
        derived=tuple(d for d in derived if d[0] in needed),
        text_at=text_at,
    )


def _shares(
    rng: random.Random, table: tuple[tuple[str, str, int, int], ...], absent: Collection[str]
) -> tuple[Derived, ...]:
    """Draw each share of the table (always, so the draws do not depend on `absent`)."""
    drawn = [(name, base, rng.randint(low, high)) for name, base, low, high in table]
    return tuple((name, base, 0 if name in absent else per, 10_000) for name, base, per in drawn)


def post_track(
    post: Post, rng: random.Random, growth: Growth, names: Collection[str], *, generated_ms: int
) -> Track:
    """The track of a post; `rng` is the post's own stream."""
    half_ms = rng.randint(2 * HOUR_MS, 36 * HOUR_MS)
    absent = set()
    if not (post.entities or {}).get("hashtags"):
        absent.add("hashtag_clicks")
    if not post.media_keys:
        absent.add("media_views")
    derived = _shares(rng, _TWEET_SHARES, absent)
    return _track(
        tweet_totals(post),
        derived,
        names,
        growth=growth,
        created_ms=post.created_ms,
        spread_end_ms=generated_ms,
        half_ms=half_ms,
    )


def media_track(
    media: Media,
    rng: random.Random,
    growth: Growth,
    names: Collection[str],
    *,
    created_ms: int,
    generated_ms: int,
    text_at: int | None = None,
) -> Track:
    """The track of a video first published at `created_ms`; `rng` is the video's own stream.

    `text_at`: the bucket holding this instant reports STRING_COUNTER as STRING_VALUE.
    """
    half_ms = rng.randint(2 * HOUR_MS, 36 * HOUR_MS)
    watched = int((media.duration_ms or 0) * rng.uniform(0.15, 0.6))
    derived = (("watch_time_ms", "video_views", watched, 1), *_shares(rng, _MEDIA_SHARES, ()))
    return _track(
        media_totals(media),
        derived,
        names,
        growth=growth,
        created_ms=created_ms,
        spread_end_ms=generated_ms,
        half_ms=half_ms,
        text_at=text_at,
    )


def bucket_floor(ms: int, granularity: str) -> int:
    """Start of the hourly, daily (UTC midnight) or weekly (Monday) bucket holding `ms`."""
    if granularity == "weekly":
        return ms - (ms - FIRST_MONDAY_MS) % WEEK_MS
    return ms - ms % BUCKET_MS[granularity]


def spans(
    granularity: str, start_ms: int, end_ms: int, created_ms: int, now_ms: int
) -> list[tuple[int, int, int]]:
    """(timestamp, from, to) of the buckets to report; `to` is cut at `now_ms` (inclusive).

    Buckets overlap [start_ms, end_ms), begin with the creation's and end with now's; `total`
    is one bucket, [start_ms, end_ms), stamped with start_ms.
    """
    if created_ms >= end_ms or created_ms > now_ms or start_ms > now_ms:
        return []
    if granularity == "total":
        return [(start_ms, start_ms, min(end_ms, now_ms + 1))]
    size = BUCKET_MS[granularity]
    first = bucket_floor(max(start_ms, created_ms), granularity)
    last = min(end_ms - 1, now_ms)
    return [(at, at, min(at + size, now_ms + 1)) for at in range(first, last + 1, size)]


@functools.lru_cache(maxsize=8192)
def stamp(ms: int) -> str:
    """A bucket timestamp as the API writes it: `2025-03-17T06:00:00Z`."""
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report(
    track: Track, bucket_spans: list[tuple[int, int, int]], names: Collection[str]
) -> list[Bucket]:
    """The buckets of `bucket_spans` with the figures `names`, in that order."""
    out: list[Bucket] = []
    last_at: int | None = None
    last: dict[str, int] = {}
    for at, lo, hi in bucket_spans:
        before = last if lo == last_at else track.accrued(lo)
        last, last_at = track.accrued(hi), hi
        metrics: dict[str, Value] = {name: last[name] - before[name] for name in names}
        if STRING_COUNTER in metrics and track.text_at is not None and lo <= track.text_at < hi:
            metrics[STRING_COUNTER] = STRING_VALUE
        out.append((stamp(at), metrics))
    return out
