"""X's analytics endpoints: which own posts and videos to ask for, over which buckets.

Buckets of the last `analytics_days` are read again on every run (they still change), and
every own post younger than `analytics_post_age_days` is asked for, in batches of 100 ids
over one time window per run: the fewest requests the endpoints allow. Posts are known
from the timelines read in the run and from the ids the stream's state keeps, so posts
older than the timeline's look-back are not bought again to learn their ids.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tap_twitter_metrics.catalogue import Part, StreamSpec
from tap_twitter_metrics.records import analytics_metrics
from tap_twitter_metrics.settings import parse_datetime

if t.TYPE_CHECKING:
    from tap_twitter_metrics.records import Page

ENDPOINTS = {
    Part.TWEET_ANALYTICS: ("/2/tweets/analytics", "ids", "analytics.fields"),
    Part.MEDIA_ANALYTICS: ("/2/media/analytics", "media_keys", "media_analytics.fields"),
}
BUCKET_LENGTH = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}


# Shown in X's documentation examples but not in its field list: kept when sent, never asked.
UNDOCUMENTED = frozenset({"link_clicks", "media_engagements", "profile_visits"})


def fields_to_ask(stream: StreamSpec) -> str:
    """The documented metrics of an analytics stream: its schema's columns after the head."""
    return ",".join(name for name in analytics_metrics(stream) if name not in UNDOCUMENTED)


def granularity_for(stream: StreamSpec, setting: str) -> str:
    """The bucket size to ask for: the media endpoint knows no weekly buckets."""
    if stream.part is Part.MEDIA_ANALYTICS and setting == "weekly":
        return "daily"
    return setting


def bucket_start(moment: datetime, granularity: str) -> datetime:
    """The start of the bucket holding `moment`: the hour, the UTC day or its Monday."""
    moment = moment.astimezone(timezone.utc)
    if granularity == "hourly":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if granularity == "weekly" else day


@dataclass
class OwnPosts:
    """The signed-in account's posts and videos read in this run, with their creation."""

    posts: dict[str, str] = field(default_factory=dict)
    videos: dict[str, str] = field(default_factory=dict)
    read_from: str | None = None
    """Creation time (API format) from which the own timeline was read whole this run."""

    def note(self, page: Page) -> None:
        """Remember the own posts of a timeline page and the videos they carry."""
        videos = {media["media_key"] for media in page.media if media["type"] == "video"}
        for tweet in page.tweets:
            self.posts[tweet["id"]] = tweet["created_at"]
            for key in tweet["media_keys"] or ():
                if key in videos:
                    # A video is as young as the newest own post that carries it.
                    self.videos[key] = max(tweet["created_at"], self.videos.get(key, ""))

    def of(self, stream: StreamSpec) -> dict[str, str]:
        """Id (or media key) -> creation time, for the resources `stream` reads."""
        return self.videos if stream.part is Part.MEDIA_ANALYTICS else self.posts


@dataclass(frozen=True)
class Window:
    """The buckets one run asks for, and the resources it asks them of."""

    start: datetime
    end: datetime
    resources: list[str]


def plan_window(
    known: dict[str, str],
    stored: t.Collection[str],
    *,
    bookmark: datetime | None,
    now: datetime,
    granularity: str,
    config: t.Mapping[str, t.Any],
) -> Window:
    """One window per run: the recent buckets again, and every bucket of a post new to it.

    `known` maps every own post (or video) known to its creation time; `stored` are those
    an earlier run already asked for.
    """
    oldest = now - timedelta(days=config.get("analytics_post_age_days", 30))
    floor = creation_time(oldest)
    resources = sorted(
        (key for key, created in known.items() if created >= floor), key=known.__getitem__
    )
    start = oldest
    if bookmark is not None:
        start = max(oldest, bookmark - timedelta(days=config.get("analytics_days", 7)))
    new = [known[key] for key in resources if key not in stored]
    if new:
        start = min(start, parse_datetime(new[0]))
    return Window(bucket_start(max(start, oldest), granularity), now, resources)


def creation_time(moment: datetime) -> str:
    """A time as the API writes creation times."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
