"""Scheduled Meltano runs into a real PostgreSQL, and the rows the sandbox world implies.

Each run starts from a fresh copy of the project, as a CI job starts from a fresh checkout:
only the installed plugin virtualenvs are reused (a CI cache would restore them), and the
state lives in a `file://` state backend that outlives the copies, standing in for S3.
`meltano run tap-twitter-metrics target-postgres` runs for real, as a subprocess; a run can
be moved whole days ahead with libfaketime (meltano, the tap and the target see the moved
clock; the PostgreSQL server, started by the tests, does not).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import libfaketime  # type: ignore[import-untyped]
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tap_twitter_metrics.catalogue import STREAMS
from tests.expected import timeline_posts

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_twitter_metrics_sandbox import Sandbox
    from tap_twitter_metrics_sandbox.server import LoggedRequest
    from tap_twitter_metrics_sandbox.world import World
    from tests.expected import Expected
    from tests.pg import PostgresDatabase

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENT = "ci"
SCHEMA = "tap_twitter_metrics"
STATE_ID = f"{ENVIRONMENT}:tap-twitter-metrics-to-target-postgres"
TIMELINE = "/2/users/:id/tweets"
COMMAND_TIMEOUT = 600
INSTALLED_PLUGINS = ("tap-twitter-metrics", "target-postgres", "target-jsonl")
DAY = timedelta(days=1)
SNAPSHOTS = ("tweet_metrics_daily", "media_metrics_daily")
ANALYTICS = ("tweet_analytics", "media_analytics")
# The tap's default analytics_post_age_days.
ANALYTICS_POST_AGE = timedelta(days=30)
ANALYTICS_ROUTES = {
    "tweet_analytics": "/2/tweets/analytics",
    "media_analytics": "/2/media/analytics",
}
# The metric streams a snapshot row puts side by side, each under its family's prefix.
SNAPSHOT_FAMILIES = {
    "tweet_metrics_daily": {
        "tweet_public_metrics": "public",
        "tweet_non_public_metrics": "non_public",
        "tweet_organic_metrics": "organic",
        "tweet_promoted_metrics": "promoted",
    },
    "media_metrics_daily": {
        "media_public_metrics": "public",
        "media_non_public_metrics": "non_public",
        "media_organic_metrics": "organic",
        "media_promoted_metrics": "promoted",
    },
}
SNAPSHOT_HEAD = {"tweet_id", "media_key", "author_id", "created_at"}

Table = dict[t.Any, dict[str, t.Any]]
"""Rows by primary key: the key column's value, or a tuple of them for a composite key."""
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


def moved_clock(days: int) -> dict[str, str]:
    """Environment that moves every process started with it `days` days ahead (libfaketime)."""
    if not days:
        return {}
    _needs_reexec, preload = libfaketime.get_reload_information()
    return {**t.cast("dict[str, str]", preload), "FAKETIME": f"+{days}d"}


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


def ms(moment: datetime) -> int:
    """Epoch milliseconds."""
    return int(moment.timestamp() * 1000)


def comparable(value: t.Any) -> t.Any:
    """A database value in the form the API gives it (timestamps as UTC instants)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value


def schema_types(stream: str) -> dict[str, str]:
    """Each column's kind: string, date, date-time, integer, boolean, array or object."""
    schema = json.loads((REPO / "tap_twitter_metrics" / "schemas" / f"{stream}.json").read_text())
    kinds = {}
    for name, prop in schema["properties"].items():
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        (kind,) = [kind for kind in types if kind != "null"]
        kinds[name] = prop["format"] if prop.get("format") in {"date", "date-time"} else kind
    return kinds


def comparable_expected(stream: str, record: dict[str, t.Any]) -> dict[str, t.Any]:
    """An expected record with its date-time columns as instants and date columns as dates."""
    kinds = schema_types(stream)
    parsers: dict[str, t.Callable[[str], t.Any]] = {
        "date-time": parse_api_time,
        "date": date.fromisoformat,
    }
    return {
        name: parsers[kinds[name]](value)
        if isinstance(value, str) and kinds.get(name) in parsers
        else value
        for name, value in record.items()
    }


def row_key(stream: str, row: dict[str, t.Any]) -> t.Any:
    """A row's primary key: one column's value, or the tuple of a composite key's values."""
    key = STREAMS[stream].key
    return row[key[0]] if len(key) == 1 else tuple(row[column] for column in key)


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
            rows = [{c: comparable(v) for c, v in row.items()} for row in cursor.fetchall()]
            tables[name] = {row_key(name, row): row for row in rows}
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


# The history streams: daily snapshots and X's analytics


def snapshot_rows(expected: Expected, day: date) -> Snapshot:
    """The snapshot rows a run makes of the family records it writes: one per post and day.

    Every column is named: a family the run did not read is null.
    """
    tables: Snapshot = {}
    for stream, families in SNAPSHOT_FAMILIES.items():
        columns = [c for c in schema_types(stream) if c != "observed_at"]
        rows: Table = {}
        for family, prefix in families.items():
            for key, record in expected_rows(family, expected).items():
                row = rows.setdefault((key, day), dict.fromkeys(columns) | {"snapshot_date": day})
                row.update((c, v) for c, v in record.items() if c in SNAPSHOT_HEAD)
                row.update(
                    (f"{prefix}_{c}", v) for c, v in record.items() if c not in SNAPSHOT_HEAD
                )
        tables[stream] = rows
    return tables


