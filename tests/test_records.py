"""Exact-value tests of the response parser."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tap_twitter_metrics.records import (
    METRIC_STREAMS,
    STREAM_COLUMNS,
    Page,
    Problem,
    ResponseFormatError,
    parse_page,
    parse_problems,
    parse_user_page,
)

OBSERVED = "2024-05-03T08:00:00.123Z"
MAIN = "1500000000000000001"
PHOTO_POST = "1786000000000000001"
VIDEO_POST = "1786000000000000002"
SHARED_VIDEO_POST = "1786000000000000003"
OLD_REPLY = "1746000000000000004"
PHOTO = "3_1786000000000000101"
VIDEO = "13_1786000000000000102"
LINK = {"start": 20, "end": 43, "url": "https://t.co/abc", "expanded_url": "https://example.com"}


def timeline_page() -> dict[str, Any]:
    """A page of the main account's timeline as the API sends it, private fields included."""
    return {
        "data": [
            {
                "id": PHOTO_POST,
                "text": "Our new shop is open https://t.co/abc",
                "created_at": "2024-05-01T12:00:00.000Z",
                "author_id": MAIN,
                "conversation_id": PHOTO_POST,
                "lang": "en",
                "edit_history_tweet_ids": [PHOTO_POST],
                "possibly_sensitive": False,
                "reply_settings": "everyone",
                "attachments": {"media_keys": [PHOTO]},
                "entities": {"urls": [LINK]},
                "public_metrics": {
                    "retweet_count": 4,
                    "reply_count": 2,
                    "like_count": 31,
                    "quote_count": 1,
                    "bookmark_count": 3,
                    "impression_count": 1200,
                },
                "non_public_metrics": {
                    "impression_count": 1200,
                    "url_link_clicks": 17,
                    "user_profile_clicks": 5,
                    "engagements": 60,
                },
                "organic_metrics": {
                    "impression_count": 1200,
                    "like_count": 31,
                    "reply_count": 2,
                    "retweet_count": 4,
                    "url_link_clicks": 17,
                    "user_profile_clicks": 5,
                },
                "edit_controls": {"edits_remaining": 5, "is_edit_eligible": True},
            },
            {
                "id": VIDEO_POST,
                "text": "Watch the launch",
                "created_at": "2024-04-30T09:30:00.000Z",
                "author_id": MAIN,
                "conversation_id": VIDEO_POST,
                "lang": "en",
                "edit_history_tweet_ids": [VIDEO_POST],
                "possibly_sensitive": False,
                "reply_settings": "everyone",
                "attachments": {"media_keys": [VIDEO]},
                "public_metrics": {
                    "retweet_count": 10,
                    "reply_count": 3,
                    "like_count": 80,
                    "quote_count": 2,
                    "bookmark_count": 7,
                    "impression_count": 9000,
                },
                "non_public_metrics": {
                    "impression_count": 9000,
                    "user_profile_clicks": 12,
                    "engagements": 140,
                },
                "organic_metrics": {
                    "impression_count": 4000,
                    "like_count": 50,
                    "reply_count": 3,
                    "retweet_count": 6,
                    "user_profile_clicks": 8,
                },
                "promoted_metrics": {
                    "impression_count": 5000,
                    "like_count": 30,
                    "reply_count": 0,
                    "retweet_count": 4,
                    "user_profile_clicks": 4,
                },
            },
            {
                "id": SHARED_VIDEO_POST,
                "text": "The launch video again",
                "created_at": "2024-04-29T18:00:00.000Z",
                "author_id": MAIN,
                "conversation_id": SHARED_VIDEO_POST,
                "lang": "en",
                "edit_history_tweet_ids": [SHARED_VIDEO_POST],
                "possibly_sensitive": False,
                "reply_settings": "following",
                "attachments": {"media_keys": [VIDEO]},
                "public_metrics": {
                    "retweet_count": 0,
                    "reply_count": 0,
                    "like_count": 9,
                    "quote_count": 0,
                    "bookmark_count": 0,
                    "impression_count": 700,
                },
                "non_public_metrics": {
                    "impression_count": 700,
                    "user_profile_clicks": 1,
                    "engagements": 12,
                },
                "organic_metrics": {
                    "impression_count": 700,
                    "like_count": 9,
                    "reply_count": 0,
                    "retweet_count": 0,
                    "user_profile_clicks": 1,
                },
            },
        ],
        "includes": {
            "media": [
                {
                    "media_key": PHOTO,
                    "type": "photo",
                    "url": "https://pbs.twimg.com/media/shop.jpg",
                    "width": 1200,
                    "height": 800,
                    "alt_text": "The shop front",
                },
                {
                    "media_key": VIDEO,
                    "type": "video",
                    "duration_ms": 45000,
                    "preview_image_url": "https://pbs.twimg.com/launch.jpg",
                    "width": 1920,
                    "height": 1080,
                    "variants": [
                        {
                            "bit_rate": 2176000,
                            "content_type": "video/mp4",
                            "url": "https://video.twimg.com/launch.mp4",
                        },
                        {
                            "content_type": "application/x-mpegURL",
                            "url": "https://video.twimg.com/launch.m3u8",
                        },
                    ],
                    "public_metrics": {"view_count": 5400},
                    "non_public_metrics": {
                        "playback_0_count": 5000,
                        "playback_25_count": 3000,
                        "playback_50_count": 2000,
                        "playback_75_count": 1000,
                        "playback_100_count": 500,
                    },
                    "organic_metrics": {
                        "playback_0_count": 2000,
                        "playback_25_count": 1200,
                        "playback_50_count": 800,
                        "playback_75_count": 400,
                        "playback_100_count": 200,
                        "view_count": 2100,
                    },
                    "promoted_metrics": {
                        "playback_0_count": 3000,
                        "playback_25_count": 1800,
                        "playback_50_count": 1200,
                        "playback_75_count": 600,
                        "playback_100_count": 300,
                        "view_count": None,
                    },
                },
            ],
            "users": [
                {
                    "id": MAIN,
                    "username": "sandbox_brand",
                    "name": "Sandbox Brand",
                    "created_at": "2015-03-01T10:00:00.000Z",
                    "public_metrics": {
                        "followers_count": 5120,
                        "following_count": 300,
                        "tweet_count": 2400,
                        "listed_count": 12,
                        "like_count": 900,
                    },
                    "verified": False,
                }
            ],
        },
        "meta": {
            "result_count": 3,
            "newest_id": PHOTO_POST,
            "oldest_id": SHARED_VIDEO_POST,
            "next_token": "7140dibdnow9c7btw3z2vr6xbxggrvjl1pfwqk0fonk3u",
        },
    }


