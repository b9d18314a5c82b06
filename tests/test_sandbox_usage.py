"""The sandbox counts what it serves the way X bills it, and serves X's usage endpoint."""

from __future__ import annotations

import time
import typing as t
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tap_twitter_metrics_sandbox import (
    USAGE_SHAPES,
    Sandbox,
    SandboxOptions,
    Usage,
    UsageCounts,
)
from tap_twitter_metrics_sandbox.cli import _options, build_parser
from tests.sandbox_http import get, oauth1

if t.TYPE_CHECKING:
    from collections.abc import Iterator

USAGE = "/2/usage/tweets"
DAY_MS = 86_400_000
ALL_FIELDS = (
    "cap_reset_day,daily_client_app_usage,daily_project_usage,project_cap,project_id,project_usage"
)
INVALID = "https://api.twitter.com/2/problems/invalid-request"


def usage(own: int = 0, other: int = 0, users: int = 0, analytics: int = 0) -> UsageCounts:
    return UsageCounts(own_posts=own, other_posts=other, users=users, analytics=analytics)


def pin_day(sb: Sandbox, days_ahead: int) -> str:
    """Move the sandbox's now to noon UTC `days_ahead` days on; return that day's midnight.

    Its clock then stays put for the test: only an advance moves it.
    """
    midnight = int(time.time() * 1000) // DAY_MS * DAY_MS + days_ahead * DAY_MS
    sb.world.advance(new_posts=0, metric_growth=False, now_ms=midnight + DAY_MS // 2)
    return datetime.fromtimestamp(midnight / 1000, tz=timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )


def day_before(date: str, days: int = 1) -> str:
    moment = datetime.fromisoformat(date.replace("Z", "+00:00")) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=5, posts=40, partner_posts=10)) as sandbox:
        yield sandbox


# --- counting -------------------------------------------------------------------------------


def test_a_post_served_twice_a_day_is_billed_once_and_again_the_next_day(sb: Sandbox) -> None:
    partner = f"/2/users/{sb.world.partner_user_id}/tweets"
    for _ in range(2):
        assert len(get(sb, partner, max_results="5").json()["data"]) == 5
    assert sb.usage() == Usage(served=usage(other=10), billed=usage(other=5))
    pin_day(sb, 1)
    get(sb, partner, max_results="5")
    assert sb.usage() == Usage(served=usage(other=15), billed=usage(other=10))


def test_only_the_signed_in_accounts_own_timeline_is_billed_as_own(sb: Sandbox) -> None:
    main, partner = sb.world.main_user_id, sb.world.partner_user_id
    get(sb, f"/2/users/{main}/tweets", auth=oauth1(), max_results="5")
    get(sb, f"/2/users/{main}/tweets", max_results="5")
    get(sb, f"/2/users/{partner}/tweets", auth=oauth1(), max_results="5")
    get(sb, "/2/tweets", auth=oauth1(), ids=sb.world.timeline(main)[9].id)
    assert sb.usage().billed == usage(own=5, other=5 + 5 + 1)


def test_users_of_data_and_of_includes_are_billed_media_are_not(sb: Sandbox) -> None:
    world = sb.world
    get(sb, "/2/users/me", auth=oauth1())
    get(sb, "/2/users", ids=f"{world.main_user_id},{world.partner_user_id}")
    get(sb, "/2/users/by", usernames="sandbox_brand")
    get(sb, "/2/users/by/username/sandbox_brand")
    post = world.timeline(world.partner_user_id)[0]
    get(sb, "/2/tweets", ids=post.id, expansions="author_id,attachments.media_keys")
    assert sb.usage() == Usage(served=usage(other=1, users=6), billed=usage(other=1, users=2))


def test_each_post_and_video_analytics_returns_is_billed(sb: Sandbox) -> None:
    world = sb.world
    own = [post.id for post in world.timeline(world.main_user_id)[:3]]
    foreign = world.timeline(world.partner_user_id)[0].id
    window = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"}
    body = get(sb, "/2/tweets/analytics", oauth1(), ids=",".join([*own, foreign]), **window)
    assert [item["id"] for item in body.json()["data"]] == own
    video = world.videos_of(world.main_user_id)[0]
    get(sb, "/2/media/analytics", oauth1(), media_keys=video, **window)
    assert sb.usage().billed == usage(analytics=4)


def test_responses_without_data_cost_nothing(sb: Sandbox) -> None:
    assert get(sb, "/2/tweets", ids="1").json()["errors"][0]["title"] == "Not Found Error"
    assert get(sb, "/2/tweets", ids="x").status_code == 400
    assert get(sb, "/2/users/me").status_code == 403
    assert sb.usage() == Usage(served=usage(), billed=usage())


def test_usage_is_read_and_reset_by_method_and_admin_route(sb: Sandbox) -> None:
    get(sb, f"/2/users/{sb.world.partner_user_id}/tweets", max_results="5")
    counts = {"own_posts": 0, "other_posts": 5, "users": 0, "analytics": 0}
    answer = requests.get(sb.url + "/_sandbox/usage", timeout=10).json()
    assert answer == {"served": counts, "billed": counts}
    assert requests.delete(sb.url + "/_sandbox/usage", timeout=10).json() == {"cleared": True}
    assert sb.usage() == Usage(served=usage(), billed=usage())
    get(sb, f"/2/users/{sb.world.partner_user_id}/tweets", max_results="5")
    sb.reset_usage()
    assert sb.usage() == Usage(served=usage(), billed=usage())


