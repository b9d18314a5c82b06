"""A read cap stops a run before it passes it, and the next runs carry on without a gap."""

from __future__ import annotations

import typing as t
from collections import Counter

import pytest

from tap_twitter_metrics_sandbox import MAIN_USER_ID, Sandbox, SandboxOptions
from tests.expected import timeline_posts
from tests.faultruns import NOW
from tests.tapruns import TapRun, bookmark_state, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_twitter_metrics_sandbox import World
    from tap_twitter_metrics_sandbox.usage import UsageCounts

STREAMS = ("users", "tweets", "tweet_public_metrics", "sync_runs")
CAP_WARNING = "Stopped reading at the cap"


def run_until_done(sb: Sandbox, config: dict[str, t.Any], tmp_path: Path) -> list[TapRun]:
    """Scheduled runs, each from the state the one before left, until one is not capped.

    Each run's resources, as the sandbox served them, stay within the cap and equal the
    run's own count of what it read.
    """
    done: list[TapRun] = []
    state: dict[str, t.Any] | None = None
    while not done or run_record(done[-1])["stopped_at_cap"]:
        assert len(done) < 10, "the capped runs do not finish"
        sb.reset_usage()
        run = run_tap(config, tmp_path / f"run{len(done)}", streams=STREAMS, state=state)
        assert run.returncode == 0, run.stderr
        usage = sb.usage()
        assert total(usage.served) <= config["max_billed_reads_per_run"]
        assert reads(run_record(run)) == total(usage.billed)
        done.append(run)
        state = run.state
    return done


def total(counts: UsageCounts) -> int:
    return counts.own_posts + counts.other_posts + counts.users + counts.analytics


def run_record(run: TapRun) -> dict[str, t.Any]:
    (record,) = run.records("sync_runs")
    return record


def reads(record: dict[str, t.Any]) -> int:
    return int(
        record["own_posts_read"]
        + record["other_posts_read"]
        + record["accounts_read"]
        + record["analytics_resources_read"]
    )


def capped_run(tmp_path: Path, **cap: float) -> tuple[World, TapRun]:
    """One first run of the main account's 300-post timeline under `cap`."""
    with Sandbox(SandboxOptions(seed=7, posts=300, now=NOW)) as sb:
        config = {**sb.config_for("bearer"), "user_ids": [sb.world.main_user_id], **cap}
        return sb.world, run_tap(config, tmp_path, streams=STREAMS)


def test_a_capped_first_sync_of_3200_posts_finishes_over_runs_each_post_once(
    tmp_path: Path,
) -> None:
    with Sandbox(SandboxOptions(seed=7, posts=3300, now=NOW)) as sb:
        world = sb.world
        config = {
            **sb.config_for("bearer"),
            "user_ids": [world.main_user_id],
            "exclude": [],
            "lookback_days": 0,
            "max_billed_reads_per_run": 1000,
        }
        runs = run_until_done(sb, config, tmp_path)
        after = run_tap(config, tmp_path / "after", streams=STREAMS, state=runs[-1].state)

    reachable = timeline_posts(world, world.main_user_id, exclude_retweets=False)
    assert len(reachable) == 3200
    # One account read and 999 posts fill each capped run: 3,200 posts take four runs.
    assert [reads(run_record(run)) for run in runs] == [1000, 1000, 1000, 204]
    assert [run_record(run)["stopped_at_cap"] for run in runs] == [True, True, True, False]
    assert [run.stderr.count(CAP_WARNING) for run in runs] == [1, 1, 1, 0]
    written = Counter(record["id"] for run in runs for record in run.records("tweets"))
    assert set(written) == {post.id for post in reachable}
    assert set(written.values()) == {1}
    metrics = Counter(r["tweet_id"] for run in runs for r in run.records("tweet_public_metrics"))
    assert metrics == written
    partition = runs[-1].state["bookmarks"]["tweets"]["partitions"][0]
    assert "unread_spans" not in partition
    assert partition["replication_key_value"] == reachable[0].created_at_api
    # Nothing new: the next run reads no post at all.
    assert after.returncode == 0, after.stderr
    assert after.records("tweets") == []


