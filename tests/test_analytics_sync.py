"""tweet_analytics and media_analytics against the sandbox's analytics endpoints."""

from __future__ import annotations

import time
import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import timeline_posts
from tests.tapruns import TapRun, run_tap

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tap_twitter_metrics_sandbox.server import LoggedRequest

ANALYTICS = ("tweet_analytics", "media_analytics")
ROUTES = {"tweet_analytics": "/2/tweets/analytics", "media_analytics": "/2/media/analytics"}
KEYS = {"tweet_analytics": "tweet_id", "media_analytics": "media_key"}
HEAD = {"tweet_id", "media_key", "timestamp", "granularity", "author_id", "observed_at"}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7, posts=500, partner_posts=10)) as sb:
        yield sb


def ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def analytics_requests(sb: Sandbox, stream: str) -> list[LoggedRequest]:
    return [r for r in sb.requests if r.route == ROUTES[stream]]


def expected_buckets(
    sb: Sandbox, stream: str, resources: list[str]
) -> dict[tuple[str, str], t.Any]:
    """What the sandbox holds for the resources over the window the run asked for."""
    (request, *_) = analytics_requests(sb, stream)
    start, end = ms(request.params["start_time"]), ms(request.params["end_time"])
    granularity = request.params["granularity"]
    world = sb.world
    read = world.tweet_analytics if stream == "tweet_analytics" else world.media_analytics
    now = max(int(time.time() * 1000), world.clock_ms)
    return {
        (resource, stamp): {k: v for k, v in figures.items() if isinstance(v, int)}
        for resource in resources
        for stamp, figures in read(resource, granularity, start, end, now)
    }


def got_buckets(run: TapRun, stream: str) -> dict[tuple[str, str], t.Any]:
    records = run.records(stream)
    got = {
        (r[KEYS[stream]], r["timestamp"]): {
            k: v for k, v in r.items() if k not in HEAD and v is not None
        }
        for r in records
    }
    assert len(got) == len(records), f"{stream}: one record per resource and bucket"
    return got


def own_young_posts(sb: Sandbox, days: int = 30) -> list[str]:
    oldest = datetime.now(timezone.utc) - timedelta(days=days)
    posts = timeline_posts(sb.world, sb.world.main_user_id, since=oldest)
    return [post.id for post in posts]


def own_young_videos(sb: Sandbox, days: int = 30) -> list[str]:
    """The own videos carried by a young own post (a shared video may be older)."""
    world = sb.world
    young = own_young_posts(sb, days)
    carried = {key for post_id in young for key in world.posts_by_id[post_id].media_keys}
    return [key for key in world.videos_of(world.main_user_id) if key in carried]


