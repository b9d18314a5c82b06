"""What the tap keeps in the Singer state beside the SDK's bookmarks, and their check.

A state comes from a file or a state backend that people and other tools may edit. A
bookmark that is not a time stops the run before any request; one in the future (a moved
clock, a hand edit) would read nothing forever, so it is taken as now.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

from tap_twitter_metrics.settings import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterator

# Beside an analytics bookmark: the own posts (or videos) it asked for, and until when the
# account's timeline was searched for new ones.
KNOWN_STATE_KEY = "own_resources"
READ_UNTIL_STATE_KEY = "own_resources_read_until"
# Beside an account's `tweets` bookmark: the streams made from posts it holds for. A stream
# selected later starts from start_date, not from a bookmark it had no part in.
WRITTEN_STATE_KEY = "bookmarked_streams"
TIME_KEYS = ("replication_key_value", READ_UNTIL_STATE_KEY)
# X's first post: no bookmark of this tap can be older.
FIRST_POST = datetime(2006, 3, 21, tzinfo=timezone.utc)


class StateError(Exception):
    """The state holds something the tap cannot start from."""


def check_bookmarks(state: object, now: datetime) -> list[str]:
    """Refuse unusable bookmarks; move those in the future to `now`, saying which.

    Returns the bookmarks moved; raises StateError naming every unusable one.
    """
    errors: list[str] = []
    moved: list[str] = []
    for where, holder in _holders(state, errors):
        for key in TIME_KEYS:
            value = holder.get(key)
            if value is None:
                continue
            moment = _time(value)
            if moment is None or moment < FIRST_POST:
                errors.append(f"state: {key} of {where} is {value!r}, not a time since 2006")
            elif moment > now:
                holder[key] = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                moved.append(f"{key} of {where} ({value})")
    if errors:
        msg = "; ".join(errors) + ". Correct or remove these bookmarks."
        raise StateError(msg)
    return moved


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _holders(state: object, errors: list[str]) -> Iterator[tuple[str, dict[str, t.Any]]]:
    """Each stream's state and each of its partitions, named for a message."""
    bookmarks = state.get("bookmarks", {}) if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict):
        errors.append("state: 'bookmarks' must be an object of streams")
        return
    for stream, stream_state in bookmarks.items():
        if not isinstance(stream_state, dict):
            errors.append(f"state: the bookmark of {stream} must be an object")
            continue
        yield stream, stream_state
        partitions = stream_state.get("partitions") or []
        if not isinstance(partitions, list):
            errors.append(f"state: the partitions of {stream} must be a list")
            continue
        for partition in partitions:
            if not isinstance(partition, dict):
                errors.append(f"state: a partition of {stream} is {partition!r}, not an object")
                continue
            yield f"{stream} {_named(partition.get('context'))}", partition


def _named(context: object) -> str:
    if isinstance(context, dict):
        return "for " + ", ".join(f"{key} {value}" for key, value in context.items())
    return f"for context {context!r}"
