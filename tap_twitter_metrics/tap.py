"""The tap: settings, streams and the run around them."""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
import typing as t
import weakref
from functools import cached_property

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.singerlib.encoding.base import SingerMessageType
from typing_extensions import override

from tap_twitter_metrics.client import RunStats, XApiClient
from tap_twitter_metrics.credentials import Credentials, credentials_from
from tap_twitter_metrics.harvest import Harvest, Selection
from tap_twitter_metrics.records import ResponseFormatError
from tap_twitter_metrics.settings import CONFIG_SCHEMA, config_errors, redact_secrets
from tap_twitter_metrics.streams import PRIVATE_STREAMS, STREAM_TYPES, PassStream

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.singerlib.encoding.simple import Message

    from tap_twitter_metrics.streams import TwitterStream


class _QuietSdkNotes(logging.Filter):
    """Drop two SDK log lines that would mislead here.

    Bookmarks move only once an account's timeline is complete, so an interrupted run does
    resume, whatever the SDK's warning about unsorted streams says; and the other streams are
    not synced per post as child streams, they are written from the same responses.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("progress is not resumable" in message or "as child stream to" in message)


logging.getLogger("singer_sdk").addFilter(_QuietSdkNotes())
logging.getLogger("tap-twitter-metrics").addFilter(_QuietSdkNotes())


def _write_out(pending: bytearray) -> None:
    if pending:
        sys.stdout.buffer.write(pending)
        pending.clear()
    sys.stdout.flush()


class RecordBufferingWriter(MsgSpecWriter):
    """The SDK's msgspec writer, handing RECORD messages to stdout in blocks.

    The SDK flushes stdout after every message: a system call per record, whatever
    PYTHONUNBUFFERED says. Records still reach the target in order, and every SCHEMA or
    STATE message goes out at once together with all records before it. Records queued
    when a run fails still go out when the process exits.
    """

    BLOCK_SIZE = 1 << 16

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        weakref.finalize(self, _write_out, self._pending)

    def write_message(self, message: Message) -> None:
        """Queue a message; write out the queue unless it is a RECORD in a small block."""
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= self.BLOCK_SIZE:
            _write_out(self._pending)


class TapTwitterMetrics(Tap):
    """Singer tap for X (Twitter) API v2 tweet and media engagement metrics."""

    name = "tap-twitter-metrics"
    # The SDK adds its own settings to this schema in place; CONFIG_SCHEMA stays the tap's.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    message_writer_class = RecordBufferingWriter

    @override
    def discover_streams(self) -> list[TwitterStream]:
        return [stream_type(self) for stream_type in STREAM_TYPES]

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as error:
            # Schema errors quote the offending value: a secret given as a number would show.
            redacted = redact_secrets(error.errors, self.config)
            raise ConfigValidationError(str(error), errors=redacted, schema=error.schema) from None
        if own := config_errors(self.config):
            if raise_errors:
                msg = "Config validation failed"
                raise ConfigValidationError(msg, errors=own)
            errors += own
        return errors

    @cached_property
    def stats(self) -> RunStats:
        """What this run did."""
        return RunStats()

    @cached_property
    def credentials(self) -> Credentials:
        """The credential this run authenticates with."""
        return credentials_from(self.config)

    @cached_property
    def harvest(self) -> Harvest:
        """The one pass over the API that feeds every stream, checked before any request."""
        self.check_selection()
        for stream in self.streams.values():
            if isinstance(stream, PassStream) and stream.selected:
                stream.write_schema_once()
        credentials = self.credentials
        client = XApiClient(
            api_url=self.config["api_url"],
            auth=credentials.auth,
            credential=credentials.description,
            logger=self.logger,
            stats=self.stats,
            max_wait_seconds=self.config.get("rate_limit_max_wait_seconds", 900),
            max_tries=self.config.get("max_retries", 5),
            timeout=self.config.get("request_timeout", 60),
            on_unauthorized=credentials.on_unauthorized,
        )
        return Harvest(
            client=client,
            config=self.config,
            selection=self.selection,
            user_context=credentials.user_context,
            write=self._write_pass_record,
            logger=self.logger,
        )

    @property
    def selection(self) -> Selection:
        """The streams selected in the catalog."""
        return Selection(
            frozenset(name for name, stream in self.streams.items() if stream.selected)
        )

    def _write_pass_record(self, stream: str, record: dict[str, t.Any]) -> None:
        t.cast("PassStream", self.streams[stream]).write(record)

    def check_selection(self) -> None:
        """Refuse, before any request, a selection the credentials cannot serve."""
        errors = []
        private = sorted(PRIVATE_STREAMS & self.selection.streams)
        if private and not self.credentials.user_context:
            errors.append(
                f"Streams {', '.join(private)} need user-context credentials (OAuth 1.0a or "
                "OAuth 2.0); only an app-only bearer_token is configured. Deselect them or "
                "add user-context credentials."
            )
        config = self.config
        targets = config.get("user_ids") or config.get("usernames") or config.get("tweet_ids")
        if not targets and not self.credentials.user_context:
            errors.append(
                "Nothing to read: set user_ids, usernames or tweet_ids (with only a "
                "bearer_token there is no authenticated account to default to)."
            )
        if errors:
            msg = "The selected streams cannot be synced with these settings"
            raise ConfigValidationError(msg, errors=errors)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Write the state as the SDK does, then exit as killed, not as a success."""
        with contextlib.suppress(SystemExit):
            super()._handle_termination(signum, frame)
        sys.exit(128 + signum)

    def log_summary(self) -> None:
        """One closing line: posts, requests, waits and records per stream."""
        if "harvest" not in self.__dict__:
            return
        self.harvest.summarize_problems()
        stats = self.stats
        self.logger.info(
            "Sync done: %d posts read in %d requests, %d retries, %d waits (%.0f s), records: %s.",
            stats.posts_read,
            stats.requests,
            stats.retries,
            stats.waits,
            stats.waited_seconds,
            ", ".join(f"{name}={count}" for name, count in self._record_counts().items()),
        )

    def _record_counts(self) -> dict[str, int]:
        counts = {**self.stats.records, "tweets": self.stats.posts_read}
        return {
            name: counts.get(name, 0)
            for name, stream in self.streams.items()
            if t.cast("TwitterStream", stream).written
        }


def main() -> None:
    """Run the tap's command line; known failures end with their one-line message."""
    from tap_twitter_metrics.oauth2 import OAuth2Error

    try:
        TapTwitterMetrics.cli()
    except (FatalAPIError, OAuth2Error, ResponseFormatError) as error:
        logging.getLogger(TapTwitterMetrics.name).error("%s", error)
        sys.exit(1)


if __name__ == "__main__":
    main()
