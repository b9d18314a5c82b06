"""One bad value in one post never stops a page: it is loaded as null or cleaned, and noted.

Every case asserts the exact records and the exact notes (`Page.notes`) the parser makes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import msgspec
import pytest

from tap_twitter_metrics.catalogue import STREAMS
from tap_twitter_metrics.records import (
    MEDIA_METRIC_FAMILIES,
    STREAM_COLUMNS,
    TWEET_METRIC_FAMILIES,
    Page,
    Problem,
    ResponseFormatError,
    parse_analytics,
    parse_page,
    parse_problems,
    parse_user_page,
    problem_kind,
)
from tap_twitter_metrics.values import COUNT_MAX, ValueNote

OBSERVED = "2024-05-03T08:00:00.000Z"
POST = "1790000000000000001"
AUTHOR = "1500000000000000001"
CREATED = "2024-05-01T12:00:00.000Z"
VIDEO = "13_1790000000000000101"
PHOTO = "3_1790000000000000102"
HASHTAGS = {"hashtags": [{"start": 0, "end": 7, "tag": "launch"}]}
PUBLIC = {
    "retweet_count": 4,
    "reply_count": 2,
    "like_count": 31,
    "quote_count": 1,
    "bookmark_count": 3,
    "impression_count": 1200,
}
ENGAGEMENT = {
    "impression_count": 900,
    "like_count": 20,
    "reply_count": 1,
    "retweet_count": 3,
    "url_link_clicks": 5,
    "user_profile_clicks": 2,
}
NULLED = "loaded as null"


def post(**fields: object) -> dict[str, Any]:
    """A post as the API sends it, with `fields` set over it."""
    return {
        "id": POST,
        "text": "#launch day",
        "created_at": CREATED,
        "author_id": AUTHOR,
        "conversation_id": POST,
        "lang": "en",
        "edit_history_tweet_ids": [POST],
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "entities": HASHTAGS,
        "public_metrics": dict(PUBLIC),
        **fields,
    }


def tweet_record(**columns: object) -> dict[str, Any]:
    """The tweets record of `post()`, with `columns` set over it."""
    return {
        "id": POST,
        "text": "#launch day",
        "created_at": CREATED,
        "author_id": AUTHOR,
        "conversation_id": POST,
        "lang": "en",
        "in_reply_to_user_id": None,
        "referenced_tweets": None,
        "media_keys": None,
        "edit_history_tweet_ids": [POST],
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "entities": HASHTAGS,
        **columns,
    }


def public_record(**counts: object) -> dict[str, Any]:
    """The tweet_public_metrics record of `post()`, with `counts` set over it."""
    head = {"tweet_id": POST, "author_id": AUTHOR, "created_at": CREATED, "observed_at": OBSERVED}
    return {**head, **PUBLIC, **counts}


def parse(*posts: dict[str, Any], **sections: Any) -> Page:
    return parse_page({"data": list(posts), **sections}, OBSERVED)


def note(field: str, issue: str, kind: str = "post", ident: str = POST) -> ValueNote:
    return ValueNote(kind, ident, field, issue)


# Counts


@pytest.mark.parametrize(
    ("value", "issue"),
    [
        ("12a", f"'12a' is not a count; {NULLED}"),
        ("-1", f"'-1' is not a count; {NULLED}"),
        ("", f"'' is not a count; {NULLED}"),
        (" 12", f"' 12' is not a count; {NULLED}"),
        ("١٢", f"'١٢' is not a count; {NULLED}"),
        (1.5, f"1.5 is not a count; {NULLED}"),
        (True, f"True is not a count; {NULLED}"),
        (False, f"False is not a count; {NULLED}"),
        ([1], f"[1] is not a count; {NULLED}"),
        ({"n": 1}, f"{{'n': 1}} is not a count; {NULLED}"),
        (float("inf"), f"inf is not a count; {NULLED}"),
        (float("nan"), f"nan is not a count; {NULLED}"),
        (2**63, f"9223372036854775808 does not fit a 64-bit integer; {NULLED}"),
        (-(2**63), f"-9223372036854775808 does not fit a 64-bit integer; {NULLED}"),
        ("9223372036854775808", f"'9223372036854775808' does not fit a 64-bit integer; {NULLED}"),
        (1e19, f"1e+19 does not fit a 64-bit integer; {NULLED}"),
    ],
)
def test_a_bad_count_is_loaded_as_null_and_noted(value: object, issue: str) -> None:
    page = parse(post(public_metrics={**PUBLIC, "like_count": value}))

    assert page.tweets == [tweet_record()]
    assert page.metrics["tweet_public_metrics"] == [public_record(like_count=None)]
    assert page.notes == [note("public_metrics.like_count", issue)]
    assert str(page.notes[0]) == f"post {POST} public_metrics.like_count: {issue}"
    assert page.returned_ids == [POST]


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (COUNT_MAX, 2**63 - 1),
        (-COUNT_MAX, -(2**63) + 1),
        (-1, -1),
        ("12", 12),
        ("0", 0),
        ("000000000000000000000000012", 12),
        (str(COUNT_MAX), COUNT_MAX),
        (12.0, 12),
        (None, None),
    ],
)
def test_a_count_a_bigint_holds_is_kept_without_a_note(value: object, count: int | None) -> None:
    page = parse(post(public_metrics={**PUBLIC, "like_count": value}))

    assert page.metrics["tweet_public_metrics"] == [public_record(like_count=count)]
    assert page.notes == []


def test_a_missing_count_is_null_without_a_note() -> None:
    counts = {name: value for name, value in PUBLIC.items() if name != "quote_count"}
    page = parse(post(public_metrics=counts))

    assert page.metrics["tweet_public_metrics"] == [public_record(quote_count=None)]
    assert page.notes == []


@pytest.mark.parametrize("stream", list(TWEET_METRIC_FAMILIES))
def test_every_count_of_every_post_family_is_read_alike(stream: str) -> None:
    family, columns = TWEET_METRIC_FAMILIES[stream]
    page = parse(post(**{"public_metrics": None, family: dict.fromkeys(columns, "x")}))

    head = {"tweet_id": POST, "author_id": AUTHOR, "created_at": CREATED, "observed_at": OBSERVED}
    assert page.metrics[stream] == [{**head, **dict.fromkeys(columns)}]
    assert page.notes == [
        note(f"{family}.{column}", f"'x' is not a count; {NULLED}") for column in columns
    ]


@pytest.mark.parametrize("stream", list(MEDIA_METRIC_FAMILIES))
def test_every_count_of_every_media_family_is_read_alike(stream: str) -> None:
    family, columns = MEDIA_METRIC_FAMILIES[stream]
    media = {"media_key": VIDEO, "type": "video", family: dict.fromkeys(columns, 2**64)}
    page = parse_page({"includes": {"media": [media]}}, OBSERVED)

    assert page.metrics[stream] == [
        {"media_key": VIDEO, "observed_at": OBSERVED, **dict.fromkeys(columns)}
    ]
    issue = f"18446744073709551616 does not fit a 64-bit integer; {NULLED}"
    assert page.notes == [note(f"{family}.{column}", issue, "media", VIDEO) for column in columns]


def test_every_count_of_a_user_is_read_alike() -> None:
    columns = [name for name in STREAM_COLUMNS["users"] if name.endswith("_count")]
    body = {
        "data": {"id": AUTHOR, "username": "brand", "public_metrics": dict.fromkeys(columns, 1.5)}
    }
    page = parse_user_page(body, OBSERVED)

    assert page.users == [
        {
            "id": AUTHOR,
            "username": "brand",
            "name": None,
            "created_at": None,
            **dict.fromkeys(columns),
            "observed_at": OBSERVED,
        }
    ]
    issue = f"1.5 is not a count; {NULLED}"
    assert page.notes == [note(f"public_metrics.{c}", issue, "user", AUTHOR) for c in columns]
    assert page.problems == []


def test_media_counts_outside_the_families_are_read_alike() -> None:
    media = {
        "media_key": VIDEO,
        "type": "video",
        "duration_ms": "45s",
        "width": 1920.5,
        "height": True,
        "variants": [{"bit_rate": "fast", "content_type": "video/mp4", "url": "https://v/a.mp4"}],
    }
    page = parse_page({"includes": {"media": [media]}}, OBSERVED)

    assert page.media == [
        {
            "media_key": VIDEO,
            "type": "video",
            "duration_ms": None,
            "url": None,
            "preview_image_url": None,
            "width": None,
            "height": None,
            "alt_text": None,
            "variants": [{"bit_rate": None, "content_type": "video/mp4", "url": "https://v/a.mp4"}],
        }
    ]
    assert [str(item) for item in page.notes] == [
        f"media {VIDEO} duration_ms: '45s' is not a count; {NULLED}",
        f"media {VIDEO} width: 1920.5 is not a count; {NULLED}",
        f"media {VIDEO} height: True is not a count; {NULLED}",
        f"media {VIDEO} variants[].bit_rate: 'fast' is not a count; {NULLED}",
    ]


def test_a_huge_bad_value_is_shown_short() -> None:
    page = parse(post(public_metrics={**PUBLIC, "like_count": "7" * 30 + "x" * 100_000}))

    (only,) = page.notes
    assert only.issue == f"'77777777777777777...xxxxxxxxxxxxxxxxxx' is not a count; {NULLED}"
    big = parse(post(public_metrics={**PUBLIC, "like_count": list(range(10_000))}))
    assert big.notes[0].issue == f"[0, 1, 2, ...] is not a count; {NULLED}"


def test_the_same_bad_post_gives_the_same_page_every_run() -> None:
    body = {"data": [post(public_metrics={**PUBLIC, "like_count": "12a"}), post(id="7")]}
    first = parse_page(copy.deepcopy(body), OBSERVED)

    assert first == parse_page(body, OBSERVED)
    assert first.returned_ids == [POST, "7"]


# Other fields of the wrong type


@pytest.mark.parametrize(
    ("fields", "columns", "notes"),
    [
        ({"lang": 5}, {"lang": None}, [("lang", "5 is not a string")]),
        ({"text": ["a"]}, {"text": None}, [("text", "['a'] is not a string")]),
        ({"author_id": 15}, {"author_id": None}, [("author_id", "15 is not a string")]),
        (
            {"possibly_sensitive": "yes"},
            {"possibly_sensitive": None},
            [("possibly_sensitive", "'yes' is not true or false")],
        ),
        ({"entities": []}, {"entities": None}, [("entities", "[] is not an object")]),
        ({"attachments": []}, {}, [("attachments", "[] is not an object")]),
        (
            {"attachments": {"media_keys": PHOTO}},
            {},
            [("attachments.media_keys", f"'{PHOTO}' is not a list of strings")],
        ),
        (
            {"edit_history_tweet_ids": [1]},
            {"edit_history_tweet_ids": None},
            [("edit_history_tweet_ids", "[1] is not a list of strings")],
        ),
        (
            {"referenced_tweets": "x"},
            {"referenced_tweets": None},
            [("referenced_tweets", "'x' is not a list of objects")],
        ),
        (
            {"referenced_tweets": [{"type": 3, "id": "9"}]},
            {"referenced_tweets": [{"type": None, "id": "9"}]},
            [("referenced_tweets[].type", "3 is not a string")],
        ),
    ],
)
def test_an_optional_field_of_the_wrong_type_is_loaded_as_null_and_noted(
    fields: dict[str, Any], columns: dict[str, Any], notes: list[tuple[str, str]]
) -> None:
    page = parse(post(**fields))

    assert page.tweets == [tweet_record(**columns)]
    # The metric records repeat the post's author.
    author = {"author_id": columns["author_id"]} if "author_id" in columns else {}
    assert page.metrics["tweet_public_metrics"] == [public_record(**author)]
    assert page.notes == [note(field, f"{issue}; {NULLED}") for field, issue in notes]


def test_a_family_that_is_not_an_object_is_ignored_and_noted() -> None:
    page = parse(post(public_metrics=3, organic_metrics=ENGAGEMENT))

    assert page.tweets == [tweet_record()]
    assert page.metrics["tweet_public_metrics"] == []
    assert len(page.metrics["tweet_organic_metrics"]) == 1
    assert page.notes == [note("public_metrics", "3 is not an object; ignored")]


def test_user_and_media_fields_of_the_wrong_type_are_loaded_as_null_and_noted() -> None:
    user = {"id": AUTHOR, "username": 3, "name": "Brand", "created_at": "yesterday"}
    media = {"media_key": PHOTO, "type": 5, "url": "https://p/x.jpg", "variants": "none"}
    page = parse_page({"includes": {"users": [user], "media": [media]}}, OBSERVED)

    assert page.users[0]["username"] is None
    assert page.users[0]["name"] == "Brand"
    assert page.users[0]["created_at"] is None
    assert (page.media[0]["type"], page.media[0]["url"], page.media[0]["variants"]) == (
        None,
        "https://p/x.jpg",
        None,
    )
    assert [str(item) for item in page.notes] == [
        f"media {PHOTO} type: 5 is not a string; {NULLED}",
        f"media {PHOTO} variants: 'none' is not a list of objects; {NULLED}",
        f"user {AUTHOR} username: 3 is not a string; {NULLED}",
        f"user {AUTHOR} created_at: 'yesterday' is not a date-time; {NULLED}",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[]", "response body is str, expected an object"),
        ({"data": 3}, "data is int, expected an object or a list"),
        (
            {"data": [{"text": "no id", "created_at": CREATED}]},
            "data[0]: id is None, expected a non-empty string",
        ),
        ({"data": [post(id="")]}, "data[0]: id is '', expected a non-empty string"),
        (
            {"data": [post(created_at="2024-05-01")]},
            f"tweet {POST}: created_at is '2024-05-01', expected a date-time like "
            "2024-05-01T12:00:00.000Z",
        ),
        ({"data": [post(), "x"]}, "data[1]: the entry is 'x', expected an object"),
        (
            {"includes": {"media": [{"type": "photo"}]}},
            "includes.media[0]: media_key is None, expected a non-empty string",
        ),
    ],
)
def test_a_broken_structure_still_stops_the_page(body: object, message: str) -> None:
    with pytest.raises(ResponseFormatError) as caught:
        parse_page(body, OBSERVED)
    assert str(caught.value) == message


# Text


def test_nul_characters_are_removed_from_text() -> None:
    page = parse(post(text="#launch\x00 day\x00"))

    assert page.tweets == [tweet_record()]
    assert page.notes == [note("text", "NUL characters removed")]
    assert str(page.notes[0]) == f"post {POST} text: NUL characters removed"


def test_nul_characters_are_removed_from_nested_entities_and_their_keys() -> None:
    entities = {
        "urls": [{"url": "https://t.co/a\x00", "display_url": "example.com", "sta\x00rt": 0}],
        "hashtags": [{"tag": "launch"}],
    }
    body = {"data": [post(entities=entities)]}
    before = copy.deepcopy(body)
    page = parse_page(body, OBSERVED)

    assert page.tweets == [
        tweet_record(
            entities={
                "urls": [{"url": "https://t.co/a", "display_url": "example.com", "start": 0}],
                "hashtags": [{"tag": "launch"}],
            }
        )
    ]
    assert page.notes == [note("entities", "NUL characters removed")]
    assert body == before


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    raw = (
        '{"data": [{"id": "%s", "created_at": "%s", "text": "half \\ud83d emoji \\ud83c\\udf89"}]}'
    )
    body = json.loads(raw % (POST, CREATED))
    assert body["data"][0]["text"] == "half \ud83d emoji 🎉"
    page = parse_page(body, OBSERVED)

    assert page.tweets[0]["text"] == "half \ufffd emoji 🎉"
    assert page.notes == [note("text", "lone surrogates replaced with U+FFFD")]
    assert msgspec.json.decode(msgspec.json.encode(page.tweets))[0]["text"] == "half � emoji 🎉"


def test_nul_and_lone_surrogates_in_one_field_give_one_note() -> None:
    page = parse(post(text="a\x00b\udc00", entities={"x": ["\ud800", {"y": "\x00"}]}))

    assert page.tweets == [tweet_record(text="ab\ufffd", entities={"x": ["\ufffd", {"y": ""}]})]
    both = "NUL characters removed, lone surrogates replaced with U+FFFD"
    assert page.notes == [note("text", both), note("entities", both)]


def test_emoji_right_to_left_text_newlines_and_tabs_stay_as_they_are() -> None:
    text = "🎉🚀 👩🏽‍💻 שלום עולם مرحبا\u200f\nline two\ttab \r\n\x1f é 中文"
    page = parse(post(text=text))

    assert page.tweets == [tweet_record(text=text)]
    assert page.notes == []


def test_every_text_field_of_posts_media_and_users_is_cleaned() -> None:
    dirty = post(
        author_id=AUTHOR + "\x00",
        conversation_id="\x00" + POST,
        lang="en\x00",
        in_reply_to_user_id="42\ud800",
        reply_settings="every\x00one",
        referenced_tweets=[{"type": "quoted\x00", "id": "9"}],
        attachments={"media_keys": [PHOTO + "\x00"]},
        edit_history_tweet_ids=[POST, "8\x00"],
        public_metrics=None,
    )
    user = {"id": AUTHOR, "username": "br\x00and", "name": "Brand \ud83d"}
    media = {"media_key": PHOTO, "type": "photo", "alt_text": "shop\x00", "url": "https://p\x00"}
    page = parse(dirty, includes={"users": [user], "media": [media]})

    assert page.tweets == [
        tweet_record(
            in_reply_to_user_id="42\ufffd",
            referenced_tweets=[{"type": "quoted", "id": "9"}],
            media_keys=[PHOTO],
            edit_history_tweet_ids=[POST, "8"],
        )
    ]
    assert (page.users[0]["username"], page.users[0]["name"]) == ("brand", "Brand \ufffd")
    assert (page.media[0]["alt_text"], page.media[0]["url"]) == ("shop", "https://p")
    nul, lone = "NUL characters removed", "lone surrogates replaced with U+FFFD"
    assert page.notes == [
        *(note(field, nul) for field in ("author_id", "conversation_id", "lang")),
        note("in_reply_to_user_id", lone),
        note("referenced_tweets", nul),
        note("attachments", nul),
        note("edit_history_tweet_ids", nul),
        note("reply_settings", nul),
        note("url", nul, "media", PHOTO),
        note("alt_text", nul, "media", PHOTO),
        note("username", nul, "user", AUTHOR),
        note("name", lone, "user", AUTHOR),
    ]


def test_a_dirty_id_is_cleaned_and_the_notes_name_the_clean_one() -> None:
    page = parse(post(id=POST + "\x00"))

    assert page.returned_ids == [POST]
    assert page.tweets == [tweet_record()]
    assert page.metrics["tweet_public_metrics"] == [public_record()]
    assert page.notes == [note("id", "NUL characters removed")]


def test_text_the_records_do_not_hold_is_left_alone() -> None:
    page = parse(post(note_tweet={"text": "long \x00 text \ud800"}, withheld={"x": "\x00"}))

    assert page.tweets == [tweet_record()]
    assert page.notes == []


def test_a_count_with_a_nul_is_not_a_count_and_the_note_shows_it_escaped() -> None:
    page = parse(post(public_metrics={**PUBLIC, "like_count": "12\x00", "reply_count": "\ud83d"}))

    assert page.metrics["tweet_public_metrics"] == [
        public_record(like_count=None, reply_count=None)
    ]
    assert [str(item) for item in page.notes] == [
        f"post {POST} public_metrics.reply_count: '\\ud83d' is not a count; {NULLED}",
        f"post {POST} public_metrics.like_count: '12\\x00' is not a count; {NULLED}",
    ]
    assert all(str(item).encode("utf-8") for item in page.notes)


def test_problem_text_is_cleaned_for_the_log() -> None:
    entry = {
        "title": "Not Found Error\x00",
        "detail": "Could not find tweet with ids: [2\ud800].",
        "resource_id": "2",
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }
    expected = Problem(
        kind="resource-not-found",
        title="Not Found Error",
        detail="Could not find tweet with ids: [2\ufffd].",
        resource_type=None,
        resource_id="2",
        field=None,
    )

    assert parse_page({"errors": [entry]}, OBSERVED).problems == [expected]
    assert parse_problems({"errors": [entry]}) == [expected]
    assert parse_problems(entry) == [expected]


# Spec 2.167 spelling


def spelled_2167(body: dict[str, Any]) -> dict[str, Any]:
    """The same body with every name spec 2.167 renamed in its new spelling."""
    renamed = {
        "retweet_count": "repost_count",
        "tweet_count": "post_count",
        "edit_history_tweet_ids": "edit_history_post_ids",
        "referenced_tweets": "referenced_posts",
    }
    text = json.dumps(body)
    for old, new in renamed.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    return dict(json.loads(text))


def full_body() -> dict[str, Any]:
    reply = post(
        referenced_tweets=[{"type": "replied_to", "id": "9"}],
        in_reply_to_user_id="42",
        attachments={"media_keys": [VIDEO]},
        non_public_metrics={"impression_count": 1200, "engagements": 60},
        organic_metrics=ENGAGEMENT,
        promoted_metrics={**ENGAGEMENT, "retweet_count": 7},
    )
    user_counts = {"followers_count": 10, "following_count": 2, "tweet_count": 300}
    user = {"id": AUTHOR, "username": "brand", "public_metrics": {**user_counts, "listed_count": 1}}
    video = {"media_key": VIDEO, "type": "video", "public_metrics": {"view_count": None}}
    video["non_public_metrics"] = {"playback_0_count": None, "playback_25_count": 3}
    return {"data": [reply], "includes": {"users": [user], "media": [video]}}


def test_spec_2167_names_give_the_same_page_as_the_live_names() -> None:
    live, new = full_body(), spelled_2167(full_body())
    assert "repost_count" in new["data"][0]["organic_metrics"]
    assert "post_count" in new["includes"]["users"][0]["public_metrics"]
    assert "referenced_posts" in new["data"][0]

    expected = parse_page(live, OBSERVED)
    assert parse_page(new, OBSERVED) == expected
    assert expected.notes == []
    assert expected.tweets[0]["referenced_tweets"] == [{"type": "replied_to", "id": "9"}]
    assert expected.tweets[0]["edit_history_tweet_ids"] == [POST]
    assert [r["retweet_count"] for r in expected.metrics["tweet_promoted_metrics"]] == [7]
    assert [r["retweet_count"] for r in expected.metrics["tweet_organic_metrics"]] == [3]
    assert expected.users[0]["tweet_count"] == 300
    # Nullable by the spec: null without a note.
    assert expected.users[0]["like_count"] is None
    assert expected.metrics["media_public_metrics"][0]["view_count"] is None
    assert expected.metrics["media_non_public_metrics"][0]["playback_0_count"] is None


def test_spec_2167_names_give_the_same_users_page() -> None:
    live = {"data": full_body()["includes"]["users"]}
    assert parse_user_page(spelled_2167(live), OBSERVED) == parse_user_page(live, OBSERVED)
    assert parse_user_page(live, OBSERVED).users[0]["tweet_count"] == 300


def test_where_both_names_are_there_the_live_one_wins_unless_null() -> None:
    both = post(
        public_metrics={**PUBLIC, "retweet_count": 4, "repost_count": 5},
        organic_metrics={**ENGAGEMENT, "retweet_count": None, "repost_count": 6},
        edit_history_tweet_ids=[POST],
        edit_history_post_ids=["1", "2"],
        referenced_posts=[{"type": "quoted", "id": "9\x00"}],
    )
    page = parse(both)

    assert page.metrics["tweet_public_metrics"] == [public_record(retweet_count=4)]
    assert page.metrics["tweet_organic_metrics"][0]["retweet_count"] == 6
    assert page.tweets == [tweet_record(referenced_tweets=[{"type": "quoted", "id": "9"}])]
    assert page.notes == [note("referenced_posts", "NUL characters removed")]


def test_a_bad_value_under_a_new_name_is_noted_under_that_name() -> None:
    counts = {name: value for name, value in PUBLIC.items() if name != "retweet_count"}
    page = parse(post(public_metrics={**counts, "repost_count": "many"}))

    assert page.metrics["tweet_public_metrics"] == [public_record(retweet_count=None)]
    assert page.notes == [note("public_metrics.repost_count", f"'many' is not a count; {NULLED}")]


@pytest.mark.parametrize("host", ["api.twitter.com", "api.x.com"])
@pytest.mark.parametrize(
    ("kind", "refuses"),
    [
        ("not-authorized-for-field", True),
        ("field-unauthorized", True),
        ("resource-not-found", False),
        ("not-authorized-for-resource", False),
    ],
)
def test_problem_kinds_from_either_host_and_both_field_refusals(
    host: str, kind: str, refuses: bool
) -> None:
    entry = {
        "resource_type": "tweet",
        "field": "organic_metrics.like_count",
        "resource_id": POST,
        "title": "Field Authorization Error",
        "detail": "Sorry.",
        "type": f"https://{host}/2/problems/{kind}",
    }
    (problem,) = parse_page({"errors": [entry]}, OBSERVED).problems

    assert problem == Problem(
        kind=kind,
        title="Field Authorization Error",
        detail="Sorry.",
        resource_type="tweet",
        resource_id=POST,
        field="organic_metrics.like_count",
    )
    assert problem.refuses_field is refuses
    assert problem_kind(f"https://{host}/2/problems/{kind}/") == kind


# Media the includes lack


def test_a_media_key_missing_from_includes_is_noted_and_no_media_record_is_made() -> None:
    named = post(attachments={"media_keys": [PHOTO, VIDEO, VIDEO]})
    photo = {"media_key": PHOTO, "type": "photo"}
    page = parse(named, post(id="8"), includes={"media": [photo]})

    assert page.tweets[0]["media_keys"] == [PHOTO, VIDEO, VIDEO]
    assert [item["media_key"] for item in page.media] == [PHOTO]
    issue = f"media {VIDEO} is not in includes.media; no media record"
    assert page.notes == [note("attachments.media_keys", issue)]
    assert str(page.notes[0]) == f"post {POST} attachments.media_keys: {issue}"


def test_missing_media_is_noted_when_the_response_has_media_or_media_was_asked_for() -> None:
    body = {"data": [post(attachments={"media_keys": [VIDEO]})]}
    issue = f"media {VIDEO} is not in includes.media; no media record"

    assert parse_page(body, OBSERVED).notes == []
    assert parse_page({**body, "includes": {"users": []}}, OBSERVED).notes == []
    assert parse_page(body, OBSERVED, media_expanded=True).notes == [
        note("attachments.media_keys", issue)
    ]
    assert parse_page({**body, "includes": {"media": []}}, OBSERVED).notes == [
        note("attachments.media_keys", issue)
    ]


def test_notes_leave_with_the_posts_they_name() -> None:
    bad = post(public_metrics={**PUBLIC, "like_count": "x"})
    media = {"media_key": VIDEO, "type": 1}
    page = parse(bad, post(id="8", text=3), includes={"media": [media]})
    later = {"8"}

    assert [(item.kind, item.resource_id) for item in page.notes] == [
        ("post", POST),
        ("post", "8"),
        ("media", VIDEO),
    ]
    rest = page.without_posts(later)
    assert [(item.kind, item.resource_id) for item in rest.notes] == [
        ("post", POST),
        ("media", VIDEO),
    ]
    assert page.created_before(CREATED).notes == [page.notes[2]]


def test_pages_without_notes_compare_as_before() -> None:
    users = Page.of_users([], [])
    assert users.notes == []
    assert dataclasses.replace(users, notes=[note("x", "y")]) != users


def test_a_note_is_frozen() -> None:
    item = note("text", "NUL characters removed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.field = "lang"  # type: ignore[misc]


# Analytics


def test_analytics_counters_are_read_as_post_counts_are() -> None:
    metrics = {
        "impressions": True,
        "likes": 2**63,
        "replies": 1.5,
        "retweets": "4",
        "bookmarks": 2.0,
    }
    bucket = {"timestamp": "2026-11-27T00:00:00Z", "metrics": metrics}
    body = {"data": [{"id": POST, "timestamped_metrics": [bucket]}]}
    stream = STREAMS["tweet_analytics"]
    page = parse_analytics(
        body, stream, granularity="daily", author_id=AUTHOR, observed_at=OBSERVED
    )

    (record,) = page.records
    assert (record["impressions"], record["likes"], record["replies"]) == (None, None, None)
    assert (record["retweets"], record["bookmarks"]) == (4, 2)
    at = "at 2026-11-27T00:00:00Z"
    names = [name for name in stream.columns if name in {"impressions", "likes", "replies"}]
    issues = {
        "impressions": f"True is not a count; {NULLED}",
        "likes": f"9223372036854775808 does not fit a 64-bit integer; {NULLED}",
        "replies": f"1.5 is not a count; {NULLED}",
    }
    assert page.notes == [note(f"{name} {at}", issues[name]) for name in names]
    assert page.unreadable == [f"{POST} {name} {at}" for name in names]


def test_a_dirty_analytics_id_is_cleaned_and_noted() -> None:
    bucket = {"timestamp": "2026-11-27T00:00:00Z", "metrics": {"video_views": 5}}
    body = {"data": [{"media_key": VIDEO + "\x00", "timestamped_metrics": [bucket]}]}
    page = parse_analytics(
        body, STREAMS["media_analytics"], granularity="daily", author_id=None, observed_at=OBSERVED
    )

    assert [record["media_key"] for record in page.records] == [VIDEO]
    assert page.notes == [note("id", "NUL characters removed", "media", VIDEO)]
    assert page.unreadable == []