# --- GET /2/usage/tweets ----------------------------------------------------------------------


def read_posts_on_two_days(sb: Sandbox) -> str:
    """Bill 5 posts on one day, then 10 the next (5 of them again); return the later day."""
    partner = f"/2/users/{sb.world.partner_user_id}/tweets"
    main = f"/2/users/{sb.world.main_user_id}/tweets"
    pin_day(sb, 1)
    get(sb, partner, max_results="5")
    today = pin_day(sb, 2)
    get(sb, partner, max_results="5")
    get(sb, main, max_results="5")
    get(sb, main, max_results="5")
    return today


def test_usage_default_fields_in_the_object_shape(sb: Sandbox) -> None:
    read_posts_on_two_days(sb)
    body = get(sb, USAGE).json()
    assert body == {
        "data": {
            "project_id": "1234567890",
            "project_cap": "2000000",
            "project_usage": "15",
            "cap_reset_day": 19,
        }
    }


def test_usage_daily_figures_in_the_object_shape(sb: Sandbox) -> None:
    today = read_posts_on_two_days(sb)
    body = get(sb, USAGE, days="3", **{"usage.fields": "daily_client_app_usage"}).json()
    daily = [
        {"date": day_before(today, 2), "usage": "0"},
        {"date": day_before(today), "usage": "5"},
        {"date": today, "usage": "10"},
    ]
    assert body["data"] == {
        "project_id": "1234567890",
        "project_cap": "2000000",
        "project_usage": "15",
        "cap_reset_day": 19,
        "daily_client_app_usage": [
            {"client_app_id": "2342343", "usage": daily, "usage_result_count": 3}
        ],
    }
    body = get(sb, USAGE, days="3", **{"usage.fields": "daily_project_usage"}).json()
    assert body["data"]["daily_project_usage"] == {"project_id": "1234567890", "usage": daily}


def test_usage_in_the_list_shape() -> None:
    with Sandbox(SandboxOptions(seed=5, posts=40, partner_posts=10, usage_shape="list")) as sb:
        today = read_posts_on_two_days(sb)
        body = get(sb, USAGE, days="2", **{"usage.fields": ALL_FIELDS}).json()
    daily = [
        {"date": day_before(today), "usage": [{"app_id": "2342343", "tweets_consumed": 5}]},
        {"date": today, "usage": [{"app_id": "2342343", "tweets_consumed": 10}]},
    ]
    assert body == {
        "data": {
            "project_id": "1234567890",
            "project_cap": 2000000,
            "project_usage": 15,
            "cap_reset_day": 19,
            "daily_project_usage": daily,
            "daily_client_app_usage": daily,
        }
    }


def test_usage_days_run_from_1_to_90_with_7_by_default(sb: Sandbox) -> None:
    fields = {"usage.fields": "daily_project_usage"}
    assert len(get(sb, USAGE, **fields).json()["data"]["daily_project_usage"]["usage"]) == 7
    for days in ("1", "90"):
        answer = get(sb, USAGE, days=days, **fields).json()
        assert len(answer["data"]["daily_project_usage"]["usage"]) == int(days)
    for days in ("0", "91", "x"):
        response = get(sb, USAGE, days=days)
        assert response.status_code == 400
        assert response.json() == {
            "errors": [
                {
                    "parameters": {"days": [days]},
                    "message": f"The `days` query parameter value [{days}] is not between 1 and 90",
                }
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID,
        }


def test_usage_fields_must_be_known_and_unique(sb: Sandbox) -> None:
    response = get(sb, USAGE, **{"usage.fields": "project_id,tweets,project_id"}, since="1")
    assert response.status_code == 400
    assert [error["message"] for error in response.json()["errors"]] == [
        "The query parameter [since] is not one of [days,usage.fields]",
        f"The `usage.fields` query parameter value [tweets] is not one of [{ALL_FIELDS}]",
        "The `usage.fields` query parameter value [project_id] is repeated: values must be unique",
    ]


def test_usage_takes_only_the_apps_bearer_token(sb: Sandbox) -> None:
    response = get(sb, USAGE, oauth1())
    assert response.status_code == 403
    assert response.json() == {
        "title": "Unsupported Authentication",
        "detail": "Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.  "
        "Supported authentication types are [OAuth 2.0 Application-Only].",
        "type": "https://api.twitter.com/2/problems/unsupported-authentication",
        "status": 403,
    }
    assert requests.get(sb.url + USAGE, timeout=10).status_code == 401


def test_usage_requests_are_not_billed_and_limited_to_50_per_window(sb: Sandbox) -> None:
    response = get(sb, USAGE, **{"usage.fields": ALL_FIELDS})
    assert response.headers["x-rate-limit-limit"] == "50"
    assert response.headers["x-rate-limit-remaining"] == "49"
    assert sb.usage() == Usage(served=usage(), billed=usage())


def test_poisoned_metrics_serve_a_project_cap_that_is_no_count() -> None:
    with Sandbox(SandboxOptions(seed=5, posts=40, partner_posts=10, poison_metrics=True)) as sb:
        assert get(sb, USAGE).json()["data"]["project_cap"] == "unlimited"


def test_the_usage_shape_is_an_option_and_a_flag() -> None:
    assert USAGE_SHAPES == ("object", "list")
    assert SandboxOptions().usage_shape == "object"
    assert _options(build_parser().parse_args(["--usage-shape", "list"])).usage_shape == "list"
    with pytest.raises(ValueError, match="usage_shape must be one of object, list"):
        Sandbox(SandboxOptions(usage_shape="table"))
