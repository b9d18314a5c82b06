"""Scheduled syncs into a real PostgreSQL through Meltano, the way a CI runner does them.

Each run starts from a fresh copy of the project, as a CI job starts from a fresh checkout:
only the installed plugin virtualenvs are reused (a CI cache would restore them), and the
state lives in a `file://` state backend that outlives the copies, standing in for S3.
`meltano run tap-twitter-metrics target-postgres` runs for real, as a subprocess, against
the sandbox and a real PostgreSQL server; the assertions read the tables with SQL. Runs
over several simulated days are in test_meltano_days.py.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import yaml

from tap_twitter_metrics.catalogue import STREAM_NAMES, STREAMS
from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tap_twitter_metrics_sandbox.world import ODD_TEXTS
from tests.expected import as_loaded, expected_records, private_cutoff, timeline_posts
from tests.meltano_runs import (
    ANALYTICS,
    ANALYTICS_POST_AGE,
    COMMAND_TIMEOUT,
    REPO,
    SCHEMA,
    SNAPSHOTS,
    STATE_ID,
    Run,
    ScheduledPipeline,
    Snapshot,
    analytics_requests,
    api_time,
    assert_rows,
    expected_analytics,
    expected_rows,
    meltano,
    midnight,
    own_posts,
    own_videos,
    parse_api_time,
    runner_checkout,
    runner_environment,
    schema_types,
    snapshot_rows,
)
from tests.tapruns import CORE_STREAMS, DATA_STREAMS

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.expected import Expected
    from tests.pg import PostgresDatabase, PostgresServer

NEW_POSTS = 5
LOOKBACK_DAYS = 7
HISTORY_STREAMS = (*SNAPSHOTS, *ANALYTICS)
ID_PARAMS = {"tweet_analytics": "ids", "media_analytics": "media_keys"}
TYPE_NAMES = {
    "string": {"text", "character varying"},
    "date": {"date"},
    "date-time": {"timestamp without time zone", "timestamp with time zone"},
    "integer": {"bigint", "integer"},
    "number": {"numeric", "double precision"},
    "boolean": {"boolean"},
    "array": {"jsonb", "json", "ARRAY"},
    "object": {"jsonb", "json"},
}


@dataclass
class FirstRun:
    """The first scheduled run and the records the sandbox account implied for it."""

    run: Run
    expected: Expected
    history: Snapshot
    """The rows of the daily snapshot and analytics streams."""
    private_cutoff: datetime
    bookmark: datetime
    analytics_start: datetime


@dataclass
class SecondRun:
    """The run after the account gained posts and its recent metrics grew."""

    run: Run
    expected: Expected
    history: Snapshot
    window_start: datetime
    new_post_ids: set[str]
    window_post_ids: set[str]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The X API sandbox with its default generated account."""
    # Some posts carry odd text (emoji, right-to-left, NUL, half an emoji) or broken figures.
    options = SandboxOptions(
        seed=7, posts=240, partner_posts=40, odd_text=True, poison_metrics=True
    )
    with Sandbox(options) as sb:
        yield sb


@pytest.fixture(scope="module")
def database(pg_server: PostgresServer) -> Iterator[PostgresDatabase]:
    """An empty database on a real PostgreSQL server."""
    with pg_server.database("x_metrics") as db:
        yield db


@pytest.fixture(scope="module")
def pipeline(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    database: PostgresDatabase,
) -> ScheduledPipeline:
    """The scheduled job, not run yet."""
    return ScheduledPipeline(
        installed=installed_project,
        workdir=tmp_path_factory.mktemp("runners"),
        sandbox=sandbox,
        database=database,
    )


def logged_private_cutoff(run: Run) -> datetime:
    """Where the run split its timeline: private fields asked for from this time on."""
    starts = {
        request.params["start_time"]
        for request in run.timeline_requests()
        if "non_public_metrics" in request.params.get("tweet.fields", "")
    }
    assert len(starts) == 1, f"one private timeline window expected, got {starts}"
    return parse_api_time(starts.pop())


