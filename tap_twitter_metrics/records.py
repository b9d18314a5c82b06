"""Turn decoded X API v2 response bodies into stream records (pure: no I/O, no SDK).

Records hold exactly the columns of their stream's schema, in schema order. Free-form values
(`entities`) and id lists are passed through by reference rather than copied, because a sync
parses hundreds of thousands of posts.

One bad value never costs a post: a value of the wrong type is loaded as null and text is
cleaned (values.py), each leaving a `ValueNote` on the page for the log. Only a body whose
structure is broken (no list of posts, a post without an id) raises `ResponseFormatError`.
Both vocabularies of the API are read: the live one ("tweet") and spec 2.167's ("post").
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from tap_twitter_metrics.catalogue import CATALOGUE, Part, metric_streams
from tap_twitter_metrics.values import (
    COUNT_MAX,
    COUNT_MIN,
    NULLED,
    ValueNote,
    clean,
    clean_text,
    count_issue,
    needs_cleaning,
    shown,
)

if TYPE_CHECKING:
    from collections.abc import Collection

    from tap_twitter_metrics.catalogue import StreamSpec

Record = dict[str, Any]

_TWEET_METRIC_KEYS: Final = ("tweet_id", "author_id", "created_at", "observed_at")
_MEDIA_METRIC_KEYS: Final = ("media_key", "observed_at")
STREAM_COLUMNS: Final[dict[str, tuple[str, ...]]] = {spec.name: spec.columns for spec in CATALOGUE}
_USER_METRICS: Final = tuple(c for c in STREAM_COLUMNS["users"] if c.endswith("_count"))


def observed_now() -> str:
    """The time figures were read, in the API's own format."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _families(part: Part, keys: tuple[str, ...]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Metric stream -> (family key in API objects, metric columns), from the catalogue."""
    families = {}
    for name, spec in metric_streams(part).items():
        if spec.columns[: len(keys)] != keys or spec.family is None:
            msg = f"schema of {name} must start with {', '.join(keys)} and name a family"
            raise ValueError(msg)
        families[name] = (spec.family, spec.columns[len(keys) :])
    return families


TWEET_METRIC_FAMILIES: Final = _families(Part.TWEET_METRICS, _TWEET_METRIC_KEYS)
MEDIA_METRIC_FAMILIES: Final = _families(Part.MEDIA_METRICS, _MEDIA_METRIC_KEYS)
METRIC_STREAMS: Final = (*TWEET_METRIC_FAMILIES, *MEDIA_METRIC_FAMILIES)

# Spec 2.167 names (values) of the live API's names (keys). Where an object carries both, the
# live name wins unless its value is null.
NEW_NAMES: Final = {
    "retweet_count": "repost_count",
    "tweet_count": "post_count",
    "edit_history_tweet_ids": "edit_history_post_ids",
    "referenced_tweets": "referenced_posts",
}
_LIVE_NAMES: Final = {new: live for live, new in NEW_NAMES.items()}
FIELD_REFUSALS: Final = frozenset({"not-authorized-for-field", "field-unauthorized"})
"""Problem kinds of a private field the caller may not see (live name, spec 2.167 name)."""

# RFC 3339 as the API writes it; the calendar ranges are checked by datetime below.
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)


class ResponseFormatError(Exception):
    """A response body does not have the shape the X API documents."""


@dataclass
class Problem:
    """One partial error (`errors[]` entry) or problem body of the X API."""

    kind: str
    """Last path segment of the problem `type` URL, e.g. "resource-not-found"."""
    title: str | None
    detail: str | None
    resource_type: str | None
    resource_id: str | None
    field: str | None

    @property
    def refuses_field(self) -> bool:
        """Whether this is a field-authorization error (`field` names the refused field)."""
        return self.kind in FIELD_REFUSALS