def test_a_capped_run_keeps_what_is_left_in_the_state(tmp_path: Path) -> None:
    world, run = capped_run(tmp_path, max_billed_reads_per_run=151)

    posts = timeline_posts(world, world.main_user_id)
    assert run.returncode == 0, run.stderr
    assert [r["id"] for r in run.records("tweets")] == [post.id for post in posts[:150]]
    partition = run.state["bookmarks"]["tweets"]["partitions"][0]
    assert partition["replication_key_value"] == posts[0].created_at_api
    assert partition["newest_post_id"] == posts[0].id
    assert partition["unread_spans"] == [
        {"start": None, "end": None, "since_id": None, "until_id": posts[149].id}
    ]
    (warning,) = [line for line in run.stderr.splitlines() if CAP_WARNING in line]
    assert "(max_billed_reads_per_run 151): 151 resources read, estimated charge $0.760" in warning


def test_finished_accounts_advance_and_the_one_cut_short_resumes_where_it_stopped(
    tmp_path: Path,
) -> None:
    with Sandbox(SandboxOptions(seed=7, posts=300, partner_posts=40, now=NOW)) as sb:
        world = sb.world
        config = {
            **sb.config_for("bearer"),
            "user_ids": [world.partner_user_id, world.main_user_id],
            "lookback_days": 0,
            "max_billed_reads_per_run": 150,
        }
        runs = run_until_done(sb, config, tmp_path)

    partner = timeline_posts(world, world.partner_user_id)
    main = timeline_posts(world, world.main_user_id)
    first = runs[0]
    # Two accounts, then the partner's timeline whole, then the main one's newest posts.
    assert [r["author_id"] for r in first.records("tweets")] == [world.partner_user_id] * len(
        partner
    ) + [world.main_user_id] * (148 - len(partner))
    by_author = {
        p["context"]["author_id"]: p for p in first.state["bookmarks"]["tweets"]["partitions"]
    }
    assert "unread_spans" not in by_author[world.partner_user_id]
    assert by_author[world.partner_user_id]["replication_key_value"] == partner[0].created_at_api
    assert (
        by_author[world.main_user_id]["unread_spans"][0]["until_id"]
        == main[148 - len(partner) - 1].id
    )
    written = Counter(record["id"] for run in runs for record in run.records("tweets"))
    assert set(written) == {post.id for post in partner + main}
    assert set(written.values()) == {1}
    assert all(reads(run_record(run)) <= 150 for run in runs)


def test_a_cost_cap_stops_before_the_charge_would_pass_it(tmp_path: Path) -> None:
    world, run = capped_run(tmp_path, max_cost_per_run_usd=1)

    assert run.returncode == 0, run.stderr
    record = run_record(run)
    # $0.01 for the account, then $0.005 a post: 198 posts, $1.00 in all.
    assert (record["accounts_read"], record["other_posts_read"]) == (1, 198)
    assert record["estimated_cost_usd"] == pytest.approx(1.0)
    assert record["stopped_at_cap"] is True
    assert len(run.records("tweets")) == 198
    assert "(max_cost_per_run_usd 1)" in run.stderr
    assert world.main_user_id in {r["author_id"] for r in run.records("tweets")}


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("max_billed_reads_per_run", 0, "max_billed_reads_per_run: must be at least 1, got 0"),
        ("max_cost_per_run_usd", 0.001, "max_cost_per_run_usd: must be at least 0.01"),
        ("refresh_ages_days", [1, 0], "refresh_ages_days: 0 is not between 1 and 3650 days"),
        ("refresh_ages_days", [5000], "refresh_ages_days: 5000 is not between 1 and 3650 days"),
    ],
)
def test_caps_and_ages_out_of_range_are_refused_before_any_request(
    tmp_path: Path, setting: str, value: object, message: str
) -> None:
    with Sandbox(SandboxOptions(seed=7, now=NOW)) as sb:
        config = {**sb.config_for("bearer"), "user_ids": [sb.world.main_user_id], setting: value}
        run = run_tap(config, tmp_path, streams=STREAMS)
        requests = len(sb.requests)

    assert run.returncode == 1
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert requests == 0