def old_reply() -> dict[str, Any]:
    """A reply older than 30 days, read with public fields only."""
    return {
        "id": OLD_REPLY,
        "text": "@someone thanks!",
        "created_at": "2024-02-01T07:15:00.000Z",
        "author_id": MAIN,
        "conversation_id": "1745999999999999999",
        "in_reply_to_user_id": "42",
        "referenced_tweets": [{"type": "replied_to", "id": "1745999999999999999"}],
        "lang": "en",
        "edit_history_tweet_ids": [OLD_REPLY],
        "reply_settings": "everyone",
        "public_metrics": {
            "retweet_count": 0,
            "reply_count": 1,
            "like_count": 2,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 40,
        },
    }


def field_error(post_id: str, field: str) -> dict[str, str]:
    return {
        "resource_type": "tweet",
        "field": field,
        "parameter": "ids",
        "resource_id": post_id,
        "title": "Field Authorization Error",
        "section": "data",
        "value": post_id,
        "detail": (
            f"Sorry, you are not authorized to access '{field}' on the Tweet with ids : "
            f"[{post_id}]."
        ),
        "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
    }


def tweet_key(metrics: dict[str, list[dict[str, Any]]], stream: str) -> list[str]:
    return [record["tweet_id"] for record in metrics[stream]]


