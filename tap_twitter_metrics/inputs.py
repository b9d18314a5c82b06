"""The config, catalog and state files, read and checked whole before the SDK reads them.

A broken file must end in one line that names it and says what is wrong, never in a
traceback, and never quote its content: a config file holds secrets.
"""

from __future__ import annotations

import decimal
import io
import json
import sys
import typing as t
from pathlib import Path, PurePath

import click
from singer_sdk.singerlib import Catalog

from tap_twitter_metrics.settings import json_type

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class BadInputError(Exception):
    """A config, catalog or state the tap cannot start from; the message names it and why."""


def read_json_object(path: str | PurePath, label: str) -> dict[str, t.Any]:
    """The JSON object a file holds; BadInputError names the file and the problem."""
    where = f"{label} {path}"
    return _json_object(_read_text(path, where), where)


def _read_text(path: str | PurePath, where: str) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        problem = "no such file"
    except IsADirectoryError:
        problem = "is a folder, not a file"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except OSError as error:
        problem = f"cannot be read ({error.strerror or type(error).__name__})"
    raise BadInputError(f"{where}: {problem}")


def _json_object(text: str, where: str) -> dict[str, t.Any]:
    if not text.strip():
        msg = f"{where}: is empty"
        raise BadInputError(msg)
    try:
        # Floats as Decimal, as the SDK reads these files.
        content = json.loads(text, parse_float=decimal.Decimal)
    except json.JSONDecodeError as error:
        # The position only: the message never quotes the file, which may hold secrets.
        msg = f"{where}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        raise BadInputError(msg) from None
    if not isinstance(content, dict):
        msg = f"{where}: must hold a JSON object, not {json_type(content)}"
        raise BadInputError(msg)
    return content


def catalog_problem(catalog: Mapping[str, t.Any]) -> str | None:
    """Why a JSON object is not a Singer catalog the SDK can read, or None."""
    streams = catalog.get("streams")
    if not isinstance(streams, list):
        if "streams" not in catalog:
            return 'it has no "streams" list'
        return f'"streams" must be a list of streams, not {json_type(streams)}'
    for index, entry in enumerate(streams):
        if problem := _catalog_entry_problem(entry):
            return f"streams[{index}]{problem}"
    try:
        Catalog.from_dict(dict(catalog))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        return f"the SDK cannot read it ({type(error).__name__})"
    return None


def _catalog_entry_problem(entry: object) -> str | None:
    """What is wrong with one stream of a catalog, after its place: " must be ...", or None."""
    if not isinstance(entry, dict):
        return f" must be an object, not {json_type(entry)}"
    if not isinstance(entry.get("tap_stream_id"), str):
        return ' has no "tap_stream_id" string'
    for key, kind, what in (("schema", dict, "an object"), ("metadata", list, "a list")):
        if entry.get(key) is not None and not isinstance(entry[key], kind):
            return f".{key} must be {what}, not {json_type(entry[key])}"
    for number, item in enumerate(entry.get("metadata") or []):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("breadcrumb"), list)
            and isinstance(item.get("metadata"), dict)
        ):
            return (
                f'.metadata[{number}] must be an object with a "breadcrumb" list and a '
                '"metadata" object'
            )
    return None


def state_problem(state: Mapping[str, t.Any]) -> str | None:
    """Why a JSON object is not a Singer state the SDK can load, or None."""
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return f'"bookmarks" must be an object of streams, not {json_type(bookmarks)}'
    for stream, stream_state in bookmarks.items():
        if not isinstance(stream_state, dict):
            return f"the bookmark of {stream} must be an object, not {json_type(stream_state)}"
        partitions = stream_state.get("partitions") or []
        if not isinstance(partitions, list):
            return f"the partitions of {stream} must be a list, not {json_type(partitions)}"
        for partition in partitions:
            if not isinstance(partition, dict):
                return f"a partition of {stream} must be an object, not {json_type(partition)}"
    return None


def checked(
    value: object, label: str, problem: Callable[[Mapping[str, t.Any]], str | None]
) -> dict[str, t.Any] | None:
    """A catalog or state given as a path or a dict, read and checked; None stays None."""
    if value is None:
        return None
    where = label
    if isinstance(value, (str, PurePath)):
        where = f"{label} {value}"
        value = read_json_object(value, label)
    if not isinstance(value, dict):
        msg = f"{where}: must be a JSON object, not {json_type(value)}"
        raise BadInputError(msg)
    if reason := problem(value):
        msg = f"{where}: not a Singer {label}: {reason}"
        raise BadInputError(msg)
    return value


def catalog_input(catalog: object) -> dict[str, t.Any] | Catalog | None:
    """A catalog path or dict, read and checked; a `Catalog` is the SDK's own already."""
    if isinstance(catalog, Catalog):
        return catalog
    return checked(catalog, "catalog", catalog_problem)


def config_input(config: object) -> dict[str, t.Any] | None:
    """The settings a config path or list of paths holds (later files win); a dict as it is."""
    if isinstance(config, (str, PurePath)):
        config = [config]
    if isinstance(config, list):
        merged: dict[str, t.Any] = {}
        for path in config:
            merged.update(read_json_object(path, "config"))
        return merged
    if config is not None and not isinstance(config, dict):
        msg = f"config: must be a JSON object, not {json_type(config)}"
        raise BadInputError(msg)
    return config


if t.TYPE_CHECKING:
    _FileParamType = click.ParamType[t.IO[str], t.Any]
else:  # click before 8.5 has no generic ParamType
    _FileParamType = click.ParamType


class CheckedJsonFile(_FileParamType):
    """--catalog or --state: the whole file read and checked, naming it, before the SDK.

    The SDK opens them as `click.File`, whose refusal is a usage error, and parses them
    where a broken file ends in a traceback.
    """

    name = "file"

    def __init__(self, label: str, problem: Callable[[Mapping[str, t.Any]], str | None]) -> None:
        self.label = label
        self.problem = problem

    def convert(
        self,
        value: str | t.IO[str],
        param: click.Parameter | None,  # noqa: ARG002
        ctx: click.Context | None,  # noqa: ARG002
    ) -> t.IO[str]:
        """The file's text, for the SDK to read as it reads a `click.File`."""
        if not isinstance(value, str):
            return value
        where = f"--{self.label} {value}"
        text = _read_text(value, where)
        if reason := self.problem(_json_object(text, where)):
            msg = f"{where}: not a Singer {self.label}: {reason}"
            raise BadInputError(msg)
        return io.StringIO(text)
