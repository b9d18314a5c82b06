"""What the selected streams ask of the API: fields, expansions and metric families."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from tap_twitter_metrics.catalogue import CATALOGUE, STREAMS, Part, StreamSpec
from tap_twitter_metrics.records import STREAM_COLUMNS

TWEET_FIELDS = (
    "created_at",
    "author_id",
    "conversation_id",
    "lang",
    "in_reply_to_user_id",
    "referenced_tweets",
    "attachments",
    "edit_history_tweet_ids",
    "possibly_sensitive",
    "reply_settings",
    "entities",
)
# The API sends media_key and type unasked.
MEDIA_FIELDS = tuple(c for c in STREAM_COLUMNS["media"] if c not in {"media_key", "type"})
USER_FIELDS = "created_at,public_metrics"
# The most ids, usernames or media keys X takes in one request.
MAX_IDS = 100
MEDIA_PARTS = frozenset({Part.MEDIA, Part.MEDIA_METRICS, Part.MEDIA_DAILY, Part.MEDIA_ANALYTICS})
ANALYTICS_PARTS = frozenset({Part.TWEET_ANALYTICS, Part.MEDIA_ANALYTICS})
# Accounts come from the users endpoints, analytics and usage from their own and the run's
# record from the run: none needs posts.
NOT_FROM_POSTS = frozenset({Part.USERS, Part.RUNS, Part.USAGE, *ANALYTICS_PARTS})
# A daily snapshot holds every family of its kind the run reads.
SNAPSHOT_OF = {Part.TWEET_METRICS: Part.TWEET_DAILY, Part.MEDIA_METRICS: Part.MEDIA_DAILY}


@dataclass(frozen=True)
class Selection:
    """What the selected streams need from the API."""

    streams: frozenset[str]

    def families(self, private: frozenset[str], *, media: bool) -> list[str]:
        """Metric families to ask for, of posts or of media, given the private ones allowed."""
        part = Part.MEDIA_METRICS if media else Part.TWEET_METRICS
        return [
            family
            for spec, family in self._families_read
            if spec.part is part and (not spec.user_context or family in private)
        ]

    @cached_property
    def private_families(self) -> frozenset[str]:
        """Private families some selected stream needs."""
        return frozenset(family for spec, family in self._families_read if spec.user_context)

    @cached_property
    def _families_read(self) -> list[tuple[StreamSpec, str]]:
        """Metric streams, with their family, whose family is read.

        A family is read for its selected stream; a daily snapshot adds the public family,
        which costs nothing: private ones would need more requests.
        """
        parts = {STREAMS[name].part for name in self.streams}
        return [
            (spec, spec.family)
            for spec in CATALOGUE
            if spec.family
            and (
                spec.name in self.streams
                or (not spec.user_context and SNAPSHOT_OF[spec.part] in parts)
            )
        ]

    @property
    def wants_media(self) -> bool:
        """Whether the media expansion is needed at all."""
        return any(STREAMS[name].part in MEDIA_PARTS for name in self.streams)

    @property
    def wants_analytics(self) -> bool:
        """Whether an analytics stream needs the account's own posts."""
        return any(STREAMS[name].part in ANALYTICS_PARTS for name in self.streams)

    @cached_property
    def post_streams(self) -> frozenset[str]:
        """The selected streams made from the posts of timelines and lookups."""
        return frozenset(name for name in self.streams if STREAMS[name].part not in NOT_FROM_POSTS)

    @property
    def wants_posts(self) -> bool:
        """Whether any selected stream is made from posts: only then are timelines read."""
        return bool(self.post_streams)

    @property
    def wants_users(self) -> bool:
        """Whether the users stream is selected."""
        return any(STREAMS[name].part is Part.USERS for name in self.streams)

    def params(self, private: frozenset[str], *, authors: bool) -> dict[str, str]:
        """Field and expansion parameters for a tweets request."""
        params = {"tweet.fields": ",".join((*TWEET_FIELDS, *self.families(private, media=False)))}
        expansions = []
        if self.wants_media:
            expansions.append("attachments.media_keys")
            params["media.fields"] = ",".join((*MEDIA_FIELDS, *self.families(private, media=True)))
        if authors and self.wants_users:
            expansions.append("author_id")
            params["user.fields"] = USER_FIELDS
        if expansions:
            params["expansions"] = ",".join(expansions)
        return params