@dataclass
class Page:
    """Everything one tweets response yields."""

    tweets: list[Record]
    users: list[Record]
    media: list[Record]
    metrics: dict[str, list[Record]]
    """Records per metric stream; every name of `METRIC_STREAMS` is a key."""
    problems: list[Problem]
    next_token: str | None
    result_count: int | None
    returned_ids: list[str]
    """Ids of the posts in `data`, in response order."""
    notes: list[ValueNote] = dataclasses.field(default_factory=list)
    """Values loaded as null or cleaned, and media the posts name but the response lacks."""

    @property
    def is_blank(self) -> bool:
        """No posts, no errors and no next page.

        That is how the API may answer promoted_metrics for never-promoted posts: "an empty
        response, instead of Post data".
        """
        return not self.returned_ids and not self.problems and not self.next_token

    @classmethod
    def of_users(
        cls, users: list[Record], problems: list[Problem], notes: list[ValueNote] | None = None
    ) -> Page:
        """A page of a users endpoint: accounts, partial errors and notes, no posts."""
        metrics: dict[str, list[Record]] = {stream: [] for stream in METRIC_STREAMS}
        return cls([], users, [], metrics, problems, None, None, [], notes or [])

    def records_for(self, stream: StreamSpec) -> list[Record]:
        """The records this page holds for a catalogued stream."""
        if stream.part is Part.USERS:
            return self.users
        if stream.part is Part.TWEETS:
            return self.tweets
        if stream.part is Part.MEDIA:
            return self.media
        if stream.part is Part.TWEET_DAILY:
            return _snapshots(self.metrics, TWEET_METRIC_FAMILIES, stream.columns)
        if stream.part is Part.MEDIA_DAILY:
            return _snapshots(self.metrics, MEDIA_METRIC_FAMILIES, stream.columns)
        return self.metrics[stream.name]

    def created_before(self, moment: str | None) -> Page:
        """The page without the posts created at or after `moment` (API time format)."""
        if moment is None:
            return self
        later = {tweet["id"] for tweet in self.tweets if tweet["created_at"] >= moment}
        return self.without_posts(later) if later else self

    def without_posts(self, post_ids: Collection[str]) -> Page:
        """Return a copy without the posts in `post_ids`, their metric records and notes."""
        return replace(
            self,
            tweets=[tweet for tweet in self.tweets if tweet["id"] not in post_ids],
            metrics={
                stream: (
                    [record for record in records if record["tweet_id"] not in post_ids]
                    if stream in TWEET_METRIC_FAMILIES
                    else records
                )
                for stream, records in self.metrics.items()
            },
            returned_ids=[post_id for post_id in self.returned_ids if post_id not in post_ids],
            notes=[
                note
                for note in self.notes
                if note.kind != "post" or note.resource_id not in post_ids
            ],
        )


def _snapshots(
    metrics: dict[str, list[Record]],
    families: dict[str, tuple[str, tuple[str, ...]]],
    columns: tuple[str, ...],
) -> list[Record]:
    """One row per post (or video) with every family read, for the day it was read.

    A family's columns are prefixed with its name: `organic_impression_count`.
    """
    rows: dict[str, Record] = {}
    key = columns[0]
    for stream, (family_key, family_columns) in families.items():
        prefix = family_key.removesuffix("_metrics")
        for record in metrics[stream]:
            row = rows.get(record[key])
            if row is None:
                row = rows[record[key]] = dict.fromkeys(columns)
                row.update((name, record[name]) for name in columns if name in record)
                row["snapshot_date"] = record["observed_at"][:10]
            for name in family_columns:
                row[f"{prefix}_{name}"] = record[name]
    return list(rows.values())


