"""Property tests: whatever body arrives, the parser yields valid records or its own error."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped,unused-ignore]

from tap_twitter_metrics.catalogue import STREAM_NAMES, load_schema
from tap_twitter_metrics.records import (
    MEDIA_METRIC_FAMILIES,
    METRIC_STREAMS,
    TWEET_METRIC_FAMILIES,
    Page,
    ResponseFormatError,
    parse_page,
    parse_user_page,
)
from tap_twitter_metrics.values import ValueNote

OBSERVED = "2024-05-03T08:00:00.000Z"
RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
    re.ASCII,
)

# jsonschema checks date-time only with an optional extra installed; check it here instead.
format_checker = FormatChecker(formats=())


def is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not RFC3339.fullmatch(value):
        return False
    datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")  # noqa: DTZ007 (calendar check only)
    hours, minutes = (0, 0) if value.endswith("Z") else map(int, value[-5:].split(":"))
    return hours < 24 and minutes < 60


format_checker.checks("date-time", raises=ValueError)(is_date_time)


VALIDATORS = {
    stream: Draft202012Validator(load_schema(stream), format_checker=format_checker)
    for stream in STREAM_NAMES
}

# Text as json.loads may return it: NUL characters and lone surrogates ("\ud83d" unpaired)
# among emoji, right-to-left letters and control characters.
texts = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=8),
    st.sampled_from(["\x00", "a\x00b", "\ud83d", "x\udc00", "🎉\ud800\x00", "שלום\n\t"]),
)
# Values of every JSON type, including the wrong ones.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)

ids = st.integers(min_value=1, max_value=10**19 - 1).map(str)
media_keys = st.builds(lambda kind, n: f"{kind}_{n}", st.sampled_from(["3", "13", "16"]), ids)
times = st.builds(
    lambda moment, ms: moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z",
    st.datetimes(min_value=datetime(2006, 3, 21), max_value=datetime(2030, 1, 1)),  # noqa: DTZ001
    st.integers(0, 999),
)
good_counts = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=0, max_value=2**40).map(str),
)
any_counts = st.one_of(good_counts, json_values)
METRIC_KEYS = sorted(
    {
        c
        for _, cols in (*TWEET_METRIC_FAMILIES.values(), *MEDIA_METRIC_FAMILIES.values())
        for c in cols
    }
    | {"repost_count", "followers_count", "tweet_count", "some_new_metric"}
)


def mixed(good: st.SearchStrategy[Any], bad_share: bool) -> st.SearchStrategy[Any]:
    return st.one_of(good, json_values) if bad_share else good


def families(counts: st.SearchStrategy[Any], bad: bool) -> st.SearchStrategy[Any]:
    family = st.dictionaries(st.sampled_from(METRIC_KEYS), counts, max_size=8)
    return mixed(st.one_of(st.none(), st.just({}), family), bad)


def objects(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(required, optional=optional)


def tweet(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    counts = any_counts if bad else good_counts
    text = mixed(st.text(max_size=20), bad)
    metric_families = {
        key: families(counts, bad)
        for key in ("public_metrics", "non_public_metrics", "organic_metrics", "promoted_metrics")
    }
    required = {"id": mixed(ids, bad), "created_at": mixed(times, bad)}
    optional = {
        "text": text,
        "author_id": mixed(ids, bad),
        "conversation_id": mixed(ids, bad),
        "lang": text,
        "in_reply_to_user_id": mixed(ids, bad),
        "referenced_tweets": mixed(
            st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["replied_to", "quoted", "retweeted"]), "id": ids}
                ),
                max_size=2,
            ),
            bad,
        ),
        "attachments": mixed(
            st.fixed_dictionaries({}, optional={"media_keys": st.lists(media_keys, max_size=3)}),
            bad,
        ),
        "edit_history_tweet_ids": mixed(st.lists(ids, max_size=2), bad),
        "possibly_sensitive": mixed(st.booleans(), bad),
        "reply_settings": text,
        "entities": mixed(st.dictionaries(st.text(max_size=5), json_values, max_size=2), bad),
        "unknown_field": json_values,
        **metric_families,
    }
    return objects(required, optional)


def media(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    counts = any_counts if bad else good_counts
    text = mixed(st.text(max_size=20), bad)
    variant = st.fixed_dictionaries(
        {}, optional={"bit_rate": counts, "content_type": text, "url": text}
    )
    return objects(
        {"media_key": mixed(media_keys, bad)},
        {
            "type": mixed(st.sampled_from(["photo", "video", "animated_gif"]), bad),
            "duration_ms": counts,
            "url": text,
            "preview_image_url": text,
            "width": counts,
            "height": counts,
            "alt_text": text,
            "variants": mixed(st.lists(variant, max_size=2), bad),
            "unknown_field": json_values,
            **{
                key: families(counts, bad)
                for key in (
                    "public_metrics",
                    "non_public_metrics",
                    "organic_metrics",
                    "promoted_metrics",
                )
            },
        },
    )


def user(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    counts = any_counts if bad else good_counts
    text = mixed(st.text(max_size=20), bad)
    return objects(
        {"id": mixed(ids, bad)},
        {
            "username": text,
            "name": text,
            "created_at": mixed(times, bad),
            "public_metrics": families(counts, bad),
            "verified": json_values,
        },
    )


def problem(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    text = mixed(st.text(max_size=20), bad)
    kinds = st.sampled_from(
        ["resource-not-found", "not-authorized-for-field", "not-authorized-for-resource"]
    )
    type_url = st.builds(
        lambda host, kind: f"https://{host}/2/problems/{kind}",
        st.sampled_from(["api.twitter.com", "api.x.com"]),
        kinds,
    )
    return objects(
        {"type": mixed(type_url, bad)},
        {
            "title": text,
            "detail": text,
            "resource_type": text,
            "resource_id": mixed(ids, bad),
            "field": text,
            "value": json_values,
        },
    )


def data_of(item: st.SearchStrategy[Any], bad: bool) -> st.SearchStrategy[Any]:
    return mixed(st.one_of(st.lists(item, max_size=3), item), bad)


def tweets_body(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    includes = mixed(
        st.fixed_dictionaries(
            {},
            optional={
                "media": mixed(st.lists(media(bad), max_size=3), bad),
                "users": mixed(st.lists(user(bad), max_size=2), bad),
                "tweets": json_values,
            },
        ),
        bad,
    )
    meta = mixed(
        st.fixed_dictionaries(
            {},
            optional={
                "result_count": mixed(st.integers(0, 100), bad),
                "next_token": mixed(st.text(max_size=10), bad),
                "newest_id": ids,
            },
        ),
        bad,
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "data": data_of(tweet(bad), bad),
            "includes": includes,
            "errors": mixed(st.lists(problem(bad), max_size=3), bad),
            "meta": meta,
            "unknown_top_level": json_values,
        },
    )


def users_body(bad: bool) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "data": data_of(user(bad), bad),
            "errors": mixed(st.lists(problem(bad), max_size=2), bad),
        },
    )


def strings_in(value: Any) -> list[str]:
    """Every string in a JSON value, dict keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (key, *strings_in(item))]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


