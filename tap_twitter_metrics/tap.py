"""The tap: its settings, its streams and the pass over the API that feeds them."""

from __future__ import annotations

import copy
import logging
import signal
import sys
import threading
import typing as t

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_twitter_metrics.catalogue import STREAM_NAMES, USER_CONTEXT_STREAMS
from tap_twitter_metrics.client import RunStats, XApiClient
from tap_twitter_metrics.credentials import Credentials, credentials_from
from tap_twitter_metrics.harvest import Harvest, LazyHarvest
from tap_twitter_metrics.oauth2 import OAuth2Error
from tap_twitter_metrics.records import ResponseFormatError
from tap_twitter_metrics.selection import Selection
from tap_twitter_metrics.settings import CONFIG_SCHEMA, config_errors, redact_secrets
from tap_twitter_metrics.streams import discover
from tap_twitter_metrics.writer import RecordBufferingWriter

if t.TYPE_CHECKING:
    from types import FrameType

    from tap_twitter_metrics.streams import CatalogueStream


class _QuietSdkNotes(logging.Filter):
    """Drop two SDK log lines that would mislead here.

    Bookmarks move only once an account's timeline is complete, so an interrupted run does
    resume, whatever the SDK's warning about unsorted streams says; and the other streams are
    not synced per post as child streams, they take their records from the same pages.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("progress is not resumable" in message or "as child stream to" in message)


logging.getLogger("singer_sdk").addFilter(_QuietSdkNotes())
logging.getLogger("tap-twitter-metrics").addFilter(_QuietSdkNotes())


class TapTwitterMetrics(Tap):
    """Singer tap for X (Twitter) API v2 tweet and media engagement metrics."""

    name = "tap-twitter-metrics"
    # The SDK adds its own settings to this schema in place; CONFIG_SCHEMA stays the tap's.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    message_writer_class = RecordBufferingWriter

    def __init__(self, *, validate_config: bool = True, **kwargs: t.Any) -> None:
        try:
            super().__init__(validate_config=validate_config, **kwargs)
        except ConfigValidationError as error:
            # Schema errors quote the offending value: a secret given as a number would show.
            redacted = redact_secrets(error.errors, self.config)
            raise ConfigValidationError(str(error), errors=redacted, schema=error.schema) from None
        if validate_config and (errors := config_errors(self.config)):
            msg = "Config validation failed"
            raise ConfigValidationError(msg, errors=errors)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._exit_on_signal)
            signal.signal(signal.SIGTERM, self._exit_on_signal)

    @property
    def streams(self) -> dict[str, Stream]:
        """The streams in catalogue order, where the SDK orders them by name.

        `tweets` then reads the timelines before the analytics streams ask for the own posts.
        """
        streams = super().streams
        if list(streams) != [name for name in STREAM_NAMES if name in streams]:
            ordered = {name: streams.pop(name) for name in STREAM_NAMES if name in streams}
            streams.update(ordered)
        return streams

    def discover_streams(self) -> list[CatalogueStream]:
        """One stream per catalogue row, all reading through one pass over the API."""
        return discover(self, LazyHarvest(self.open_pass))

    def open_pass(self) -> Harvest:
        """The pass over the API for the selected streams, checked before any request."""
        selection = Selection(
            frozenset(name for name, stream in self.streams.items() if stream.selected)
        )
        credentials = credentials_from(self.config)
        self.check_selection(selection, credentials)
        client = XApiClient(
            api_url=self.config["api_url"],
            auth=credentials.auth,
            credential=credentials.description,
            logger=self.logger,
            stats=RunStats(),
            max_wait_seconds=self.config.get("rate_limit_max_wait_seconds", 900),
            max_tries=self.config.get("max_retries", 5),
            timeout=self.config.get("request_timeout", 60),
            on_unauthorized=credentials.on_unauthorized,
        )
        return Harvest(
            client=client,
            config=self.config,
            selection=selection,
            user_context=credentials.user_context,
            logger=self.logger,
        )

    def check_selection(self, selection: Selection, credentials: Credentials) -> None:
        """Refuse, before any request, a selection the credentials cannot serve."""
        errors = []
        private = sorted(USER_CONTEXT_STREAMS & selection.streams)
        if private and not credentials.user_context:
            errors.append(
                f"Streams {', '.join(private)} need user-context credentials (OAuth 1.0a or "
                "OAuth 2.0); only an app-only bearer_token is configured. Deselect them or "
                "add user-context credentials."
            )
        config = self.config
        targets = config.get("user_ids") or config.get("usernames") or config.get("tweet_ids")
        if not targets and not credentials.user_context:
            errors.append(
                "Nothing to read: set user_ids, usernames or tweet_ids (with only a "
                "bearer_token there is no authenticated account to default to)."
            )
        if errors:
            msg = "The selected streams cannot be synced with these settings"
            raise ConfigValidationError(msg, errors=errors)

    def _exit_on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Write the state, then exit as killed (128 + signal), not as a success."""
        self.logger.info("Gracefully shutting down...")
        self.state_writer.write_state(self.state)
        sys.exit(128 + signum)


def main() -> None:
    """Run the tap's command line; known failures end with their one-line message."""
    try:
        TapTwitterMetrics.cli()
    except (FatalAPIError, OAuth2Error, ResponseFormatError) as error:
        logging.getLogger(TapTwitterMetrics.name).error("%s", error)
        sys.exit(1)


if __name__ == "__main__":
    main()