@pytest.mark.parametrize(
    ("kept", "message"),
    [
        ({"newest_post_id": "12a"}, "newest_post_id of tweets for author_id {} is '12a', not a"),
        ({"unread_spans": {"start": None}}, "unread_spans of tweets for author_id {} must be a"),
        ({"unread_spans": [{"until_id": 7}]}, "unread_spans of tweets for author_id {} must be a"),
        ({"unread_spans": [{"start": "soon"}]}, "unread_spans of tweets for author_id {} must be"),
        ({"read_at": "yesterday"}, "read_at of tweets for author_id {} is 'yesterday', not a"),
    ],
)
def test_what_a_run_leaves_beside_the_bookmark_is_checked_before_any_request(
    tmp_path: Path, kept: dict[str, t.Any], message: str
) -> None:
    with Sandbox(SandboxOptions(seed=7, now=NOW)) as sb:
        author = sb.world.main_user_id
        state = bookmark_state(author, "2026-11-01T00:00:00.000Z", **kept)
        config = {**sb.config_for("bearer"), "user_ids": [author]}
        run = run_tap(config, tmp_path, streams=STREAMS, state=state)
        requests = len(sb.requests)

    assert run.returncode == 1
    assert requests == 0
    assert "Traceback" not in run.stderr
    assert message.format(author) in run.stderr.strip().splitlines()[-1]


def test_streams_after_the_cap_read_nothing_and_keep_their_bookmarks(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7, posts=300, now=NOW)) as sb:
        config = {**sb.config_for("oauth1"), "max_billed_reads_per_run": 101}
        streams = ("tweets", "tweet_non_public_metrics", "tweet_analytics", "sync_runs")
        run = run_tap(config, tmp_path, streams=streams)
        routes = [request.route for request in sb.requests]

    assert run.returncode == 0, run.stderr
    # The signed-in account, then 100 of its posts (the last 30 days with private fields, then
    # older ones): the analytics are not asked for.
    assert routes == ["/2/users/me", "/2/users/:id/tweets", "/2/users/:id/tweets"]
    assert len(run.records("tweets")) == 100
    assert run.records("tweet_analytics") == []
    assert run.state["bookmarks"]["tweet_analytics"] == {
        "partitions": [{"context": {"author_id": MAIN_USER_ID}}]
    }
    record = run_record(run)
    assert (record["own_posts_read"], record["accounts_read"]) == (100, 1)
    assert record["estimated_cost_usd"] == pytest.approx(0.11)


def test_lookups_read_as_many_posts_as_the_cap_has_room_for_with_their_authors(
    tmp_path: Path,
) -> None:
    with Sandbox(SandboxOptions(seed=7, posts=50, lookup_posts=150, now=NOW)) as sb:
        world = sb.world
        own = {world.main_user_id, world.partner_user_id}
        ids = [post.id for post in world.posts if post.author_id not in own][:150]
        config = {**sb.config_for("bearer"), "tweet_ids": ids, "max_billed_reads_per_run": 101}
        run = run_tap(config, tmp_path, streams=STREAMS)
        asked = [request.params["ids"].split(",") for request in sb.requests]

    assert run.returncode == 0, run.stderr
    # Each post may bring its author: room for 50 posts and their 50 authors.
    assert asked == [ids[:50]]
    written = [record["id"] for record in run.records("tweets")]
    assert set(written) <= set(ids[:50])
    record = run_record(run)
    assert record["other_posts_read"] == len(written)
    assert record["accounts_read"] == len({r["author_id"] for r in run.records("tweets")})
    assert record["stopped_at_cap"] is True
