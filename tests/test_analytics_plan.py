"""Which buckets of which own posts a run asks X's analytics for, and how answers parse."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tap_twitter_metrics.analytics import (
    OwnPosts,
    bucket_start,
    fields_to_ask,
    granularity_for,
    plan_window,
)
from tap_twitter_metrics.catalogue import STREAMS
from tap_twitter_metrics.records import Page, ResponseFormatError, parse_analytics

NOW = datetime(2026, 11, 29, 15, 42, 7, tzinfo=timezone.utc)
CONFIG = {"analytics_days": 7, "analytics_post_age_days": 30}
OBSERVED = "2026-11-29T15:42:07.000Z"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("granularity", "start"),
    [
        ("hourly", "2026-11-29T15:00:00"),
        ("daily", "2026-11-29T00:00:00"),
        ("weekly", "2026-11-23T00:00:00"),  # the Monday
    ],
)
def test_bucket_start(granularity: str, start: str) -> None:
    assert bucket_start(NOW, granularity) == utc(start)


def test_the_media_endpoint_has_no_weekly_buckets() -> None:
    assert granularity_for(STREAMS["media_analytics"], "weekly") == "daily"
    assert granularity_for(STREAMS["tweet_analytics"], "weekly") == "weekly"
    assert granularity_for(STREAMS["media_analytics"], "hourly") == "hourly"


def test_only_documented_fields_are_asked_for() -> None:
    asked = fields_to_ask(STREAMS["tweet_analytics"]).split(",")
    assert len(asked) == 20
    assert asked[:3] == ["app_install_attempts", "app_opens", "bookmarks"]
    assert not {"link_clicks", "media_engagements", "profile_visits"} & set(asked)
    assert fields_to_ask(STREAMS["media_analytics"]) == (
        "cta_url_clicks,cta_watch_clicks,play_from_tap,playback25,playback50,playback75,"
        "playback_complete,playback_start,video_views,watch_time_ms"
    )


KNOWN = {
    "30": "2026-10-29T10:00:00.000Z",  # 31 days old: too old
    "20": "2026-11-02T08:00:00.000Z",
    "10": "2026-11-25T09:30:00.000Z",
    "11": "2026-11-28T23:59:59.000Z",
}


def test_first_run_asks_every_young_post_from_the_age_limit() -> None:
    window = plan_window(KNOWN, set(), bookmark=None, now=NOW, granularity="daily", config=CONFIG)
    assert window.resources == ["20", "10", "11"]
    assert window.start == utc("2026-10-30T00:00:00")
    assert window.end == NOW


def test_later_runs_ask_the_recent_buckets_again() -> None:
    window = plan_window(
        KNOWN,
        {"20", "10", "11"},
        bookmark=utc("2026-11-28T00:00:00"),
        now=NOW,
        granularity="daily",
        config=CONFIG,
    )
    assert window.resources == ["20", "10", "11"]
    assert window.start == utc("2026-11-21T00:00:00")


def test_a_post_new_to_the_stream_brings_all_its_buckets() -> None:
    window = plan_window(
        KNOWN,
        {"10", "11"},
        bookmark=utc("2026-11-28T00:00:00"),
        now=NOW,
        granularity="hourly",
        config=CONFIG,
    )
    assert window.start == utc("2026-11-02T08:00:00")


def test_own_posts_remember_their_videos() -> None:
    page = Page.of_users([], [])
    page.tweets = [
        {"id": "1", "created_at": "2026-11-20T00:00:00.000Z", "media_keys": ["7_1", "3_2"]},
        {"id": "2", "created_at": "2026-11-21T00:00:00.000Z", "media_keys": None},
        {"id": "3", "created_at": "2026-11-22T00:00:00.000Z", "media_keys": ["7_1"]},
    ]
    page.media = [{"media_key": "7_1", "type": "video"}, {"media_key": "3_2", "type": "photo"}]
    own = OwnPosts()
    own.note(page)
    assert own.of(STREAMS["tweet_analytics"]) == {
        "1": "2026-11-20T00:00:00.000Z",
        "2": "2026-11-21T00:00:00.000Z",
        "3": "2026-11-22T00:00:00.000Z",
    }
    assert own.of(STREAMS["media_analytics"]) == {"7_1": "2026-11-22T00:00:00.000Z"}


def test_an_analytics_answer_becomes_one_record_per_bucket() -> None:
    body = {
        "data": [
            {
                "id": "13_7",
                "timestamped_metrics": [
                    {"timestamp": "2026-11-27T00:00:00Z", "metrics": {"video_views": 5}},
                    {
                        "timestamp": "2026-11-28T00:00:00Z",
                        "metrics": {"video_views": "12", "watch_time_ms": "n/a", "new": 1},
                    },
                ],
            }
        ],
        "errors": [{"type": "https://api.x.com/2/problems/resource-not-found", "resource_id": "9"}],
    }
    page = parse_analytics(
        body, STREAMS["media_analytics"], granularity="daily", author_id="15", observed_at=OBSERVED
    )
    nulls = dict.fromkeys(STREAMS["media_analytics"].columns[5:])
    head = {"media_key": "13_7", "granularity": "daily", "author_id": "15", "observed_at": OBSERVED}
    assert page.records == [
        {**head, "timestamp": "2026-11-27T00:00:00Z", **nulls, "video_views": 5},
        {**head, "timestamp": "2026-11-28T00:00:00Z", **nulls, "video_views": 12},
    ]
    assert [list(record) for record in page.records] == [
        list(STREAMS["media_analytics"].columns)
    ] * 2
    assert page.unreadable == ["13_7 watch_time_ms at 2026-11-28T00:00:00Z"]
    assert [problem.resource_id for problem in page.problems] == ["9"]


def test_a_media_item_keyed_by_media_key_is_read_too() -> None:
    bucket = {"timestamp": "2026-11-27T00:00:00Z", "metrics": {"playback25": 3}}
    body = {"data": [{"media_key": "13_7", "timestamped_metrics": [bucket]}]}
    page = parse_analytics(
        body, STREAMS["media_analytics"], granularity="hourly", author_id="15", observed_at=OBSERVED
    )
    assert [(r["media_key"], r["granularity"], r["playback25"]) for r in page.records] == [
        ("13_7", "hourly", 3)
    ]


def test_a_bucket_without_a_timestamp_is_a_response_format_error() -> None:
    body = {"data": [{"id": "5", "timestamped_metrics": [{"metrics": {}}]}]}
    with pytest.raises(ResponseFormatError, match="resource 5: timestamp is None"):
        parse_analytics(
            body,
            STREAMS["tweet_analytics"],
            granularity="daily",
            author_id=None,
            observed_at=OBSERVED,
        )


def test_a_resource_returned_without_buckets_is_counted_as_read() -> None:
    bucket = {"timestamp": "2026-11-27T00:00:00Z", "metrics": {"impressions": 3}}
    body = {
        "data": [
            {"id": "5", "timestamped_metrics": [bucket]},
            {"id": "6", "timestamped_metrics": []},
        ]
    }
    page = parse_analytics(
        body, STREAMS["tweet_analytics"], granularity="daily", author_id="15", observed_at=OBSERVED
    )
    # X bills each post or video it returns, buckets or none.
    assert [record["tweet_id"] for record in page.records] == ["5"]
    assert page.resources == 2