@pytest.fixture(scope="module")
def first_run(pipeline: ScheduledPipeline, sandbox: Sandbox) -> FirstRun:
    """The first scheduled run: no state yet, everything the API reaches."""
    world = sandbox.world
    run = pipeline.run()
    cutoff = logged_private_cutoff(run)
    posts = timeline_posts(world, world.main_user_id)
    expected = expected_records(
        world,
        posts,
        private_ids={post.id for post in posts if post.created_at >= cutoff},
        users=[world.main_user_id],
    )
    analytics_start = midnight(run.started - ANALYTICS_POST_AGE)
    history = snapshot_rows(expected, run.day) | expected_analytics(world, run, analytics_start)
    return FirstRun(
        run=run,
        expected=expected,
        history=history,
        private_cutoff=cutoff,
        bookmark=max(post.created_at for post in posts),
        analytics_start=analytics_start,
    )


@pytest.fixture(scope="module")
def second_run(pipeline: ScheduledPipeline, sandbox: Sandbox, first_run: FirstRun) -> SecondRun:
    """The next scheduled run, after new posts and grown metrics."""
    world = sandbox.world
    new_posts = sandbox.advance(new_posts=NEW_POSTS, metric_growth=True)
    window_start = first_run.bookmark - timedelta(days=LOOKBACK_DAYS)
    run = pipeline.run()
    window = timeline_posts(world, world.main_user_id, since=window_start.replace(microsecond=0))
    in_window = expected_records(
        world,
        window,
        private_ids={post.id for post in window if post.created_at >= private_cutoff()},
        users=[world.main_user_id],
    )
    expected: Expected = {
        stream: first_run.expected.get(stream, {}) | in_window.get(stream, {})
        for stream in CORE_STREAMS
    }
    snapshots = snapshot_rows(in_window, run.day)
    history = {stream: first_run.history[stream] | snapshots[stream] for stream in SNAPSHOTS}
    # The recent buckets read again, and every bucket of the new posts: all since the first.
    history |= expected_analytics(world, run, first_run.analytics_start)
    return SecondRun(
        run=run,
        expected=expected,
        history=history,
        window_start=window_start,
        new_post_ids={post.id for post in new_posts},
        window_post_ids={post.id for post in window},
    )


# The first run


def test_first_run_creates_one_table_per_selected_stream(first_run: FirstRun) -> None:
    assert sorted(first_run.run.tables) == sorted(STREAM_NAMES)


def test_first_run_loads_the_row_counts_the_account_implies(first_run: FirstRun) -> None:
    counts = {stream: len(table) for stream, table in first_run.run.tables.items()}
    expected = {stream: len(first_run.expected.get(stream, {})) for stream in CORE_STREAMS}
    expected |= {stream: len(first_run.history[stream]) for stream in HISTORY_STREAMS}
    expected["sync_runs"] = 1
    # These runs set no bearer_token, the only credential X's usage endpoint takes.
    expected["api_usage"] = 0
    assert counts == expected
    filled = {stream: count for stream, count in expected.items() if stream != "api_usage"}
    assert all(filled.values()), f"the sandbox account should fill every stream: {expected}"
    assert expected["tweet_metrics_daily"] == expected["tweets"]


@pytest.mark.parametrize("stream", CORE_STREAMS)
def test_first_run_loads_exact_values(first_run: FirstRun, stream: str) -> None:
    expected = expected_rows(stream, first_run.expected)
    assert_rows(first_run.run.tables[stream], expected)


@pytest.mark.parametrize("stream", HISTORY_STREAMS)
def test_first_run_loads_the_history_of_every_post_exactly(
    first_run: FirstRun, stream: str
) -> None:
    assert_rows(first_run.run.tables[stream], first_run.history[stream])


@pytest.mark.parametrize("stream", ANALYTICS)
def test_first_run_asks_analytics_of_every_young_own_post_since_30_days(
    first_run: FirstRun, sandbox: Sandbox, stream: str
) -> None:
    young = first_run.run.started - ANALYTICS_POST_AGE
    world = sandbox.world
    own = own_posts(world, young) if stream == "tweet_analytics" else own_videos(world, young)
    requests = analytics_requests(first_run.run, stream)
    asked = [key for request in requests for key in request.params[ID_PARAMS[stream]].split(",")]
    assert sorted(asked) == sorted(own)
    assert {request.params["start_time"] for request in requests} == {
        api_time(first_run.analytics_start)
    }
    assert {request.params["granularity"] for request in requests} == {"daily"}