def assert_valid(stream: str, records: list[dict[str, Any]]) -> None:
    validator = VALIDATORS[stream]
    columns = list(validator.schema["properties"])
    for record in records:
        assert list(record) == columns
        validator.validate(record)
        # PostgreSQL refuses NUL in text and jsonb; a lone surrogate stops a UTF-8 writer.
        assert not any("\x00" in text for text in strings_in(record)), record
        msgspec.json.encode(record)
        for value in record.values():
            assert type(value) is not int or -(2**63) < value < 2**63, record


def check_notes(notes: list[ValueNote], page: Page) -> None:
    """Each note names a post, media or user of the page, and prints as UTF-8."""
    resources = {
        "post": set(page.returned_ids),
        "media": {item["media_key"] for item in page.media},
        "user": {user["id"] for user in page.users},
    }
    for item in notes:
        assert isinstance(item, ValueNote)
        assert item.resource_id in resources[item.kind], item
        assert len(str(item)) < 300
        str(item).encode("utf-8")


def parsed_or_refused(body: Any) -> Page | None:
    """The parsed page, or None when the parser refused the body with its own error."""
    try:
        return parse_page(body, OBSERVED, user_source="includes")
    except ResponseFormatError as error:
        message = str(error)
    assert message
    return None


def check_page(page: Page) -> None:
    assert_valid("tweets", page.tweets)
    assert_valid("media", page.media)
    assert_valid("users", page.users)
    assert set(page.metrics) == set(METRIC_STREAMS)
    for stream, records in page.metrics.items():
        assert_valid(stream, records)
    assert page.returned_ids == [tweet["id"] for tweet in page.tweets]
    for stream in TWEET_METRIC_FAMILIES:
        tweet_ids = [record["tweet_id"] for record in page.metrics[stream]]
        assert set(tweet_ids) <= set(page.returned_ids)
        assert len(tweet_ids) <= len(page.tweets)
    media_keys = {record["media_key"] for record in page.media}
    for stream in MEDIA_METRIC_FAMILIES:
        assert {record["media_key"] for record in page.metrics[stream]} <= media_keys
    assert all(record["observed_at"] == OBSERVED for record in page.users)
    assert page.is_blank == (not page.returned_ids and not page.problems and not page.next_token)
    assert page.next_token is None or isinstance(page.next_token, str)
    assert page.result_count is None or isinstance(page.result_count, int)
    check_notes(page.notes, page)


