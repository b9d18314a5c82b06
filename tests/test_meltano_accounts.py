"""Many accounts: one extractor per account, run in parallel into one PostgreSQL schema.

meltano.yml defines `tap-twitter-metrics--brand` and `tap-twitter-metrics--partner`, both
inheriting from `tap-twitter-metrics`. As the GitHub Actions example's matrix does, each
round starts `meltano run tap-twitter-metrics--<account> target-postgres` for both accounts
at the same time, two processes, each from its own fresh copy of the project, with the same
job environment: the app's consumer key and secret, each account's access token pair under
its extractor's own variables, one database URL and one `file://` state backend. The
sandbox serves the brand as its main account and the partner as its second one.
"""

from __future__ import annotations

import json
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import expected_records, timeline_posts
from tests.meltano_runs import (
    ANALYTICS,
    ANALYTICS_POST_AGE,
    ANALYTICS_ROUTES,
    ENVIRONMENT,
    TIMELINE,
    Snapshot,
    analytics_rows,
    api_time,
    assert_rows,
    expected_rows,
    meltano,
    midnight,
    parse_api_time,
    runner_checkout,
    runner_environment,
    snapshot,
    snapshot_rows,
)
from tests.tapruns import CORE_STREAMS, DATA_STREAMS

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tap_twitter_metrics_sandbox.server import LoggedRequest
    from tap_twitter_metrics_sandbox.world import World
    from tests.expected import Expected
    from tests.pg import PostgresDatabase, PostgresServer

TAP = "tap-twitter-metrics"
LOADER = "target-postgres"
# The sandbox credentials each account's extractor signs in with.
ACCOUNTS = {"brand": "oauth1", "partner": "partner_oauth1"}
LOOKBACK = timedelta(days=7)
NEW_POSTS = 4


def extractor(account: str) -> str:
    """The account's extractor, inheriting from tap-twitter-metrics."""
    return f"{TAP}--{account}"


def state_id(account: str) -> str:
    """The state ID `meltano run` keeps the account's bookmarks under."""
    return f"{ENVIRONMENT}:{extractor(account)}-to-{LOADER}"


def account_variables(sandbox: Sandbox) -> dict[str, str]:
    """The X settings of a job: the app's, shared, and each account's own token pair."""
    app = sandbox.config_for("oauth1")
    shared = ("api_url", "consumer_key", "consumer_secret")
    variables = {f"TAP_TWITTER_METRICS_{name.upper()}": app[name] for name in shared}
    for account, kind in ACCOUNTS.items():
        config = sandbox.config_for(kind)
        for name in ("access_token", "access_token_secret"):
            variables[f"TAP_TWITTER_METRICS__{account.upper()}_{name.upper()}"] = config[name]
    return variables


@dataclass
class AccountRun:
    """One account's job of a round: its project copy, time span and API requests."""

    account: str
    user_id: str
    project: Path
    started: datetime
    finished: datetime
    requests: list[LoggedRequest]
    """The requests of the job's last attempt."""
    attempts: int

    @property
    def day(self) -> date:
        """The UTC day of the run."""
        assert self.started.date() == self.finished.date(), "the run crossed midnight (UTC)"
        return self.started.date()

    def requests_to(self, route: str) -> list[LoggedRequest]:
        """The run's requests to one route."""
        return [request for request in self.requests if request.route == route]


@dataclass
class Round:
    """Both accounts' jobs, started together, and the tables after both."""

    runs: dict[str, AccountRun]
    tables: Snapshot
    requests: list[LoggedRequest]
    """Every API request of the round, both jobs'."""


@dataclass
class Job:
    """One account's job as the scheduler saw it."""

    project: Path
    started: datetime
    finished: datetime
    last_attempt: float
    """When its last attempt started (epoch seconds), for the sandbox's request log."""
    attempts: int


# How target-postgres fails when another loader created the schema or a table first.
CREATION_RACE = (
    "DuplicateTable",
    "DuplicateSchema",
    "pg_namespace_nspname_index",
    "pg_type_typname_nsp_index",
)