def test_first_run_reads_private_metrics_only_inside_the_30_day_window(
    first_run: FirstRun,
) -> None:
    run = first_run.run
    edge = (private_cutoff(run.started), private_cutoff(run.finished))
    assert edge[0] - timedelta(seconds=1) <= first_run.private_cutoff <= edge[1]
    private = set(run.tables["tweet_non_public_metrics"])
    assert private
    assert all(
        row["created_at"] >= first_run.private_cutoff
        for key, row in run.tables["tweets"].items()
        if key in private
    )


def test_odd_text_loads_cleaned_only_where_postgresql_cannot_hold_it(
    first_run: FirstRun, sandbox: Sandbox
) -> None:
    world = sandbox.world
    tweets = first_run.run.tables["tweets"]
    texts = {kind: tweets[post_id]["text"] for kind, post_id in world.odd_text_post_ids.items()}
    assert texts == {
        **ODD_TEXTS,
        "nul": "Before a NULafter it",
        "lone_surrogate": "Cut off mid-emoji \ufffd",
    }
    with_entities = world.odd_text_post_ids["entity_nul"]
    entities = tweets[with_entities]["entities"]
    assert entities == as_loaded(world.odd_entities[with_entities])
    assert [tag["tag"] for tag in entities["hashtags"]] == ["launchday"]
    log = (first_run.run.project / "meltano-run.log").read_text()
    for kind in ("nul", "lone_surrogate", "entity_nul"):
        assert log.count(f"Value changed to load: post {world.odd_text_post_ids[kind]} ") == 1


def test_a_figure_that_is_no_count_loads_as_null_and_keeps_its_post(
    first_run: FirstRun, sandbox: Sandbox
) -> None:
    world = sandbox.world
    tables = first_run.run.tables
    public = tables["tweet_public_metrics"]
    columns = {post: path.split(".")[1] for post, (path, _) in world.poisoned_posts.items()}
    assert {post: public[post][column] for post, column in columns.items()} == dict.fromkeys(
        columns
    )
    assert set(columns) <= set(tables["tweets"])
    assert tables["users"][world.main_user_id]["followers_count"] is None
    log = (first_run.run.project / "meltano-run.log").read_text()
    for post, (path, _) in world.poisoned_posts.items():
        assert log.count(f"Value changed to load: post {post} {path}: ") == 1


def test_observed_at_is_the_time_of_the_run(first_run: FirstRun) -> None:
    run = first_run.run
    for stream in DATA_STREAMS:
        if stream in {"tweets", "media"}:
            continue
        times = {row["observed_at"] for row in run.tables[stream].values()}
        assert times, stream
        assert all(run.started - timedelta(seconds=1) <= moment <= run.finished for moment in times)


def test_tables_have_the_streams_primary_keys(
    first_run: FirstRun, database: PostgresDatabase
) -> None:
    with database.connect() as connection:
        rows = connection.execute(
            """
            SELECT tc.table_name, kcu.column_name
            FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage kcu
              ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
            WHERE tc.table_schema = %s AND tc.constraint_type = 'PRIMARY KEY'
            ORDER BY tc.table_name, kcu.ordinal_position
            """,
            (SCHEMA,),
        ).fetchall()
    assert first_run.run.tables
    keys: dict[str, tuple[str, ...]] = {}
    for table, column in rows:
        keys[table] = (*keys.get(table, ()), column)
    assert keys == {stream: STREAMS[stream].key for stream in STREAM_NAMES}
    # The history streams (per post or video and time) and X's usage (per app and day).
    two_columns = sorted([*HISTORY_STREAMS, "api_usage"])
    assert [stream for stream, key in keys.items() if len(key) == 2] == two_columns


def test_column_types_fit_the_stream_schemas(
    first_run: FirstRun, database: PostgresDatabase
) -> None:
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND column_name NOT LIKE '\\_sdc\\_%%'",
            (SCHEMA,),
        ).fetchall()
    assert first_run.run.tables
    actual = {(table, column): data_type for table, column, data_type in rows}
    for stream in STREAM_NAMES:
        for column, kind in schema_types(stream).items():
            assert actual[(stream, column)] in TYPE_NAMES[kind], (stream, column, kind)
    counts = {key: kind for key, kind in actual.items() if key[1].endswith("_count")}
    assert counts
    assert set(counts.values()) <= {"bigint", "integer"}


# The second run


