"""Turn decoded X API v2 response bodies into stream records (pure: no I/O, no SDK).

Records hold exactly the columns of their stream's schema, in schema order. Free-form values
(`entities`) and id lists are passed through by reference rather than copied, because a sync
parses hundreds of thousands of posts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from tap_twitter_metrics.catalogue import CATALOGUE, Part, metric_streams

if TYPE_CHECKING:
    from collections.abc import Collection

    from tap_twitter_metrics.catalogue import StreamSpec

Record = dict[str, Any]

_TWEET_METRIC_KEYS: Final = ("tweet_id", "author_id", "created_at", "observed_at")
_MEDIA_METRIC_KEYS: Final = ("media_key", "observed_at")
STREAM_COLUMNS: Final[dict[str, tuple[str, ...]]] = {spec.name: spec.columns for spec in CATALOGUE}
_USER_METRICS: Final = tuple(c for c in STREAM_COLUMNS["users"] if c.endswith("_count"))


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

    @property
    def is_blank(self) -> bool:
        """No posts, no errors and no next page.

        That is how the API may answer promoted_metrics for never-promoted posts: "an empty
        response, instead of Post data".
        """
        return not self.returned_ids and not self.problems and not self.next_token

    @classmethod
    def of_users(cls, users: list[Record], problems: list[Problem]) -> Page:
        """A page of a users endpoint: accounts and partial errors, no posts."""
        metrics: dict[str, list[Record]] = {stream: [] for stream in METRIC_STREAMS}
        return cls([], users, [], metrics, problems, None, None, [])

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
        """Return a copy without the posts in `post_ids` and their tweet metric records."""
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
    if value is None:
        return None
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 40:
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _InvalidValueError(name, value, "an integer")


def _string(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _InvalidValueError(name, value, "a string")


def _key(value: object, name: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise _InvalidValueError(name, value, "a non-empty string")


def _boolean(value: object, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _InvalidValueError(name, value, "true or false")


def _object(value: object, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise _InvalidValueError(name, value, "an object")


def _strings(value: object, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise _InvalidValueError(name, value, "a list of strings")


def _objects(value: object, name: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
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


def _metric_values(
    owner: dict[str, Any], family_key: str, columns: tuple[str, ...]
) -> Record | None:
    """Return the family's columns, or None when the object does not carry the family."""
    family = owner.get(family_key)
    if family is None:
        return None
    if not isinstance(family, dict):
        raise _InvalidValueError(family_key, family, "an object")
    if not family:
        return None
    if "repost_count" in family and "retweet_count" not in family:
        family = {**family, "retweet_count": family["repost_count"]}
    values: Record = {}
    for column in columns:
        value = family.get(column)
        values[column] = value if type(value) is int else _count(value, f"{family_key}.{column}")
    return values


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


def _user(obj: object, observed_at: str, where: str) -> Record:
    try:
        if not isinstance(obj, dict):
            raise _InvalidValueError("the entry", obj, "an object")
        record: Record = {
            "id": _key(obj.get("id"), "id"),
            "username": _string(obj.get("username"), "username"),
            "name": _string(obj.get("name"), "name"),
            "created_at": _date_time(obj.get("created_at"), "created_at"),
        }
        metrics = _metric_values(obj, "public_metrics", _USER_METRICS)
        for column in _USER_METRICS:
            record[column] = metrics[column] if metrics else None
        record["observed_at"] = observed_at
    except _InvalidValueError as exc:
        raise ResponseFormatError(f"{_label('user', obj, 'id', where)}: {exc}") from None
    return record


def _reference(item: dict[str, Any]) -> dict[str, str | None]:
    return {
        "type": _string(item.get("type"), "referenced_tweets[].type"),
        "id": _string(item.get("id"), "referenced_tweets[].id"),
    }