class AccountMatrix:
    """A scheduler running one job per account at the same time, every job a fresh copy."""

    def __init__(
        self, *, installed: Path, workdir: Path, sandbox: Sandbox, database: PostgresDatabase
    ) -> None:
        self.installed = installed
        self.workdir = workdir
        self.sandbox = sandbox
        self.database = database
        self.state_dir = workdir / "state-backend"
        self.state_dir.mkdir(parents=True)
        self.rounds = 0
        self.user_ids = {
            "brand": sandbox.world.main_user_id,
            "partner": sandbox.world.partner_user_id,
        }

    def environment(self) -> dict[str, str]:
        """The environment every job of the matrix gets."""
        return runner_environment(
            **account_variables(self.sandbox),
            TARGET_POSTGRES_SQLALCHEMY_URL=self.database.sqlalchemy_url,
            MELTANO_STATE_BACKEND_URI=self.state_dir.as_uri(),
        )

    def run_round(self) -> Round:
        """Start both accounts' jobs together, wait for both, read the tables."""
        self.rounds += 1
        self.sandbox.clear_requests()
        with ThreadPoolExecutor(max_workers=len(ACCOUNTS)) as pool:
            futures = {account: pool.submit(self._job, account) for account in ACCOUNTS}
            jobs = {account: future.result() for account, future in futures.items()}
        # A failed first attempt's requests are not the job's: its last attempt's are.
        last = {self.user_ids[account]: job.last_attempt for account, job in jobs.items()}
        requests = [r for r in self.sandbox.requests if r.at >= last.get(r.user_id or "", 0)]
        runs = {
            account: AccountRun(
                account=account,
                user_id=self.user_ids[account],
                project=job.project,
                started=job.started,
                finished=job.finished,
                requests=[r for r in requests if r.user_id == self.user_ids[account]],
                attempts=job.attempts,
            )
            for account, job in jobs.items()
        }
        return Round(runs=runs, tables=snapshot(self.database), requests=requests)

    def _job(self, account: str) -> Job:
        """One job: a fresh checkout, then `meltano run` of the account's extractor.

        As the example workflow does, a failed sync runs once more: two first runs into an
        empty database may both create a table, and the one that loses fails at once.
        """
        project = runner_checkout(self.workdir / f"round-{self.rounds}-{account}", self.installed)
        started = datetime.now(timezone.utc)
        command = (f"--environment={ENVIRONMENT}", "run", extractor(account), LOADER)
        attempt = time.time()
        try:
            meltano(project, *command, env=self.environment(), log="meltano-run.log")
        except AssertionError:
            log = (project / "meltano-run.log").read_text()
            if not any(sign in log for sign in CREATION_RACE):
                raise
            attempt = time.time()
            meltano(project, *command, env=self.environment(), log="meltano-run-again.log")
            return Job(project, started, datetime.now(timezone.utc), attempt, attempts=2)
        return Job(project, started, datetime.now(timezone.utc), attempt, attempts=1)

    def state(self, account: str) -> dict[str, t.Any]:
        """The account's state as the state backend holds it."""
        document = json.loads((self.state_dir / state_id(account) / "state.json").read_text())
        return t.cast("dict[str, t.Any]", document)


# What each account's rows must be, from the sandbox world


def private_cutoff_of(run: AccountRun) -> datetime:
    """Where the run asked for private fields from: the start of its private timeline pass."""
    starts = {
        request.params["start_time"]
        for request in run.requests_to(TIMELINE)
        if "non_public_metrics" in request.params.get("tweet.fields", "")
    }
    assert len(starts) == 1, f"{run.account}: one private timeline window expected, got {starts}"
    return parse_api_time(starts.pop())


def records_since(world: World, run: AccountRun, since: datetime | None) -> Expected:
    """The account's records a run reading its timeline from `since` writes."""
    posts = timeline_posts(world, run.user_id, since=since)
    cutoff = private_cutoff_of(run)
    return expected_records(
        world,
        posts,
        private_ids={post.id for post in posts if post.created_at >= cutoff},
        users=[run.user_id],
    )


