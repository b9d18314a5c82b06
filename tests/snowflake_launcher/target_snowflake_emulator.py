"""target-snowflake, connecting to the Snowflake emulator on 127.0.0.1 (tests only).

target-snowflake has no host or port setting: it always reaches
<account>.snowflakecomputing.com over HTTPS. This launcher gives every Snowflake connection
host 127.0.0.1, the port in SNOWFLAKE_EMULATOR_PORT, plain HTTP and a network timeout, then
runs the target's own command line: its settings, SQL and code run as released.
"""

from __future__ import annotations

import functools
import os
import typing as t

from snowflake.connector import connection  # type: ignore[import-not-found,unused-ignore]
from target_snowflake.target import TargetSnowflake  # type: ignore[import-not-found,unused-ignore]


def point_at_emulator(port: int) -> None:
    """Wrap the connector's connection so it connects to the emulator on `port`."""
    original = connection.SnowflakeConnection.__init__

    @functools.wraps(original)
    def init(self: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
        emulator = {"host": "127.0.0.1", "port": port, "protocol": "http", "network_timeout": 60}
        original(self, *args, **kwargs | emulator)

    connection.SnowflakeConnection.__init__ = init


def main() -> None:
    """Run target-snowflake against the emulator."""
    point_at_emulator(int(os.environ["SNOWFLAKE_EMULATOR_PORT"]))
    TargetSnowflake.cli()
