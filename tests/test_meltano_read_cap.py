"""A capped first sync through real Meltano into PostgreSQL: scheduled runs finish it.

Each run is a fresh copy of the project whose state lives in Meltano's state backend, as a
CI schedule runs it, with `max_billed_reads_per_run` set by its environment. The sandbox
counts what it serves: no run passes the cap, and every post is served exactly once over
all the runs, so each lands in its table once.
"""

from __future__ import annotations

import typing as t

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import timeline_posts
from tests.meltano_runs import ScheduledPipeline

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tap_twitter_metrics_sandbox.usage import UsageCounts
    from tests.meltano_runs import Run
    from tests.pg import PostgresDatabase, PostgresServer

CAP = 1000
SETTINGS = {
    "TAP_TWITTER_METRICS__SELECT": '["tweets.*", "tweet_public_metrics.*", "sync_runs.*"]',
    "TAP_TWITTER_METRICS_MAX_BILLED_READS_PER_RUN": str(CAP),
    "TAP_TWITTER_METRICS_LOOKBACK_DAYS": "0",
    "TAP_TWITTER_METRICS_EXCLUDE": "[]",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """An account with more posts than the timeline reaches (3,200)."""
    with Sandbox(SandboxOptions(seed=7, posts=3300, partner_posts=5)) as sb:
        yield sb


@pytest.fixture(scope="module")
def database(pg_server: PostgresServer) -> Iterator[PostgresDatabase]:
    """An empty database on a real PostgreSQL server."""
    with pg_server.database("x_capped") as db:
        yield db


@pytest.fixture(scope="module")
def runs(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    database: PostgresDatabase,
) -> list[tuple[Run, UsageCounts]]:
    """Scheduled runs until one is not stopped at the cap; what the sandbox served each."""
    pipeline = ScheduledPipeline(
        installed=installed_project,
        workdir=tmp_path_factory.mktemp("capped"),
        sandbox=sandbox,
        database=database,
        settings=SETTINGS,
    )
    done: list[tuple[Run, UsageCounts]] = []
    while not done or run_rows(done[-1][0])[-1]["stopped_at_cap"]:
        assert len(done) < 8, "the capped runs do not finish"
        sandbox.reset_usage()
        run = pipeline.run()
        done.append((run, sandbox.usage().served))
    return done


def run_rows(run: Run) -> list[dict[str, t.Any]]:
    """The sync_runs table after a run, oldest run first."""
    return sorted(run.tables["sync_runs"].values(), key=lambda row: row["started_at"])


def test_a_capped_first_sync_finishes_over_four_scheduled_runs(
    runs: list[tuple[Run, UsageCounts]],
) -> None:
    # The signed-in account, then 999 posts a run: 3,200 posts take four.
    served = [(usage.users, usage.own_posts + usage.other_posts) for _run, usage in runs]
    assert served == [(1, 999), (1, 999), (1, 999), (1, 203)]
    assert all(users + posts <= CAP for users, posts in served)
    (*_, (last, _usage)) = runs
    rows = run_rows(last)
    assert [row["stopped_at_cap"] for row in rows] == [True, True, True, False]
    assert [row["own_posts_read"] for row in rows] == [posts for _users, posts in served]


def test_every_reachable_post_is_loaded_once(
    runs: list[tuple[Run, UsageCounts]], sandbox: Sandbox
) -> None:
    world = sandbox.world
    posts = timeline_posts(world, world.main_user_id, exclude_retweets=False)
    reachable = {post.id for post in posts}
    assert len(reachable) == 3200
    (*_, (last, _usage)) = runs
    assert set(last.tables["tweets"]) == reachable
    assert set(last.tables["tweet_public_metrics"]) == reachable
    # Served once each over all runs: no post was read twice.
    assert sum(usage.own_posts for _run, usage in runs) == len(reachable)
