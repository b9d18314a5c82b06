"""The api_usage stream: X's count of the posts the app consumed per day, and the cap."""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from tap_twitter_metrics.records import ResponseFormatError, parse_usage
from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tests.tapruns import CORE_STREAMS, PUBLIC_STREAMS, TapRun, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

OBSERVED_AT = "2026-11-29T10:00:00.000Z"
HEAD = {"client_app_id": "2342343", "project_id": "1234567890"}
USAGE = "/2/usage/tweets"


def sandbox(**options: t.Any) -> Sandbox:
    return Sandbox(SandboxOptions(seed=5, posts=60, partner_posts=10, **options))


def public_config(sb: Sandbox) -> dict[str, t.Any]:
    return {**sb.config_for("bearer"), "user_ids": [sb.world.partner_user_id]}


def user_config(sb: Sandbox) -> dict[str, t.Any]:
    return {**sb.config_for("oauth1"), "bearer_token": CREDENTIALS["bearer_token"]}


def usage_rows(run: TapRun) -> list[dict[str, t.Any]]:
    """The api_usage records without the time they were read."""
    return [
        {k: v for k, v in record.items() if k != "observed_at"}
        for record in run.records("api_usage")
    ]


def ninety_days(posts_today: int) -> list[dict[str, t.Any]]:
    """The rows of a project whose posts were all billed today, oldest day first."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        {
            **HEAD,
            "date": (today - timedelta(days=back)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "posts_consumed": posts_today if back == 0 else 0,
            "project_cap": 2000000,
            "project_usage": posts_today,
            "cap_reset_day": 19,
        }
        for back in range(89, -1, -1)
    ]


def lines(run: TapRun, pattern: str) -> list[str]:
    return [line for line in run.stderr.splitlines() if re.search(pattern, line)]


@pytest.mark.parametrize("shape", ["object", "list"])
def test_usage_is_the_sandboxs_billed_posts_of_the_day_in_both_shapes(
    tmp_path: Path, shape: str
) -> None:
    with sandbox(usage_shape=shape) as sb:
        run = run_tap(public_config(sb), tmp_path, streams=PUBLIC_STREAMS)
        billed = sb.usage().billed
    assert run.returncode == 0, run.stderr
    posts = len(run.records("tweets"))
    assert (billed.own_posts, billed.other_posts) == (0, posts)
    assert usage_rows(run) == ninety_days(posts)
    assert {record["observed_at"][:10] for record in run.records("api_usage")} == {
        datetime.now(timezone.utc).strftime("%Y-%m-%d")
    }


def test_usage_is_read_with_the_bearer_token_beside_user_context(tmp_path: Path) -> None:
    with sandbox() as sb:
        run = run_tap(user_config(sb), tmp_path, streams=(*CORE_STREAMS, "api_usage"))
        billed = sb.usage().billed
        auths = [(request.route, request.auth) for request in sb.requests]
    assert run.returncode == 0, run.stderr
    assert auths[-1] == (USAGE, "bearer")
    assert {auth for route, auth in auths[:-1]} == {"oauth1"}
    assert billed.own_posts == len(run.records("tweets")) > 0
    assert usage_rows(run) == ninety_days(billed.own_posts)
    (partition,) = run.state["bookmarks"]["tweets"]["partitions"]
    assert partition["bookmarked_streams"] == sorted(set(CORE_STREAMS) - {"users"})


def test_usage_alone_reads_nothing_else(tmp_path: Path) -> None:
    with sandbox() as sb:
        run = run_tap(user_config(sb), tmp_path, streams=("api_usage",))
        routes = [request.route for request in sb.requests]
    assert run.returncode == 0, run.stderr
    assert routes == [USAGE]
    assert usage_rows(run) == ninety_days(0)


def test_a_bearer_token_alone_reads_the_usage_with_no_account_set(tmp_path: Path) -> None:
    with sandbox() as sb:
        config = {"api_url": sb.url, "bearer_token": CREDENTIALS["bearer_token"]}
        run = run_tap(config, tmp_path, streams=("api_usage", "sync_runs"))
        routes = [request.route for request in sb.requests]
    assert run.returncode == 0, run.stderr
    assert routes == [USAGE]
    assert usage_rows(run) == ninety_days(0)
    assert len(run.records("sync_runs")) == 1


def test_without_a_bearer_token_usage_is_one_info_line(tmp_path: Path) -> None:
    with sandbox() as sb:
        run = run_tap(sb.config_for("oauth1"), tmp_path, streams=(*CORE_STREAMS, "api_usage"))
        routes = {request.route for request in sb.requests}
    assert run.returncode == 0, run.stderr
    assert run.records("api_usage") == []
    assert USAGE not in routes
    assert len(lines(run, r"\| api_usage: ")) == 1
    assert (
        len(
            lines(
                run,
                r"INFO .* api_usage: nothing to read without bearer_token: X's usage "
                r"endpoint takes only the app's bearer token\.$",
            )
        )
        == 1
    )
    assert lines(run, "WARNING|ERROR") == []


def test_a_refused_usage_endpoint_is_skipped_with_one_warning(tmp_path: Path) -> None:
    with sandbox() as sb:
        sb.add_fault(USAGE, "403")
        run = run_tap(user_config(sb), tmp_path, streams=(*CORE_STREAMS, "api_usage", "sync_runs"))
        own = [post for post in sb.world.timeline(sb.world.main_user_id) if not post.is_retweet]
    assert run.returncode == 0, run.stderr
    assert run.records("api_usage") == []
    assert len(run.records("tweets")) == len(own)
    assert len(run.records("sync_runs")) == 1
    (warning,) = lines(run, "WARNING")
    assert (
        "api_usage is skipped this run; the other streams are synced. GET /2/usage/tweets "
        "was refused with HTTP 403" in warning
    )
    assert "title: Client Forbidden" in warning


def test_a_cap_that_is_no_count_is_loaded_as_null_with_one_warning(tmp_path: Path) -> None:
    with sandbox(poison_metrics=True) as sb:
        run = run_tap(public_config(sb), tmp_path, streams=("tweets", "api_usage"))
    assert run.returncode == 0, run.stderr
    assert {record["project_cap"] for record in run.records("api_usage")} == {None}
    assert len(lines(run, "project_cap")) == 1
    assert lines(run, "project_cap")[0].endswith(
        "Value changed to load: project 1234567890 project_cap: 'unlimited' is not a count; "
        "loaded as null."
    )


# --- parsing ----------------------------------------------------------------------------------

OBJECT_SHAPE = {
    "data": {
        "project_id": "1234567890",
        "project_cap": "2000000",
        "project_usage": "45",
        "cap_reset_day": 19,
        "daily_project_usage": {
            "project_id": "1234567890",
            "usage": [{"date": "2026-11-28T00:00:00.000Z", "usage": "45"}],
        },
        "daily_client_app_usage": [
            {
                "client_app_id": "2342343",
                "usage": [
                    {"date": "2026-11-27T00:00:00.000Z", "usage": "0"},
                    {"date": "2026-11-28T00:00:00.000Z", "usage": "45"},
                ],
                "usage_result_count": 2,
            }
        ],
    }
}
LIST_SHAPE = {
    "data": {
        "project_id": "1234567890",
        "project_cap": 2000000,
        "project_usage": 45,
        "cap_reset_day": 19,
        "daily_project_usage": [
            {"date": "2026-11-28", "usage": [{"app_id": "2342343", "tweets_consumed": 45}]}
        ],
        "daily_client_app_usage": [
            {"date": "2026-11-27", "usage": [{"app_id": "2342343", "tweets_consumed": 0}]},
            {"date": "2026-11-28", "usage": [{"app_id": 2342343, "tweets_consumed": 45}]},
        ],
    }
}
PARSED = [
    {
        "client_app_id": "2342343",
        "date": day,
        "project_id": "1234567890",
        "posts_consumed": posts,
        "project_cap": 2000000,
        "project_usage": 45,
        "cap_reset_day": 19,
        "observed_at": OBSERVED_AT,
    }
    for day, posts in (("2026-11-27T00:00:00.000Z", 0), ("2026-11-28T00:00:00.000Z", 45))
]


@pytest.mark.parametrize("body", [OBJECT_SHAPE, LIST_SHAPE], ids=["object", "list"])
def test_both_shapes_parse_to_the_same_records(body: dict[str, t.Any]) -> None:
    page = parse_usage(body, OBSERVED_AT)
    assert page.records == PARSED
    assert page.notes == []


def test_the_list_shapes_project_usage_stands_in_for_missing_app_usage() -> None:
    data = {**LIST_SHAPE["data"], "daily_client_app_usage": None}
    assert parse_usage({"data": data}, OBSERVED_AT).records == PARSED[1:]


def test_only_the_default_fields_give_no_records() -> None:
    assert parse_usage({"data": {"project_id": "1", "project_cap": "5"}}, OBSERVED_AT).records == []


def test_counts_that_are_no_counts_are_null_and_noted() -> None:
    data = {**LIST_SHAPE["data"], "project_usage": "many"}
    data["daily_client_app_usage"] = [
        {"date": "2026-11-28", "usage": [{"app_id": "2342343", "tweets_consumed": 4.5}]}
    ]
    page = parse_usage({"data": data}, OBSERVED_AT)
    assert [(r["posts_consumed"], r["project_usage"]) for r in page.records] == [(None, None)]
    assert [str(note) for note in page.notes] == [
        "project 1234567890 project_usage: 'many' is not a count; loaded as null",
        "app 2342343 posts consumed on 2026-11-28: 4.5 is not a count; loaded as null",
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], "usage: data is [], expected an object"),
        ({"daily_client_app_usage": {}}, "usage: daily_client_app_usage is {}, expected a list"),
        (
            {"daily_client_app_usage": [{"date": "yesterday", "usage": []}]},
            "usage: date is 'yesterday', expected a date-time",
        ),
        (
            {"daily_client_app_usage": [{"client_app_id": "", "usage": []}]},
            "usage: client_app_id is '', expected a non-empty string",
        ),
    ],
)
def test_a_broken_usage_body_is_refused(data: object, error: str) -> None:
    with pytest.raises(ResponseFormatError, match=re.escape(error)):
        parse_usage({"data": data}, OBSERVED_AT)
