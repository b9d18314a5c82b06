"""refresh_ages_days: a run reads the new posts and those whose age passed a point since."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta

from tap_twitter_metrics.settings import parse_datetime
from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import timeline_posts
from tests.faultruns import NOW
from tests.tapruns import bookmark_state, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

DAY = timedelta(days=1)
TIMELINE = "/2/users/:id/tweets"


def test_a_run_reads_the_new_posts_and_each_age_window_since_the_last_run(
    tmp_path: Path,
) -> None:
    last_run = NOW - DAY
    with Sandbox(SandboxOptions(seed=7, posts=900, now=NOW)) as sb:
        world = sb.world
        posts = timeline_posts(world, world.main_user_id)
        seen = next(post for post in posts if post.created_at <= last_run - timedelta(hours=1))
        state = bookmark_state(
            world.main_user_id,
            seen.created_at_api,
            newest_post_id=seen.id,
            read_at=api(last_run),
            bookmarked_streams=["tweet_public_metrics", "tweets"],
        )
        config = {
            **sb.config_for("bearer"),
            "user_ids": [world.main_user_id],
            "refresh_ages_days": [30, 1, 7],
        }
        run = run_tap(config, tmp_path, streams=["tweets", "tweet_public_metrics"], state=state)
        windows = [(r.params.get("start_time"), r.params.get("end_time")) for r in sb.requests]

    assert run.returncode == 0, run.stderr
    partition = run.state["bookmarks"]["tweets"]["partitions"][0]
    now = parse_datetime(partition["read_at"])
    # The new posts and the one-day window touch: one span; then one window per older age.
    assert windows == [
        (api(last_run - DAY), None),
        (api(last_run - 7 * DAY), api(now - 7 * DAY)),
        (api(last_run - 30 * DAY), api(now - 30 * DAY)),
    ]
    expected = [
        post
        for post in posts
        if post.created_at >= last_run - DAY
        or last_run - 7 * DAY <= post.created_at < now - 7 * DAY
        or last_run - 30 * DAY <= post.created_at < now - 30 * DAY
    ]
    assert len(expected) > len([p for p in posts if p.created_at >= last_run - DAY])
    assert [r["id"] for r in run.records("tweets")] == [post.id for post in expected]
    assert [r["tweet_id"] for r in run.records("tweet_public_metrics")] == [
        post.id for post in expected
    ]
    assert partition["newest_post_id"] == posts[0].id
    assert partition["replication_key_value"] == posts[0].created_at_api


def api(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
