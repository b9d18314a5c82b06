"""Which stretches of a timeline a run reads: look-back, refresh schedule, what a cap left."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from tap_twitter_metrics.harvest import span_params
from tap_twitter_metrics.windows import SNOWFLAKE_EPOCH_MS, Refresh, Span, merged, plan

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
BOOKMARK = NOW - DAY - timedelta(minutes=3)
LAST_RUN = NOW - DAY


def post_id(created: datetime, sequence: int = 0) -> str:
    """A snowflake id of a post created at `created`."""
    return str(((int(created.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22) + sequence)


NEWEST = post_id(BOOKMARK)
# An id whose time lies centuries ahead: not a snowflake of a real post.
TIMELESS = str(2**63 - 1)


def planned(config: t.Mapping[str, object], **state: object) -> list[Span]:
    arguments: dict[str, t.Any] = {
        "refresh": Refresh.from_config(config),
        "start_date": None,
        "bookmark": BOOKMARK,
        "newest_id": NEWEST,
        "last_read": LAST_RUN,
        "now": NOW,
        **state,
    }
    return plan(**arguments)


def test_a_first_sync_reads_from_start_date_whatever_the_refresh() -> None:
    start = NOW - 40 * DAY
    for config in ({}, {"refresh_ages_days": [1, 7, 30]}):
        assert planned(config, bookmark=None, newest_id=None, start_date=start) == [
            Span(start=start)
        ]


def test_the_look_back_reads_one_span_from_the_bookmark_minus_lookback_days() -> None:
    assert planned({"lookback_days": 7}) == [Span(start=BOOKMARK - 7 * DAY)]


def test_no_look_back_reads_only_posts_newer_than_the_newest_read() -> None:
    assert planned({"lookback_days": 0}) == [Span(since_id=NEWEST)]
    assert planned({"lookback_days": 0}, newest_id=None) == [Span(start=BOOKMARK)]
    # An id that tells no time bounds nothing: the bookmark's time does.
    assert planned({"lookback_days": 0}, newest_id=TIMELESS) == [Span(start=BOOKMARK)]


def test_the_schedule_reads_the_posts_whose_age_passed_each_point_since_the_last_run() -> None:
    spans = planned({"refresh_ages_days": [1, 7, 30]})
    # The one-day window ends where the new posts begin: both are read as one span.
    assert spans == [
        Span(start=LAST_RUN - DAY),
        Span(start=LAST_RUN - 7 * DAY, end=NOW - 7 * DAY),
        Span(start=LAST_RUN - 30 * DAY, end=NOW - 30 * DAY),
    ]
    assert span_params(spans[1]) == {
        "start_time": "2026-11-21T06:00:00Z",
        "end_time": "2026-11-22T06:00:00Z",
    }


def test_schedule_windows_that_overlap_after_a_long_pause_are_read_as_one() -> None:
    spans = planned({"refresh_ages_days": [1, 3, 7]}, last_read=NOW - 5 * DAY)
    assert spans == [Span(start=NOW - 12 * DAY)]


def test_an_empty_schedule_reads_only_new_posts() -> None:
    assert planned({"refresh_ages_days": []}) == [Span(since_id=NEWEST)]


def test_spans_before_start_date_are_cut_or_dropped() -> None:
    start = NOW - 10 * DAY
    spans = planned({"refresh_ages_days": [1, 7, 30]}, start_date=start)
    assert spans == [
        Span(start=LAST_RUN - DAY),
        Span(start=LAST_RUN - 7 * DAY, end=NOW - 7 * DAY),
    ]
    cut = planned({"lookback_days": 30}, start_date=start)
    assert cut == [Span(start=start)]


def test_what_a_capped_run_left_is_read_after_the_new_posts() -> None:
    oldest_read = post_id(NOW - 20 * DAY, 3)
    left = Span(start=NOW - 60 * DAY, until_id=oldest_read)
    spans = planned({"lookback_days": 0}, unread=[left])
    assert spans == [Span(since_id=NEWEST), left]
    assert span_params(left) == {"start_time": "2026-09-30T06:00:00Z", "until_id": oldest_read}


def test_a_look_back_that_reaches_into_a_left_span_reads_both_as_one() -> None:
    left = Span(start=NOW - 60 * DAY, until_id=post_id(NOW - 3 * DAY))
    assert planned({"lookback_days": 7}, unread=[left]) == [Span(start=NOW - 60 * DAY)]


def test_a_span_left_below_a_post_keeps_its_lower_bound() -> None:
    oldest = post_id(NOW - 2 * DAY)
    assert Span(start=NOW - 9 * DAY, end=NOW - DAY).below(oldest) == Span(
        start=NOW - 9 * DAY, until_id=oldest
    )
    assert Span(since_id=NEWEST).below(oldest) == Span(since_id=NEWEST, until_id=oldest)


@pytest.mark.parametrize(
    "span",
    [
        Span(),
        Span(start=NOW - DAY),
        Span(start=NOW - 3 * DAY, end=NOW - 2 * DAY),
        Span(since_id=NEWEST, until_id=post_id(NOW)),
    ],
)
def test_a_span_survives_the_state(span: Span) -> None:
    assert Span.from_state(span.as_state()) == span


def test_spans_with_an_id_of_unknown_time_are_read_apart() -> None:
    odd = Span(start=NOW - 9 * DAY, until_id=TIMELESS)
    assert merged([Span(start=NOW - 2 * DAY), odd]) == [Span(start=NOW - 2 * DAY), odd]