def test_second_run_reads_only_the_lookback_window(
    first_run: FirstRun, second_run: SecondRun
) -> None:
    requests = second_run.run.timeline_requests()
    assert requests
    assert {request.params.get("start_time") for request in requests} == {
        api_time(second_run.window_start)
    }
    assert all("end_time" not in request.params for request in requests)
    pages = math.ceil(len(second_run.window_post_ids) / 100)
    assert len(requests) <= pages + 1
    assert len(second_run.run.requests) < len(first_run.run.requests)


def test_second_run_adds_the_new_posts(first_run: FirstRun, second_run: SecondRun) -> None:
    tweets = second_run.run.tables["tweets"]
    assert second_run.new_post_ids <= set(tweets)
    assert set(tweets) == set(first_run.run.tables["tweets"]) | second_run.new_post_ids


@pytest.mark.parametrize("stream", CORE_STREAMS)
def test_second_run_leaves_exactly_the_current_figures(second_run: SecondRun, stream: str) -> None:
    expected = expected_rows(stream, second_run.expected)
    assert_rows(second_run.run.tables[stream], expected)


@pytest.mark.parametrize("stream", HISTORY_STREAMS)
def test_second_run_leaves_exactly_the_history_the_account_implies(
    second_run: SecondRun, stream: str
) -> None:
    assert_rows(second_run.run.tables[stream], second_run.history[stream])


def test_a_second_run_on_the_same_day_updates_that_days_snapshots_in_place(
    first_run: FirstRun, second_run: SecondRun
) -> None:
    before = first_run.run.tables["tweet_metrics_daily"]
    after = second_run.run.tables["tweet_metrics_daily"]
    day = second_run.run.day
    assert first_run.run.day == day, "both runs on one UTC day"
    assert set(after) == {(post_id, day) for post_id in second_run.run.tables["tweets"]}
    assert set(after) == set(before) | {(post_id, day) for post_id in second_run.new_post_ids}
    read_again = {(post_id, day) for post_id in second_run.window_post_ids} & set(before)
    assert read_again
    assert all(after[key]["observed_at"] > before[key]["observed_at"] for key in read_again)
    grown = [
        key
        for key in read_again
        if after[key]["public_impression_count"] != before[key]["public_impression_count"]
    ]
    assert grown, "the sandbox should have grown some metrics inside the window"
    unread = set(before) - read_again
    assert unread
    assert {key: after[key] for key in unread} == {key: before[key] for key in unread}


def test_second_run_updates_lookback_posts_in_place(
    first_run: FirstRun, second_run: SecondRun
) -> None:
    before = first_run.run.tables["tweet_public_metrics"]
    after = second_run.run.tables["tweet_public_metrics"]
    grown = [
        key
        for key in second_run.window_post_ids & set(before)
        if before[key]["impression_count"] != after[key]["impression_count"]
    ]
    assert grown, "the sandbox should have grown some metrics inside the window"
    for key in second_run.window_post_ids:
        assert after[key]["observed_at"] >= second_run.run.started - timedelta(seconds=1)


def test_posts_outside_the_window_keep_their_rows(
    first_run: FirstRun, second_run: SecondRun
) -> None:
    for stream in CORE_STREAMS:
        if not stream.startswith("tweet"):
            continue
        before = first_run.run.tables[stream]
        after = second_run.run.tables[stream]
        outside = set(before) - second_run.window_post_ids
        assert {key: after[key] for key in outside} == {key: before[key] for key in outside}
    assert set(first_run.run.tables["tweet_public_metrics"]) - second_run.window_post_ids


def test_each_run_leaves_one_sync_runs_row_with_what_it_asked(
    first_run: FirstRun, second_run: SecondRun, sandbox: Sandbox
) -> None:
    rows = list(second_run.run.tables["sync_runs"].values())
    runs = (first_run.run, second_run.run)
    assert sorted(row["requests"] for row in rows) == sorted(len(run.requests) for run in runs)
    assert [row["accounts"] for row in rows] == [[sandbox.world.main_user_id]] * 2
    assert all(row["retries"] == row["waits"] == 0 for row in rows)
    assert sorted(row["started_at"] for row in rows)[1] >= first_run.run.finished


def test_no_row_is_marked_deleted(second_run: SecondRun) -> None:
    for stream, table in second_run.run.tables.items():
        assert all(row.get("_sdc_deleted_at") is None for row in table.values()), stream


