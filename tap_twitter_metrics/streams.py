"""The streams, one per catalogue row: `tweets` runs the pass, the others take their part.

Data flows one way. `Tweets` asks the pass (harvest.py) for the pages of one partition, hands
each page to every other stream (`PassStream.take`) and yields the page's posts to the SDK.
Each stream writes its own SCHEMA and RECORD messages.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone
from functools import cached_property
from http import HTTPStatus

from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.schema.source import StreamSchema
from singer_sdk.singerlib import SchemaMessage
from typing_extensions import override

from tap_twitter_metrics import analytics, windows
from tap_twitter_metrics.bookmarks import (
    KNOWN_STATE_KEY,
    NEWEST_ID_STATE_KEY,
    READ_AT_STATE_KEY,
    READ_UNTIL_STATE_KEY,
    UNREAD_STATE_KEY,
    WRITTEN_STATE_KEY,
)
from tap_twitter_metrics.catalogue import CATALOGUE, SCHEMAS, STREAMS, Part, StreamSpec
from tap_twitter_metrics.client import CredentialsRefusedError
from tap_twitter_metrics.credentials import app_credentials
from tap_twitter_metrics.records import observed_now, parse_usage
from tap_twitter_metrics.sdk_overrides import (
    PartlyBookmarkedStream,
    TypedRecordsStream,
    record_messages,
)
from tap_twitter_metrics.selection import ANALYTICS_PARTS, MAX_IDS
from tap_twitter_metrics.settings import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap

    from tap_twitter_metrics.harvest import LazyHarvest
    from tap_twitter_metrics.records import Page

LOOKUP_CONTEXT = {"lookup": "tweet_ids"}
# Users and media come again with every post that names them: each is written once a run.
REPEATING_PARTS = frozenset({Part.USERS, Part.MEDIA, Part.MEDIA_METRICS, Part.MEDIA_DAILY})


class CatalogueStream(TypedRecordsStream):
    """A stream described by one catalogue row, reading through the run's one pass."""

    spec: t.ClassVar[StreamSpec]
    schema = StreamSchema(SCHEMAS)

    def __init__(self, tap: Tap, harvest: LazyHarvest) -> None:
        super().__init__(tap)
        self.tap = tap
        self.harvest = harvest
        """The run's pass over the API, opened (and checked) on first use."""
        self.records_written = 0

    @override
    def log_sync_costs(self) -> None:
        """After the last stream's costs, close the run with its summary."""
        super().log_sync_costs()
        harvest = self.harvest.opened
        if harvest is None or self.name != list(self.tap.streams)[-1]:
            return
        streams = [t.cast("CatalogueStream", stream) for stream in self.tap.streams.values()]
        counts = {stream.name: stream.records_written for stream in streams if stream.writes}
        harvest.summarize({name: counts[name] for name in STREAMS if name in counts})

    @property
    def writes(self) -> bool:
        """Whether this stream's records reach the target."""
        return self.selected