def _tweet_fields(obj: dict[str, Any]) -> Record:
    tweet_id = _key(obj.get("id"), "id")
    created_at = _required_date_time(obj.get("created_at"), "created_at")
    author_id = _string(obj.get("author_id"), "author_id")
    references = _objects(obj.get("referenced_tweets"), "referenced_tweets")
    attachments = _object(obj.get("attachments"), "attachments")
    return {
        "id": tweet_id,
        "text": _string(obj.get("text"), "text"),
        "created_at": created_at,
        "author_id": author_id,
        "conversation_id": _string(obj.get("conversation_id"), "conversation_id"),
        "lang": _string(obj.get("lang"), "lang"),
        "in_reply_to_user_id": _string(obj.get("in_reply_to_user_id"), "in_reply_to_user_id"),
        "referenced_tweets": (
            None if references is None else [_reference(item) for item in references]
        ),
        "media_keys": (
            _strings(attachments.get("media_keys"), "attachments.media_keys")
            if attachments
            else None
        ),
        "edit_history_tweet_ids": _strings(
            obj.get("edit_history_tweet_ids"), "edit_history_tweet_ids"
        ),
        "possibly_sensitive": _boolean(obj.get("possibly_sensitive"), "possibly_sensitive"),
        "reply_settings": _string(obj.get("reply_settings"), "reply_settings"),
        "entities": _object(obj.get("entities"), "entities"),
    }


def _families_of(
    obj: dict[str, Any], families: dict[str, tuple[str, tuple[str, ...]]]
) -> list[tuple[str, Record]]:
    """(metric stream, metric columns) of every family the object carries."""
    found = []
    for stream, (family_key, columns) in families.items():
        values = _metric_values(obj, family_key, columns)
        if values is not None:
            found.append((stream, values))
    return found


def _tweet(obj: object, observed_at: str, where: str, metrics: dict[str, list[Record]]) -> Record:
    """Return the tweets record and append the post's metric records to `metrics`."""
    try:
        if not isinstance(obj, dict):
            raise _InvalidValueError("the entry", obj, "an object")
        record = _tweet_fields(obj)
        found = _families_of(obj, TWEET_METRIC_FAMILIES)
    except _InvalidValueError as exc:
        raise ResponseFormatError(f"{_label('tweet', obj, 'id', where)}: {exc}") from None
    head = {
        "tweet_id": record["id"],
        "author_id": record["author_id"],
        "created_at": record["created_at"],
        "observed_at": observed_at,
    }
    for stream, values in found:
        metrics[stream].append({**head, **values})
    return record


def _variant(item: dict[str, Any]) -> Record:
    return {
        "bit_rate": _count(item.get("bit_rate"), "variants[].bit_rate"),
        "content_type": _string(item.get("content_type"), "variants[].content_type"),
        "url": _string(item.get("url"), "variants[].url"),
    }