# Malformed bodies met in practice, always tried on top of the generated ones.
POST = {"id": "1790000000000000001", "created_at": "2024-05-01T12:00:00.000Z", "text": "hi"}
NAMED_BODIES: dict[str, dict[str, Any]] = {
    "missing data": {"meta": {"result_count": 0, "next_token": "b26v89c19zqg8o3fpzbkk"}},
    "includes without media": {
        "data": [{**POST, "attachments": {"media_keys": ["13_1790000000000000001"]}}],
        "includes": {"users": [{"id": "15", "username": "someone"}]},
    },
    "errors only": {
        "errors": [
            {
                "resource_type": "tweet",
                "field": "organic_metrics.like_count",
                "resource_id": POST["id"],
                "title": "Field Authorization Error",
                "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
            }
        ]
    },
    "unknown fields": {
        "data": [{**POST, "note_tweet": {"text": "long"}, "brand_new": [1, {"x": None}]}],
        "includes": {"media": [{"media_key": "3_1", "type": "photo", "brand_new": True}]},
        "brand_new_section": {"anything": 1},
    },
    "null metrics": {
        "data": [
            {
                **POST,
                "public_metrics": None,
                "non_public_metrics": {"impression_count": None, "url_link_clicks": None},
                "organic_metrics": {},
                "attachments": {"media_keys": ["13_1"]},
            }
        ],
        "includes": {"media": [{"media_key": "13_1", "type": "video", "public_metrics": None}]},
    },
    "metric counts as strings": {
        "data": [
            {
                **POST,
                "public_metrics": {"like_count": "12", "repost_count": "3", "reply_count": "0"},
                "attachments": {"media_keys": ["13_1"]},
            }
        ],
        "includes": {
            "media": [
                {
                    "media_key": "13_1",
                    "type": "video",
                    "public_metrics": {"view_count": "1000"},
                    "non_public_metrics": {"playback_0_count": "7"},
                }
            ]
        },
    },
}


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(tweets_body(bad=True), json_values))
@example(body=NAMED_BODIES["missing data"])
@example(body=NAMED_BODIES["includes without media"])
@example(body=NAMED_BODIES["errors only"])
@example(body=NAMED_BODIES["unknown fields"])
@example(body=NAMED_BODIES["null metrics"])
@example(body=NAMED_BODIES["metric counts as strings"])
def test_any_tweets_body_gives_valid_records_or_response_format_error(body: Any) -> None:
    page = parsed_or_refused(body)
    if page is not None:
        check_page(page)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


@settings(max_examples=300, deadline=None)
@given(body=tweets_body(bad=False), data=st.data())
def test_one_bad_value_gives_valid_records_or_response_format_error(
    body: dict[str, Any], data: st.DataObject
) -> None:
    """A well-formed body with one value replaced or removed, anywhere in it."""
    path = data.draw(st.sampled_from(paths(body)[1:] or [("data",)]), label="path")
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and data.draw(st.booleans(), label="remove"):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = data.draw(json_values, label="value")
    page = parsed_or_refused(body)
    if page is not None:
        check_page(page)