def test_timeline_page_tweets() -> None:
    page = parse_page(timeline_page(), OBSERVED, user_source="includes")

    assert page.returned_ids == [PHOTO_POST, VIDEO_POST, SHARED_VIDEO_POST]
    assert page.next_token == "7140dibdnow9c7btw3z2vr6xbxggrvjl1pfwqk0fonk3u"
    assert page.result_count == 3
    assert page.problems == []
    assert page.is_blank is False
    assert page.tweets[0] == {
        "id": PHOTO_POST,
        "text": "Our new shop is open https://t.co/abc",
        "created_at": "2024-05-01T12:00:00.000Z",
        "author_id": MAIN,
        "conversation_id": PHOTO_POST,
        "lang": "en",
        "in_reply_to_user_id": None,
        "referenced_tweets": None,
        "media_keys": [PHOTO],
        "edit_history_tweet_ids": [PHOTO_POST],
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "entities": {"urls": [LINK]},
    }
    assert [tweet["media_keys"] for tweet in page.tweets] == [[PHOTO], [VIDEO], [VIDEO]]
    assert [tweet["entities"] for tweet in page.tweets[1:]] == [None, None]
    assert [tuple(tweet) for tweet in page.tweets] == [STREAM_COLUMNS["tweets"]] * 3


def test_timeline_page_tweet_metrics() -> None:
    metrics = parse_page(timeline_page(), OBSERVED, user_source="includes").metrics

    assert set(metrics) == set(METRIC_STREAMS)
    assert metrics["tweet_public_metrics"][0] == {
        "tweet_id": PHOTO_POST,
        "author_id": MAIN,
        "created_at": "2024-05-01T12:00:00.000Z",
        "observed_at": OBSERVED,
        "retweet_count": 4,
        "reply_count": 2,
        "like_count": 31,
        "quote_count": 1,
        "bookmark_count": 3,
        "impression_count": 1200,
    }
    assert tweet_key(metrics, "tweet_public_metrics") == [PHOTO_POST, VIDEO_POST, SHARED_VIDEO_POST]
    assert tweet_key(metrics, "tweet_non_public_metrics") == [
        PHOTO_POST,
        VIDEO_POST,
        SHARED_VIDEO_POST,
    ]
    # Only the post with a link reports link clicks; the others lack the key.
    assert [r["url_link_clicks"] for r in metrics["tweet_non_public_metrics"]] == [17, None, None]
    assert [r["url_link_clicks"] for r in metrics["tweet_organic_metrics"]] == [17, None, None]
    assert metrics["tweet_non_public_metrics"][1] == {
        "tweet_id": VIDEO_POST,
        "author_id": MAIN,
        "created_at": "2024-04-30T09:30:00.000Z",
        "observed_at": OBSERVED,
        "impression_count": 9000,
        "url_link_clicks": None,
        "user_profile_clicks": 12,
        "engagements": 140,
    }
    assert metrics["tweet_promoted_metrics"] == [
        {
            "tweet_id": VIDEO_POST,
            "author_id": MAIN,
            "created_at": "2024-04-30T09:30:00.000Z",
            "observed_at": OBSERVED,
            "impression_count": 5000,
            "like_count": 30,
            "reply_count": 0,
            "retweet_count": 4,
            "url_link_clicks": None,
            "user_profile_clicks": 4,
        }
    ]
    for stream in METRIC_STREAMS:
        for record in metrics[stream]:
            assert tuple(record) == STREAM_COLUMNS[stream]


def test_timeline_page_media_and_media_metrics() -> None:
    page = parse_page(timeline_page(), OBSERVED, user_source="includes")

    assert page.media == [
        {
            "media_key": PHOTO,
            "type": "photo",
            "duration_ms": None,
            "url": "https://pbs.twimg.com/media/shop.jpg",
            "preview_image_url": None,
            "width": 1200,
            "height": 800,
            "alt_text": "The shop front",
            "variants": None,
        },
        {
            "media_key": VIDEO,
            "type": "video",
            "duration_ms": 45000,
            "url": None,
            "preview_image_url": "https://pbs.twimg.com/launch.jpg",
            "width": 1920,
            "height": 1080,
            "alt_text": None,
            "variants": [
                {
                    "bit_rate": 2176000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/launch.mp4",
                },
                {
                    "bit_rate": None,
                    "content_type": "application/x-mpegURL",
                    "url": "https://video.twimg.com/launch.m3u8",
                },
            ],
        },
    ]
    # The photo has no metrics; the shared video yields one record per family.
    assert page.metrics["media_public_metrics"] == [
        {"media_key": VIDEO, "observed_at": OBSERVED, "view_count": 5400}
    ]
    assert page.metrics["media_non_public_metrics"] == [
        {
            "media_key": VIDEO,
            "observed_at": OBSERVED,
            "playback_0_count": 5000,
            "playback_25_count": 3000,
            "playback_50_count": 2000,
            "playback_75_count": 1000,
            "playback_100_count": 500,
        }
    ]
    assert page.metrics["media_organic_metrics"] == [
        {
            "media_key": VIDEO,
            "observed_at": OBSERVED,
            "playback_0_count": 2000,
            "playback_25_count": 1200,
            "playback_50_count": 800,
            "playback_75_count": 400,
            "playback_100_count": 200,
            "view_count": 2100,
        }
    ]
    assert page.metrics["media_promoted_metrics"] == [
        {
            "media_key": VIDEO,
            "observed_at": OBSERVED,
            "playback_0_count": 3000,
            "playback_25_count": 1800,
            "playback_50_count": 1200,
            "playback_75_count": 600,
            "playback_100_count": 300,
            "view_count": None,
        }
    ]