def _media(obj: object, observed_at: str, where: str, metrics: dict[str, list[Record]]) -> Record:
    """Return the media record and append the media's metric records to `metrics`."""
    try:
        if not isinstance(obj, dict):
            raise _InvalidValueError("the entry", obj, "an object")
        media_key = _key(obj.get("media_key"), "media_key")
        variants = _objects(obj.get("variants"), "variants")
        record: Record = {
            "media_key": media_key,
            "type": _string(obj.get("type"), "type"),
            "duration_ms": _count(obj.get("duration_ms"), "duration_ms"),
            "url": _string(obj.get("url"), "url"),
            "preview_image_url": _string(obj.get("preview_image_url"), "preview_image_url"),
            "width": _count(obj.get("width"), "width"),
            "height": _count(obj.get("height"), "height"),
            "alt_text": _string(obj.get("alt_text"), "alt_text"),
            "variants": None if variants is None else [_variant(item) for item in variants],
        }
        found = _families_of(obj, MEDIA_METRIC_FAMILIES)
    except _InvalidValueError as exc:
        raise ResponseFormatError(f"{_label('media', obj, 'media_key', where)}: {exc}") from None
    for stream, values in found:
        metrics[stream].append({"media_key": media_key, "observed_at": observed_at, **values})
    return record


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

    A body that is neither (plain data) gives an empty list.
    """
    envelope = _body(body)
    if "errors" not in envelope and ("type" in envelope or "title" in envelope):
        return [_problem(envelope, "problem body")]
    return _partial_errors(envelope)


def _partial_errors(envelope: dict[str, Any]) -> list[Problem]:
    errors = envelope.get("errors")
    if errors is None:
        return []
    if not isinstance(errors, list):
        raise ResponseFormatError(f"errors is {type(errors).__name__}, expected a list")
    return [_problem(entry, f"errors[{index}]") for index, entry in enumerate(errors)]


def _check_observed_at(observed_at: str) -> None:
    try:
        _required_date_time(observed_at, "observed_at")
    except _InvalidValueError as exc:
        raise ValueError(str(exc)) from None


def _includes(envelope: dict[str, Any], name: str) -> list[Any]:
    includes = envelope.get("includes")
    if includes is None:
        return []
    if not isinstance(includes, dict):
        raise ResponseFormatError(f"includes is {type(includes).__name__}, expected an object")
    items = includes.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ResponseFormatError(f"includes.{name} is {type(items).__name__}, expected a list")
    return items


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


def _included_users(envelope: dict[str, Any], observed_at: str) -> list[Record]:
    return [
        _user(item, observed_at, f"includes.users[{index}]")
        for index, item in enumerate(_includes(envelope, "users"))
    ]


def parse_page(
    body: object, observed_at: str, *, user_source: Literal["data", "includes"] = "includes"
) -> Page:
    """Parse a tweets response: a timeline page, an id lookup or a single-post lookup.

    Tweets and their metric families come from `data` (a list, or one object), media and
    media metrics from `includes.media`. With `user_source="includes"` the authors in
    `includes.users` become user records; with `"data"` the caller reads users from a users
    endpoint (`parse_users`) and `Page.users` stays empty. `observed_at` is stamped on every
    metric and user record. Raises `ResponseFormatError` for a body the API would not send.
    """
    if user_source not in ("data", "includes"):
        msg = f"user_source is {user_source!r}, expected 'data' or 'includes'"
        raise ValueError(msg)
    _check_observed_at(observed_at)
    envelope = _body(body)
    metrics: dict[str, list[Record]] = {stream: [] for stream in METRIC_STREAMS}
    posts = _data_objects(envelope)
    tweets = [_tweet(post, observed_at, f"data[{i}]", metrics) for i, post in enumerate(posts)]

    media = [
        _media(item, observed_at, f"includes.media[{index}]", metrics)
        for index, item in enumerate(_includes(envelope, "media"))
    ]
    users = _included_users(envelope, observed_at) if user_source == "includes" else []
    next_token, result_count = _meta(envelope)
    return Page(
        tweets=tweets,
        users=users,
        media=media,
        metrics=metrics,
        problems=_partial_errors(envelope),
        next_token=next_token,
        result_count=result_count,
        returned_ids=[tweet["id"] for tweet in tweets],
    )


def parse_users(body: object, observed_at: str) -> tuple[list[Record], list[Problem]]:
    """Parse a users response (`/2/users/me`, `/2/users/by/username/:u`, `/2/users?ids=`).

    Returns the user records (stamped with `observed_at`) and the partial errors.
    """
    _check_observed_at(observed_at)
    envelope = _body(body)
    users = [
        _user(item, observed_at, f"data[{index}]")
        for index, item in enumerate(_data_objects(envelope))
    ]
    return users, _partial_errors(envelope)


@dataclass
class AnalyticsPage:
    """The buckets of one analytics response."""

    records: list[Record]
    problems: list[Problem]
    unreadable: list[str]
    """Counters that were not numbers, loaded as null: "<id> <metric> at <timestamp>"."""


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
    page = AnalyticsPage([], _partial_errors(envelope), [])
    for index, item in enumerate(_data_objects(envelope)):
        try:
            page.records += _buckets(item, stream, head, page.unreadable)
        except _InvalidValueError as exc:
            where = _label("resource", item, "id", f"data[{index}]")
            raise ResponseFormatError(f"{where}: {exc}") from None
    return page


def _buckets(item: object, stream: StreamSpec, head: Record, unreadable: list[str]) -> list[Record]:
    if not isinstance(item, dict):
        raise _InvalidValueError("the entry", item, "an object")
    # The media endpoint's items are documented without their key's name: take either.
    ident = _key(item.get("id", item.get("media_key")), "id")
    key, metrics = stream.key[0], analytics_metrics(stream)
    records = []
    for bucket in _objects(item.get("timestamped_metrics"), "timestamped_metrics") or ():
        timestamp = _required_date_time(bucket.get("timestamp"), "timestamp")
        values = _object(bucket.get("metrics"), "metrics") or {}
        record: Record = {key: ident, "timestamp": timestamp, **head}
        for name in metrics:
            try:
                record[name] = _count(values.get(name), name)
            except _InvalidValueError:
                record[name] = None
                unreadable.append(f"{ident} {name} at {timestamp}")
        records.append(record)
    return records
