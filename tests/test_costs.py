"""Every run says what it read, by how X bills it, and what that likely costs."""

from __future__ import annotations

import re
import typing as t
import uuid
from datetime import timedelta

import pytest

from tap_twitter_metrics.catalogue import STREAM_NAMES
from tap_twitter_metrics_sandbox import CREDENTIALS, UsageCounts
from tests.expected import timeline_posts
from tests.faultruns import NOW, sandbox, sync_config
from tests.tapruns import PUBLIC_STREAMS, TapRun, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

PRICES = {
    "price_per_post": 0.004,
    "price_per_own_post": 0.002,
    "price_per_user": 0.02,
    "price_per_analytics_resource": 0.01,
}
SUMMARY = re.compile(
    r"Sync done: posts read: (\d+) \(own timeline (\d+), other (\d+)\), accounts read: (\d+), "
    r"analytics resources read: (\d+), estimated charge: \$(\d+\.\d{3}); (\d+) requests"
)


def test_the_summary_counts_each_kind_read_and_prices_it(tmp_path: Path) -> None:
    with sandbox() as sb:
        world = sb.world
        config = sync_config(sb) | PRICES
        run = run_tap(config, tmp_path, streams=STREAM_NAMES)
        requests = len(sb.requests)

    assert run.returncode == 0, run.stderr
    (found,) = SUMMARY.findall(run.stderr)
    own = len(timeline_posts(world, world.main_user_id))
    other = len(timeline_posts(world, world.partner_user_id)) + len(config["tweet_ids"])
    users = len(run.records("users"))
    analytics = len({r["tweet_id"] for r in run.records("tweet_analytics")}) + len(
        {r["media_key"] for r in run.records("media_analytics")}
    )
    charge = (
        own * PRICES["price_per_own_post"]
        + other * PRICES["price_per_post"]
        + users * PRICES["price_per_user"]
        + analytics * PRICES["price_per_analytics_resource"]
    )
    assert found == (
        str(own + other),
        str(own),
        str(other),
        str(users),
        str(analytics),
        f"{charge:.3f}",
        str(requests),
    )
    assert users == 5
    assert analytics > 0
    (record,) = run.records("sync_runs")
    assert run.messages[-2]["record"] == record
    assert {key: value for key, value in record.items() if not key.endswith(("_at", "run_id"))} == {
        "accounts": [world.main_user_id, world.partner_user_id],
        "requests": requests,
        "retries": 0,
        "waits": 0,
        "waited_seconds": 0,
        "own_posts_read": own,
        "other_posts_read": other,
        "accounts_read": users,
        "analytics_resources_read": analytics,
        "estimated_cost_usd": pytest.approx(charge),
        "stopped_at_cap": False,
    }
    assert uuid.UUID(record["run_id"]).version == 4
    assert record["started_at"] <= record["ended_at"]


@pytest.mark.parametrize(
    ("value", "error"), [(-0.1, "must be zero or more"), (2, "must be at most 1")]
)
def test_a_price_out_of_range_is_refused(tmp_path: Path, value: float, error: str) -> None:
    with sandbox() as sb:
        run = run_tap(sync_config(sb, price_per_post=value), tmp_path)
        assert sb.requests == []
    assert run.returncode == 1
    assert f"price_per_post: {error}" in run.stderr


def billed_by_the_tap(run: TapRun) -> tuple[UsageCounts, UsageCounts]:
    """The kinds the run's closing summary line and its sync_runs record say it read."""
    (found,) = SUMMARY.findall(run.stderr)
    _posts, own, other, users, analytics = (int(value) for value in found[:5])
    (record,) = run.records("sync_runs")
    return UsageCounts(own, other, users, analytics), UsageCounts(
        record["own_posts_read"],
        record["other_posts_read"],
        record["accounts_read"],
        record["analytics_resources_read"],
    )


@pytest.mark.parametrize(
    ("credentials", "streams"),
    [("bearer", PUBLIC_STREAMS), ("oauth1", STREAM_NAMES)],
    ids=["public", "user-context-all-streams"],
)
def test_what_the_tap_counts_is_what_the_sandbox_bills(
    tmp_path: Path, credentials: str, streams: tuple[str, ...]
) -> None:
    with sandbox() as sb:
        config = sync_config(sb, credentials, bearer_token=CREDENTIALS["bearer_token"])
        run = run_tap(config, tmp_path, streams=streams)
        billed = sb.usage().billed
    assert run.returncode == 0, run.stderr
    summary, record = billed_by_the_tap(run)
    assert summary == record == billed
    assert billed.other_posts > 0
    assert (billed.own_posts > 0, billed.analytics > 0) == ((credentials == "oauth1"),) * 2


# The pass counts a post as the own timeline's when its author is the signed-in account,
# known only once GET /2/users/me was read; X prices by the endpoint that returned the post.
def test_an_own_post_looked_up_by_id_is_billed_at_the_post_price(tmp_path: Path) -> None:
    with sandbox() as sb:
        world = sb.world
        config = {
            **sb.config_for("oauth1"),
            "user_ids": [world.main_user_id],
            "tweet_ids": [world.timeline(world.main_user_id)[-1].id],
            "start_date": (NOW - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        run = run_tap(config, tmp_path, streams=("tweets", "tweet_organic_metrics", "sync_runs"))
        billed = sb.usage().billed
    assert run.returncode == 0, run.stderr
    assert billed.other_posts == 1
    assert billed_by_the_tap(run) == (billed, billed)


def test_the_own_timeline_named_in_user_ids_is_billed_at_the_own_price(tmp_path: Path) -> None:
    with sandbox() as sb:
        config = {**sb.config_for("oauth1"), "user_ids": [sb.world.main_user_id]}
        run = run_tap(config, tmp_path, streams=("tweets", "sync_runs"))
        billed = sb.usage().billed
    assert run.returncode == 0, run.stderr
    assert billed.own_posts > 0
    assert billed_by_the_tap(run) == (billed, billed)