@settings(max_examples=300, deadline=None)
@given(body=tweets_body(bad=False))
def test_well_formed_tweets_body_always_parses(body: dict[str, Any]) -> None:
    page = parse_page(body, OBSERVED, user_source="includes")
    check_page(page)
    data = body.get("data")
    posts = [data] if isinstance(data, dict) else data or []
    assert page.returned_ids == [post["id"] for post in posts]
    for stream, (family, columns) in TWEET_METRIC_FAMILIES.items():
        carriers = [post for post in posts if post.get(family)]
        assert [r["tweet_id"] for r in page.metrics[stream]] == [p["id"] for p in carriers]
        for record, post in zip(page.metrics[stream], carriers, strict=True):
            source = post[family]
            for column in columns:
                raw = source.get(column)
                if column == "retweet_count" and raw is None:
                    raw = source.get("repost_count")
                assert record[column] == (None if raw is None else int(raw))
    assert len(page.problems) == len(body.get("errors", []))
    # Good values leave notes only for cleaned text and media the includes lack.
    for item in page.notes:
        assert item.issue.endswith(("removed", "U+FFFD", "no media record")), item


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(users_body(bad=True), users_body(bad=False), json_values))
@example(body={})
@example(body={"errors": [{"type": "https://api.x.com/2/problems/resource-not-found"}]})
@example(body={"data": {"id": "15", "public_metrics": {"followers_count": "9", "x": None}}})
def test_any_users_body_gives_valid_records_or_response_format_error(body: Any) -> None:
    try:
        page = parse_user_page(body, OBSERVED)
        users, problems = page.users, page.problems
    except ResponseFormatError as error:
        message = str(error)
    else:
        assert_valid("users", users)
        assert len(problems) == len(body.get("errors") or [])
        check_notes(page.notes, page)
        return
    assert message


@pytest.mark.parametrize("name", NAMED_BODIES)
def test_each_named_body_gives_valid_records(name: str) -> None:
    body = NAMED_BODIES[name]
    page = parse_page(body, OBSERVED, user_source="includes")
    check_page(page)
    if name == "metric counts as strings":
        (public,) = page.metrics["tweet_public_metrics"]
        counts = (public["like_count"], public["retweet_count"], public["quote_count"])
        assert counts == (12, 3, None)
        (views,) = page.metrics["media_public_metrics"]
        assert views["view_count"] == 1000


# Where a bad value may sit without stopping the page: anywhere inside a post, a media or a
# user except the key (and a post's created_at, the bookmark).
STRUCTURAL = {"data": {"id", "created_at"}, "media": {"media_key"}, "users": {"id"}}


def inside_a_resource(path: tuple[Any, ...], body: dict[str, Any]) -> bool:
    if path[:1] == ("data",):
        inner = path[2:] if isinstance(body["data"], list) else path[1:]
        return bool(inner) and inner[0] not in STRUCTURAL["data"]
    if path[:2] in {("includes", "media"), ("includes", "users")}:
        return len(path) > 4 or (len(path) == 4 and path[3] not in STRUCTURAL[path[1]])
    return False


@settings(max_examples=300, deadline=None)
@given(body=tweets_body(bad=False), data=st.data())
def test_a_bad_value_inside_a_post_media_or_user_never_stops_the_page(
    body: dict[str, Any], data: st.DataObject
) -> None:
    """The rule of the project: the post is kept, the value nulled or cleaned, and noted."""
    places = [path for path in paths(body) if inside_a_resource(path, body)]
    if not places:
        return
    path = data.draw(st.sampled_from(places), label="path")
    before = parse_page(body, OBSERVED)
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and data.draw(st.booleans(), label="remove"):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = data.draw(json_values, label="value")

    page = parse_page(body, OBSERVED)
    check_page(page)
    assert page.returned_ids == before.returned_ids
    assert [item["media_key"] for item in page.media] == [m["media_key"] for m in before.media]
    assert [user["id"] for user in page.users] == [user["id"] for user in before.users]


@settings(max_examples=200, deadline=None)
@given(body=st.one_of(tweets_body(bad=False), tweets_body(bad=True)))
def test_the_cleaning_path_gives_the_same_page_for_clean_text(body: dict[str, Any]) -> None:
    """Only bodies with dirty text take the slower path; it changes nothing in clean text."""
    try:
        fast = parse_page(body, OBSERVED)
    except ResponseFormatError:
        return
    with mock.patch("tap_twitter_metrics.records.needs_cleaning", return_value=True):
        slow = parse_page(body, OBSERVED)
    assert slow == fast