def test_users_from_includes_or_not() -> None:
    expected = {
        "id": MAIN,
        "username": "sandbox_brand",
        "name": "Sandbox Brand",
        "created_at": "2015-03-01T10:00:00.000Z",
        "followers_count": 5120,
        "following_count": 300,
        "tweet_count": 2400,
        "listed_count": 12,
        "like_count": 900,
        "observed_at": OBSERVED,
    }
    assert parse_page(timeline_page(), OBSERVED, user_source="includes").users == [expected]
    assert parse_page(timeline_page(), OBSERVED, user_source="data").users == []
    assert parse_page(timeline_page(), OBSERVED).users == [expected]


def test_reply_without_media_or_private_fields() -> None:
    page = parse_page({"data": [old_reply()]}, OBSERVED, user_source="data")

    assert page.tweets == [
        {
            "id": OLD_REPLY,
            "text": "@someone thanks!",
            "created_at": "2024-02-01T07:15:00.000Z",
            "author_id": MAIN,
            "conversation_id": "1745999999999999999",
            "lang": "en",
            "in_reply_to_user_id": "42",
            "referenced_tweets": [{"type": "replied_to", "id": "1745999999999999999"}],
            "media_keys": None,
            "edit_history_tweet_ids": [OLD_REPLY],
            "possibly_sensitive": None,
            "reply_settings": "everyone",
            "entities": None,
        }
    ]
    assert {stream: len(records) for stream, records in page.metrics.items()} == {
        stream: int(stream == "tweet_public_metrics") for stream in METRIC_STREAMS
    }
    assert page.media == []
    assert page.next_token is None
    assert page.result_count is None


def test_parse_does_not_modify_the_body() -> None:
    body = timeline_page()
    before = copy.deepcopy(body)
    parse_page(body, OBSERVED, user_source="includes")
    assert body == before


def test_field_authorization_errors_drop_only_that_post() -> None:
    dropped = "1700000000000000009"
    fields = ["non_public_metrics.impression_count", "organic_metrics.like_count"]
    body = {
        "data": [old_reply()],
        "errors": [field_error(dropped, field) for field in fields],
    }

    page = parse_page(body, OBSERVED, user_source="data")

    assert page.returned_ids == [OLD_REPLY]
    assert page.problems == [
        Problem(
            kind="not-authorized-for-field",
            title="Field Authorization Error",
            detail=(
                f"Sorry, you are not authorized to access '{field}' on the Tweet with ids : "
                f"[{dropped}]."
            ),
            resource_type="tweet",
            resource_id=dropped,
            field=field,
        )
        for field in fields
    ]


