"""The eleven streams: declarations over the one pass in harvest.py."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone
from functools import cached_property

from singer_sdk import Stream
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_twitter_metrics.schemas import load_schema
from tap_twitter_metrics.settings import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from singer_sdk.helpers.types import Context

    from tap_twitter_metrics.tap import TapTwitterMetrics

LOOKUP_CONTEXT = {"lookup": "tweet_ids"}


class TwitterStream(Stream):
    """A stream whose JSON Schema ships with the package."""

    name: str

    def __init__(self, tap: TapTwitterMetrics) -> None:
        super().__init__(tap, schema=load_schema(self.name))
        self.tap = tap

    @property
    def written(self) -> bool:
        """Whether this stream's records reach the target."""
        return self.selected

    @cached_property
    def _deselects_properties(self) -> bool:
        """Whether the catalog deselects any property of this stream."""
        return not all(selected for breadcrumb, selected in self.mask.items() if breadcrumb)

    @override
    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> Generator[RecordMessage, None, None]:
        """RECORD messages, without the SDK's type conformance of every record.

        records.py builds each record with exactly its schema's columns, every value already
        of its JSON type, so conformance would only walk each record once more: it was the
        largest cost per record. Deselected properties and stream maps still apply.
        """
        if self._deselects_properties:
            pop_deselected_record_properties(record, self.schema, self.mask)
        extracted = datetime.now(timezone.utc)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=extracted,
                )


class Tweets(TwitterStream):
    """Posts of the synced accounts and the looked-up posts; drives every other stream."""

    name = "tweets"
    primary_keys = ("id",)
    replication_key = "created_at"
    # Timelines come newest first: the bookmark moves only once an account is done.
    is_sorted = False
    state_partitioning_keys: t.ClassVar[list[str]] = ["author_id"]

    @property
    def selected(self) -> bool:
        """Selected in the catalog, or needed by a selected stream.

        The bookmarks live here, so the pass runs, and the state moves, as `tweets` even
        when only the other streams were chosen; the posts themselves are then not written.
        """
        return self.written or self.has_selected_descendents

    @selected.setter
    def selected(self, value: bool | None) -> None:
        Stream.selected.fset(self, value)  # type: ignore[attr-defined]

    @property
    @override
    def written(self) -> bool:
        """Whether the catalog selected `tweets` itself."""
        return bool(self.mask.get((), True))

    @override
    def _write_schema_message(self) -> None:
        if self.written:
            super()._write_schema_message()

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        if self.written:
            super()._write_record_message(record)
        else:
            # The bookmark still has to reach the state.
            self.state_manager.is_flushed = False

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        """One partition per account, and one for the posts looked up by id."""
        contexts: list[dict[str, t.Any]] = [
            {"author_id": account.id} for account in self.tap.harvest.accounts()
        ]
        if self.config.get("tweet_ids"):
            contexts.append(dict(LOOKUP_CONTEXT))
        return contexts

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read one account's timeline, or the looked-up posts."""
        # Emit the bookmarks of the accounts finished so far: a run that fails or is killed
        # during this partition must not make the next run read them again.
        self._write_state_message()
        harvest = self.tap.harvest
        if not context or context.get("lookup"):
            yield from harvest.lookups()
            return
        account = next(a for a in harvest.accounts() if a.id == context["author_id"])
        yield from harvest.timeline(account, self._window_start(context))

    def _window_start(self, context: Context) -> datetime | None:
        bookmark = self.get_context_state(context).get("replication_key_value")
        start_date = self.config.get("start_date")
        starts = [parse_datetime(start_date)] if start_date else []
        if bookmark:
            starts.append(
                parse_datetime(bookmark) - timedelta(days=self.config.get("lookback_days", 7))
            )
        return max(starts, default=None)

    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        # Looked-up posts are read again on every run: they keep no bookmark.
        if context and context.get("lookup"):
            return
        super()._increment_stream_state(latest_record, context=context)

    @override
    def log_sync_costs(self) -> None:
        """Close the run with its summary: this is called once, after every stream."""
        super().log_sync_costs()
        self.tap.log_summary()

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        """None: the other streams are written from the same responses, not per post."""
        return ()


class PassStream(TwitterStream):
    """A stream whose records come out of the responses read for `tweets`."""

    parent_stream_type = Tweets
    state_partitioning_keys: t.ClassVar[list[str]] = []

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Nothing to read on its own: see `write`."""
        return ()

    def write(self, record: dict[str, t.Any]) -> None:
        """Write one record, after this stream's single SCHEMA message."""
        self.write_schema_once()
        self._write_record_message(record)
        self.tap.stats.count_record(self.name)

    def write_schema_once(self) -> None:
        """Announce the stream to the target once per run."""
        if not getattr(self, "_schema_written", False):
            self._write_schema_message()
            self._schema_written = True


class Users(PassStream):
    """The synced accounts and the authors of looked-up posts."""

    name = "users"
    primary_keys = ("id",)


class Media(PassStream):
    """Photos, videos and GIFs attached to the posts, once per media key."""

    name = "media"
    primary_keys = ("media_key",)


class TweetMetrics(PassStream):
    """One metric family of the posts."""

    primary_keys = ("tweet_id",)


class MediaMetrics(PassStream):
    """One metric family of the videos, once per media key."""

    primary_keys = ("media_key",)


class TweetPublicMetrics(TweetMetrics):
    """Retweets, replies, likes, quotes, bookmarks and impressions of every post."""

    name = "tweet_public_metrics"


class TweetNonPublicMetrics(TweetMetrics):
    """Impressions, link and profile clicks of the account's posts of the last 30 days."""

    name = "tweet_non_public_metrics"
    selected_by_default = False


class TweetOrganicMetrics(TweetMetrics):
    """Organic figures of the account's posts of the last 30 days."""

    name = "tweet_organic_metrics"
    selected_by_default = False


class TweetPromotedMetrics(TweetMetrics):
    """Paid figures of the account's promoted posts of the last 30 days."""

    name = "tweet_promoted_metrics"
    selected_by_default = False


class MediaPublicMetrics(MediaMetrics):
    """Video views, a total over every post that carries the video."""

    name = "media_public_metrics"


class MediaNonPublicMetrics(MediaMetrics):
    """Playback quartiles of the account's videos of the last 30 days."""

    name = "media_non_public_metrics"
    selected_by_default = False


class MediaOrganicMetrics(MediaMetrics):
    """Organic playback quartiles and views of the account's recent videos."""

    name = "media_organic_metrics"
    selected_by_default = False


class MediaPromotedMetrics(MediaMetrics):
    """Paid playback quartiles and views of the account's recent promoted videos."""

    name = "media_promoted_metrics"
    selected_by_default = False


STREAM_TYPES: tuple[type[TwitterStream], ...] = (
    Users,
    Tweets,
    Media,
    TweetPublicMetrics,
    TweetNonPublicMetrics,
    TweetOrganicMetrics,
    TweetPromotedMetrics,
    MediaPublicMetrics,
    MediaNonPublicMetrics,
    MediaOrganicMetrics,
    MediaPromotedMetrics,
)
PRIVATE_STREAMS = frozenset(
    stream.name for stream in STREAM_TYPES if not stream.selected_by_default
)
