"""The sandbox refuses what X refuses: every bad list, count, time and name, with X's 400 body."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tap_twitter_metrics_sandbox.api import (
    MEDIA_FIELDS,
    PLACE_FIELDS,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
)
from tests.sandbox_http import get

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

PROBLEMS = "https://api.twitter.com/2/problems/"
USERNAME_PATTERN = "^[A-Za-z0-9_]{1,15}$"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7, posts=60, partner_posts=5)) as sandbox:
        yield sandbox


def problem(name: str, value: str, message: str) -> dict[str, Any]:
    return {"parameters": {name: [value]}, "message": message}


def invalid(*problems: dict[str, Any]) -> dict[str, Any]:
    """X's whole 400 body for these problems."""
    return {
        "errors": list(problems),
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }


def refused(response: requests.Response) -> dict[str, Any]:
    """The body of a 400 (asserted to be one, served as JSON)."""
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    return body


def repeated(name: str, value: str) -> dict[str, Any]:
    message = f"The `{name}` query parameter value [{value}] is repeated: values must be unique"
    return problem(name, value, message)


def not_one_of(name: str, value: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    message = f"The `{name}` query parameter value [{value}] is not one of [{','.join(allowed)}]"
    return problem(name, value, message)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def timeline_path(sb: Sandbox) -> str:
    return f"/2/users/{sb.world.main_user_id}/tweets"


# --- list parameters --------------------------------------------------------------------------


def test_a_repeated_exclusion_is_refused(sb: Sandbox) -> None:
    path = timeline_path(sb)
    assert refused(get(sb, path, exclude="retweets,retweets")) == invalid(
        repeated("exclude", "retweets")
    )
    assert refused(get(sb, path, exclude="retweets,quotes")) == invalid(
        not_one_of("exclude", "quotes", ("replies", "retweets"))
    )
    assert get(sb, path, exclude="retweets,replies").status_code == 200


def test_repeated_or_unknown_fields_and_expansions_are_refused(sb: Sandbox) -> None:
    post = sb.world.timeline(sb.world.main_user_id)[0]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "tweet.fields",
            "public_metrics,public_metrics",
            repeated("tweet.fields", "public_metrics"),
        ),
        (
            "tweet.fields",
            "public_metrics,nonsense",
            not_one_of("tweet.fields", "nonsense", TWEET_FIELDS),
        ),
        ("media.fields", "type,url,type", repeated("media.fields", "type")),
        ("media.fields", "view_count", not_one_of("media.fields", "view_count", MEDIA_FIELDS)),
        ("user.fields", "created_at,created_at", repeated("user.fields", "created_at")),
        ("user.fields", "followers", not_one_of("user.fields", "followers", USER_FIELDS)),
        ("expansions", "author_id,author_id", repeated("expansions", "author_id")),
        ("expansions", "media_keys", not_one_of("expansions", "media_keys", TWEET_EXPANSIONS)),
        ("place.fields", "name,name", repeated("place.fields", "name")),
        ("place.fields", "city", not_one_of("place.fields", "city", PLACE_FIELDS)),
    ]
    for name, value, expected in cases:
        for path, extra in (
            ("/2/tweets", {"ids": post.id}),
            (f"/2/tweets/{post.id}", {}),
            (timeline_path(sb), {}),
        ):
            assert refused(get(sb, path, **extra, **{name: value})) == invalid(expected), path


def test_user_routes_refuse_repeated_fields(sb: Sandbox) -> None:
    body = refused(get(sb, "/2/users/by/username/sandbox_brand", **{"user.fields": "url,url"}))
    assert body == invalid(repeated("user.fields", "url"))
    unknown_and_twice = refused(
        get(sb, "/2/users", ids=sb.world.main_user_id, **{"user.fields": "bio,bio"})
    )
    assert unknown_and_twice == invalid(
        not_one_of("user.fields", "bio", USER_FIELDS),
        not_one_of("user.fields", "bio", USER_FIELDS),
        repeated("user.fields", "bio"),
    )


def test_repeated_ids_and_usernames_are_refused(sb: Sandbox) -> None:
    posts = sb.world.timeline(sb.world.main_user_id)
    ids = f"{posts[0].id},{posts[1].id},{posts[0].id}"
    assert refused(get(sb, "/2/tweets", ids=ids)) == invalid(repeated("ids", posts[0].id))
    main, partner = sb.world.main_user_id, sb.world.partner_user_id
    users = refused(get(sb, "/2/users", ids=f"{main},{partner},{main}"))
    assert users == invalid(repeated("ids", main))
    names = refused(get(sb, "/2/users/by", usernames="sandbox_brand,sandbox_brand"))
    assert names == invalid(repeated("usernames", "sandbox_brand"))
    assert get(sb, "/2/users/by", usernames="sandbox_brand,sandbox_partner").status_code == 200


