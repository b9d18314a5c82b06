"""Scheduled syncs into a real PostgreSQL through Meltano, the way a CI runner does them.

Each run starts from a fresh copy of the project, as a CI job starts from a fresh checkout:
only the installed plugin virtualenvs are reused (a CI cache would restore them), and the
state lives in a `file://` state backend that outlives the copies, standing in for S3.
`meltano run tap-twitter-metrics target-postgres` runs for real, as a subprocess, against
the sandbox and a real PostgreSQL server; the assertions read the tables with SQL.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from psycopg import sql
from psycopg.rows import dict_row

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import expected_records, private_cutoff, timeline_posts
from tests.pg import PostgresDatabase, postgres_database
from tests.tapruns import ALL_STREAMS, PRIMARY_KEYS

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_twitter_metrics_sandbox.server import LoggedRequest
    from tests.expected import Expected

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENT = "ci"
SCHEMA = "tap_twitter_metrics"
STATE_ID = f"{ENVIRONMENT}:tap-twitter-metrics-to-target-postgres"
TIMELINE = "/2/users/:id/tweets"
NEW_POSTS = 5
LOOKBACK_DAYS = 7
COMMAND_TIMEOUT = 600
INSTALLED_PLUGINS = ("tap-twitter-metrics", "target-postgres", "target-jsonl")
TYPE_NAMES = {
    "string": {"text", "character varying"},
    "date-time": {"timestamp without time zone", "timestamp with time zone"},
    "integer": {"bigint", "integer"},
    "boolean": {"boolean"},
    "array": {"jsonb", "json", "ARRAY"},
    "object": {"jsonb", "json"},
}

Table = dict[str, dict[str, t.Any]]
Snapshot = dict[str, Table]


def meltano_executable() -> str:
    """The meltano command: $MELTANO_BIN, else the one beside this Python, else on PATH."""
    candidates = [os.environ.get("MELTANO_BIN"), str(Path(sys.executable).with_name("meltano"))]
    candidates.append(shutil.which("meltano"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "meltano is not installed: pip install 'meltano==4.4.1' (or set MELTANO_BIN to its path)"
    )


def runner_environment(**settings: str) -> dict[str, str]:
    """The process environment without any Meltano or plugin setting of the caller's."""
    prefixes = ("MELTANO_", "TAP_TWITTER_METRICS_", "TARGET_")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(prefixes) and name not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    return env | {"NO_COLOR": "1"} | settings


def checkout(destination: Path) -> Path:
    """A fresh copy of the project: the files a clone of it holds (tracked or not ignored)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    return destination


def runner_checkout(destination: Path, installed: Path) -> Path:
    """A fresh checkout whose plugin installs are restored from `installed`, as a CI cache does.

    Only the plugin virtualenvs are shared: the system database (and any state it could
    hold) starts empty in every copy.
    """
    project = checkout(destination)
    system_dir = project / ".meltano"
    system_dir.mkdir()
    for kind in ("extractors", "loaders"):
        (system_dir / kind).symlink_to(installed / ".meltano" / kind)
    return project


def meltano(project: Path, *args: str, env: dict[str, str], log: str) -> str:
    """Run a meltano command in `project`; its output is kept in `project/<log>`."""
    result = subprocess.run(
        [meltano_executable(), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    (project / log).write_text(output)
    assert result.returncode == 0, f"meltano {' '.join(args)} failed:\n{output[-6000:]}"
    return output


def api_time(moment: datetime) -> str:
    """A timeline time parameter: whole seconds, UTC."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_api_time(value: str) -> datetime:
    """An API time string as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def comparable(value: t.Any) -> t.Any:
    """A database value in the form the API gives it (timestamps as UTC instants)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value


def comparable_expected(stream: str, record: dict[str, t.Any]) -> dict[str, t.Any]:
    """An expected record with its date-time columns as instants."""
    times = {name for name, kind in schema_types(stream).items() if kind == "date-time"}
    return {
        name: parse_api_time(value) if name in times and isinstance(value, str) else value
        for name, value in record.items()
    }


