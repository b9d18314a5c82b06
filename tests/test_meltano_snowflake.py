"""Scheduled syncs into Snowflake through Meltano: the real target-snowflake, an emulator.

`meltano --environment=ci run tap-twitter-metrics target-snowflake` runs twice, as in
test_meltano_postgres.py: each run from a fresh copy of the project, the state only in a
`file://` state backend, against the sandbox. The loader is meltanolabs-target-snowflake as
released, installed by Meltano; the warehouse is the Snowflake emulator of
tests/snowflake_emulator.py (fakesnow on DuckDB, over Snowflake's HTTP protocol, with the
user stage added), read back through the Snowflake client. What the emulator does not
reproduce is listed in the README's Snowflake paragraph.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest

from tap_twitter_metrics.catalogue import STREAM_NAMES, STREAMS
from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import expected_records, private_cutoff, timeline_posts
from tests.meltano_runs import (
    ANALYTICS_POST_AGE,
    SNAPSHOTS,
    Run,
    Snapshot,
    expected_analytics,
    expected_rows,
    meltano,
    midnight,
    parse_api_time,
    runner_checkout,
    runner_environment,
    schema_types,
    snapshot_rows,
)
from tests.snowflake_bridge import LOADER, Emulator, emulator
from tests.tapruns import CORE_STREAMS, DATA_STREAMS

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.expected import Expected

NEW_POSTS = 5
LOOKBACK_DAYS = 7
HISTORY_STREAMS = (*SNAPSHOTS, "tweet_analytics", "media_analytics")
# target-snowflake's column type for each JSON Schema kind.
SNOWFLAKE_TYPES = {
    "string": "TEXT",
    "date": "DATE",
    "date-time": "TIMESTAMP_NTZ",
    "integer": "NUMBER",
    "number": "FLOAT",
    "boolean": "BOOLEAN",
    "array": "VARIANT",
    "object": "VARIANT",
}
COMPARED_KINDS = {"string", "integer", "boolean"}

Rows = dict[t.Any, dict[str, t.Any]]


@dataclass
class Loaded:
    """One run and what the emulator held after it: rows by key, columns' types."""

    run: Run
    tables: dict[str, list[dict[str, t.Any]]]
    columns: dict[tuple[str, str], str]

    def rows(self, stream: str) -> Rows:
        """The stream's rows by key (as text), failing on a duplicate key."""
        rows = {table_key(stream, row): row for row in self.tables[stream]}
        assert len(rows) == len(self.tables[stream]), f"duplicate keys in {stream}"
        return rows


@dataclass
class Expectation:
    """The rows a run should leave: core streams' records, history rows, both by key."""

    core: Expected
    history: Snapshot

    def keys(self, stream: str) -> set[t.Any]:
        """The keys, as text, of the rows `stream` should hold."""
        rows = self.history[stream] if stream in HISTORY_STREAMS else self.core[stream]
        return {as_key(key) for key in rows}


def key_text(value: t.Any) -> str:
    """A key value as the emulator's rows print it: UTC times without a zone, dates ISO."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return value.isoformat() if isinstance(value, date) else str(value)


def as_key(key: t.Any) -> t.Any:
    """An expected row key in text form."""
    return tuple(map(key_text, key)) if isinstance(key, tuple) else key_text(key)


def table_key(stream: str, row: dict[str, t.Any]) -> t.Any:
    """A loaded row's key in text form."""
    values = [key_text(row[column]) for column in STREAMS[stream].key]
    return values[0] if len(values) == 1 else tuple(values)


class SnowflakePipeline:
    """The scheduled job into Snowflake: every run a fresh copy, the state in the backend."""

    def __init__(
        self, installed: Path, workdir: Path, sandbox: Sandbox, warehouse: Emulator
    ) -> None:
        self.installed = installed
        self.workdir = workdir
        self.sandbox = sandbox
        self.warehouse = warehouse
        self.runs = 0

    def environment(self) -> dict[str, str]:
        """The job's secrets: X credentials, Snowflake settings, the state backend."""
        credentials = {
            f"TAP_TWITTER_METRICS_{name.upper()}": value
            if isinstance(value, str)
            else json.dumps(value)
            for name, value in self.sandbox.config_for("oauth1").items()
        }
        state = (self.workdir / "state-backend").as_uri()
        settings = self.warehouse.target_settings()
        return runner_environment(**credentials, **settings, MELTANO_STATE_BACKEND_URI=state)

    def run(self) -> Loaded:
        """Run `meltano run tap-twitter-metrics target-snowflake` once in a fresh copy."""
        self.runs += 1
        project = runner_checkout(self.workdir / f"runner-{self.runs}", self.installed)
        self.sandbox.clear_requests()
        started = datetime.now(timezone.utc)
        command = ("--environment=ci", "run", "tap-twitter-metrics", LOADER)
        meltano(project, *command, env=self.environment(), log="meltano-run.log")
        run = Run(
            project=project,
            started=started,
            finished=datetime.now(timezone.utc),
            requests=list(self.sandbox.requests),
            tables={},
            had_system_db=False,
        )
        tables, columns = self.warehouse.dump()
        return Loaded(run=run, tables=tables, columns=columns)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The X API sandbox with a generated account."""
    with Sandbox(SandboxOptions(seed=7, posts=240)) as sb:
        yield sb


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The Snowflake emulator with an empty database."""
    with emulator(tmp_path_factory.mktemp("snowflake") / "emulator.log") as running:
        yield running


