"""What the tap keeps in the Singer state beside the SDK's bookmarks, and their check.

A state comes from a file or a state backend that people and other tools may edit. A
bookmark that is not a time stops the run before any request; one in the future (a moved
clock, a hand edit) would read nothing forever, so it is taken as now.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

from tap_twitter_metrics.settings import POST_ID, parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# Beside an analytics bookmark: the own posts (or videos) it asked for, and until when the
# account's timeline was searched for new ones.
KNOWN_STATE_KEY = "own_resources"
READ_UNTIL_STATE_KEY = "own_resources_read_until"
# Beside an account's `tweets` bookmark: the streams made from posts it holds for. A stream
# selected later starts from start_date, not from a bookmark it had no part in.
WRITTEN_STATE_KEY = "bookmarked_streams"
# Beside an account's `tweets` bookmark: the newest post read, the time the run that read
# it started (the refresh schedule counts ages from it), and the stretches of the timeline a
# run stopped at its read cap left to the next run.
NEWEST_ID_STATE_KEY = "newest_post_id"
READ_AT_STATE_KEY = "read_at"
UNREAD_STATE_KEY = "unread_spans"
TIME_KEYS = ("replication_key_value", READ_UNTIL_STATE_KEY, READ_AT_STATE_KEY)
SPAN_TIMES = ("start", "end")
SPAN_IDS = ("since_id", "until_id")
# X's first post: no bookmark of this tap can be older.
FIRST_POST = datetime(2006, 3, 21, tzinfo=timezone.utc)


class StateError(Exception):
    """The state holds something the tap cannot start from."""


def check_bookmarks(state: Mapping[str, t.Any], now: datetime) -> list[str]:
    """Refuse bookmarks that are no time; move those in the future to `now`, saying which.

    The state's shape was checked when it was read (inputs.py). Returns the bookmarks
    moved; raises StateError naming every unusable one.
    """
    errors: list[str] = []
    moved: list[str] = []
    for where, holder in _holders(state):
        known = holder.get(KNOWN_STATE_KEY, {})
        if not isinstance(known, dict) or not all(_time(value) for value in known.values()):
            errors.append(f"state: {KNOWN_STATE_KEY} of {where} must map ids to times")
        errors.extend(_id_errors(holder, where))
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


def _id_errors(holder: Mapping[str, t.Any], where: str) -> list[str]:
    """A kept post id that is no id, or a kept span that is not one."""
    errors = []
    newest = holder.get(NEWEST_ID_STATE_KEY)
    if newest is not None and not _is_id(newest):
        errors.append(f"state: {NEWEST_ID_STATE_KEY} of {where} is {newest!r}, not a post id")
    spans = holder.get(UNREAD_STATE_KEY, [])
    if not isinstance(spans, list) or not all(_is_span(span) for span in spans):
        errors.append(
            f"state: {UNREAD_STATE_KEY} of {where} must be a list of spans with start and end "
            "times and since_id and until_id post ids, each or null"
        )
    return errors


def _is_id(value: object) -> bool:
    return isinstance(value, str) and POST_ID.fullmatch(value) is not None


def _is_span(span: object) -> bool:
    return (
        isinstance(span, dict)
        and set(span) <= {*SPAN_TIMES, *SPAN_IDS}
        and all(span.get(key) is None or _time(span[key]) for key in SPAN_TIMES)
        and all(span.get(key) is None or _is_id(span[key]) for key in SPAN_IDS)
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _holders(state: Mapping[str, t.Any]) -> Iterator[tuple[str, dict[str, t.Any]]]:
    """Each stream's state and each of its partitions, named for a message."""
    for stream, stream_state in state.get("bookmarks", {}).items():
        yield stream, stream_state
        for partition in stream_state.get("partitions") or []:
            yield f"{stream} {_named(partition.get('context'))}", partition


def _named(context: object) -> str:
    if isinstance(context, dict):
        return "for " + ", ".join(f"{key} {value}" for key, value in context.items())
    return f"for context {context!r}"