class _InvalidValueError(Exception):
    """A value of the wrong type; the caller adds which object it belongs to."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        super().__init__(name, value, expected)
        self.name = name
        self.value = value
        self.expected = expected

    def __str__(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.name} is {shown}, expected {self.expected}"


def _count(value: object, name: str) -> int | None:
    number, issue = count_issue(value)
    if issue is not None:
        raise _InvalidValueError(name, value, "an integer")
    return number


def _string(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _InvalidValueError(name, value, "a string")


def _key(value: object, name: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise _InvalidValueError(name, value, "a non-empty string")


def _object(value: object, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise _InvalidValueError(name, value, "an object")


def _list_of(value: object, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _objects(value: object, name: str) -> list[dict[str, Any]] | None:
    if value is None or _list_of(value, dict):
        return cast("list[dict[str, Any]] | None", value)
    raise _InvalidValueError(name, value, "a list of objects")


def _date_time(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and _DATE_TIME.fullmatch(value):
        try:
            datetime.fromisoformat(value[:19])
        except ValueError:
            pass
        else:
            return value
    raise _InvalidValueError(name, value, "a date-time like 2024-05-01T12:00:00.000Z")


def _required_date_time(value: object, name: str) -> str:
    checked = _date_time(value, name)
    if checked is None:
        raise _InvalidValueError(name, value, "a date-time like 2024-05-01T12:00:00.000Z")
    return checked


class _Reader:
    """Reads an API object's values for its record: a wrong value is loaded as null, noted.

    One reader serves every object of a response in turn (`kind` and `ident` name the one it
    reads), so a post costs no new object.
    """

    __slots__ = ("ident", "kind", "notes")

    def __init__(self, kind: str, ident: str, notes: list[ValueNote]) -> None:
        self.kind = kind
        self.ident = ident
        self.notes = notes

    def note(self, field: str, issue: str) -> None:
        """Add a note about one of the object's fields."""
        self.notes.append(ValueNote(self.kind, self.ident, field, issue))

    def _null(self, field: str, value: object, expected: str) -> None:
        self.note(field, f"{shown(value)} is not {expected}; {NULLED}")

    def count(self, value: object, field: str) -> int | None:
        """A count a BIGINT holds (digit strings read as numbers), else None."""
        if type(value) is int and COUNT_MIN <= value <= COUNT_MAX:
            return value
        number, issue = count_issue(value)
        if issue is not None:
            self.note(field, issue)
        return number

    def string(self, value: object, field: str) -> str | None:
        """A string, else None."""
        if value is None or isinstance(value, str):
            return value
        self._null(field, value, "a string")
        return None

    def boolean(self, value: object, field: str) -> bool | None:
        """True or false, else None."""
        if value is None or isinstance(value, bool):
            return value
        self._null(field, value, "true or false")
        return None

    def mapping(self, value: object, field: str) -> dict[str, Any] | None:
        """An object, else None."""
        if value is None or isinstance(value, dict):
            return value
        self._null(field, value, "an object")
        return None

    def strings(self, value: object, field: str) -> list[str] | None:
        """A list of strings, else None."""
        if value is None or _list_of(value, str):
            return cast("list[str] | None", value)
        self._null(field, value, "a list of strings")
        return None

    def mappings(self, value: object, field: str) -> list[dict[str, Any]] | None:
        """A list of objects, else None."""
        if value is None or _list_of(value, dict):
            return cast("list[dict[str, Any]] | None", value)
        self._null(field, value, "a list of objects")
        return None

    def date_time(self, value: object, field: str) -> str | None:
        """A date-time as the API writes it, else None."""
        try:
            return _date_time(value, field)
        except _InvalidValueError:
            self._null(field, value, "a date-time")
            return None


def _renamed(obj: dict[str, Any], name: str) -> tuple[Any, str]:
    """The value under its live name, else (when that is null) under its spec 2.167 name."""
    value = obj.get(name)
    if value is None:
        new = NEW_NAMES.get(name)
        if new is not None and obj.get(new) is not None:
            return obj[new], new
    return value, name


def _metric_values(
    reader: _Reader, owner: dict[str, Any], family_key: str, columns: tuple[str, ...]
) -> Record | None:
    """Return the family's columns, or None when the object does not carry the family."""
    family = owner.get(family_key)
    if family is None:
        return None
    if not isinstance(family, dict):
        reader.note(family_key, f"{shown(family)} is not an object; ignored")
        return None
    if not family:
        return None
    values: Record = {}
    for column in columns:
        value = family.get(column)
        # The usual values, a count in range or none, cost no call: a sync reads millions.
        if type(value) is int and COUNT_MIN <= value <= COUNT_MAX:
            pass
        elif value is not None or column in NEW_NAMES:
            value, name = _renamed(family, column)
            value = reader.count(value, f"{family_key}.{name}")
        values[column] = value
    return values