# The state


def test_state_lives_in_the_state_backend_only(
    pipeline: ScheduledPipeline, first_run: FirstRun, second_run: SecondRun
) -> None:
    state_files = list(pipeline.state_dir.rglob("state.json"))
    assert len(state_files) == 1
    assert state_files[0].parent.name == STATE_ID
    state_text = state_files[0].read_text()
    newest = max(second_run.expected["tweets"].values(), key=lambda record: record["created_at"])
    assert newest["created_at"] in state_text
    credentials = pipeline.sandbox.config_for("oauth1")
    for name, value in credentials.items():
        assert name == "api_url" or value not in state_text, f"{name} leaked into the state"
    assert first_run.run.project != second_run.run.project
    for run in (first_run.run, second_run.run):
        assert not run.had_system_db, "a runner started with a system database"
        with sqlite3.connect(run.project / ".meltano" / "meltano.db") as system_db:
            (count,) = system_db.execute("SELECT count(*) FROM state").fetchone()
        assert count == 0, "state was written to the runner's system database"


# The project's other paths


def test_settings_are_read_from_environment_variables(installed_project: Path) -> None:
    env = runner_environment(
        TAP_TWITTER_METRICS_BEARER_TOKEN="token-from-env",
        TAP_TWITTER_METRICS_USER_IDS='["2244994945"]',
        TAP_TWITTER_METRICS_LOOKBACK_DAYS="3",
        TAP_TWITTER_METRICS_START_DATE="2025-01-01T00:00:00Z",
    )
    output = meltano(
        installed_project,
        "--environment=prod",
        "config",
        "--unsafe",
        "print",
        "tap-twitter-metrics",
        env=env,
        log="meltano-config.log",
    )
    config = json.loads(output[output.index("{") : output.rindex("}") + 1])
    assert config["bearer_token"] == "token-from-env"
    assert config["user_ids"] == ["2244994945"]
    assert config["lookback_days"] == 3
    assert config["start_date"] == "2025-01-01T00:00:00Z"
    assert config["exclude"] == ["retweets"]


@pytest.mark.parametrize("loader", ["target-postgres", "target-snowflake"])
def test_prod_pipelines_are_valid_meltano_runs(
    installed_project: Path, tmp_path: Path, loader: str
) -> None:
    project = runner_checkout(tmp_path / "prod", installed_project)
    output = meltano(
        project,
        "--environment=prod",
        "run",
        "--dry-run",
        "--no-install",
        "tap-twitter-metrics",
        loader,
        env=runner_environment(),
        log="meltano-dry-run.log",
    )
    assert "would have run block 1/1" in output


@pytest.mark.parametrize("plugin", ["tap-twitter-metrics", "target-postgres"])
def test_declared_settings_exist_in_the_plugin(installed_project: Path, plugin: str) -> None:
    kind = "extractors" if plugin.startswith("tap-") else "loaders"
    executable = installed_project / ".meltano" / kind / plugin / "venv" / "bin" / plugin
    about = subprocess.run(
        [str(executable), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=True,
    )
    properties = json.loads(about.stdout)["settings"]["properties"]
    declared = yaml.safe_load((REPO / "meltano.yml").read_text())["plugins"][kind]
    (definition,) = [entry for entry in declared if entry["name"] == plugin]
    assert {setting["name"] for setting in definition["settings"]} <= set(properties)


def test_dev_environment_writes_every_stream_to_jsonl(
    installed_project: Path, tmp_path: Path
) -> None:
    project = runner_checkout(tmp_path / "dev", installed_project)
    with Sandbox(SandboxOptions()) as sb:
        # Everything else, the demo credentials included, comes from the dev environment.
        env = runner_environment(TAP_TWITTER_METRICS_API_URL=sb.url)
        meltano(project, "run", "tap-twitter-metrics", "target-jsonl", env=env, log="dev.log")
        posts = timeline_posts(sb.world, sb.world.main_user_id)
    files = {path.stem: path for path in (project / "output").glob("*.jsonl")}
    assert sorted(files) == sorted(STREAM_NAMES)
    assert all(path.read_text().strip() for path in files.values())
    tweets = [json.loads(line) for line in files["tweets"].read_text().splitlines()]
    assert sorted(tweet["id"] for tweet in tweets) == sorted(post.id for post in posts)
