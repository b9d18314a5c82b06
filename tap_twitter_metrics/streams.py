"""The streams, one per catalogue row: `tweets` runs the pass, the others take their part.

Data flows one way. `Tweets` asks the pass (harvest.py) for the pages of one partition, hands
each page to every other stream (`PassStream.take`) and yields the page's posts to the SDK.
Each stream writes its own SCHEMA and RECORD messages.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta
from functools import cached_property

from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.schema.source import StreamSchema
from singer_sdk.singerlib import SchemaMessage
from typing_extensions import override

from tap_twitter_metrics.catalogue import CATALOGUE, SCHEMAS, STREAMS, Part, StreamSpec
from tap_twitter_metrics.sdk_overrides import (
    PartlyBookmarkedStream,
    TypedRecordsStream,
    record_messages,
)
from tap_twitter_metrics.settings import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap

    from tap_twitter_metrics.harvest import Harvest
    from tap_twitter_metrics.records import Page

LOOKUP_CONTEXT = {"lookup": "tweet_ids"}


class CatalogueStream(TypedRecordsStream):
    """A stream described by one catalogue row, reading through the run's one pass."""

    spec: t.ClassVar[StreamSpec]
    schema = StreamSchema(SCHEMAS)

    def __init__(self, tap: Tap, harvest: Callable[[], Harvest]) -> None:
        super().__init__(tap)
        self.tap = tap
        self.harvest = harvest
        """The run's pass over the API, opened (and checked) on first use."""


class Tweets(PartlyBookmarkedStream, CatalogueStream):
    """Posts of the synced accounts and the looked-up posts; drives every other stream."""

    spec = STREAMS["tweets"]
    name = spec.name
    primary_keys = (spec.key,)
    replication_key = "created_at"
    # Timelines come newest first: the bookmark moves only once an account is done.
    is_sorted = False
    state_partitioning_keys: t.ClassVar[list[str]] = ["author_id"]
    _synced = False

    @property
    def chosen(self) -> bool:
        """Whether the catalog selected `tweets` itself."""
        return bool(self.mask.get((), True))

    @property
    def selected(self) -> bool:
        """Chosen, or needed by a chosen stream: the bookmarks live here."""
        return self.chosen or self.has_selected_descendents

    @selected.setter
    def selected(self, value: bool | None) -> None:
        TypedRecordsStream.selected.fset(self, value)  # type: ignore[attr-defined]

    @property
    def stream_maps(self) -> list[StreamMap]:
        """The catalog's maps; a map that drops every record when only needed, not chosen."""
        return super().stream_maps if self.chosen else self._dropping_maps

    @cached_property
    def _dropping_maps(self) -> list[StreamMap]:
        return [RemoveRecordTransform(self.name, self.schema, self.primary_keys, None)]

    @property
    def pass_streams(self) -> list[PassStream]:
        """The streams fed from the same pages."""
        return [t.cast("PassStream", stream) for stream in self.child_streams]

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        """One partition per account, and one for the posts looked up by id."""
        contexts = [{"author_id": account.id} for account in self.harvest().accounts()]
        if self.config.get("tweet_ids"):
            contexts.append(dict(LOOKUP_CONTEXT))
        return contexts

    @override
    def keeps_bookmark(self, context: Context | None) -> bool:
        """Looked-up posts are read again on every run: they keep no bookmark."""
        return not (context and context.get("lookup"))

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read one account's timeline, or the looked-up posts, page by page."""
        # The bookmarks of the accounts finished so far: a run that fails or is killed during
        # this partition must not make the next run read them again.
        self.tap.state_writer.write_state(self.tap.state)
        self._synced = True
        for stream in self.pass_streams:
            stream.announce()
        for page in self._pages(context):
            for stream in self.pass_streams:
                stream.take(page)
            yield from page.tweets

    def _pages(self, context: Context | None) -> Iterable[Page]:
        harvest = self.harvest()
        if not context or context.get("lookup"):
            return harvest.lookups()
        account = next(a for a in harvest.accounts() if a.id == context["author_id"])
        return harvest.timeline(account, self._window_start(context))

    def _window_start(self, context: Context) -> datetime | None:
        bookmark = self.get_context_state(context).get("replication_key_value")
        start_date = self.config.get("start_date")
        starts = [parse_datetime(start_date)] if start_date else []
        if bookmark:
            lookback = timedelta(days=self.config.get("lookback_days", 7))
            starts.append(parse_datetime(bookmark) - lookback)
        return max(starts, default=None)

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        """None: the other streams take their records from the pages, not per post."""
        return ()

    @override
    def log_sync_costs(self) -> None:
        """Close the run with its summary: this is called once, after every stream."""
        super().log_sync_costs()
        if not self._synced:
            return
        harvest = self.harvest()
        counts = {stream.name: stream.records_written for stream in self.pass_streams}
        counts[self.name] = harvest.stats.posts_read
        written = {stream.name for stream in self.pass_streams if stream.selected}
        if self.chosen:
            written.add(self.name)
        harvest.summarize({name: counts[name] for name in STREAMS if name in written})


class PassStream(CatalogueStream):
    """A stream whose records come out of the pages read for `tweets`."""

    parent_stream_type = Tweets
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def __init__(self, tap: Tap, harvest: Callable[[], Harvest]) -> None:
        super().__init__(tap, harvest)
        self.records_written = 0
        self._announced = False
        # Users and media come again with every post that names them: write each once.
        self._written_keys: set[str] | None = (
            None if self.spec.part is Part.TWEET_METRICS else set()
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Nothing to read on its own: `take` writes what each page holds for it."""
        return ()

    def announce(self) -> None:
        """Describe the stream to the target once per run, before any record."""
        if self._announced or not self.selected:
            return
        self._announced = True
        for stream_map in self.stream_maps:
            if not isinstance(stream_map, RemoveRecordTransform):
                self.tap.write_message(
                    SchemaMessage(
                        stream_map.stream_alias,
                        stream_map.transformed_schema,
                        stream_map.transformed_key_properties,
                    )
                )

    def take(self, page: Page) -> None:
        """Write this stream's records of one page."""
        if not self.selected:
            return
        written = self._written_keys
        for record in page.records_for(self.spec):
            if written is not None:
                key = record[self.spec.key]
                if key in written:
                    continue
                written.add(key)
            for message in record_messages(self, record, self.deselected_columns):
                self.tap.write_message(message)
            self.records_written += 1


def _pass_stream_class(spec: StreamSpec) -> type[PassStream]:
    class_name = "".join(word.capitalize() for word in spec.name.split("_"))
    attributes = {
        "spec": spec,
        "name": spec.name,
        "primary_keys": (spec.key,),
        "selected_by_default": not spec.user_context,
        "__doc__": spec.description,
        "__module__": __name__,
    }
    return type(class_name, (PassStream,), attributes)


def discover(tap: Tap, harvest: Callable[[], Harvest]) -> list[CatalogueStream]:
    """One stream per catalogue row, in catalogue order."""
    return [STREAM_TYPES[spec.name](tap, harvest) for spec in CATALOGUE]


STREAM_TYPES: dict[str, type[CatalogueStream]] = {
    spec.name: Tweets if spec.part is Part.TWEETS else _pass_stream_class(spec)
    for spec in CATALOGUE
}