def test_more_than_100_ids_or_usernames_are_refused(sb: Sandbox) -> None:
    many = ",".join(str(10**15 + i) for i in range(101))
    message = "The number of values in the `{}` query parameter list [101] is not between 1 and 100"
    assert refused(get(sb, "/2/tweets", ids=many)) == invalid(
        problem("ids", many, message.format("ids"))
    )
    assert refused(get(sb, "/2/users", ids=many)) == invalid(
        problem("ids", many, message.format("ids"))
    )
    handles = ",".join(f"user_{i}" for i in range(101))
    assert refused(get(sb, "/2/users/by", usernames=handles)) == invalid(
        problem("usernames", handles, message.format("usernames"))
    )
    hundred = ",".join(str(10**15 + i) for i in range(100))
    assert get(sb, "/2/tweets", ids=hundred).status_code == 200
    empty = refused(get(sb, "/2/tweets", ids=""))
    assert empty == invalid(problem("ids", "", "The `ids` query parameter can not be empty"))


def test_usernames_must_match_the_handle_pattern(sb: Sandbox) -> None:
    for bad in ("sixteen_letters_", "no-dash", "no space", "é"):
        message = f"The `usernames` query parameter value [{bad}] does not match {USERNAME_PATTERN}"
        body = refused(get(sb, "/2/users/by", usernames=f"sandbox_brand,{bad}"))
        assert body == invalid(problem("usernames", bad, message))
        single = refused(get(sb, f"/2/users/by/username/{quote(bad)}"))
        message = f"The `username` query parameter value [{bad}] does not match {USERNAME_PATTERN}"
        assert single == invalid(problem("username", bad, message))
    assert get(sb, "/2/users/by/username/fifteen_letters").status_code == 200


# --- timeline counts and times ----------------------------------------------------------------


def test_max_results_must_be_between_5_and_100(sb: Sandbox) -> None:
    path = timeline_path(sb)
    for value in ("0", "4", "101", "x", "", "-5", "5.0"):
        message = f"The `max_results` query parameter value [{value}] is not between 5 and 100"
        assert refused(get(sb, path, max_results=value)) == invalid(
            problem("max_results", value, message)
        )
    for value in ("5", "100"):
        assert get(sb, path, max_results=value).status_code == 200


def test_a_start_time_in_the_future_is_refused(sb: Sandbox) -> None:
    path = timeline_path(sb)
    now = int(time.time() * 1000)
    future = iso(now + 3_600_000)
    message = f"Invalid 'start_time':'{future}'. 'start_time' must not be in the future"
    assert refused(get(sb, path, start_time=future)) == invalid(
        problem("start_time", future, message)
    )
    assert get(sb, path, start_time=iso(now - 60_000)).status_code == 200


def test_an_end_time_before_the_start_time_is_refused(sb: Sandbox) -> None:
    path = timeline_path(sb)
    now = int(time.time() * 1000)
    start, end = iso(now - 86_400_000), iso(now - 2 * 86_400_000)
    message = f"Invalid 'start_time':'{start}'. 'start_time' must be before 'end_time':'{end}'"
    assert refused(get(sb, path, start_time=start, end_time=end)) == invalid(
        problem("start_time", start, message)
    )
    assert get(sb, path, start_time=start, end_time=start).status_code == 200


def test_times_before_the_oldest_allowed_second_are_refused(sb: Sandbox) -> None:
    path = timeline_path(sb)
    for name in ("start_time", "end_time"):
        for value in ("2010-11-06T00:00:00Z", "2010-11-05T23:59:59.999Z", "2009-01-01T00:00:00Z"):
            message = (
                f"Invalid '{name}':'{value}'. '{name}' must be on or after 2010-11-06T00:00:01Z"
            )
            assert refused(get(sb, path, **{name: value})) == invalid(problem(name, value, message))
    both = {"start_time": "2010-11-06T00:00:01Z", "end_time": "2010-11-06T00:00:01Z"}
    assert get(sb, path, **both).json() == {"meta": {"result_count": 0}}


def test_every_problem_of_a_request_is_reported_at_once(sb: Sandbox) -> None:
    body = refused(
        get(
            sb,
            timeline_path(sb),
            max_results="3",
            exclude="replies,replies",
            expansions="author_id,author_id",
        )
    )
    assert body == invalid(
        repeated("expansions", "author_id"),
        problem(
            "max_results",
            "3",
            "The `max_results` query parameter value [3] is not between 5 and 100",
        ),
        repeated("exclude", "replies"),
    )
