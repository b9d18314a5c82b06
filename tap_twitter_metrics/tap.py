"""The tap: its settings, its streams and the pass over the API that feeds them."""

from __future__ import annotations

import copy
import logging
import signal
import sys
import threading
import typing as t
from datetime import datetime, timezone

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.singerlib import Catalog, StateMessage
from singer_sdk.tap_base import CliTestOptionValue

from tap_twitter_metrics.bookmarks import StateError, check_bookmarks
from tap_twitter_metrics.catalogue import STREAM_NAMES, USER_CONTEXT_STREAMS
from tap_twitter_metrics.client import RunStats, XApiClient
from tap_twitter_metrics.credentials import Credentials, credentials_from
from tap_twitter_metrics.harvest import Harvest, LazyHarvest
from tap_twitter_metrics.inputs import (
    BadInputError,
    CheckedJsonFile,
    catalog_input,
    catalog_problem,
    checked,
    config_input,
    read_json_object,
    state_problem,
)
from tap_twitter_metrics.oauth2 import OAuth2Error
from tap_twitter_metrics.records import ResponseFormatError
from tap_twitter_metrics.selection import Selection
from tap_twitter_metrics.settings import (
    CONFIG_SCHEMA,
    config_errors,
    schema_errors,
    unknown_settings,
)
from tap_twitter_metrics.streams import discover
from tap_twitter_metrics.writer import RecordBufferingWriter

if t.TYPE_CHECKING:
    from pathlib import PurePath
    from types import FrameType

    import click

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

    def __init__(
        self,
        *,
        config: dict[str, t.Any] | PurePath | str | list[PurePath | str] | None = None,
        catalog: PurePath | str | dict[str, t.Any] | Catalog | None = None,
        state: PurePath | str | dict[str, t.Any] | None = None,
        validate_config: bool = True,
        **kwargs: t.Any,
    ) -> None:
        """Read and check the inputs; refuse every bad setting in one report.

        Paths are read here, not by the SDK, so that a bad file is named in one line.
        """
        try:
            super().__init__(
                config=config_input(config),
                catalog=catalog_input(catalog),
                state=checked(state, "state", state_problem),
                validate_config=validate_config,
                **kwargs,
            )
        except ConfigValidationError:
            # The SDK stops at JSON Schema errors, before the tap's own checks, and its
            # messages quote values: a secret of the wrong type would show.
            self._check_config(validate=True)
            msg = "Config validation failed"
            raise ConfigValidationError(msg, errors=["config: does not match its schema"]) from None
        self._check_config(validate=validate_config)
        for moved in check_bookmarks(self.state, datetime.now(timezone.utc)):
            self.logger.warning("State: %s is in the future and is read as now.", moved)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._exit_on_signal)
            signal.signal(signal.SIGTERM, self._exit_on_signal)

    def _check_config(self, *, validate: bool) -> None:
        """Warn of each unknown setting; refuse every bad one (when validating) in one report."""
        schema = self.config_jsonschema
        for warning in unknown_settings(self.config, schema["properties"]):
            self.logger.warning(warning)
        if validate and (
            errors := [*schema_errors(self.config, schema), *config_errors(self.config)]
        ):
            msg = "Config validation failed"
            raise ConfigValidationError(msg, errors=errors, schema=schema)

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Check each --config file whole, naming it, before the SDK reads them."""
        for path in value:
            if path != "ENV":
                read_json_object(path, "--config")
        return super().cb_config(ctx, param, value)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with --catalog and --state files checked whole, naming them."""
        command = super().get_singer_command()
        for param in command.params:
            if param.name == "catalog":
                param.type = CheckedJsonFile("catalog", catalog_problem)
            elif param.name == "state":
                param.type = CheckedJsonFile("state", state_problem)
        return command

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
        streams = t.cast("dict[str, CatalogueStream]", self.streams)
        # What reaches the target: `tweets` is synced, not written, when only needed.
        selection = Selection(frozenset(name for name, stream in streams.items() if stream.writes))
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
            account_id=credentials.account_id,
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
        reads_accounts = selection.wants_posts or selection.wants_users
        if not targets and not credentials.user_context and reads_accounts:
            errors.append(
                "Nothing to read: set user_ids, usernames or tweet_ids (with only a "
                "bearer_token there is no authenticated account to default to)."
            )
        if errors:
            msg = "The selected streams cannot be synced with these settings"
            raise ConfigValidationError(msg, errors=errors)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: check the credentials and each account with one small read; sync nothing.

        The SDK's dry run writes a record of each stream, logs each stream it stops as an error
        and exits 0 whatever happened; a failed check here exits 1 with its one line.
        `--test=schema` stays the SDK's.
        """
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config = ctx.params["config"]
        tap = cls(config=config.config, parse_env_config=config.parse_env)
        tap.logger.info("Connection test passed: %s.", tap.open_pass().check_connection())
        ctx.exit()

    def _exit_on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Write the state, then exit as killed (128 + signal), not as a success."""
        self.logger.info("Gracefully shutting down...")
        # Sent even when unchanged, so that the records before it go out first and the state
        # is the last message a target sees.
        self.write_message(StateMessage(value=self.state))
        sys.exit(128 + signum)


def main() -> None:
    """Run the tap's command line; known failures end with their one-line message."""
    try:
        TapTwitterMetrics.cli()
    except (FatalAPIError, OAuth2Error, ResponseFormatError, StateError, BadInputError) as error:
        logging.getLogger(TapTwitterMetrics.name).error("%s", error)
        sys.exit(1)
    except ConfigValidationError as error:
        # The SDK reports these itself for a sync, but not when `--test` builds the tap.
        for line in [*error.errors, str(error)]:
            logging.getLogger(TapTwitterMetrics.name).error("%s", line)
        sys.exit(1)


if __name__ == "__main__":
    main()
