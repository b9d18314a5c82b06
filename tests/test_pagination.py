"""Broken paging from the API: a repeated next_token ends the timeline, a repeated post is
written once."""

from __future__ import annotations

import typing as t
from collections import Counter

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import timeline_posts
from tests.tapruns import PUBLIC_STREAMS, bookmark_state, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path


def timeline_requests(sb: Sandbox) -> int:
    return sum(request.route == "/2/users/:id/tweets" for request in sb.requests)


def test_a_repeated_next_token_stops_the_timeline_and_keeps_the_bookmark(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7, pagination_fault="repeat-token")) as sb:
        world = sb.world
        config = sb.config_for("bearer") | {"user_ids": [world.main_user_id]}
        posts = timeline_posts(world, world.main_user_id)
        old = posts[-1].created_at_api
        state = bookmark_state(world.main_user_id, old)
        run = run_tap(config | {"lookback_days": 0}, tmp_path, streams=PUBLIC_STREAMS, state=state)

        assert run.returncode == 0, run.stderr
        assert timeline_requests(sb) == 2
        assert [r["id"] for r in run.records("tweets")] == [p.id for p in posts[:200]]
        assert (
            run.stderr.count(
                f"Account @sandbox_brand ({world.main_user_id}): the API sent a next_token it "
                "had sent before; the timeline is read up to here and its bookmark stays where "
                "it was, so the next run reads it again."
            )
            == 1
        )
        assert run.state["bookmarks"]["tweets"]["partitions"][0]["replication_key_value"] == old


def test_a_post_on_two_pages_is_written_once(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7, pagination_fault="overlap")) as sb:
        world = sb.world
        config = sb.config_for("bearer") | {"user_ids": [world.main_user_id]}
        run = run_tap(config, tmp_path, streams=PUBLIC_STREAMS)

        posts = timeline_posts(world, world.main_user_id)
        assert run.returncode == 0, run.stderr
        assert [r["id"] for r in run.records("tweets")] == [p.id for p in posts]
        for stream in ("tweet_public_metrics", "tweet_metrics_daily"):
            counts = Counter(r["tweet_id"] for r in run.records(stream))
            assert Counter(counts.values()) == {1: len(posts)}
        repeated = [line for line in run.stderr.splitlines() if "sent posts again" in line]
        label = f"@sandbox_brand ({world.main_user_id})"
        assert [line.split(" | ")[-1] for line in repeated] == [
            f"Account {label}: the API sent posts again on a later page "
            f"({posts[99].id}); each is written once.",
            f"Account {label}: the API sent posts again on a later page "
            f"({posts[198].id}); each is written once.",
        ]
        assert run.state["bookmarks"]["tweets"]["partitions"][0]["replication_key_value"] == (
            posts[0].created_at_api
        )