# The fields whose text goes into records, cleaned when a body holds NUL or lone surrogates.
_POST_TEXT: Final = (
    "id",
    "text",
    "author_id",
    "conversation_id",
    "lang",
    "in_reply_to_user_id",
    "referenced_tweets",
    "referenced_posts",
    "attachments",
    "edit_history_tweet_ids",
    "edit_history_post_ids",
    "reply_settings",
    "entities",
)
_MEDIA_TEXT: Final = ("media_key", "type", "url", "preview_image_url", "alt_text", "variants")
_USER_TEXT: Final = ("id", "username", "name")


def _cleaned(
    obj: dict[str, Any], fields: tuple[str, ...]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The object with the text of `fields` cleaned (a copy if any), and what changed where."""
    fixed: dict[str, Any] = {}
    fixes = []
    for name in fields:
        # A spec 2.167 name is not read when the live name has a value.
        if name not in obj or obj.get(_LIVE_NAMES.get(name, "")) is not None:
            continue
        value, issue = clean(obj[name])
        if issue is not None:
            fixed[name] = value
            fixes.append((name, issue))
    return ({**obj, **fixed} if fixed else obj), fixes


def _body(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ResponseFormatError(f"response body is {type(body).__name__}, expected an object")
    return body


def _data_objects(body: dict[str, Any]) -> list[Any]:
    data = body.get("data")
    if data is None:
        return []
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise ResponseFormatError(f"data is {type(data).__name__}, expected an object or a list")


def _label(kind: str, obj: object, id_key: str, where: str) -> str:
    if isinstance(obj, dict):
        ident = obj.get(id_key)
        if isinstance(ident, str) and ident:
            return f"{kind} {ident}"
    return where


def _reference(item: dict[str, Any], reader: _Reader, name: str) -> dict[str, str | None]:
    return {
        "type": reader.string(item.get("type"), f"{name}[].type"),
        "id": reader.string(item.get("id"), f"{name}[].id"),
    }


def _tweet_fields(obj: dict[str, Any], reader: _Reader, created_at: str) -> Record:
    string = reader.string
    references, references_name = _renamed(obj, "referenced_tweets")
    if references is not None:
        references = reader.mappings(references, references_name)
    history, history_name = _renamed(obj, "edit_history_tweet_ids")
    attachments = obj.get("attachments")
    if attachments is not None:
        attachments = reader.mapping(attachments, "attachments")
    return {
        "id": reader.ident,
        "text": string(obj.get("text"), "text"),
        "created_at": created_at,
        "author_id": string(obj.get("author_id"), "author_id"),
        "conversation_id": string(obj.get("conversation_id"), "conversation_id"),
        "lang": string(obj.get("lang"), "lang"),
        "in_reply_to_user_id": string(obj.get("in_reply_to_user_id"), "in_reply_to_user_id"),
        "referenced_tweets": (
            None
            if references is None
            else [_reference(item, reader, references_name) for item in references]
        ),
        "media_keys": (
            reader.strings(attachments.get("media_keys"), "attachments.media_keys")
            if attachments
            else None
        ),
        "edit_history_tweet_ids": reader.strings(history, history_name),
        "possibly_sensitive": reader.boolean(obj.get("possibly_sensitive"), "possibly_sensitive"),
        "reply_settings": string(obj.get("reply_settings"), "reply_settings"),
        "entities": reader.mapping(obj.get("entities"), "entities"),
    }


def _variants(reader: _Reader, value: object) -> list[Record] | None:
    variants = reader.mappings(value, "variants")
    if variants is None:
        return None
    return [
        {
            "bit_rate": reader.count(item.get("bit_rate"), "variants[].bit_rate"),
            "content_type": reader.string(item.get("content_type"), "variants[].content_type"),
            "url": reader.string(item.get("url"), "variants[].url"),
        }
        for item in variants
    ]


class _Parser:
    """Parses the objects of one response into records, metric records and notes."""

    def __init__(self, observed_at: str, envelope: dict[str, Any]) -> None:
        self.observed_at = observed_at
        # Rarely true: a clean body pays one quick check, not a check per string.
        self.dirty = needs_cleaning(envelope)
        self.notes: list[ValueNote] = []
        self.metrics: dict[str, list[Record]] = {stream: [] for stream in METRIC_STREAMS}
        self.reader = _Reader("", "", self.notes)

    def _open(
        self, obj: object, kind: str, key: str, text: tuple[str, ...], where: str
    ) -> tuple[dict[str, Any], _Reader]:
        """The object (its text cleaned) and the reader set to it; without its key it is refused."""
        fixes: list[tuple[str, str]] = []
        try:
            if not isinstance(obj, dict):
                raise _InvalidValueError("the entry", obj, "an object")
            found: dict[str, Any] = obj
            if self.dirty:
                found, fixes = _cleaned(found, text)
            ident = _key(found.get(key), key)
        except _InvalidValueError as exc:
            raise ResponseFormatError(f"{where}: {exc}") from None
        reader = self.reader
        reader.kind, reader.ident = kind, ident
        for name, issue in fixes:
            reader.note(name, issue)
        return found, reader

    def tweet(self, obj: object, where: str) -> Record:
        """Return the tweets record and keep the post's metric records."""
        post, reader = self._open(obj, "post", "id", _POST_TEXT, where)
        try:
            created_at = _required_date_time(post.get("created_at"), "created_at")
        except _InvalidValueError as exc:
            raise ResponseFormatError(f"tweet {reader.ident}: {exc}") from None
        record = _tweet_fields(post, reader, created_at)
        head = {
            "tweet_id": reader.ident,
            "author_id": record["author_id"],
            "created_at": created_at,
            "observed_at": self.observed_at,
        }
        for stream, (family_key, columns) in TWEET_METRIC_FAMILIES.items():
            values = _metric_values(reader, post, family_key, columns)
            if values is not None:
                self.metrics[stream].append({**head, **values})
        return record

    def media(self, obj: object, where: str) -> Record:
        """Return the media record and keep the media's metric records."""
        item, reader = self._open(obj, "media", "media_key", _MEDIA_TEXT, where)
        record: Record = {
            "media_key": reader.ident,
            "type": reader.string(item.get("type"), "type"),
            "duration_ms": reader.count(item.get("duration_ms"), "duration_ms"),
            "url": reader.string(item.get("url"), "url"),
            "preview_image_url": reader.string(item.get("preview_image_url"), "preview_image_url"),
            "width": reader.count(item.get("width"), "width"),
            "height": reader.count(item.get("height"), "height"),
            "alt_text": reader.string(item.get("alt_text"), "alt_text"),
            "variants": _variants(reader, item.get("variants")),
        }
        head = {"media_key": reader.ident, "observed_at": self.observed_at}
        for stream, (family_key, columns) in MEDIA_METRIC_FAMILIES.items():
            values = _metric_values(reader, item, family_key, columns)
            if values is not None:
                self.metrics[stream].append({**head, **values})
        return record

    def user(self, obj: object, where: str) -> Record:
        """Return the users record."""
        item, reader = self._open(obj, "user", "id", _USER_TEXT, where)
        record: Record = {
            "id": reader.ident,
            "username": reader.string(item.get("username"), "username"),
            "name": reader.string(item.get("name"), "name"),
            "created_at": reader.date_time(item.get("created_at"), "created_at"),
        }
        metrics = _metric_values(reader, item, "public_metrics", _USER_METRICS)
        for column in _USER_METRICS:
            record[column] = metrics[column] if metrics else None
        record["observed_at"] = self.observed_at
        return record

    def note_missing_media(self, tweets: list[Record], media: list[Record]) -> None:
        """Note each media key a post names that the response's media lack."""
        known = {item["media_key"] for item in media}
        for tweet in tweets:
            keys = tweet["media_keys"]
            if not keys or known.issuperset(keys):
                continue
            for key in dict.fromkeys(key for key in keys if key not in known):
                issue = f"media {key} is not in includes.media; no media record"
                self.notes.append(ValueNote("post", tweet["id"], "attachments.media_keys", issue))

    def buckets(self, item: object, stream: StreamSpec, head: Record) -> list[Record]:
        """The records of one analytics item: one per bucket of its `timestamped_metrics`."""
        if not isinstance(item, dict):
            raise _InvalidValueError("the entry", item, "an object")
        # The media endpoint's items are documented without their key's name: take either.
        ident, fix = _key(item.get("id", item.get("media_key")), "id"), None
        if self.dirty:
            ident, fix = clean_text(ident)
        reader = self.reader
        reader.kind, reader.ident = "media" if stream.key[0] == "media_key" else "post", ident
        if fix:
            reader.note("id", fix)
        records = []
        for bucket in _objects(item.get("timestamped_metrics"), "timestamped_metrics") or ():
            timestamp = _required_date_time(bucket.get("timestamp"), "timestamp")
            values = _object(bucket.get("metrics"), "metrics") or {}
            record: Record = {stream.key[0]: ident, "timestamp": timestamp, **head}
            for name in analytics_metrics(stream):
                record[name] = reader.count(values.get(name), f"{name} at {timestamp}")
            records.append(record)
        return records


def problem_kind(type_url: object) -> str:
    """Last path segment of a problem `type` URL, "unknown" without one.

    Recordings use api.twitter.com and the newest spec api.x.com, so only the suffix counts.
    """
    if not isinstance(type_url, str) or not type_url:
        return "unknown"
    return type_url.rstrip("/").rsplit("/", 1)[-1]


def _problem(obj: object, where: str) -> Problem:
    try:
        if not isinstance(obj, dict):
            raise _InvalidValueError("the entry", obj, "an object")
        type_url = _string(obj.get("type"), "type")
        detail = obj.get("detail")
        return Problem(
            kind=problem_kind(type_url),
            title=_string(obj.get("title"), "title"),
            # Entries of a 400 body carry `message` instead of `detail`.
            detail=_string(detail if detail is not None else obj.get("message"), "detail"),
            resource_type=_string(obj.get("resource_type"), "resource_type"),
            resource_id=_string(obj.get("resource_id"), "resource_id"),
            field=_string(obj.get("field"), "field"),
        )
    except _InvalidValueError as exc:
        raise ResponseFormatError(f"{where}: {exc}") from None


def parse_problems(body: object) -> list[Problem]:
    """Return the partial errors of a response, or its problem body when it has no `errors`.

    A body that is neither (plain data) gives an empty list. Their text is cleaned as a
    record's is, for the log lines that quote it.
    """
    envelope = _body(body)
    if "errors" not in envelope and ("type" in envelope or "title" in envelope):
        problem_body = clean(envelope)[0] if needs_cleaning(envelope) else envelope
        return [_problem(problem_body, "problem body")]
    return _partial_errors(envelope, dirty=needs_cleaning(envelope))


def _partial_errors(envelope: dict[str, Any], *, dirty: bool) -> list[Problem]:
    errors = envelope.get("errors")
    if errors is None:
        return []
    if not isinstance(errors, list):
        raise ResponseFormatError(f"errors is {type(errors).__name__}, expected a list")
    if dirty:
        errors = clean(errors)[0]
    return [_problem(entry, f"errors[{index}]") for index, entry in enumerate(errors)]


def _check_observed_at(observed_at: str) -> None:
    try:
        _required_date_time(observed_at, "observed_at")
    except _InvalidValueError as exc:
        raise ValueError(str(exc)) from None


def _includes(envelope: dict[str, Any], name: str) -> list[Any] | None:
    """`includes.<name>`, or None when the response has none."""
    includes = envelope.get("includes")
    if includes is None:
        return None
    if not isinstance(includes, dict):
        raise ResponseFormatError(f"includes is {type(includes).__name__}, expected an object")
    items = includes.get(name)
    if items is None or isinstance(items, list):
        return items
    raise ResponseFormatError(f"includes.{name} is {type(items).__name__}, expected a list")


def _meta(envelope: dict[str, Any]) -> tuple[str | None, int | None]:
    meta = envelope.get("meta")
    if meta is None:
        return None, None
    try:
        if not isinstance(meta, dict):
            raise _InvalidValueError("meta", meta, "an object")
        next_token = _string(meta.get("next_token"), "meta.next_token")
        result_count = _count(meta.get("result_count"), "meta.result_count")
    except _InvalidValueError as exc:
        raise ResponseFormatError(str(exc)) from None
    return next_token or None, result_count


def _included_media(
    parser: _Parser, envelope: dict[str, Any], tweets: list[Record], *, expanded: bool
) -> list[Record]:
    """The media records of `includes.media`, noting the media the posts name but it lacks."""
    included = _includes(envelope, "media")
    media = [parser.media(item, f"includes.media[{i}]") for i, item in enumerate(included or ())]
    if included is not None or expanded:
        parser.note_missing_media(tweets, media)
    return media


def parse_page(
    body: object,
    observed_at: str,
    *,
    user_source: Literal["data", "includes"] = "includes",
    media_expanded: bool = False,
) -> Page:
    """Parse a tweets response: a timeline page, an id lookup or a single-post lookup.

    Tweets and their metric families come from `data` (a list, or one object), media and
    media metrics from `includes.media`. With `user_source="includes"` the authors in
    `includes.users` become user records; with `"data"` the caller reads users from a users
    endpoint (`parse_user_page`) and `Page.users` stays empty. `observed_at` is stamped on
    every metric and user record. Media keys missing from `includes.media` are noted when
    it is there, or with `media_expanded` (asked for). Raises `ResponseFormatError` for a
    body whose structure is broken.
    """
    if user_source not in ("data", "includes"):
        msg = f"user_source is {user_source!r}, expected 'data' or 'includes'"
        raise ValueError(msg)
    _check_observed_at(observed_at)
    envelope = _body(body)
    parser = _Parser(observed_at, envelope)
    posts = _data_objects(envelope)
    tweets = [parser.tweet(post, f"data[{index}]") for index, post in enumerate(posts)]
    media = _included_media(parser, envelope, tweets, expanded=media_expanded)
    authors = _includes(envelope, "users") if user_source == "includes" else None
    users = [parser.user(item, f"includes.users[{i}]") for i, item in enumerate(authors or ())]
    next_token, result_count = _meta(envelope)
    return Page(
        tweets=tweets,
        users=users,
        media=media,
        metrics=parser.metrics,
        problems=_partial_errors(envelope, dirty=parser.dirty),
        next_token=next_token,
        result_count=result_count,
        returned_ids=[tweet["id"] for tweet in tweets],
        notes=parser.notes,
    )


def parse_user_page(body: object, observed_at: str) -> Page:
    """Parse a users response (`/2/users/me`, `/2/users/by/username/:u`, `/2/users?ids=`).

    Returns a page of user records (stamped with `observed_at`), partial errors and notes.
    """
    _check_observed_at(observed_at)
    envelope = _body(body)
    parser = _Parser(observed_at, envelope)
    objects = _data_objects(envelope)
    users = [parser.user(item, f"data[{index}]") for index, item in enumerate(objects)]
    return Page.of_users(users, _partial_errors(envelope, dirty=parser.dirty), parser.notes)


@dataclass
class AnalyticsPage:
    """The buckets of one analytics response."""

    records: list[Record]
    problems: list[Problem]
    notes: list[ValueNote] = dataclasses.field(default_factory=list)
    """Counters loaded as null (field "<metric> at <timestamp>") and cleaned ids."""
    resources: int = 0
    """Posts or videos returned, with buckets or without: X bills each."""

    @property
    def unreadable(self) -> list[str]:
        """The counters loaded as null, as "<id> <metric> at <timestamp>" (see `notes`)."""
        return [
            f"{note.resource_id} {note.field}" for note in self.notes if note.issue.endswith(NULLED)
        ]


_ANALYTICS_HEAD: Final = ("timestamp", "granularity", "author_id", "observed_at")


def analytics_metrics(stream: StreamSpec) -> tuple[str, ...]:
    """An analytics stream's metric columns: its schema's columns after key and head."""
    return stream.columns[1 + len(_ANALYTICS_HEAD) :]


def parse_analytics(
    body: object, stream: StreamSpec, *, granularity: str, author_id: str | None, observed_at: str
) -> AnalyticsPage:
    """Parse a /2/tweets/analytics or /2/media/analytics response: one record per bucket."""
    _check_observed_at(observed_at)
    envelope = _body(body)
    head = {"granularity": granularity, "author_id": author_id, "observed_at": observed_at}
    parser = _Parser(observed_at, envelope)
    records: list[Record] = []
    items = _data_objects(envelope)
    for index, item in enumerate(items):
        try:
            records += parser.buckets(item, stream, head)
        except _InvalidValueError as exc:
            where = _label("resource", item, "id", f"data[{index}]")
            raise ResponseFormatError(f"{where}: {exc}") from None
    problems = _partial_errors(envelope, dirty=parser.dirty)
    return AnalyticsPage(records, problems, parser.notes, resources=len(items))


@dataclass
class UsagePage:
    """The records of one /2/usage/tweets response."""

    records: list[Record]
    notes: list[ValueNote] = dataclasses.field(default_factory=list)
    """Counts loaded as null."""


_PLAIN_DATE: Final = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)