class Tweets(PartlyBookmarkedStream, CatalogueStream):
    """Posts of the synced accounts and the looked-up posts; drives every other stream."""

    spec = STREAMS["tweets"]
    name = spec.name
    primary_keys = spec.key
    replication_key = "created_at"
    # Timelines come newest first: the bookmark moves only once an account is done.
    is_sorted = False
    state_partitioning_keys: t.ClassVar[list[str]] = ["author_id"]

    @property
    def chosen(self) -> bool:
        """Whether the catalog selected `tweets` itself."""
        return bool(self.mask.get((), True))

    @property
    def writes(self) -> bool:
        """Only when chosen: when merely needed, its records are dropped."""
        return self.chosen

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
        """A timeline read to its end moves its bookmark when its posts reached a stream.

        Looked-up posts are read again on every run: they keep no bookmark.
        """
        if not context or context.get("lookup"):
            return False
        return bool(self._post_streams) and context["author_id"] not in self.harvest().incomplete

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read one account's timeline, or the looked-up posts, page by page."""
        # The bookmarks of the accounts finished so far: a run that fails or is killed during
        # this partition must not make the next run read them again.
        self.tap.state_writer.write_state(self.tap.state)
        for stream in self.pass_streams:
            stream.announce()
        for page in self._pages(context):
            for stream in self.pass_streams:
                stream.take(page)
            self.records_written += len(page.tweets)
            yield from page.tweets
        if self.keeps_bookmark(context):
            self._keep_progress(t.cast("dict[str, t.Any]", context))
        self.bookmark_read_partition(context)

    def _keep_progress(self, context: dict[str, t.Any]) -> None:
        """Beside the bookmark: what it holds for, the newest post, what is left to read."""
        state = self.get_context_state(context)
        state[WRITTEN_STATE_KEY] = sorted(self._post_streams)
        state[READ_AT_STATE_KEY] = windows.api_time(self.harvest().now)
        read = self.harvest().read.get(context["author_id"], windows.TimelineRead())
        kept = state.get(NEWEST_ID_STATE_KEY)
        if read.newest_id and (not kept or int(read.newest_id) > int(kept)):
            state[NEWEST_ID_STATE_KEY] = read.newest_id
        if read.unread:
            state[UNREAD_STATE_KEY] = [span.as_state() for span in read.unread]
        else:
            state.pop(UNREAD_STATE_KEY, None)

    @property
    def _post_streams(self) -> frozenset[str]:
        return self.harvest().selection.post_streams

    def _pages(self, context: Context | None) -> Iterable[Page]:
        harvest = self.harvest()
        if not context or context.get("lookup"):
            return harvest.lookups()
        account = next(a for a in harvest.accounts() if a.id == context["author_id"])
        return harvest.timeline(account, self._spans(context, account.label))

    def _spans(self, context: Context, account: str) -> list[windows.Span]:
        """What this run reads of the account's timeline, from its bookmark and the settings."""
        state = self.get_context_state(context)
        bookmark = state.get("replication_key_value")
        start_date = self.config.get("start_date")
        covered = state.get(WRITTEN_STATE_KEY)
        new = sorted(self._post_streams - set(covered)) if bookmark and covered else []
        if new:
            self.logger.info(
                "Account %s: %s had no part in its bookmark and start from %s.",
                account,
                ", ".join(new),
                start_date or "the oldest post the API reaches",
            )
        read_at = state.get(READ_AT_STATE_KEY)
        return windows.plan(
            refresh=windows.Refresh.from_config(self.config),
            start_date=parse_datetime(start_date) if start_date else None,
            bookmark=parse_datetime(bookmark) if bookmark and not new else None,
            newest_id=state.get(NEWEST_ID_STATE_KEY),
            last_read=parse_datetime(read_at) if read_at else None,
            now=self.harvest().now,
            unread=[windows.Span.from_state(span) for span in state.get(UNREAD_STATE_KEY, [])],
        )

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        """None: the other streams take their records from the pages, not per post."""
        return ()