def analytics_of(world: World, run: AccountRun, start: datetime) -> Snapshot:
    """The buckets since `start` of the account's posts and videos younger than 30 days."""
    posts = [
        post.id
        for post in timeline_posts(world, run.user_id, since=run.started - ANALYTICS_POST_AGE)
    ]
    carried = {key for post_id in posts for key in world.posts_by_id[post_id].media_keys}
    resources = {
        "tweet_analytics": posts,
        "media_analytics": [key for key in world.videos_of(run.user_id) if key in carried],
    }
    tables = {}
    for stream in ANALYTICS:
        (end,) = {
            request.params["end_time"] for request in run.requests_to(ANALYTICS_ROUTES[stream])
        }
        rows = analytics_rows(
            world,
            stream,
            resources[stream],
            granularity="daily",
            start=start,
            end=parse_api_time(end),
        )
        tables[stream] = {key: row | {"author_id": run.user_id} for key, row in rows.items()}
    return tables


def core_rows(records: Expected) -> Snapshot:
    """The rows of the core streams, without the read time."""
    return {stream: expected_rows(stream, records) for stream in CORE_STREAMS}


@dataclass
class AccountRows:
    """One account's rows after a round, where its analytics start, its newest post."""

    tables: Snapshot
    analytics_start: datetime
    bookmark: datetime


def first_rows(world: World, run: AccountRun) -> AccountRows:
    """The rows of the account's first run: its whole timeline."""
    records = records_since(world, run, None)
    start = midnight(run.started - ANALYTICS_POST_AGE)
    tables = core_rows(records) | snapshot_rows(records, run.day) | analytics_of(world, run, start)
    newest = max(post.created_at for post in timeline_posts(world, run.user_id))
    return AccountRows(tables=tables, analytics_start=start, bookmark=newest)


def next_rows(world: World, run: AccountRun, before: AccountRows) -> AccountRows:
    """The rows after the account's next run: its look-back window read again, upserted."""
    records = records_since(world, run, (before.bookmark - LOOKBACK).replace(microsecond=0))
    fresh = core_rows(records) | snapshot_rows(records, run.day)
    fresh |= analytics_of(world, run, before.analytics_start)
    tables = {stream: before.tables[stream] | fresh[stream] for stream in DATA_STREAMS}
    newest = max(post.created_at for post in timeline_posts(world, run.user_id))
    return AccountRows(tables=tables, analytics_start=before.analytics_start, bookmark=newest)