def _usage_date(value: object, name: str) -> str:
    """A day of usage as a date-time; a plain `2026-11-28` is read as its midnight, UTC.

    X's documents show both spellings.
    """
    if isinstance(value, str) and _PLAIN_DATE.fullmatch(value):
        value = f"{value}T00:00:00.000Z"
    return _required_date_time(value, name)


def _ident(value: object, name: str) -> str:
    """An id given as a string or a number, as a string."""
    return str(value) if type(value) is int else _key(value, name)


def _app_days(items: object) -> list[tuple[str, str, object]]:
    """(app id, day, posts consumed as sent) of `daily_client_app_usage`, in either shape.

    One shape holds an item per app (`client_app_id`, `usage: [{date, usage}]`), the other an
    item per day (`date`, `usage: [{app_id, tweets_consumed}]`).
    """
    found = []
    for item in _objects(items, "daily_client_app_usage") or ():
        if "client_app_id" in item:
            app = _ident(item.get("client_app_id"), "client_app_id")
            for day in _objects(item.get("usage"), "usage") or ():
                found.append((app, _usage_date(day.get("date"), "date"), day.get("usage")))
        else:
            date = _usage_date(item.get("date"), "date")
            for app_day in _objects(item.get("usage"), "usage") or ():
                app = _ident(app_day.get("app_id"), "app_id")
                found.append((app, date, app_day.get("tweets_consumed")))
    return found