def schema_types(stream: str) -> dict[str, str]:
    """Each column's JSON Schema kind: string, date-time, integer, boolean, array or object."""
    schema = json.loads((REPO / "tap_twitter_metrics" / "schemas" / f"{stream}.json").read_text())
    kinds = {}
    for name, prop in schema["properties"].items():
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        (kind,) = [kind for kind in types if kind != "null"]
        kinds[name] = "date-time" if prop.get("format") == "date-time" else kind
    return kinds


def snapshot(database: PostgresDatabase) -> Snapshot:
    """Every row of every table in the tap's schema, keyed by primary key."""
    tables: Snapshot = {}
    with database.connect() as connection, connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (SCHEMA,),
        )
        for (name,) in [tuple(row.values()) for row in cursor.fetchall()]:
            cursor.execute(
                sql.SQL("SELECT * FROM {}.{}").format(*map(sql.Identifier, (SCHEMA, name)))
            )
            rows = cursor.fetchall()
            key = PRIMARY_KEYS.get(name, "id")
            tables[name] = {row[key]: {c: comparable(v) for c, v in row.items()} for row in rows}
            assert len(tables[name]) == len(rows), f"duplicate keys in {name}"
    return tables


def differences(table: Table, expected: Table) -> list[str]:
    """How `table` differs from `expected` on the columns `expected` names, one line each."""
    lines = [f"missing row {key}" for key in expected.keys() - table.keys()]
    lines += [f"unexpected row {key}" for key in table.keys() - expected.keys()]
    for key in sorted(expected.keys() & table.keys()):
        lines += [
            f"{key}.{column}: {table[key].get(column)!r} != expected {value!r}"
            for column, value in expected[key].items()
            if table[key].get(column) != value
        ]
    return lines


def assert_rows(table: Table, expected: Table) -> None:
    """Fail with the first differences, each in full."""
    if lines := differences(table, expected):
        pytest.fail(f"{len(lines)} differences:\n" + "\n".join(lines[:20]), pytrace=False)


def expected_rows(stream: str, expected: Expected) -> Table:
    """Expected records of `stream` without the read time, in comparable form."""
    return {
        key: {c: v for c, v in comparable_expected(stream, record).items() if c != "observed_at"}
        for key, record in expected.get(stream, {}).items()
    }


@dataclass
class Run:
    """One scheduled run: its project copy, time span, API requests and resulting tables."""

    project: Path
    started: datetime
    finished: datetime
    requests: list[LoggedRequest]
    tables: Snapshot
    had_system_db: bool

    def timeline_requests(self) -> list[LoggedRequest]:
        """Timeline requests of the run."""
        return [request for request in self.requests if request.route == TIMELINE]


class ScheduledPipeline:
    """A cron job: every run a fresh project copy, the state kept in the state backend."""

    def __init__(
        self,
        *,
        installed: Path,
        workdir: Path,
        sandbox: Sandbox,
        database: PostgresDatabase,
    ) -> None:
        self.installed = installed
        self.workdir = workdir
        self.sandbox = sandbox
        self.database = database
        self.state_dir = workdir / "state-backend"
        self.state_dir.mkdir()
        self.runs = 0

    def environment(self) -> dict[str, str]:
        """What the job's secrets provide: X credentials, database URL, state backend URI."""
        credentials = {
            f"TAP_TWITTER_METRICS_{name.upper()}": value
            if isinstance(value, str)
            else json.dumps(value)
            for name, value in self.sandbox.config_for("oauth1").items()
        }
        return runner_environment(
            **credentials,
            TARGET_POSTGRES_SQLALCHEMY_URL=self.database.sqlalchemy_url,
            MELTANO_STATE_BACKEND_URI=self.state_dir.as_uri(),
        )

    def run(self) -> Run:
        """Check out a fresh copy, restore the plugin installs, run the pipeline once."""
        self.runs += 1
        project = runner_checkout(self.workdir / f"runner-{self.runs}", self.installed)
        had_system_db = (project / ".meltano" / "meltano.db").exists()
        self.sandbox.clear_requests()
        started = datetime.now(timezone.utc)
        meltano(
            project,
            f"--environment={ENVIRONMENT}",
            "run",
            "tap-twitter-metrics",
            "target-postgres",
            env=self.environment(),
            log="meltano-run.log",
        )
        finished = datetime.now(timezone.utc)
        return Run(
            project=project,
            started=started,
            finished=finished,
            requests=list(self.sandbox.requests),
            tables=snapshot(self.database),
            had_system_db=had_system_db,
        )


