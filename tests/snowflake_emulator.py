"""A Snowflake emulator for target-snowflake: fakesnow's server plus the user stage it lacks.

Runs in the emulator's own virtualenv (see tests/snowflake_bridge.py), never in the tap's:

    python tests/snowflake_emulator.py serve PORT       serve on 127.0.0.1:PORT until killed
    python tests/snowflake_emulator.py query PORT SQL   print the rows of one query as JSON
    python tests/snowflake_emulator.py dump PORT DB SCHEMA   print a schema's tables as JSON

fakesnow (DuckDB behind Snowflake's HTTP protocol) runs every statement target-snowflake
sends except its staging: the user stage `@~`, REMOVE, DROP FILE FORMAT, and the MERGE that
selects from staged files. Those four are added here, each by the smallest change; every
other statement goes to fakesnow untouched:

- `PUT file '@~/path'` is sent to a named internal stage standing in for the user stage
  (fakesnow has named stages and takes PUT to them, unquoted, over HTTP).
- `REMOVE '@~/path/'` deletes that stage directory's files.
- `DROP FILE FORMAT` deletes the row fakesnow's CREATE FILE FORMAT recorded.
- The MERGE's source, `(select $1:col::type as col ... from '@~/path'(file_format => f)
  QUALIFY ROW_NUMBER() OVER (... ORDER BY SEQ8() DESC) = 1)`, reads the staged JSON lines:
  they are loaded into a table of one JSON document (`$1`) and its number in upload order
  (`SEQ8()`) per line, that select runs on it into a table, and the MERGE, otherwise as
  sent, reads that table.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import re
import shutil
import sys
import threading
import time
import typing as t
from pathlib import Path

import fakesnow  # type: ignore[import-not-found,unused-ignore]
import snowflake.connector  # type: ignore[import-not-found,unused-ignore]
from fakesnow.cursor import FakeSnowflakeCursor  # type: ignore[import-not-found,unused-ignore]
from fakesnow.transforms import stage  # type: ignore[import-not-found,unused-ignore]

# The user stage's stand-in: a named stage of the session's database.
USER_STAGE_SCHEMA = "_FS_USER"
USER_STAGE = "STAGE"
PUT = re.compile(r"^put (?P<file>\S+) '@~/(?P<path>[^']*)'$", re.IGNORECASE)
REMOVE = re.compile(r"^remove '@~/(?P<path>[^']*)'$", re.IGNORECASE)
DROP_FILE_FORMAT = re.compile(r"^drop file format (if exists )?(?P<name>\S+)$", re.IGNORECASE)
FILE_FORMATS = "_fs_global._fs_information_schema._fs_file_formats"
STAGED_SOURCE = re.compile(r"from '@~/(?P<path>[^']*)'\(file_format => [^)]+\)", re.IGNORECASE)
MERGE_SOURCE = re.compile(r"using \((?P<select>select .*?)\) s on ", re.IGNORECASE | re.DOTALL)

original_execute = FakeSnowflakeCursor.execute
# fakesnow runs each query in a worker thread on the session's one DuckDB connection, which
# is not safe across threads; the target sends several streams' statements at once. One
# statement at a time keeps each session's state (current schema, last command) its own.
STATEMENTS = threading.RLock()


def user_stage_dir(cursor: t.Any, path: str = "") -> Path:
    """The directory of `path` in the session's user stage."""
    database = cursor._conn.database
    return Path(stage.internal_dir(f"{database}.{USER_STAGE_SCHEMA}.{USER_STAGE}", path))


def put_to_user_stage(cursor: t.Any, file: str, path: str, **kwargs: t.Any) -> t.Any:
    """PUT into the user stage's stand-in, created on the session's first PUT."""
    name = f"{cursor._conn.database}.{USER_STAGE_SCHEMA}.{USER_STAGE}"
    original_execute(
        cursor, f"create schema if not exists {cursor._conn.database}.{USER_STAGE_SCHEMA}"
    )
    original_execute(cursor, f"create stage if not exists {name}")
    return original_execute(cursor, f"put {file} @{name}/{path}", **kwargs)


def remove_from_user_stage(cursor: t.Any, path: str) -> t.Any:
    """Delete the files under `path` and list them, as Snowflake's REMOVE does."""
    directory = user_stage_dir(cursor, path)
    removed = sorted(str(file.relative_to(directory)) for file in directory.rglob("*.gz"))
    shutil.rmtree(directory, ignore_errors=True)
    rows = " union all ".join(
        f"select '{path}{name}' as name, 'removed' as result" for name in removed
    )
    return original_execute(
        cursor, rows or "select 'none' as name, 'removed' as result where false"
    )


def drop_file_format(cursor: t.Any, name: str) -> t.Any:
    """Forget a file format CREATE FILE FORMAT recorded (IF EXISTS: a missing one is fine)."""
    conn = cursor._conn
    parts = stage.parts_from_var(name, current_database=conn.database, current_schema=conn.schema)
    cursor._duck_conn.execute(
        f"delete from {FILE_FORMATS} where database_name = ? and schema_name = ? and name = ?",  # noqa: S608
        list(parts),
    )
    return original_execute(cursor, f"select '{parts[2]} successfully dropped.' as status")


def staged_table(cursor: t.Any, path: str, kind: str) -> str:
    """A table of the files under `path`: one per path, as the target merges streams at once."""
    suffix = hashlib.sha256(path.encode()).hexdigest()[:16].upper()
    return f"{cursor._conn.database}.{USER_STAGE_SCHEMA}._FS_{kind}_{suffix}"