class PassStream(CatalogueStream):
    """A stream whose records come out of the pages read for `tweets`."""

    parent_stream_type = Tweets
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def __init__(self, tap: Tap, harvest: LazyHarvest) -> None:
        super().__init__(tap, harvest)
        self._announced = False
        self._written_keys: set[tuple[str, ...]] | None = (
            set() if self.spec.part in REPEATING_PARTS else None
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
                key = tuple(record[column] for column in self.spec.key)
                if key in written:
                    continue
                written.add(key)
            for message in record_messages(self, record, self.deselected_columns):
                self.tap.write_message(message)
            self.records_written += 1


class AnalyticsStream(PartlyBookmarkedStream, CatalogueStream):
    """Metrics per bucket of the account's own posts or videos, from X's analytics."""

    replication_key = "timestamp"
    is_sorted = False
    state_partitioning_keys: t.ClassVar[list[str]] = ["author_id"]

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        """The signed-in account: only its own posts have analytics."""
        account = self.harvest().own_account()
        return [{"author_id": account.id}] if account else []

    @override
    def keeps_bookmark(self, context: Context | None) -> bool:
        """A window read whole moves the bookmark; a run cut short reads it again."""
        return True

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The buckets of every own post (or video) young enough, 100 resources a request."""
        if not context:
            return
        state = self.get_context_state(context)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        known, stored = self._known(state, now)
        window = self._window(state, known, stored, now)
        unreadable: list[str] = []
        harvest = self.harvest()
        try:
            resources = window.resources
            price = "price_per_analytics_resource"
            for batch in harvest.budget.batches(resources, price, size=MAX_IDS):
                page = harvest.analytics(self.spec, batch, window, self.granularity)
                unreadable += page.unreadable
                self.records_written += len(page.records)
                yield from page.records
        except CredentialsRefusedError as error:
            if error.status != HTTPStatus.FORBIDDEN:
                raise
            self.logger.warning(
                "%s is skipped this run and keeps its bookmark; the other streams are synced. "
                "%s Deselect it if the plan or account has no access to X's analytics.",
                self.name,
                error,
            )
            return
        if harvest.budget.reached:
            # Stopped at the read cap, here or before: the whole window is read next run.
            self._warn_unreadable(unreadable)
            return
        state[KNOWN_STATE_KEY] = {key: known[key] for key in window.resources}
        state[READ_UNTIL_STATE_KEY] = analytics.creation_time(now - timedelta(days=1))
        self.bookmark_read_partition(context)
        self._warn_unreadable(unreadable)

    @property
    def granularity(self) -> str:
        """The bucket size this stream asks for."""
        setting = self.config.get("analytics_granularity", "daily")
        return analytics.granularity_for(self.spec, setting)

    def _known(self, state: dict[str, t.Any], now: datetime) -> tuple[dict[str, str], set[str]]:
        """Own resources: those earlier runs asked for, and those created since."""
        stored: dict[str, str] = state.get(KNOWN_STATE_KEY) or {}
        oldest = now - timedelta(days=self.config.get("analytics_post_age_days", 30))
        read_until = state.get(READ_UNTIL_STATE_KEY)
        since = max(oldest, parse_datetime(read_until)) if read_until else oldest
        own = self.harvest().own_posts_since(since).of(self.spec)
        return {**stored, **own}, set(stored)

    def _window(
        self, state: dict[str, t.Any], known: dict[str, str], stored: set[str], now: datetime
    ) -> analytics.Window:
        bookmark = state.get("replication_key_value")
        return analytics.plan_window(
            known,
            stored,
            bookmark=parse_datetime(bookmark) if bookmark else None,
            now=now,
            granularity=self.granularity,
            config=self.config,
        )

    def _warn_unreadable(self, unreadable: list[str]) -> None:
        if unreadable:
            shown = "; ".join(unreadable[:5]) + (" …" if len(unreadable) > 5 else "")
            self.logger.warning(
                "%s: %d counters were not numbers and were loaded as null: %s.",
                self.name,
                len(unreadable),
                shown,
            )


class UsageStream(CatalogueStream):
    """Posts X counted per app and UTC day, and the project's cap, from GET /2/usage/tweets."""

    path = "/2/usage/tweets"
    # The endpoint is not billed: the longest history X keeps, so a missed run leaves no gap.
    params: t.ClassVar[dict[str, str]] = {
        "days": "90",
        "usage.fields": "cap_reset_day,daily_client_app_usage,daily_project_usage,project_cap,"
        "project_id,project_usage",
    }

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """One request, signed with the app's bearer token whatever the run signs with."""
        app = app_credentials(self.config)
        if app is None:
            self.logger.info(
                "%s: nothing to read without bearer_token: X's usage endpoint takes only the "
                "app's bearer token.",
                self.name,
            )
            return
        client = self.harvest().client.signed_with(app.auth, app.description)
        try:
            body = client.get(self.path, self.params)
        except CredentialsRefusedError as error:
            if error.status != HTTPStatus.FORBIDDEN:
                raise
            self.logger.warning(
                "%s is skipped this run; the other streams are synced. %s", self.name, error
            )
            return
        page = parse_usage(body, observed_now())
        self.harvest().warn_notes(page.notes)
        self.records_written += len(page.records)
        yield from page.records


class RunStream(CatalogueStream):
    """One record per run, written after every other stream: what the run did and cost."""

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The run's record."""
        self.records_written += 1
        yield self.harvest().run_record()


def discover(tap: Tap, harvest: LazyHarvest) -> list[CatalogueStream]:
    """One stream per catalogue row, in catalogue order."""
    return [STREAM_TYPES[spec.name](tap, harvest) for spec in CATALOGUE]


def _stream_class(spec: StreamSpec) -> type[CatalogueStream]:
    if spec.part is Part.TWEETS:
        return Tweets
    base: type[CatalogueStream] = PassStream
    if spec.part in ANALYTICS_PARTS:
        base = AnalyticsStream
    elif spec.part is Part.USAGE:
        base = UsageStream
    elif spec.part is Part.RUNS:
        base = RunStream
    class_name = "".join(word.capitalize() for word in spec.name.split("_"))
    attributes = {
        "spec": spec,
        "name": spec.name,
        "primary_keys": spec.key,
        "selected_by_default": not spec.user_context,
        "__doc__": spec.description,
        "__module__": __name__,
    }
    return type(class_name, (base,), attributes)


STREAM_TYPES = {spec.name: _stream_class(spec) for spec in CATALOGUE}