def parse_usage(body: object, observed_at: str) -> UsagePage:
    """Parse a /2/usage/tweets response: one record per app and UTC day.

    X documents two shapes, counts as strings or as numbers; both give the same records. A
    count that is no count is loaded as null and noted.
    """
    _check_observed_at(observed_at)
    try:
        data = _object(_body(body).get("data"), "data") or {}
        project_id = (
            None if data.get("project_id") is None else _ident(data["project_id"], "project_id")
        )
        daily = data.get("daily_client_app_usage")
        if daily is None and isinstance(data.get("daily_project_usage"), list):
            daily = data["daily_project_usage"]
        app_days = _app_days(daily)
    except _InvalidValueError as exc:
        raise ResponseFormatError(f"usage: {exc}") from None
    notes: list[ValueNote] = []
    reader = _Reader("project", project_id or "?", notes)
    project = {
        name: reader.count(data.get(name), name)
        for name in ("project_cap", "project_usage", "cap_reset_day")
    }
    reader.kind = "app"
    records = []
    for app, date, consumed in app_days:
        reader.ident = app
        head = {"client_app_id": app, "date": date, "project_id": project_id}
        posts = reader.count(consumed, f"posts consumed on {date[:10]}")
        records.append({**head, "posts_consumed": posts, **project, "observed_at": observed_at})
    return UsagePage(records, notes)