@pytest.fixture(scope="module")
def pipeline(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    warehouse: Emulator,
) -> SnowflakePipeline:
    """The scheduled job with target-snowflake installed beside the other plugins."""
    env = runner_environment()
    meltano(installed_project, "install", LOADER, env=env, log="install-sf.log")
    return SnowflakePipeline(installed_project, tmp_path_factory.mktemp("sf"), sandbox, warehouse)


def logged_private_cutoff(run: Run) -> datetime:
    """Where the run split its timeline: private fields asked for from this time on."""
    (start,) = {
        request.params["start_time"]
        for request in run.timeline_requests()
        if "non_public_metrics" in request.params.get("tweet.fields", "")
    }
    return parse_api_time(start)


@pytest.fixture(scope="module")
def first(pipeline: SnowflakePipeline, sandbox: Sandbox) -> tuple[Loaded, Expectation]:
    """The first run (no state) and the rows the sandbox account implies for it."""
    world = sandbox.world
    loaded = pipeline.run()
    cutoff = logged_private_cutoff(loaded.run)
    posts = timeline_posts(world, world.main_user_id)
    private = {post.id for post in posts if post.created_at >= cutoff}
    core = expected_records(world, posts, private_ids=private, users=[world.main_user_id])
    start = midnight(loaded.run.started - ANALYTICS_POST_AGE)
    history = snapshot_rows(core, loaded.run.day) | expected_analytics(world, loaded.run, start)
    return loaded, Expectation(core=core, history=history)


@pytest.fixture(scope="module")
def second(
    pipeline: SnowflakePipeline, sandbox: Sandbox, first: tuple[Loaded, Expectation]
) -> tuple[Loaded, Expectation]:
    """The next run, after new posts and grown figures, and the rows it should leave."""
    world = sandbox.world
    first_loaded, first_expected = first
    bookmark = max(post.created_at for post in timeline_posts(world, world.main_user_id))
    sandbox.advance(new_posts=NEW_POSTS, metric_growth=True)
    loaded = pipeline.run()
    since = (bookmark - timedelta(days=LOOKBACK_DAYS)).replace(microsecond=0)
    window = timeline_posts(world, world.main_user_id, since=since)
    private = {post.id for post in window if post.created_at >= private_cutoff()}
    in_window = expected_records(world, window, private_ids=private, users=[world.main_user_id])
    core = {s: first_expected.core.get(s, {}) | in_window.get(s, {}) for s in CORE_STREAMS}
    snapshots = snapshot_rows(in_window, loaded.run.day)
    history = {s: first_expected.history[s] | snapshots[s] for s in SNAPSHOTS}
    start = midnight(first_loaded.run.started - ANALYTICS_POST_AGE)
    history |= expected_analytics(world, loaded.run, start)
    return loaded, Expectation(core=core, history=history)


def assert_figures(loaded: Loaded, expected: Expectation, stream: str) -> None:
    """The stream's text, count and flag columns hold exactly the expected records' values."""
    kinds = schema_types(stream)
    rows = loaded.rows(stream)
    for key, record in expected_rows(stream, expected.core).items():
        row = rows[as_key(key)]
        for column, value in record.items():
            if kinds[column] in COMPARED_KINDS:
                assert row[column] == value, (stream, key, column)


def test_first_run_loads_one_table_per_stream(first: tuple[Loaded, Expectation]) -> None:
    loaded, _ = first
    assert sorted(loaded.tables) == sorted(STREAM_NAMES)


@pytest.mark.parametrize("stream", DATA_STREAMS)
def test_first_run_rows_are_the_records_the_sandbox_implies(
    first: tuple[Loaded, Expectation], stream: str
) -> None:
    loaded, expected = first
    assert set(loaded.rows(stream)) == expected.keys(stream)
    assert len(loaded.tables[stream]) == len(expected.keys(stream))
    assert expected.keys(stream), stream


@pytest.mark.parametrize("stream", CORE_STREAMS)
def test_first_run_figures_are_the_sandboxs(first: tuple[Loaded, Expectation], stream: str) -> None:
    assert_figures(*first, stream)


def test_key_columns_are_filled_and_typed(first: tuple[Loaded, Expectation]) -> None:
    loaded, _ = first
    for stream in STREAM_NAMES:
        kinds = schema_types(stream)
        for column in STREAMS[stream].key:
            assert loaded.columns[(stream, column)] == SNOWFLAKE_TYPES[kinds[column]]
            assert all(row[column] is not None for row in loaded.tables[stream]), stream


def test_column_types_fit_the_stream_schemas(first: tuple[Loaded, Expectation]) -> None:
    loaded, _ = first
    for stream in STREAM_NAMES:
        for column, kind in schema_types(stream).items():
            assert loaded.columns[(stream, column)] == SNOWFLAKE_TYPES[kind], (stream, column)


@pytest.mark.parametrize("stream", DATA_STREAMS)
def test_second_run_leaves_each_key_once(second: tuple[Loaded, Expectation], stream: str) -> None:
    loaded, expected = second
    assert set(loaded.rows(stream)) == expected.keys(stream)


@pytest.mark.parametrize("stream", CORE_STREAMS)
def test_second_run_figures_are_the_current_ones(
    second: tuple[Loaded, Expectation], stream: str
) -> None:
    assert_figures(*second, stream)


def test_second_run_updates_grown_figures_in_place(
    first: tuple[Loaded, Expectation], second: tuple[Loaded, Expectation]
) -> None:
    before = first[0].rows("tweet_public_metrics")
    after = second[0].rows("tweet_public_metrics")
    grown = [
        key for key in before if after[key]["impression_count"] != before[key]["impression_count"]
    ]
    assert grown, "the sandbox should have grown some figures inside the look-back window"
    assert len(after) == len(before) + NEW_POSTS