def test_errors_only_body() -> None:
    body = {
        "errors": [
            {
                "value": "2",
                "detail": "Could not find tweet with ids: [2].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "ids",
                "resource_id": "2",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            },
            {
                "value": "3",
                "detail": "Sorry, you are not authorized to see the Tweet with ids: [3].",
                "title": "Authorization Error",
                "resource_type": "tweet",
                "parameter": "ids",
                "resource_id": "3",
                "type": "https://api.x.com/2/problems/not-authorized-for-resource",
            },
        ]
    }

    page = parse_page(body, OBSERVED, user_source="includes")

    assert page == Page(
        tweets=[],
        users=[],
        media=[],
        metrics={stream: [] for stream in METRIC_STREAMS},
        problems=[
            Problem(
                kind="resource-not-found",
                title="Not Found Error",
                detail="Could not find tweet with ids: [2].",
                resource_type="tweet",
                resource_id="2",
                field=None,
            ),
            Problem(
                kind="not-authorized-for-resource",
                title="Authorization Error",
                detail="Sorry, you are not authorized to see the Tweet with ids: [3].",
                resource_type="tweet",
                resource_id="3",
                field=None,
            ),
        ],
        next_token=None,
        result_count=None,
        returned_ids=[],
    )


def test_empty_page_with_next_token() -> None:
    page = parse_page(
        {"meta": {"result_count": 0, "next_token": "b26v89c19zqg8o3fpzbkk"}},
        OBSERVED,
        user_source="includes",
    )
    assert page.tweets == []
    assert page.returned_ids == []
    assert page.result_count == 0
    assert page.next_token == "b26v89c19zqg8o3fpzbkk"
    assert page.is_blank is False


def test_blank_body() -> None:
    page = parse_page({}, OBSERVED, user_source="includes")
    assert page.is_blank is True
    assert page.tweets == []
    assert page.next_token is None


def test_repost_count_spelling_and_numeric_strings() -> None:
    post = old_reply()
    post["public_metrics"] = {
        "repost_count": "7",
        "reply_count": "0",
        "like_count": None,
        "impression_count": 12.0,
    }
    post["organic_metrics"] = {"repost_count": 2, "retweet_count": 3}
    metrics = parse_page({"data": [post]}, OBSERVED, user_source="data").metrics

    public = metrics["tweet_public_metrics"][0]
    assert [public[c] for c in STREAM_COLUMNS["tweet_public_metrics"][4:]] == [
        7,
        0,
        None,
        None,
        None,
        12,
    ]
    assert metrics["tweet_organic_metrics"][0]["retweet_count"] == 3


def test_single_object_data() -> None:
    page = parse_page({"data": old_reply()}, OBSERVED, user_source="includes")
    assert page.returned_ids == [OLD_REPLY]
    assert page.tweets[0]["id"] == OLD_REPLY


@pytest.mark.parametrize("family", [None, {}])
def test_absent_or_empty_family_gives_no_record(family: dict[str, int] | None) -> None:
    post = old_reply()
    post["promoted_metrics"] = family
    post["public_metrics"] = family
    page = parse_page({"data": [post]}, OBSERVED, user_source="data")
    assert all(records == [] for records in page.metrics.values())
    assert len(page.tweets) == 1


def test_without_posts() -> None:
    page = parse_page(timeline_page(), OBSERVED, user_source="includes")
    rest = page.without_posts({PHOTO_POST})
    assert rest.returned_ids == [VIDEO_POST, SHARED_VIDEO_POST]
    assert [tweet["id"] for tweet in rest.tweets] == [VIDEO_POST, SHARED_VIDEO_POST]
    assert tweet_key(rest.metrics, "tweet_public_metrics") == [VIDEO_POST, SHARED_VIDEO_POST]
    assert rest.metrics["media_public_metrics"] == page.metrics["media_public_metrics"]
    assert rest.media == page.media
    assert rest.next_token == page.next_token
    assert len(page.tweets) == 3


