"""What a sync emits and what it asks of the API, against the sandbox, with exact values."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from tap_twitter_metrics.settings import parse_datetime
from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tap_twitter_metrics_sandbox.world import PROTECTED_USER_ID
from tests.expected import (
    expected_records,
    private_cutoff,
    timeline_posts,
    without_observed_at,
)
from tests.tapruns import CORE_STREAMS, PUBLIC_STREAMS, TapRun, bookmark_state, run_tap

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tap_twitter_metrics_sandbox.server import LoggedRequest
    from tap_twitter_metrics_sandbox.world import Post

PRIVATE_FIELDS = ("non_public_metrics", "organic_metrics", "promoted_metrics")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        yield sb


def timeline_requests(sb: Sandbox) -> list[LoggedRequest]:
    return [r for r in sb.requests if r.route == "/2/users/:id/tweets"]


def assert_records(run: TapRun, expected: dict[str, dict[str, dict[str, t.Any]]]) -> None:
    for stream in CORE_STREAMS:
        got = run.by_key(stream)
        assert len(run.records(stream)) == len(got), f"{stream} has duplicate keys"
        assert without_observed_at(got) == expected.get(stream, {}), stream


def own_private_ids(posts: list[Post]) -> set[str]:
    cutoff = private_cutoff()
    return {post.id for post in posts if post.created_at >= cutoff}


def test_first_sync_of_own_account_emits_every_record_of_every_stream(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    run = run_tap(sandbox.config_for("oauth1"), tmp_path)

    assert run.returncode == 0, run.stderr
    posts = timeline_posts(world, world.main_user_id)
    expected = expected_records(
        world, posts, private_ids=own_private_ids(posts), users=[world.main_user_id]
    )
    assert_records(run, expected)
    assert {stream: len(expected[stream]) for stream in CORE_STREAMS} == {
        stream: len(run.records(stream)) for stream in CORE_STREAMS
    }
    assert all(len(expected[stream]) > 0 for stream in CORE_STREAMS)
    assert run.schema_counts == dict.fromkeys(CORE_STREAMS, 1)


def test_first_sync_asks_the_api_once_per_hundred_posts_per_pass(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    run = run_tap(sandbox.config_for("oauth1"), tmp_path)

    posts = timeline_posts(world, world.main_user_id)
    recent = len(own_private_ids(posts))
    old = len(posts) - recent
    assert run.returncode == 0, run.stderr
    assert [r.route for r in sandbox.requests] == ["/2/users/me"] + ["/2/users/:id/tweets"] * (
        -(-recent // 100) + -(-old // 100)
    )
    assert (
        f"Sync done: posts read: {len(posts)} (own timeline {len(posts)}, other 0), accounts "
        f"read: 1, analytics resources read: 0, estimated charge: ${len(posts) * 0.001 + 0.01:.3f}"
        f"; {len(sandbox.requests)} requests," in run.stderr
    )


def test_private_fields_are_asked_only_for_own_posts_of_the_last_30_days(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_tap(sandbox.config_for("oauth1"), tmp_path)

    assert run.returncode == 0, run.stderr
    private_pass, *public_pass = timeline_requests(sandbox)
    cutoff = datetime.strptime(private_pass.params["start_time"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    assert timedelta(days=29) < datetime.now(timezone.utc) - cutoff < timedelta(days=30)
    assert all(f in private_pass.params["tweet.fields"] for f in PRIVATE_FIELDS)
    assert all(f in private_pass.params["media.fields"] for f in PRIVATE_FIELDS)
    for request in public_pass:
        assert request.params["end_time"] == private_pass.params["start_time"]
        assert not any(f in request.params["tweet.fields"] for f in PRIVATE_FIELDS)
        assert not any(f in request.params["media.fields"] for f in PRIVATE_FIELDS)


def test_public_streams_with_a_bearer_token_read_other_accounts_without_private_fields(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    config = {
        **sandbox.config_for("bearer"),
        "user_ids": [world.main_user_id, world.partner_user_id],
    }
    run = run_tap(config, tmp_path, streams=None)

    assert run.returncode == 0, run.stderr
    posts = timeline_posts(world, world.main_user_id) + timeline_posts(world, world.partner_user_id)
    expected = expected_records(
        world, posts, private_ids=set(), users=[world.main_user_id, world.partner_user_id]
    )
    assert sorted(run.schema_counts) == sorted(PUBLIC_STREAMS)
    assert_records(run, {stream: expected[stream] for stream in PUBLIC_STREAMS})
    assert "/2/users/me" not in [r.route for r in sandbox.requests]
    assert [r.route for r in sandbox.requests].count("/2/users") == 1
    for request in timeline_requests(sandbox):
        assert not any(f in request.params["tweet.fields"] for f in PRIVATE_FIELDS)


def test_private_stream_with_only_a_bearer_token_is_refused_before_any_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {**sandbox.config_for("bearer"), "user_ids": [sandbox.world.main_user_id]}
    run = run_tap(config, tmp_path, streams=["tweets", "tweet_organic_metrics"])

    assert run.returncode != 0
    assert "tweet_organic_metrics need user-context credentials" in run.stderr
    assert sandbox.requests == []


def test_bearer_token_without_accounts_or_posts_is_a_configuration_error(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_tap(sandbox.config_for("bearer"), tmp_path, streams=PUBLIC_STREAMS)

    assert run.returncode != 0
    assert "Nothing to read: set user_ids, usernames or tweet_ids" in run.stderr
    assert sandbox.requests == []


def test_no_media_stream_selected_means_no_media_expansion(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {**sandbox.config_for("bearer"), "usernames": ["sandbox_brand"]}
    run = run_tap(config, tmp_path, streams=["tweets", "tweet_public_metrics"])

    assert run.returncode == 0, run.stderr
    assert sorted(run.schema_counts) == ["tweet_public_metrics", "tweets"]
    for request in timeline_requests(sandbox):
        assert "expansions" not in request.params
        assert "media.fields" not in request.params
        assert "public_metrics" in request.params["tweet.fields"]


def test_a_video_shared_by_several_posts_is_one_media_record_with_one_view_count(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    shared = [
        key
        for key, media in world.media.items()
        if media.type == "video"
        and sum(key in post.media_keys for post in timeline_posts(world, world.main_user_id)) >= 3
    ]
    run = run_tap(sandbox.config_for("oauth1"), tmp_path)

    assert run.returncode == 0, run.stderr
    assert len(shared) == 1
    assert [r["media_key"] for r in run.records("media")].count(shared[0]) == 1
    views = [r for r in run.records("media_public_metrics") if r["media_key"] == shared[0]]
    assert [r["view_count"] for r in views] == [
        (world.media[shared[0]].public_metrics or {})["view_count"]
    ]


def test_looked_up_posts_of_any_age_and_author_are_never_lost(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    own = timeline_posts(world, world.main_user_id)
    cutoff = private_cutoff()
    own_recent = [p for p in own if p.created_at >= cutoff][:3]
    own_old = [p for p in own if p.created_at < cutoff][:3]
    foreign = timeline_posts(world, world.partner_user_id)[-3:]
    protected = timeline_posts(world, PROTECTED_USER_ID)[0]
    missing = "1234567890123456789"
    asked = own_recent + own_old + foreign
    config = {
        **sandbox.config_for("oauth1"),
        "tweet_ids": [p.id for p in asked] + [missing, protected.id],
    }
    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    expected = expected_records(
        world,
        asked,
        private_ids={p.id for p in own_recent},
        users=sorted({p.author_id for p in asked}),
    )
    assert_records(run, expected)
    assert "Partial errors 'resource-not-found': 1 resources not found: " + missing in run.stderr
    assert (
        "Partial errors 'not-authorized-for-resource': 1 resources not visible (protected or "
        f"suspended author): {protected.id}" in run.stderr
    )
    assert run.stderr.count("Partial errors 'resource-not-found'") == 1


def test_repost_count_spelling_is_read_as_retweet_count(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=3, retweet_key="repost_count")) as sb:
        world = sb.world
        config = {**sb.config_for("bearer"), "user_ids": [world.main_user_id]}
        run = run_tap(config, tmp_path, streams=["tweet_public_metrics"])

    posts = timeline_posts(world, world.main_user_id)
    expected = expected_records(world, posts, private_ids=set())
    assert run.returncode == 0, run.stderr
    assert (
        without_observed_at(run.by_key("tweet_public_metrics")) == expected["tweet_public_metrics"]
    )
    assert all(r["retweet_count"] is not None for r in run.records("tweet_public_metrics"))


def test_promoted_fields_blanking_the_response_lose_no_post(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7, promoted_variant="blank")) as sb:
        world = sb.world
        run = run_tap(sb.config_for("oauth1"), tmp_path)
        requests = list(sb.requests)

    posts = timeline_posts(world, world.main_user_id)
    expected = expected_records(world, posts, private_ids=own_private_ids(posts))
    assert run.returncode == 0, run.stderr
    for stream in (
        "tweets",
        "tweet_public_metrics",
        "tweet_non_public_metrics",
        "tweet_organic_metrics",
        "media",
        "media_public_metrics",
    ):
        assert without_observed_at(run.by_key(stream)) == expected[stream], stream
    assert len(requests) <= 1 + 2 + 3


def test_incremental_run_reads_the_lookback_window_and_refreshes_its_figures(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    config = {**sandbox.config_for("oauth1"), "lookback_days": 3}
    first = run_tap(config, tmp_path / "first")
    assert first.returncode == 0, first.stderr
    bookmark = first.state["bookmarks"]["tweets"]["partitions"][0]
    assert bookmark["context"] == {"author_id": world.main_user_id}
    assert (
        bookmark["replication_key_value"]
        == timeline_posts(world, world.main_user_id)[0].created_at_api
    )

    sandbox.advance(new_posts=4, metric_growth=True)
    sandbox.clear_requests()
    second = run_tap(config, tmp_path / "second", state=first.state)

    assert second.returncode == 0, second.stderr
    since = datetime.fromisoformat(
        bookmark["replication_key_value"].replace("Z", "+00:00")
    ) - timedelta(days=3)
    window = timeline_posts(world, world.main_user_id, since=since.replace(microsecond=0))
    expected = expected_records(
        world, window, private_ids=own_private_ids(window), users=[world.main_user_id]
    )
    assert_records(second, expected)
    assert [r.params.get("start_time") for r in timeline_requests(sandbox)] == [
        since.strftime("%Y-%m-%dT%H:%M:%SZ")
    ]
    assert second.state["bookmarks"]["tweets"]["partitions"][0]["replication_key_value"] == (
        timeline_posts(world, world.main_user_id)[0].created_at_api
    )


def test_run_that_reads_nothing_new_keeps_the_bookmark(sandbox: Sandbox, tmp_path: Path) -> None:
    config = {
        **sandbox.config_for("bearer"),
        "user_ids": [sandbox.world.main_user_id],
        "lookback_days": 0,
    }
    just_now = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    state = bookmark_state(sandbox.world.main_user_id, just_now)
    run = run_tap(config, tmp_path, streams=PUBLIC_STREAMS, state=state)

    assert run.returncode == 0, run.stderr
    assert run.records("tweets") == []
    assert run.state["bookmarks"]["tweets"]["partitions"][0]["replication_key_value"] == just_now


def test_bookmark_in_the_future_is_read_as_now_with_one_warning(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    config = {**sandbox.config_for("bearer"), "user_ids": [world.main_user_id]}
    state = bookmark_state(world.main_user_id, "2030-01-01T00:00:00.000Z")
    started = datetime.now(timezone.utc).replace(microsecond=0)
    run = run_tap(config, tmp_path, streams=PUBLIC_STREAMS, state=state)
    ended = datetime.now(timezone.utc)

    assert run.returncode == 0, run.stderr
    posts = timeline_posts(world, world.main_user_id)
    read = {r["id"] for r in run.records("tweets")}
    # The last week before the run's "now", which lies between `started` and `ended`.
    assert {p.id for p in posts if p.created_at >= ended - timedelta(days=7)} <= read
    assert read <= {p.id for p in posts if p.created_at >= started - timedelta(days=7)}
    # The run's "now" it was read as stays: a bookmark never moves back.
    bookmark = run.state["bookmarks"]["tweets"]["partitions"][0]["replication_key_value"]
    assert started <= parse_datetime(bookmark) <= ended
    expected = (
        "State: replication_key_value of tweets for author_id "
        f"{world.main_user_id} (2030-01-01T00:00:00.000Z) is in the future and is read as now."
    )
    assert run.stderr.count(expected) == 1


@pytest.mark.parametrize("value", ["garbage", 17, "1999-01-01T00:00:00Z"])
def test_a_bookmark_that_is_no_time_stops_the_run_before_any_request(
    sandbox: Sandbox, tmp_path: Path, value: t.Any
) -> None:
    world = sandbox.world
    config = {**sandbox.config_for("bearer"), "user_ids": [world.main_user_id]}
    state = bookmark_state(world.main_user_id, value)
    run = run_tap(config, tmp_path, streams=PUBLIC_STREAMS, state=state)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert sandbox.requests == []
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .endswith(
            f"| state: replication_key_value of tweets for author_id {world.main_user_id} is "
            f"{value!r}, not a time since 2006. Correct or remove these bookmarks."
        )
    )


def test_own_resources_that_are_no_times_stop_the_run_before_any_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    partition = {"context": {"author_id": world.main_user_id}, "own_resources": ["1", "2"]}
    state = {"bookmarks": {"tweet_analytics": {"partitions": [partition]}}}
    run = run_tap(sandbox.config_for("oauth1"), tmp_path, streams=["tweet_analytics"], state=state)

    assert run.returncode == 1
    assert sandbox.requests == []
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.endswith(
        f"| state: own_resources of tweet_analytics for author_id {world.main_user_id} "
        "must map ids to times. Correct or remove these bookmarks."
    )


def test_unknown_username_fails_the_run_after_the_others_sync(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {**sandbox.config_for("bearer"), "usernames": ["sandbox_partner", "nobody_here"]}
    run = run_tap(config, tmp_path, streams=PUBLIC_STREAMS)

    assert run.returncode == 1, run.stderr
    partner = timeline_posts(sandbox.world, sandbox.world.partner_user_id)
    assert len(run.records("tweets")) == len(partner)
    assert run.state["bookmarks"]["tweets"]["partitions"][0]["replication_key_value"] == (
        partner[0].created_at_api
    )
    assert run.stderr.count("Account @nobody_here is not found: its timeline is skipped.") == 1
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "| Configured accounts X did not show: @nobody_here not found. The other accounts "
            "were synced; correct or remove these in user_ids or usernames."
        )
    )


def test_no_secret_reaches_output_or_state(sandbox: Sandbox, tmp_path: Path) -> None:
    config = {
        **sandbox.config_for("oauth1"),
        "bearer_token": CREDENTIALS["bearer_token"],
    }
    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    for setting in ("bearer_token", "consumer_secret", "access_token", "access_token_secret"):
        assert config[setting] not in run.output


def test_many_looked_up_posts_come_out_in_the_order_asked_one_request_per_hundred(
    tmp_path: Path,
) -> None:
    with Sandbox(SandboxOptions(seed=5, posts=40, lookup_posts=450, latency_ms=20)) as sb:
        world = sb.world
        ids = [
            p.id for p in world.posts if p.author_id not in (world.main_user_id, PROTECTED_USER_ID)
        ][:450]
        config = {**sb.config_for("bearer"), "tweet_ids": ids}
        run = run_tap(config, tmp_path, streams=["tweets", "tweet_public_metrics"])
        requests = list(sb.requests)

    assert run.returncode == 0, run.stderr
    assert [r["id"] for r in run.records("tweets")] == ids
    assert [r["tweet_id"] for r in run.records("tweet_public_metrics")] == ids
    # Batches are fetched side by side, so they may reach the API in any order.
    batches = sorted(r.params["ids"].split(",") for r in requests)
    assert sorted(len(batch) for batch in batches) == [50, 100, 100, 100, 100]
    assert sorted(post_id for batch in batches for post_id in batch) == sorted(ids)


def test_posts_named_in_tweet_ids_and_read_in_a_timeline_are_read_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    own = timeline_posts(world, world.main_user_id)[:2]
    foreign = timeline_posts(world, world.partner_user_id)[:2]
    config = {
        **sandbox.config_for("bearer"),
        "user_ids": [world.main_user_id],
        "tweet_ids": [p.id for p in own + foreign],
    }
    run = run_tap(config, tmp_path, streams=PUBLIC_STREAMS)

    assert run.returncode == 0, run.stderr
    tweets = [r["id"] for r in run.records("tweets")]
    assert len(tweets) == len(set(tweets)) == len(timeline_posts(world, world.main_user_id)) + 2
    lookups = [r for r in sandbox.requests if r.route == "/2/tweets"]
    assert [r.params["ids"] for r in lookups] == [",".join(p.id for p in foreign)]


def test_metrics_without_the_tweets_stream_still_keep_a_bookmark(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    config = {**sandbox.config_for("bearer"), "user_ids": [world.main_user_id]}
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = run_tap(config, tmp_path, streams=["tweet_public_metrics"])

    posts = timeline_posts(world, world.main_user_id)
    assert run.returncode == 0, run.stderr
    assert run.schema_counts == {"tweet_public_metrics": 1}
    assert len(run.records("tweet_public_metrics")) == len(posts)
    partitions = run.state["bookmarks"]["tweets"]["partitions"]
    read_at = partitions[0].pop("read_at")
    assert partitions == [
        {
            "context": {"author_id": world.main_user_id},
            "replication_key": "created_at",
            "replication_key_value": posts[0].created_at_api,
            "bookmarked_streams": ["tweet_public_metrics"],
            "newest_post_id": posts[0].id,
        }
    ]
    assert started <= read_at <= datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "records: tweet_public_metrics=" in run.stderr
    assert "tweets=" not in run.stderr.split("Sync done")[-1]


def test_own_posts_named_by_id_are_written_when_analytics_read_the_own_timeline(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    since = datetime.now(timezone.utc) - timedelta(days=10)
    own = [post.id for post in timeline_posts(world, world.main_user_id, since=since)][:5]
    config = {**sandbox.config_for("oauth1"), "tweet_ids": own}
    run = run_tap(config, tmp_path, streams=["tweets", "tweet_analytics"])

    assert run.returncode == 0, run.stderr
    assert sorted(record["id"] for record in run.records("tweets")) == sorted(own)
    assert [r.route for r in sandbox.requests] == [
        "/2/users/me",
        "/2/tweets",
        "/2/users/:id/tweets",
        "/2/tweets/analytics",
    ]
