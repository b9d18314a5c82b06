"""A daily schedule over three simulated days, through Meltano into a real PostgreSQL.

Between runs the sandbox's world moves a day ahead (new posts, grown figures) and the next
`meltano run tap-twitter-metrics target-postgres` runs with its clock moved as far by
libfaketime (meltano, the tap and the target see it; the PostgreSQL server does not). Each
run starts from a fresh project copy with the state only in a `file://` state backend, as in
test_meltano_postgres.py. The last day runs twice, after more growth, to show that a second
run on the same day updates that day's rows in place.

The SQL queries of the README's "Metrics over time" section run against the loaded tables
(the hourly one against a database loaded with hourly analytics), their results computed
from the sandbox world.
"""

from __future__ import annotations

import re
import time
import typing as t
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import expected_records, private_cutoff, timeline_posts
from tests.meltano_runs import (
    ANALYTICS,
    ANALYTICS_POST_AGE,
    DAY,
    REPO,
    SNAPSHOTS,
    Run,
    ScheduledPipeline,
    Snapshot,
    Table,
    analytics_requests,
    analytics_rows,
    api_time,
    assert_rows,
    comparable,
    expected_analytics,
    midnight,
    own_posts,
    parse_api_time,
    snapshot_rows,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tap_twitter_metrics_sandbox.world import World
    from tests.pg import PostgresDatabase, PostgresServer

SIMULATED_DAYS = (0, 1, 2)
NEW_POSTS = 3
LOOKBACK = timedelta(days=7)
# The database the README's hourly query reads: only posts of the last few days, for speed.
HOURLY_POST_AGE_DAYS = 4
HOURLY_SETTINGS = {
    "TAP_TWITTER_METRICS_ANALYTICS_GRANULARITY": "hourly",
    "TAP_TWITTER_METRICS_ANALYTICS_POST_AGE_DAYS": str(HOURLY_POST_AGE_DAYS),
    "TAP_TWITTER_METRICS__SELECT": '["tweets.*", "tweet_analytics.*"]',
}


@dataclass
class DailyRun:
    """One run of the schedule and the snapshot rows it should have written."""

    days_ahead: int
    run: Run
    snapshots: Snapshot
    posts_read: set[str]


@dataclass
class Schedule:
    """The runs, oldest first (the last one repeats the last day), and the final expectation."""

    runs: list[DailyRun]
    expected: Snapshot
    analytics_start: datetime

    @property
    def last(self) -> Run:
        """The repeated run of the last day."""
        return self.runs[-1].run

    @property
    def before_repeat(self) -> Run:
        """The first run of the last day."""
        return self.runs[-2].run


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A small account: 30 posts of the last 26 days, and older ones."""
    with Sandbox(SandboxOptions(seed=3, posts=120, partner_posts=10)) as sb:
        yield sb


@pytest.fixture(scope="module")
def database(pg_server: PostgresServer) -> Iterator[PostgresDatabase]:
    """The warehouse of the daily schedule."""
    with pg_server.database("x_metrics_days") as db:
        yield db


def advance(sandbox: Sandbox, *, days_ahead: int, new_posts: int) -> None:
    """Move the world's clock to now plus `days_ahead` days: new posts, grown figures."""
    now_ms = int((time.time() + days_ahead * DAY.total_seconds()) * 1000)
    with sandbox.app.lock:
        sandbox.world.advance(new_posts=new_posts, metric_growth=True, now_ms=now_ms)


def daily_run(pipeline: ScheduledPipeline, days_ahead: int, since: datetime | None) -> DailyRun:
    """Run the pipeline on a simulated day; the posts it reads are those from `since` on."""
    run = pipeline.run(days_ahead=days_ahead)
    world = pipeline.sandbox.world
    posts = timeline_posts(world, world.main_user_id, since=since)
    private = {post.id for post in posts if post.created_at >= private_cutoff(run.started)}
    expected = expected_records(world, posts, private_ids=private)
    return DailyRun(days_ahead, run, snapshot_rows(expected, run.day), {p.id for p in posts})


@pytest.fixture(scope="module")
def schedule(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    database: PostgresDatabase,
) -> Schedule:
    """Three simulated days of the daily job, the last one run twice."""
    pipeline = ScheduledPipeline(
        installed=installed_project,
        workdir=tmp_path_factory.mktemp("days"),
        sandbox=sandbox,
        database=database,
    )
    world = sandbox.world
    runs: list[DailyRun] = []
    since: datetime | None = None
    for days_ahead in (*SIMULATED_DAYS, SIMULATED_DAYS[-1]):
        if days_ahead:
            repeat = days_ahead == runs[-1].days_ahead
            advance(sandbox, days_ahead=days_ahead, new_posts=0 if repeat else NEW_POSTS)
        runs.append(daily_run(pipeline, days_ahead, since))
        # The bookmark is the newest post read; the next run reads the look-back before it.
        since = max(post.created_at for post in world.timeline(world.main_user_id)) - LOOKBACK
    expected: Snapshot = {stream: {} for stream in SNAPSHOTS}
    for day in runs:
        for stream in SNAPSHOTS:
            expected[stream] |= day.snapshots[stream]
    analytics_start = midnight(runs[0].run.started - ANALYTICS_POST_AGE)
    expected |= expected_analytics(world, runs[-1].run, analytics_start)
    return Schedule(runs=runs, expected=expected, analytics_start=analytics_start)


# The days


def test_each_run_ran_on_its_simulated_day(schedule: Schedule) -> None:
    first = schedule.runs[0].run.day
    assert [day.run.day for day in schedule.runs] == [
        first + day.days_ahead * DAY for day in schedule.runs
    ]
    assert [day.days_ahead for day in schedule.runs] == [*SIMULATED_DAYS, SIMULATED_DAYS[-1]]
    for day in schedule.runs:
        observed = max(
            row["observed_at"] for row in day.run.tables["tweet_public_metrics"].values()
        )
        assert observed.date() == day.run.day, "the tap read at the run's (moved) time"


def test_the_postgres_server_keeps_the_real_clock(
    schedule: Schedule, database: PostgresDatabase
) -> None:
    with database.connect() as connection:
        row = connection.execute("SELECT now(), pg_postmaster_start_time()").fetchone()
    assert row is not None
    server_now, started = row
    real_now = datetime.now(timezone.utc)
    assert abs(server_now - real_now) < timedelta(minutes=1)
    assert started <= real_now
    assert schedule.last.started - real_now > timedelta(days=1)


@pytest.mark.parametrize("stream", SNAPSHOTS)
def test_snapshots_hold_one_row_per_post_and_simulated_day_with_its_figures(
    schedule: Schedule, stream: str
) -> None:
    table = schedule.last.tables[stream]
    assert_rows(table, schedule.expected[stream])
    read: dict[date, set[str]] = defaultdict(set)
    for day in schedule.runs:
        read[day.run.day] |= {key for key, _day in day.snapshots[stream]}
    assert len(read) == len(SIMULATED_DAYS)
    assert {day: {key for key, on in table if on == day} for day in read} == read
    tweets = {key for key, _day in schedule.last.tables["tweet_metrics_daily"]}
    assert tweets == set(schedule.last.tables["tweets"])


def test_later_days_snapshot_the_lookback_window_and_the_new_posts(schedule: Schedule) -> None:
    first, *later = schedule.runs
    assert first.posts_read == set(first.run.tables["tweets"])
    known = first.posts_read
    new_per_day = []
    for day in later:
        posts = set(day.run.tables["tweets"])
        assert posts - known <= day.posts_read < posts
        new_per_day.append(len(posts - known))
        known = posts
    assert new_per_day == [NEW_POSTS, NEW_POSTS, 0]


@pytest.mark.parametrize("stream", ANALYTICS)
def test_analytics_hold_every_bucket_of_the_young_own_posts_with_its_final_figures(
    schedule: Schedule, stream: str
) -> None:
    assert_rows(schedule.last.tables[stream], schedule.expected[stream])
    requests = analytics_requests(schedule.runs[0].run, stream)
    assert {request.params["start_time"] for request in requests} == {
        api_time(schedule.analytics_start)
    }


def test_every_young_own_post_has_a_bucket_for_each_day_of_its_life(
    schedule: Schedule, sandbox: Sandbox
) -> None:
    world = sandbox.world
    last_day = schedule.last.day
    table = schedule.last.tables["tweet_analytics"]
    posts = own_posts(world, schedule.last.started - ANALYTICS_POST_AGE)
    assert len(posts) > 20
    for post_id in posts:
        created = world.posts_by_id[post_id].created_at.date()
        days = sorted(at.date() for key, at in table if key == post_id)
        assert days == [created + n * DAY for n in range((last_day - created).days + 1)]
    grown_today = [
        row for (_key, at), row in table.items() if at.date() == last_day and row["impressions"]
    ]
    assert grown_today, "the growth of the last day is in its buckets"


def day_of(key: tuple[str, date]) -> date:
    """The day of a snapshot's or a daily bucket's key."""
    moment = key[1]
    return moment.date() if isinstance(moment, datetime) else moment


def test_a_second_run_on_the_same_day_duplicates_nothing(schedule: Schedule) -> None:
    before, after = schedule.before_repeat.tables, schedule.last.tables
    # One row more in sync_runs, the repeated run's own; no other table grows.
    assert {name: len(rows) for name, rows in after.items()} == {
        name: len(rows) + (name == "sync_runs") for name, rows in before.items()
    }
    today, started = schedule.last.day, schedule.last.started - timedelta(seconds=1)
    for stream in SNAPSHOTS:
        # The posts read again have that day's row updated; every other row stays.
        again = set(schedule.runs[-1].snapshots[stream])
        assert again
        assert {day_of(key) for key in again} == {today}
        assert all(after[stream][key]["observed_at"] >= started for key in again), stream
        kept = set(before[stream]) - again
        assert {day_of(key) for key in kept} >= {day.run.day for day in schedule.runs[:-2]}
        assert [after[stream][key] for key in kept] == [before[stream][key] for key in kept]
    for stream in ANALYTICS:
        # The buckets of the last days are read again: only the day's own can have changed.
        earlier = [key for key in before[stream] if day_of(key) != today]
        assert [figures(after[stream][key]) for key in earlier] == [
            figures(before[stream][key]) for key in earlier
        ]
        read = [key for key, row in after[stream].items() if row["observed_at"] >= started]
        assert {day_of(key) for key in read} == {today - n * DAY for n in range(8)}


def figures(row: dict[str, t.Any]) -> dict[str, t.Any]:
    """A row without its read time."""
    return {
        column: value
        for column, value in row.items()
        if not column.startswith(("observed_at", "_sdc_"))
    }


@pytest.mark.parametrize(
    ("stream", "column"),
    [("tweet_metrics_daily", "public_impression_count"), ("tweet_analytics", "impressions")],
)
def test_the_same_days_growth_updates_its_rows_in_place(
    schedule: Schedule, stream: str, column: str
) -> None:
    before = schedule.before_repeat.tables[stream]
    after = schedule.last.tables[stream]
    grown = [key for key, row in after.items() if row[column] != before[key][column]]
    assert grown
    assert {day_of(key) for key in grown} == {schedule.last.day}
    assert all(after[key][column] > before[key][column] for key in grown)


# The README's queries


@pytest.fixture(scope="module")
def hourly(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    pg_server: PostgresServer,
    schedule: Schedule,
) -> Iterator[tuple[PostgresDatabase, Run]]:
    """A warehouse loaded on the last day with hourly analytics of the posts of a few days."""
    with pg_server.database("x_metrics_hourly") as db:
        pipeline = ScheduledPipeline(
            installed=installed_project,
            workdir=tmp_path_factory.mktemp("hourly"),
            sandbox=sandbox,
            database=db,
            settings=HOURLY_SETTINGS,
        )
        yield db, pipeline.run(days_ahead=schedule.runs[-1].days_ahead)


def readme_queries() -> list[str]:
    """The SQL blocks of the README's "Metrics over time" section."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Metrics over time\n") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```sql\n(.*?)```", section, re.DOTALL)


def gains_per_day(table: Table, column: str, since: date) -> list[tuple[t.Any, ...]]:
    """Per snapshot day, what the resources' `column` gained since their previous snapshot."""
    history: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for (key, day), row in table.items():
        history[key].append((day, row[column]))
    gained: Counter[date] = Counter()
    for days in history.values():
        previous = 0
        for day, value in sorted(days):
            gained[day] += value - previous
            previous = value
    return [(day, gained[day]) for day in sorted(gained) if day >= since]


def sums_per_day(table: Table, columns: tuple[str, ...], since: date) -> list[tuple[t.Any, ...]]:
    """Per day, the sums of `columns` over the daily buckets of every resource."""
    sums: dict[date, Counter[str]] = defaultdict(Counter)
    for (_key, at), row in table.items():
        sums[at.date()].update({column: row[column] for column in columns})
    return [(day, *(sums[day][c] for c in columns)) for day in sorted(sums) if day >= since]


def first_72_hours(world: World, run: Run) -> list[tuple[t.Any, ...]]:
    """Each post's hourly impressions and their running total over its first 72 hours."""
    (request,) = analytics_requests(run, "tweet_analytics")
    start, end = (parse_api_time(request.params[name]) for name in ("start_time", "end_time"))
    posts = own_posts(world, end - timedelta(days=HOURLY_POST_AGE_DAYS))
    assert sorted(request.params["ids"].split(",")) == sorted(posts)
    rows = []
    for post_id in sorted(posts):
        created = world.posts_by_id[post_id].created_at
        buckets = analytics_rows(
            world, "tweet_analytics", [post_id], granularity="hourly", start=start, end=end
        )
        total = 0
        for (_key, at), row in sorted(buckets.items()):
            if at < created + timedelta(hours=72):
                total += row["impressions"]
                rows.append((post_id, at, row["impressions"], total))
    return rows


# What each query should return, found by what it reads.
README_QUERIES: dict[tuple[str, ...], Callable[[Schedule, World, Run, date], list[t.Any]]] = {
    ("tweet_metrics_daily",): lambda schedule, _world, _run, today: gains_per_day(
        schedule.expected["tweet_metrics_daily"], "public_impression_count", today - 14 * DAY
    ),
    ("media_metrics_daily",): lambda schedule, _world, _run, today: gains_per_day(
        schedule.expected["media_metrics_daily"], "public_view_count", today - 14 * DAY
    ),
    ("tweet_analytics", "'hourly'"): lambda _schedule, world, run, _today: first_72_hours(
        world, run
    ),
    ("tweet_analytics", "'daily'"): lambda schedule, _world, _run, today: sums_per_day(
        schedule.expected["tweet_analytics"], ("impressions",), today - 14 * DAY
    ),
    ("media_analytics", "'daily'"): lambda schedule, _world, _run, today: sums_per_day(
        schedule.expected["media_analytics"], ("video_views", "playback_complete"), today - 14 * DAY
    ),
}


def test_the_readme_shows_one_query_per_history_stream_and_each_is_tested() -> None:
    queries = readme_queries()
    matched = [
        [query for query in queries if all(marker in query for marker in markers)]
        for markers in README_QUERIES
    ]
    assert [len(found) for found in matched] == [1] * len(README_QUERIES)
    assert sorted(query for found in matched for query in found) == sorted(queries)
    for stream in (*SNAPSHOTS, *ANALYTICS):
        assert any(f"tap_twitter_metrics.{stream}" in query for query in queries), stream


@pytest.mark.parametrize("markers", README_QUERIES, ids=" ".join)
def test_a_readme_query_gives_what_the_sandbox_world_implies(
    schedule: Schedule,
    sandbox: Sandbox,
    database: PostgresDatabase,
    hourly: tuple[PostgresDatabase, Run],
    markers: tuple[str, ...],
) -> None:
    (query,) = [q for q in readme_queries() if all(marker in q for marker in markers)]
    hourly_db, hourly_run = hourly
    warehouse = hourly_db if "'hourly'" in markers else database
    with warehouse.connect() as connection:
        today = connection.execute("SELECT current_date").fetchone()
        rows = connection.execute(query.encode()).fetchall()
    assert today is not None
    expected = README_QUERIES[markers](schedule, sandbox.world, hourly_run, today[0])
    assert len(expected) > 2
    assert [tuple(comparable(value) for value in row) for row in rows] == expected


def test_the_hourly_warehouse_holds_only_the_selected_streams(
    hourly: tuple[PostgresDatabase, Run],
) -> None:
    _db, run = hourly
    assert sorted(run.tables) == ["tweet_analytics", "tweets"]
    assert {row["granularity"] for row in run.tables["tweet_analytics"].values()} == {"hourly"}