def test_parse_users_object_and_list() -> None:
    me = {"data": {"id": MAIN, "name": "Sandbox Brand", "username": "sandbox_brand"}}
    page = parse_user_page(me, OBSERVED)
    users, problems = page.users, page.problems
    assert users == [
        {
            "id": MAIN,
            "username": "sandbox_brand",
            "name": "Sandbox Brand",
            "created_at": None,
            "followers_count": None,
            "following_count": None,
            "tweet_count": None,
            "listed_count": None,
            "like_count": None,
            "observed_at": OBSERVED,
        }
    ]
    assert problems == []

    lookup = {
        "data": [
            {
                "id": "2",
                "username": "b",
                "name": "B",
                "public_metrics": {"followers_count": "10", "tweet_count": 3},
            }
        ],
        "errors": [
            {
                "value": "9",
                "detail": "Could not find user with ids: [9].",
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "ids",
                "resource_id": "9",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ],
    }
    page = parse_user_page(lookup, OBSERVED)
    users, problems = page.users, page.problems
    assert [(u["id"], u["followers_count"], u["tweet_count"], u["like_count"]) for u in users] == [
        ("2", 10, 3, None)
    ]
    assert [(p.kind, p.resource_type, p.resource_id) for p in problems] == [
        ("resource-not-found", "user", "9")
    ]


def test_parse_problems() -> None:
    rate_limited = {
        "title": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
        "detail": "Too Many Requests",
    }
    capped = {
        "title": "UsageCapExceeded",
        "period": "Monthly",
        "scope": "Product",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped",
    }
    invalid = {
        "errors": [
            {
                "parameters": {"max_results": ["0"]},
                "message": "The `max_results` query parameter value [0] is not between 5 and 100",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    assert [p.kind for p in parse_problems(rate_limited)] == ["about:blank"]
    assert parse_problems(capped) == [
        Problem(
            kind="usage-capped",
            title="UsageCapExceeded",
            detail="Usage cap exceeded: Monthly product cap",
            resource_type=None,
            resource_id=None,
            field=None,
        )
    ]
    assert [(p.kind, p.detail) for p in parse_problems(invalid)] == [
        ("unknown", "The `max_results` query parameter value [0] is not between 5 and 100")
    ]
    assert parse_problems({"data": []}) == []


# Only a broken structure stops a page; a bad value is loaded as null (test_poison_values.py).
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["not", "an", "object"], "response body is list, expected an object"),
        ({"data": "x"}, "data is str, expected an object or a list"),
        (
            {"data": [{"text": "no id", "created_at": "2024-05-01T12:00:00.000Z"}]},
            "data[0]: id is None, expected a non-empty string",
        ),
        ({"data": [7]}, "data[0]: the entry is 7, expected an object"),
        (
            {"data": [{"id": "5", "text": "t"}]},
            "tweet 5: created_at is None, expected a date-time like 2024-05-01T12:00:00.000Z",
        ),
        (
            {"data": [{"id": "5", "created_at": "2024-13-01T12:00:00.000Z"}]},
            "tweet 5: created_at is '2024-13-01T12:00:00.000Z', expected a date-time like "
            "2024-05-01T12:00:00.000Z",
        ),
        ({"includes": []}, "includes is list, expected an object"),
        ({"includes": {"media": {}}}, "includes.media is dict, expected a list"),
        (
            {"includes": {"users": [{"username": "x"}]}},
            "includes.users[0]: id is None, expected a non-empty string",
        ),
        (
            {"includes": {"media": ["13_1"]}},
            "includes.media[0]: the entry is '13_1', expected an object",
        ),
        ({"meta": {"result_count": "many"}}, "meta.result_count is 'many', expected an integer"),
        ({"meta": []}, "meta is [], expected an object"),
        (
            {"includes": {"media": [{"type": "photo"}]}},
            "includes.media[0]: media_key is None, expected a non-empty string",
        ),
        ({"errors": {"title": "x"}}, "errors is dict, expected a list"),
        ({"errors": ["boom"]}, "errors[0]: the entry is 'boom', expected an object"),
        ({"meta": {"next_token": 5}}, "meta.next_token is 5, expected a string"),
    ],
)
def test_malformed_bodies_raise_response_format_error(body: object, message: str) -> None:
    with pytest.raises(ResponseFormatError) as caught:
        parse_page(body, OBSERVED, user_source="includes")
    assert str(caught.value) == message


def test_malformed_users_raise_response_format_error() -> None:
    with pytest.raises(
        ResponseFormatError, match=r"^data\[0\]: id is 7, expected a non-empty string$"
    ):
        parse_user_page({"data": {"id": 7, "username": "x"}}, OBSERVED)
    with pytest.raises(ResponseFormatError, match=r"^data is int, expected an object or a list$"):
        parse_user_page({"data": 1}, OBSERVED)


def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="observed_at"):
        parse_page({}, "yesterday", user_source="includes")
    with pytest.raises(ValueError, match="user_source"):
        parse_page({}, OBSERVED, user_source="both")  # type: ignore[arg-type]
