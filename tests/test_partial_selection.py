"""A bookmark belongs to what was written: streams selected later miss nothing, and streams
that need no posts read none."""

from __future__ import annotations

import typing as t
from datetime import timedelta

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import timeline_posts
from tests.tapruns import run_tap

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        yield sb


def routes(sb: Sandbox) -> list[str]:
    return [request.route for request in sb.requests]


def partition(state: dict[str, t.Any]) -> dict[str, t.Any]:
    found: dict[str, t.Any] = state["bookmarks"]["tweets"]["partitions"][0]
    return found


def test_only_users_reads_no_timeline_and_leaves_no_post_bookmark(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_tap(sandbox.config_for("oauth1"), tmp_path, streams=["users"])

    assert run.returncode == 0, run.stderr
    assert routes(sandbox) == ["/2/users/me"]
    assert [user["id"] for user in run.records("users")] == [sandbox.world.main_user_id]
    assert "replication_key_value" not in partition(run.state)
    assert (
        "Sync done: posts read: 0 (own timeline 0, other 0), accounts read: 1, analytics "
        "resources read: 0, estimated charge: $0.010; 1 requests" in run.stderr
    )


def test_only_analytics_reads_the_own_timeline_once_and_moves_no_post_bookmark(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_tap(sandbox.config_for("oauth1"), tmp_path, streams=["tweet_analytics"])

    assert run.returncode == 0, run.stderr
    assert routes(sandbox).count("/2/users/:id/tweets") == 1
    assert run.records("tweet_analytics")
    assert "tweets" not in run.state["bookmarks"]


def test_a_stream_selected_later_starts_from_the_beginning(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    config = sandbox.config_for("bearer") | {"user_ids": [world.main_user_id]}
    posts = timeline_posts(world, world.main_user_id)
    newest = posts[0].created_at_api

    metrics_only = run_tap(config, tmp_path / "1", streams=["tweet_public_metrics"])
    assert metrics_only.returncode == 0, metrics_only.stderr
    assert partition(metrics_only.state)["bookmarked_streams"] == ["tweet_public_metrics"]

    both = ["tweet_public_metrics", "tweets"]
    added = run_tap(config, tmp_path / "2", streams=both, state=metrics_only.state)
    assert added.returncode == 0, added.stderr
    assert [record["id"] for record in added.records("tweets")] == [post.id for post in posts]
    assert (
        f"Account {world.main_user_id}: tweets had no part in its bookmark and start from "
        "the oldest post the API reaches." in added.stderr
    )
    assert partition(added.state)["bookmarked_streams"] == both
    assert partition(added.state)["replication_key_value"] == newest

    again = run_tap(config, tmp_path / "3", streams=both, state=added.state)
    assert again.returncode == 0, again.stderr
    week_before = posts[0].created_at - timedelta(days=7)
    assert [record["id"] for record in again.records("tweets")] == [
        post.id for post in posts if post.created_at >= week_before
    ]


def test_a_stream_dropped_then_selected_again_reads_what_it_missed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    world = sandbox.world
    config = sandbox.config_for("bearer") | {"user_ids": [world.main_user_id]}
    both = ["tweet_public_metrics", "tweets"]
    first = run_tap(config, tmp_path / "1", streams=both)
    tweets_only = run_tap(config, tmp_path / "2", streams=["tweets"], state=first.state)
    assert partition(tweets_only.state)["bookmarked_streams"] == ["tweets"]

    back = run_tap(config, tmp_path / "3", streams=both, state=tweets_only.state)

    assert back.returncode == 0, back.stderr
    total = len(timeline_posts(world, world.main_user_id))
    assert len(back.records("tweet_public_metrics")) == total