def partitions(state: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    """Each stream's bookmarks in a Meltano state, by the account (author_id) they are for."""
    bookmarks = state["completed"]["singer_state"]["bookmarks"]
    return {
        stream: {
            part["context"]["author_id"]: part.get("replication_key_value")
            for part in bookmark.get("partitions", [])
        }
        for stream, bookmark in bookmarks.items()
        if bookmark.get("partitions")
    }


# The two rounds


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The X API sandbox: the brand (its main account) and the partner."""
    with Sandbox(SandboxOptions(seed=11, posts=120, partner_posts=40)) as sb:
        yield sb


@pytest.fixture(scope="module")
def database(pg_server: PostgresServer) -> Iterator[PostgresDatabase]:
    """An empty database both accounts load into."""
    with pg_server.database("x_accounts") as db:
        yield db


@pytest.fixture(scope="module")
def matrix(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    database: PostgresDatabase,
) -> AccountMatrix:
    """The scheduler's matrix over both accounts, not run yet."""
    return AccountMatrix(
        installed=installed_project,
        workdir=tmp_path_factory.mktemp("accounts"),
        sandbox=sandbox,
        database=database,
    )


@dataclass
class Rounds:
    """Both rounds and each account's rows after each."""

    first: Round
    second: Round
    after_first: dict[str, AccountRows]
    after_second: dict[str, AccountRows]
    states: list[dict[str, dict[str, t.Any]]]
    """Each account's state after each round."""


@pytest.fixture(scope="module")
def rounds(matrix: AccountMatrix, sandbox: Sandbox) -> Rounds:
    """A first round into an empty schema; the brand posts again, metrics grow; a second."""
    world = sandbox.world
    first = matrix.run_round()
    after_first = {account: first_rows(world, run) for account, run in first.runs.items()}
    states = [{account: matrix.state(account) for account in ACCOUNTS}]
    sandbox.advance(new_posts=NEW_POSTS, metric_growth=True)
    second = matrix.run_round()
    after_second = {
        account: next_rows(world, run, after_first[account]) for account, run in second.runs.items()
    }
    states.append({account: matrix.state(account) for account in ACCOUNTS})
    return Rounds(first, second, after_first, after_second, states)


def union(rows: dict[str, AccountRows], stream: str) -> dict[t.Any, dict[str, t.Any]]:
    """Both accounts' rows of a stream, which share no key."""
    brand, partner = (rows[account].tables[stream] for account in ACCOUNTS)
    assert not brand.keys() & partner.keys(), f"{stream}: the accounts share rows"
    return brand | partner


def test_both_jobs_ran_at_the_same_time(rounds: Rounds) -> None:
    for round_ in (rounds.first, rounds.second):
        brand, partner = (round_.runs[account] for account in ACCOUNTS)
        assert brand.project != partner.project
        assert max(brand.started, partner.started) < min(brand.finished, partner.finished)


def test_only_a_first_run_into_an_empty_schema_may_need_a_second_attempt(rounds: Rounds) -> None:
    assert [run.attempts for run in rounds.second.runs.values()] == [1, 1]
    assert sorted(run.attempts for run in rounds.first.runs.values())[0] == 1


def test_each_job_reads_only_its_own_account(rounds: Rounds) -> None:
    for round_ in (rounds.first, rounds.second):
        # Every request of the round signed in as one of the two accounts.
        assert sum(len(run.requests) for run in round_.runs.values()) == len(round_.requests)
        for run in round_.runs.values():
            assert run.requests_to(TIMELINE)
            assert {request.path for request in run.requests_to(TIMELINE)} == {
                f"/2/users/{run.user_id}/tweets"
            }


@pytest.mark.parametrize("stream", DATA_STREAMS)
def test_first_round_loads_both_accounts_exactly(rounds: Rounds, stream: str) -> None:
    assert_rows(rounds.first.tables[stream], union(rounds.after_first, stream))


@pytest.mark.parametrize("stream", DATA_STREAMS)
def test_second_round_upserts_both_accounts_exactly(rounds: Rounds, stream: str) -> None:
    assert_rows(rounds.second.tables[stream], union(rounds.after_second, stream))


def test_the_shared_tables_hold_each_account_once(rounds: Rounds, sandbox: Sandbox) -> None:
    world = sandbox.world
    tables = rounds.second.tables
    assert set(tables["users"]) == {world.main_user_id, world.partner_user_id}
    for account, user_id in (("brand", world.main_user_id), ("partner", world.partner_user_id)):
        own = {key for key, row in tables["tweets"].items() if row["author_id"] == user_id}
        assert own == {post.id for post in timeline_posts(world, user_id)}, account
        for stream in ANALYTICS:
            authors = {row["author_id"] for row in tables[stream].values()}
            assert authors == {world.main_user_id, world.partner_user_id}, stream


def test_each_state_id_holds_only_its_own_accounts_bookmarks(
    rounds: Rounds, matrix: AccountMatrix
) -> None:
    assert sorted(path.name for path in matrix.state_dir.iterdir()) == sorted(
        state_id(account) for account in ACCOUNTS
    )
    for when, states in zip(("first", "second"), rounds.states, strict=True):
        after = rounds.after_first if when == "first" else rounds.after_second
        for account, state in states.items():
            user_id = matrix.user_ids[account]
            bookmarks = partitions(state)
            assert {"tweets", *ANALYTICS} <= set(bookmarks), (when, account)
            for stream, by_author in bookmarks.items():
                assert set(by_author) == {user_id}, (when, account, stream)
            newest = after[account].bookmark
            assert parse_api_time(bookmarks["tweets"][user_id]) == newest, (when, account)


def test_second_round_reads_only_each_accounts_look_back_window(rounds: Rounds) -> None:
    for account, run in rounds.second.runs.items():
        window_start = rounds.after_first[account].bookmark - LOOKBACK
        starts = {request.params.get("start_time") for request in run.requests_to(TIMELINE)}
        # A window reaching back past the private cutoff is read in two passes split there.
        cutoff = api_time(private_cutoff_of(run))
        assert api_time(window_start) in starts <= {api_time(window_start), cutoff}, account
        assert len(run.requests) < len(rounds.first.runs[account].requests), account


def test_only_the_account_that_posted_moved_its_bookmark(rounds: Rounds) -> None:
    first, second = rounds.after_first, rounds.after_second
    assert second["brand"].bookmark > first["brand"].bookmark
    assert second["partner"].bookmark == first["partner"].bookmark
