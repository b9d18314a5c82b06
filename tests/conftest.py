"""Fixtures the Meltano and PostgreSQL test modules share: set up once per session.

Their helpers are imported on first use, so the other test modules load none of them.
"""

from __future__ import annotations

import tempfile
import typing as t
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.pg import PostgresServer


@pytest.fixture(scope="session")
def installed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with the plugins the tests run installed, once per session."""
    from tests.meltano_runs import INSTALLED_PLUGINS, checkout, meltano, runner_environment

    project = checkout(tmp_path_factory.mktemp("meltano") / "installed")
    meltano(
        project,
        "install",
        *INSTALLED_PLUGINS,
        env=runner_environment(),
        log="meltano-install.log",
    )
    return project


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server, started by this process (so never under a moved clock)."""
    from tests.pg import postgres_server

    # Not under pytest's private temp root: the server may run as its own system user.
    with (
        tempfile.TemporaryDirectory(prefix="tap-twitter-metrics-pg-") as workdir,
        postgres_server(Path(workdir)) as server,
    ):
        yield server