@dataclass
class FirstRun:
    """The first scheduled run and the records the sandbox account implied for it."""

    run: Run
    expected: Expected
    private_cutoff: datetime
    bookmark: datetime


@dataclass
class SecondRun:
    """The run after the account gained posts and its recent metrics grew."""

    run: Run
    expected: Expected
    window_start: datetime
    new_post_ids: set[str]
    window_post_ids: set[str]


@pytest.fixture(scope="session")
def installed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with the plugins the tests run installed, once per session."""
    project = checkout(tmp_path_factory.mktemp("meltano") / "installed")
    meltano(
        project,
        "install",
        *INSTALLED_PLUGINS,
        env=runner_environment(),
        log="meltano-install.log",
    )
    return project


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The X API sandbox with its default generated account."""
    with Sandbox(SandboxOptions(seed=7, posts=240, partner_posts=40)) as sb:
        yield sb


@pytest.fixture(scope="module")
def database() -> Iterator[PostgresDatabase]:
    """An empty database on a real PostgreSQL server."""
    # Not under pytest's private temp root: the server may run as its own system user.
    with (
        tempfile.TemporaryDirectory(prefix="tap-twitter-metrics-pg-") as workdir,
        postgres_database(Path(workdir), "x_metrics") as db,
    ):
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
    bookmark = max(post.created_at for post in posts)
    return FirstRun(run=run, expected=expected, private_cutoff=cutoff, bookmark=bookmark)


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
        for stream in ALL_STREAMS
    }
    return SecondRun(
        run=run,
        expected=expected,
        window_start=window_start,
        new_post_ids={post.id for post in new_posts},
        window_post_ids={post.id for post in window},
    )


# The first run


def test_first_run_creates_one_table_per_selected_stream(first_run: FirstRun) -> None:
    assert sorted(first_run.run.tables) == sorted(ALL_STREAMS)


def test_first_run_loads_the_row_counts_the_account_implies(first_run: FirstRun) -> None:
    counts = {stream: len(table) for stream, table in first_run.run.tables.items()}
    expected = {stream: len(first_run.expected.get(stream, {})) for stream in ALL_STREAMS}
    assert counts == expected
    assert all(expected.values()), f"the sandbox account should fill every stream: {expected}"


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_first_run_loads_exact_values(first_run: FirstRun, stream: str) -> None:
    expected = expected_rows(stream, first_run.expected)
    assert_rows(first_run.run.tables[stream], expected)


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


def test_observed_at_is_the_time_of_the_run(first_run: FirstRun) -> None:
    run = first_run.run
    for stream in ALL_STREAMS:
        if stream in {"tweets", "media"}:
            continue
        times = {row["observed_at"] for row in run.tables[stream].values()}
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
            """,
            (SCHEMA,),
        ).fetchall()
    assert first_run.run.tables
    assert dict(rows) == {stream: PRIMARY_KEYS[stream] for stream in ALL_STREAMS}


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
    for stream in ALL_STREAMS:
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


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_second_run_leaves_exactly_the_current_figures(second_run: SecondRun, stream: str) -> None:
    expected = expected_rows(stream, second_run.expected)
    assert_rows(second_run.run.tables[stream], expected)


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
    for stream in ALL_STREAMS:
        if not stream.startswith("tweet"):
            continue
        before = first_run.run.tables[stream]
        after = second_run.run.tables[stream]
        outside = set(before) - second_run.window_post_ids
        assert {key: after[key] for key in outside} == {key: before[key] for key in outside}
    assert set(first_run.run.tables["tweet_public_metrics"]) - second_run.window_post_ids


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
    assert sorted(files) == sorted(ALL_STREAMS)
    assert all(path.read_text().strip() for path in files.values())
    tweets = [json.loads(line) for line in files["tweets"].read_text().splitlines()]
    assert sorted(tweet["id"] for tweet in tweets) == sorted(post.id for post in posts)
