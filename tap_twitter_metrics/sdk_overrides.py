"""The tap's only overrides of Singer SDK internals: no public hook does these two jobs.

tests/test_sdk_overrides.py pins the SDK code they stand in for and fails when it changes.
"""

from __future__ import annotations

import json
import typing as t
from abc import abstractmethod
from datetime import datetime, timezone
from functools import cached_property

from singer_sdk import Stream
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_twitter_metrics.settings import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Collection, Generator, Iterator

    from singer_sdk.helpers.types import Context


def record_messages(
    stream: Stream, record: dict[str, t.Any], deselected: Collection[str]
) -> Iterator[RecordMessage]:
    """RECORD messages of one record: deselected columns dropped, stream maps applied."""
    if deselected:
        # A copy: the SDK still reads the record's replication key for the bookmark.
        record = {name: value for name, value in record.items() if name not in deselected}
    extracted = datetime.now(timezone.utc)
    for stream_map in stream.stream_maps:
        mapped = stream_map.transform(record)
        if mapped is not None:
            yield RecordMessage(
                stream=stream_map.stream_alias, record=mapped, time_extracted=extracted
            )


class TypedRecordsStream(Stream):
    """A stream whose records arrive already shaped and typed by their schema."""

    @cached_property
    def deselected_columns(self) -> frozenset[str]:
        """The columns the catalog deselects."""
        mask = self.mask
        return frozenset(
            name for name in self.schema["properties"] if not mask[("properties", name)]
        )

    @override
    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> Generator[RecordMessage, None, None]:
        # Per-record cost: the SDK's type conformance walked every record again (records.py
        # built it with exactly its schema's columns and types); it was the largest cost.
        yield from record_messages(self, record, self.deselected_columns)


class PartlyBookmarkedStream(Stream):
    """A stream whose partitions move their bookmark once, when read whole, if they keep one.

    `get_records` calls `bookmark_read_partition` after a partition's last record.
    """

    @abstractmethod
    def keeps_bookmark(self, context: Context | None) -> bool:
        """Whether this partition, now read, moves its bookmark."""

    @cached_property
    def _newest(self) -> dict[str, dict[str, t.Any]]:
        """The newest record of each partition read so far, by partition."""
        return {}

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        # The SDK moves the bookmark with every record; a partition cut short (a repeated
        # page token, an analytics window read in part) must keep the bookmark it had.
        key, column = _partition_key(context), t.cast("str", self.replication_key)
        newest = self._newest.get(key)
        if newest is None or latest_record[column] > newest[column]:
            self._newest[key] = latest_record

    def bookmark_read_partition(self, context: Context | None) -> None:
        """Move the partition's bookmark to its newest record, when it keeps one and is newer.

        A run that read only older posts (what an earlier run left at its read cap) leaves the
        bookmark where it was: the SDK would set it to whatever it is given.
        """
        newest = self._newest.pop(_partition_key(context), None)
        if newest is None or not self.keeps_bookmark(context):
            return
        kept = self.get_context_state(context).get("replication_key_value")
        value = newest[t.cast("str", self.replication_key)]
        if kept is None or parse_datetime(value) > parse_datetime(kept):
            super()._increment_stream_state(newest, context=context)


def _partition_key(context: Context | None) -> str:
    return json.dumps(context or {}, sort_keys=True)