def test_first_run_loads_every_bucket_of_every_young_own_post_and_video(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_tap(sandbox.config_for("oauth1"), tmp_path, streams=ANALYTICS)

    assert run.returncode == 0, run.stderr
    assert run.schema_counts == dict.fromkeys(ANALYTICS, 1)
    posts, videos = own_young_posts(sandbox), own_young_videos(sandbox)
    assert len(posts) > 100, "two batches of ids"
    requests = analytics_requests(sandbox, "tweet_analytics")
    assert [len(r.params["ids"].split(",")) for r in requests] == [100, len(posts) - 100]
    assert {r.params["granularity"] for r in requests} == {"daily"}
    assert got_buckets(run, "tweet_analytics") == expected_buckets(
        sandbox, "tweet_analytics", posts
    )
    assert got_buckets(run, "media_analytics") == expected_buckets(
        sandbox, "media_analytics", videos
    )
    oldest = datetime.now(timezone.utc) - timedelta(days=30)
    assert requests[0].params["start_time"] == oldest.strftime("%Y-%m-%dT00:00:00Z")
    assert {r["author_id"] for r in run.records("tweet_analytics")} == {sandbox.world.main_user_id}


def test_later_runs_read_the_recent_buckets_of_the_known_posts_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = sandbox.config_for("oauth1")
    first = run_tap(config, tmp_path / "first", streams=ANALYTICS)
    sandbox.clear_requests()
    second = run_tap(config, tmp_path / "second", streams=ANALYTICS, state=first.state)

    assert second.returncode == 0, second.stderr
    bookmark = first.state["bookmarks"]["tweet_analytics"]["partitions"][0]
    (request, _) = analytics_requests(sandbox, "tweet_analytics")
    start = datetime.fromisoformat(bookmark["replication_key_value"].replace("Z", "+00:00"))
    assert request.params["start_time"] == (start - timedelta(days=7)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    posts = own_young_posts(sandbox)
    assert sorted(bookmark["own_resources"]) == sorted(posts)
    assert got_buckets(second, "tweet_analytics") == expected_buckets(
        sandbox, "tweet_analytics", posts
    )
    # Only posts new since the last run are looked for: one page of the own timeline.
    timeline = [r for r in sandbox.requests if r.route == "/2/users/:id/tweets"]
    assert len(timeline) == 1
    assert timeline[0].params["start_time"] == bookmark["own_resources_read_until"][:19] + "Z"


def test_hourly_buckets_and_no_weekly_ones_for_media(sandbox: Sandbox, tmp_path: Path) -> None:
    config = {**sandbox.config_for("oauth1"), "analytics_granularity": "weekly"}
    run = run_tap(config, tmp_path / "weekly", streams=ANALYTICS)

    assert run.returncode == 0, run.stderr
    assert {r["granularity"] for r in run.records("tweet_analytics")} == {"weekly"}
    assert {r["granularity"] for r in run.records("media_analytics")} == {"daily"}
    assert {
        datetime.fromisoformat(r["timestamp"][:10]).weekday()
        for r in run.records("tweet_analytics")
    } == {0}
    sandbox.clear_requests()
    hourly = run_tap(
        {**config, "analytics_granularity": "hourly"}, tmp_path / "hourly", streams=ANALYTICS
    )
    posts = own_young_posts(sandbox)
    assert got_buckets(hourly, "tweet_analytics") == expected_buckets(
        sandbox, "tweet_analytics", posts
    )


def test_a_counter_that_is_not_a_number_is_loaded_as_null_with_one_warning(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {**sandbox.config_for("oauth1"), "analytics_post_age_days": 400}
    run = run_tap(config, tmp_path, streams=["media_analytics"])

    key = sandbox.world.string_counter_media_key
    assert key in own_young_videos(sandbox, days=400)
    nulls = [r for r in run.records("media_analytics") if r["watch_time_ms"] is None]
    assert [r["media_key"] for r in nulls] == [key]
    warnings = [line for line in run.stderr.splitlines() if "not numbers" in line]
    assert len(warnings) == 1
    said = f"media_analytics: 1 counters were not numbers and were loaded as null: {key} "
    assert said + f"watch_time_ms at {nulls[0]['timestamp']}." in warnings[0]
    assert run.returncode == 0


def test_analytics_with_only_a_bearer_token_are_refused_before_any_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {**sandbox.config_for("bearer"), "user_ids": [sandbox.world.main_user_id]}
    run = run_tap(config, tmp_path, streams=["tweets", "tweet_analytics"])

    assert run.returncode == 1
    assert "Streams tweet_analytics need user-context credentials" in run.stderr
    assert sandbox.requests == []


def test_a_refused_analytics_endpoint_skips_only_its_stream(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7, posts=60, partner_posts=5, analytics_forbidden=True)) as sb:
        state = {
            "bookmarks": {
                "tweet_analytics": {
                    "partitions": [
                        {
                            "context": {"author_id": sb.world.main_user_id},
                            "replication_key": "timestamp",
                            "replication_key_value": "2026-01-01T00:00:00Z",
                        }
                    ]
                }
            }
        }
        run = run_tap(
            sb.config_for("oauth1"), tmp_path, streams=["tweets", *ANALYTICS], state=state
        )

    assert run.returncode == 0, run.stderr
    assert len(run.records("tweets")) == len(timeline_posts(sb.world, sb.world.main_user_id))
    assert run.records("tweet_analytics") == run.records("media_analytics") == []
    # One warning per analytics stream, in the order they sync: tweet_analytics first.
    warnings = [line for line in run.stderr.splitlines() if "is skipped this run" in line]
    assert len(warnings) == 2
    for warning, stream in zip(warnings, ANALYTICS, strict=True):
        assert f"| {stream} is skipped this run and keeps its bookmark" in warning
        assert f"GET {ROUTES[stream]} was refused with HTTP 403 Forbidden" in warning
    partition = run.state["bookmarks"]["tweet_analytics"]["partitions"][0]
    assert partition["replication_key_value"] == "2026-01-01T00:00:00Z"