def read_lines(file: Path) -> list[str]:
    """The lines of a gzipped staged file."""
    with gzip.open(file, "rt") as lines:
        return list(lines)


def staged_documents(directory: Path) -> Path:
    """The staged files' JSON lines, numbered in file order, without their null members.

    A null member cast to a type is NULL in Snowflake, but fakesnow casts a JSON null
    timestamp to 1970-01-01; an absent member is NULL in both.
    """
    documents = directory / "documents.jsonl"
    # In upload order, so the last record of a key wins the MERGE's deduplication.
    files = sorted(directory.rglob("*.gz"), key=lambda file: (file.stat().st_mtime_ns, file.name))
    with documents.open("w") as out:
        for number, line in enumerate(itertools.chain.from_iterable(map(read_lines, files))):
            record = {k: v for k, v in json.loads(line).items() if v is not None}
            out.write(json.dumps({"seq": number, "doc": record}) + "\n")
    return documents


def stage_files_as_table(cursor: t.Any, path: str) -> str:
    """Load the staged JSON lines under `path` into a table: each document and its number."""
    name = staged_table(cursor, path, "STAGED")
    table = ".".join(f'"{part}"' for part in name.split("."))
    cursor._duck_conn.execute(
        f"create or replace table {table} as "  # noqa: S608 - names made here, not input
        "select doc as _doc, seq as _seq from read_json(?, format = 'newline_delimited', "
        "columns = {'seq': 'BIGINT', 'doc': 'JSON'})",
        [str(staged_documents(user_stage_dir(cursor, path)))],
    )
    return name


def merge_from_user_stage(cursor: t.Any, command: str, path: str) -> t.Any:
    """Run the MERGE with its source, the deduplicated staged rows, first made a table.

    DuckDB cannot join the source select as fakesnow's MERGE needs to (its `$1:` lookups
    become lateral references), so the select runs on its own, into a table the MERGE reads.
    """
    documents = stage_files_as_table(cursor, path)
    source = MERGE_SOURCE.search(command)
    assert source, command
    select = STAGED_SOURCE.sub(f"from {documents}", source["select"])
    select = select.replace("$1:", "_doc:").replace("SEQ8()", "_seq")
    rows = staged_table(cursor, path, "ROWS")
    original_execute(cursor, f"create or replace table {rows} as {select}")
    result = original_execute(cursor, MERGE_SOURCE.sub(f"using {rows} s on ", command, count=1))
    # The MERGE's counts are fetched from this cursor later: drop the tables on another one.
    with cursor._conn.cursor() as other:
        original_execute(other, f"drop table {rows}")
        original_execute(other, f"drop table {documents}")
    return result


def execute(cursor: t.Any, command: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
    """fakesnow's execute, one statement at a time, the user stage's statements first."""
    with STATEMENTS:
        return _execute(cursor, command, *args, **kwargs)


def _execute(cursor: t.Any, command: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
    text = command.strip().rstrip(";")
    if match := PUT.match(text):
        return put_to_user_stage(cursor, match["file"], match["path"], **kwargs)
    if match := REMOVE.match(text):
        return remove_from_user_stage(cursor, match["path"])
    if match := DROP_FILE_FORMAT.match(text):
        return drop_file_format(cursor, match["name"])
    if text.lower().startswith("merge into") and (match := STAGED_SOURCE.search(text)):
        return merge_from_user_stage(cursor, text, match["path"])
    return original_execute(cursor, command, *args, **kwargs)


def serve(port: int) -> None:
    """Serve the emulator on 127.0.0.1:`port` until the process is killed."""
    FakeSnowflakeCursor.execute = execute
    with fakesnow.server(port=port, host="127.0.0.1"):
        print(f"Snowflake emulator on http://127.0.0.1:{port}", flush=True)
        while True:
            time.sleep(3600)


def connect(port: int) -> t.Any:
    """A Snowflake client connection to the emulator, over HTTP as the target's are."""
    return snowflake.connector.connect(
        user="reader",
        password="reader",
        account="emulator",
        host="127.0.0.1",
        port=port,
        protocol="http",
        network_timeout=60,
    )


def query(port: int, sql: str) -> None:
    """Print the rows of `sql` as a JSON list of objects."""
    with connect(port) as connection, connection.cursor(snowflake.connector.DictCursor) as cursor:
        print(json.dumps(cursor.execute(sql).fetchall(), default=str))


def dump(port: int, database: str, schema: str) -> None:
    """Print every table of `schema` (its rows) and every column's type, as JSON."""
    columns_sql = (
        "select table_name, column_name, data_type from information_schema.columns "  # noqa: S608
        f"where table_schema = '{schema}' order by table_name, ordinal_position"
    )
    with connect(port) as connection, connection.cursor(snowflake.connector.DictCursor) as cursor:
        cursor.execute(f"use database {database}")
        columns = cursor.execute(columns_sql).fetchall()
        tables = {
            name: cursor.execute(f"select * from {database}.{schema}.{name}").fetchall()  # noqa: S608
            for name in dict.fromkeys(column["TABLE_NAME"] for column in columns)
        }
    print(json.dumps({"columns": columns, "tables": tables}, default=str))


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["serve", port]:
            serve(int(port))
        case ["query", port, sql]:
            query(int(port), sql)
        case ["dump", port, database, schema]:
            dump(int(port), database, schema)
        case _:
            sys.exit(__doc__)