def own_posts(world: World, since: datetime) -> list[str]:
    """The main account's posts the analytics streams ask for: timeline posts from `since`."""
    return [post.id for post in timeline_posts(world, world.main_user_id, since=since)]


def own_videos(world: World, since: datetime) -> list[str]:
    """The main account's videos carried by its posts from `since` (a shared one may be older)."""
    posts = own_posts(world, since)
    carried = {key for post_id in posts for key in world.posts_by_id[post_id].media_keys}
    return [key for key in world.videos_of(world.main_user_id) if key in carried]


def analytics_rows(
    world: World,
    stream: str,
    resources: Iterable[str],
    *,
    granularity: str,
    start: datetime,
    end: datetime,
) -> Table:
    """The buckets the sandbox holds now for `resources` over [start, end), as table rows.

    A counter the API sends as text is loaded as null.
    """
    read = world.tweet_analytics if stream == "tweet_analytics" else world.media_analytics
    key = STREAMS[stream].key[0]
    metrics = [c for c in schema_types(stream) if c not in {key, "timestamp", "observed_at"}]
    head = {"granularity": granularity, "author_id": world.main_user_id}
    rows: Table = {}
    for resource in resources:
        for stamp, figures in read(resource, granularity, ms(start), ms(end), world.now_ms()):
            at = parse_api_time(stamp)
            values = {c: v if isinstance(v := figures.get(c), int) else None for c in metrics}
            rows[(resource, at)] = {key: resource, "timestamp": at} | values | head
    return rows


def analytics_requests(run: Run, stream: str) -> list[LoggedRequest]:
    """The run's requests to the stream's analytics endpoint."""
    return [request for request in run.requests if request.route == ANALYTICS_ROUTES[stream]]


@dataclass
class Run:
    """One scheduled run: its project copy, time span (by its clock), requests and tables."""

    project: Path
    started: datetime
    finished: datetime
    requests: list[LoggedRequest]
    tables: Snapshot
    had_system_db: bool

    def timeline_requests(self) -> list[LoggedRequest]:
        """Timeline requests of the run."""
        return [request for request in self.requests if request.route == TIMELINE]

    @property
    def day(self) -> date:
        """The UTC day the run ran on, by its clock."""
        assert self.started.date() == self.finished.date(), "the run crossed midnight (UTC)"
        return self.started.date()


class ScheduledPipeline:
    """A cron job: every run a fresh project copy, the state kept in the state backend."""

    def __init__(
        self,
        *,
        installed: Path,
        workdir: Path,
        sandbox: Sandbox,
        database: PostgresDatabase,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.installed = installed
        self.workdir = workdir
        self.sandbox = sandbox
        self.database = database
        self.settings = settings or {}
        self.state_dir = workdir / "state-backend"
        self.state_dir.mkdir(parents=True)
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
            **self.settings,
            TARGET_POSTGRES_SQLALCHEMY_URL=self.database.sqlalchemy_url,
            MELTANO_STATE_BACKEND_URI=self.state_dir.as_uri(),
        )

    def run(self, *, days_ahead: int = 0) -> Run:
        """Check out a fresh copy, restore the plugin installs, run the pipeline once.

        `days_ahead` moves the run's clock (meltano, tap and target) that many days ahead.
        """
        self.runs += 1
        project = runner_checkout(self.workdir / f"runner-{self.runs}", self.installed)
        had_system_db = (project / ".meltano" / "meltano.db").exists()
        self.sandbox.clear_requests()
        started = datetime.now(timezone.utc) + days_ahead * DAY
        meltano(
            project,
            f"--environment={ENVIRONMENT}",
            "run",
            "tap-twitter-metrics",
            "target-postgres",
            env=self.environment() | moved_clock(days_ahead),
            log="meltano-run.log",
        )
        finished = datetime.now(timezone.utc) + days_ahead * DAY
        return Run(
            project=project,
            started=started,
            finished=finished,
            requests=list(self.sandbox.requests),
            tables=snapshot(self.database),
            had_system_db=had_system_db,
        )


def midnight(moment: datetime) -> datetime:
    """The start of the moment's UTC day."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def expected_analytics(world: World, run: Run, start: datetime) -> Snapshot:
    """Every bucket since `start` of the own posts and videos younger than 30 days at the run.

    The buckets run to the time the run asked until (its clock); their figures are those the
    sandbox holds now: completed buckets never change, and nothing grew since the run.
    """
    young = run.started - ANALYTICS_POST_AGE
    resources = {
        "tweet_analytics": own_posts(world, young),
        "media_analytics": own_videos(world, young),
    }
    tables = {}
    for stream in ANALYTICS:
        (end,) = {request.params["end_time"] for request in analytics_requests(run, stream)}
        tables[stream] = analytics_rows(
            world,
            stream,
            resources[stream],
            granularity="daily",
            start=start,
            end=parse_api_time(end),
        )
    return tables
