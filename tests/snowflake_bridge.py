"""The Snowflake emulator for Meltano runs: its own virtualenv, its server, its queries.

The emulator (fakesnow plus the user stage, tests/snowflake_emulator.py) runs from a
virtualenv of its own, pinned below and created on first use inside the project's venv (so
a cache of the venv keeps it). target-snowflake is installed by Meltano as usual; the
Meltano plugin `target-snowflake-emulator` runs it through tests/snowflake_launcher, which
connects it to the emulator.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
import typing as t
from contextlib import contextmanager
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[1]
EMULATOR = REPO / "tests" / "snowflake_emulator.py"
# target-snowflake with the launcher that connects it to the emulator (see meltano.yml).
LOADER = "target-snowflake-emulator"
DATABASE = "X_METRICS"
SCHEMA = "TAP_TWITTER_METRICS"
# Exact versions: the emulator's behaviour is what the tests rely on.
REQUIREMENTS = (
    "fakesnow[server]==0.12.1",
    "duckdb==2.0.1",
    "sqlglot==30.22.0",
    "snowflake-connector-python==4.8.1",
    "pyarrow==26.0.1",
    "starlette==1.10.0",
    "uvicorn==0.54.0",
)
INSTALL_TIMEOUT = 900


def emulator_python() -> Path:
    """The emulator venv's Python, created and installed once per set of pins."""
    venv = Path(sys.prefix) / "snowflake-emulator"
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{hashlib.sha256(' '.join(REQUIREMENTS).encode()).hexdigest()[:16]}"
    if not stamp.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS]
        subprocess.run(install, check=True, timeout=INSTALL_TIMEOUT)
        for old in venv.glob(".installed-*"):
            old.unlink()
        stamp.touch()
    return python


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """A running emulator on 127.0.0.1, read through the Snowflake client in its venv."""

    def __init__(self, python: Path, port: int) -> None:
        self.python = python
        self.port = port

    def command(self, *args: str) -> str:
        """Run the emulator module's command `args` against this emulator; its stdout."""
        result = subprocess.run(
            [str(self.python), str(EMULATOR), args[0], str(self.port), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        return result.stdout

    def query(self, sql: str) -> list[dict[str, t.Any]]:
        """The rows of one statement, as dicts by upper-case column name."""
        return t.cast("list[dict[str, t.Any]]", json.loads(self.command("query", sql)))

    def dump(self) -> tuple[dict[str, list[dict[str, t.Any]]], dict[tuple[str, str], str]]:
        """Every table of the schema (its rows) and each (table, column)'s type, lower case."""
        data = json.loads(self.command("dump", DATABASE, SCHEMA))
        tables = {
            name.lower(): [{k.lower(): v for k, v in row.items()} for row in rows]
            for name, rows in data["tables"].items()
        }
        columns = {
            (c["TABLE_NAME"].lower(), c["COLUMN_NAME"].lower()): c["DATA_TYPE"]
            for c in data["columns"]
        }
        return tables, columns

    def target_settings(self) -> dict[str, str]:
        """Environment for a Meltano run: target-snowflake's settings and the emulator's port."""
        return {
            "TARGET_SNOWFLAKE_EMULATOR_ACCOUNT": "emulator",
            "TARGET_SNOWFLAKE_EMULATOR_USER": "loader",
            "TARGET_SNOWFLAKE_EMULATOR_PASSWORD": "loader",
            "TARGET_SNOWFLAKE_EMULATOR_DATABASE": DATABASE,
            "SNOWFLAKE_EMULATOR_PORT": str(self.port),
        }


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until the emulator accepts connections on `port`."""
    for _ in range(300):
        assert process.poll() is None, "the Snowflake emulator exited"
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise TimeoutError(f"the Snowflake emulator did not start on port {port}")


@contextmanager
def emulator(log: Path) -> Iterator[Emulator]:
    """Start the emulator with an empty database; stop it after."""
    python = emulator_python()
    port = free_port()
    with log.open("wb") as out:
        command = [str(python), str(EMULATOR), "serve", str(port)]
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(port, process)
        running = Emulator(python, port)
        running.query(f"create database {DATABASE}")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=30)
